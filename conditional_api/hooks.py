"""Write hooks: the signal receivers that count and touch what a model's own methods cannot see.

``VersionedModel.save()`` and ``VersionedQuerySet`` bump their own rows.
These receivers cover the rest: deletes and raw saves (the table's change
count), rows on a dependency's path saved or deleted (the parents that show
them, see ``dependencies``), foreign keys that a delete rewrites in place
(``SET_NULL`` and the like) and many-to-many links, through the relation
managers or on the through model itself. :func:`install` connects them
once, from the app's ``ready()``.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from django.apps import apps
from django.db import models, transaction
from django.db.models import Q
from django.db.models.signals import m2m_changed, post_delete, post_save, pre_delete, pre_save

from . import dependencies
from .changes import record_change
from .clock import raise_floor
from .fields import LastModifiedField, VersionField, bump_fields
from .models import (
    VersionedModel,
    bump_parents,
    links_managed,
    manage_links,
    release_links,
    touch_instance,
    touch_link_parents,
    touch_parents,
    touch_referrers,
    use_link_manager,
    use_versioned_base_manager,
)

__all__ = ["install", "stamp_raw_save"]

_installed = False


def swap_managers() -> None:
    """Swap the QuerySets of Django's automatic managers; again whenever Django builds them anew.

    Versioned models' base managers bump; the default managers of the
    through models that dependencies follow write links that count.
    """
    for model in apps.get_models():
        if issubclass(model, VersionedModel):
            use_versioned_base_manager(model)
    for through in dependencies.link_models():
        use_link_manager(through)


def install() -> None:
    """Connect the write hooks of every versioned model and declared dependency.

    Receivers are connected per sender, so models without them keep
    Django's fast deletes, and for proxies too: Django sends a proxy's
    signals with the proxy as sender, and a child's (multi-table
    inheritance) with the child.
    """
    global _installed
    if _installed:
        return
    _installed = True
    pre_save.connect(stamp_raw_save, dispatch_uid="conditional_api.stamp_raw_save")
    every_model = apps.get_models()
    versioned: list[type[models.Model]] = [m for m in every_model if issubclass(m, VersionedModel)]
    dependencies.register(versioned)
    swap_managers()
    for model in versioned:
        uid = model._meta.label
        post_delete.connect(_record_delete, sender=model, dispatch_uid=f"conditional_api.delete.{uid}")
        pre_delete.connect(_raise_floor, sender=model, dispatch_uid=f"conditional_api.floor.{uid}")
        post_save.connect(_record_raw_save, sender=model, dispatch_uid=f"conditional_api.raw.{uid}")
        if model._meta.proxy:
            continue
        for field in model._meta.concrete_fields:
            if dependencies.rewrites_on_delete(field):
                _connect_rewritten(model, field, every_model)
        for through in dependencies.through_models(model):
            m2m_changed.connect(_m2m_changed, sender=through, dispatch_uid=f"conditional_api.m2m.{through._meta.label}")
    for model in every_model:
        if dependencies.shares_keys(model):
            # First among the model's save receivers: the rows its path keys
            # point at are taken before the row itself.
            uid = model._meta.label
            pre_save.connect(_share_key_targets, sender=model, dispatch_uid=f"conditional_api.dep_keys.{uid}")
        if dependencies.is_shown(model):
            _connect_shown(model)
    for through in dependencies.link_models():
        _connect_links(through)


def _connect_shown(model: type[models.Model]) -> None:
    uid = model._meta.label
    pre_save.connect(_related_pre_save, sender=model, dispatch_uid=f"conditional_api.dep_pre_save.{uid}")
    post_save.connect(_related_post_save, sender=model, dispatch_uid=f"conditional_api.dep_post_save.{uid}")
    pre_delete.connect(_related_pre_delete, sender=model, dispatch_uid=f"conditional_api.dep_pre_delete.{uid}")


def _connect_links(through: type[models.Model]) -> None:
    """Links written outside the relation managers: through the through model's QuerySet, or one by one.

    Django sends no save or delete signal for an auto-created through model
    (``Article.tags.through``), and a receiver would only cost the relation
    managers their fast deletes; a through model of the project's own sends
    them for rows saved or deleted one by one.
    """
    uid = through._meta.label
    m2m_changed.connect(_m2m_changed, sender=through, dispatch_uid=f"conditional_api.m2m.{uid}")
    use_link_manager(through)
    if through._meta.auto_created:
        return
    pre_save.connect(_link_pre_save, sender=through, dispatch_uid=f"conditional_api.link_pre_save.{uid}")
    post_save.connect(_link_saved, sender=through, dispatch_uid=f"conditional_api.link_saved.{uid}")
    post_delete.connect(_link_deleted, sender=through, dispatch_uid=f"conditional_api.link_deleted.{uid}")


def stamp_raw_save(sender: type[models.Model], instance: models.Model, raw: bool, using: str, **kwargs: Any) -> None:
    """A raw save (loaddata, deserialization) is a write too: the database clock stamps it.

    Raw saves skip ``pre_save()``; without this a fixture could move
    ``last_modified`` back to a date a client already holds.
    """
    if not raw or not isinstance(instance, VersionedModel):
        return
    exists = type(instance)._base_manager.using(using).filter(pk=instance.pk).exists()
    for field in bump_fields(type(instance)):
        if not isinstance(field, VersionField):
            setattr(instance, field.attname, field.bump_value(add=not exists))


# -- the model's own table ------------------------------------------------------


def _record_delete(sender: type[models.Model], instance: models.Model, using: str, **kwargs: Any) -> None:
    record_change(sender, using, pks=[instance.pk])


def _raise_floor(sender: type[models.Model], instance: models.Model, using: str, **kwargs: Any) -> None:
    # A row re-created later is dated after this one (clock.LastModifiedFloor). A
    # child's date lives in its parent's table: the parent's own signal raises it.
    concrete = sender._meta.concrete_model
    for field in bump_fields(type(instance)):
        if isinstance(field, LastModifiedField) and field.model is concrete:
            raise_floor(field, instance.pk, using)


def _record_raw_save(sender: type[models.Model], instance: models.Model, raw: bool, using: str, **kwargs: Any) -> None:
    # save() records its change itself; a raw save (loaddata) bypasses it.
    if raw:
        record_change(sender, using, pks=[instance.pk])


def _connect_rewritten(model: type[models.Model], field: Any, every_model: list[type[models.Model]]) -> None:
    """Deleting the target rewrites this foreign key with a bare UPDATE: bump the referring rows first."""

    def bump_referrers(sender: type[models.Model], instance: models.Model, using: str, **kwargs: Any) -> None:
        touch_referrers(model, field, instance, using)

    target = dependencies.concrete(field.related_model)
    for sender in every_model:
        if dependencies.concrete(sender) is target:
            pre_delete.connect(
                bump_referrers,
                sender=sender,
                weak=False,
                dispatch_uid=f"conditional_api.rewritten.{model._meta.label}.{field.name}.{sender._meta.label}",
            )


# -- rows on a dependency's path ------------------------------------------------------

#: Stop indices (per dependency) of a row whose save moves it on a path: the
#: pre_save receiver finds them while the row is locked, post_save reads them.
_MOVED = "_conditional_api_moved"


def _share_key_targets(
    sender: type[models.Model], instance: models.Model, raw: bool, using: str, **kwargs: Any
) -> None:
    if not instance._state.adding:
        dependencies.share_key_targets(sender, using, instance=instance)


def _moved(sender: type[models.Model], instance: models.Model, using: str, update_fields: Any) -> set[int]:
    """The stops (indices into ``stops_of(sender)``) the save moves the row along: its stored keys differ."""
    stops = dependencies.stops_of(sender)
    # Rows of a path's last hop are touched whatever moved: only the middle ones need the stored keys.
    keys = {
        key.attname
        for stop in stops
        if not stop.last
        for key in (stop.back, stop.onward)
        if key is not None and (update_fields is None or {key.name, key.attname} & set(update_fields))
    }
    if not keys:
        return set()
    stored = models.QuerySet(model=sender, using=using).filter(pk=instance.pk).values(*keys).first() or {}
    changed = {name for name in keys if name in stored and stored[name] != getattr(instance, name)}
    return {
        index
        for index, stop in enumerate(stops)
        if any(key is not None and key.attname in changed for key in (stop.back, stop.onward))
    }


def _related_pre_save(
    sender: type[models.Model], instance: models.Model, raw: bool, using: str, update_fields: Any = None, **kwargs: Any
) -> None:
    if instance._state.adding or instance.pk is None:
        return
    dependencies.lock_rows(sender, [instance.pk], using)
    moved = _moved(sender, instance, using, update_fields)
    setattr(instance, _MOVED, moved)
    # The parents it shows up in before the write: a moved key leaves some
    # of them, and those change too; a row in the middle of a path that
    # moves on changes what the same parents show.
    touches: dict[type[models.Model], list[Q]] = defaultdict(list)
    for index, stop in enumerate(dependencies.stops_of(sender)):
        if (stop.last and stop.back is not None) or index in moved:
            touches[stop.parent].append(stop.parents([instance.pk], using))
    bump_parents(touches, using)


def _related_post_save(
    sender: type[models.Model], instance: models.Model, created: bool, raw: bool, using: str, **kwargs: Any
) -> None:
    moved = instance.__dict__.pop(_MOVED, set())
    touches: dict[type[models.Model], list[Q]] = defaultdict(list)
    for index, stop in enumerate(dependencies.stops_of(sender)):
        if stop.back is not None and (stop.last or created or index in moved):
            # The parents its key back along the path reaches now.
            touches[stop.parent].append(stop.parents_by_key([instance], using))
        elif stop.last and not created:
            touches[stop.parent].append(stop.parents([instance.pk], using))
    bump_parents(touches, using)


def _related_pre_delete(sender: type[models.Model], instance: models.Model, using: str, **kwargs: Any) -> None:
    dependencies.lock_rows(sender, [instance.pk], using)
    touch_parents(sender, [instance.pk], using)


# -- many-to-many links -------------------------------------------------------------


def _m2m_changed(
    sender: type[models.Model],
    instance: models.Model,
    action: str,
    reverse: bool,
    model: type[models.Model],
    pk_set: set[Any] | None,
    using: str,
    **kwargs: Any,
) -> None:
    if action in ("pre_add", "pre_remove", "pre_clear"):
        # The manager writes the links through the through model's QuerySet
        # (and, for a through model of the project's own, with its delete
        # signals): these signals bump the parents, those writes must not.
        manage_links(sender, using)
    elif action in ("post_add", "post_remove", "post_clear"):
        release_links(sender, using)
    if action not in ("post_add", "post_remove", "pre_clear", "post_clear"):
        return
    if action in ("post_add", "post_remove") and not pk_set:
        return
    for side in (type(instance), model):
        if issubclass(side, VersionedModel) and action != "pre_clear":
            # A list filtered by this relation changes membership.
            record_change(side, using, pks=())
    touches: dict[type[models.Model], list[Q]] = defaultdict(list)
    itself = False
    for dependency, index in dependencies.link_hops(sender):
        hop = dependency.hops[index]
        if reverse != hop.m2m_on_near:
            # Links changed through the near row's own manager (article.tags.add()).
            if action == "pre_clear":
                continue
            if hop.near_path:
                touches[dependency.parent].append(hop.near_parents(dependency.parent, [instance.pk], using))
            else:
                itself = True
        elif action == "pre_clear":
            # clear() from the far side names no rows: find the parents while
            # the links exist, with the far row locked first, so that no link
            # is made meanwhile and then deleted unseen.
            dependencies.lock_rows(type(instance), [instance.pk], using)
            linked = dependencies.showing(dependency.parent, hop.far_path, [instance.pk], using)
            touches[dependency.parent].append(linked)
        elif action in ("post_add", "post_remove"):
            # Links changed from the far side (tag.articles.add()).
            touches[dependency.parent].append(hop.near_parents(dependency.parent, pk_set, using))
    if itself:
        # The parent's own links: the instance in memory must show its new version too.
        touch_instance(instance, using)
    bump_parents(touches, using)


# -- link rows written on a through model of the project's own ----------------------


def _link_pre_save(sender: type[models.Model], instance: models.Model, raw: bool, using: str, **kwargs: Any) -> None:
    """A link row saved again: the near rows it leaves, when it moves."""
    if instance._state.adding or instance.pk is None or links_managed(sender, using):
        return
    names = {dependency.hops[index].through_near for dependency, index in dependencies.link_hops(sender)}
    stored = models.QuerySet(model=sender, using=using).filter(pk=instance.pk).values(*names).first()
    if stored is not None:
        left = {name: value for name, value in stored.items() if value != getattr(instance, name)}
        if left:
            touch_link_parents(sender, [left], using)


def _link_saved(sender: type[models.Model], instance: models.Model, using: str, **kwargs: Any) -> None:
    if not links_managed(sender, using):
        with transaction.atomic(using=using, savepoint=False):
            touch_link_parents(sender, [vars(instance)], using)


def _link_deleted(sender: type[models.Model], instance: models.Model, using: str, **kwargs: Any) -> None:
    if not links_managed(sender, using):
        with transaction.atomic(using=using, savepoint=False):
            touch_link_parents(sender, [vars(instance)], using)
