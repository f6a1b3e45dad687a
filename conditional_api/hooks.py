"""Write hooks: the signal receivers that count and touch what a model's own methods cannot see.

``VersionedModel.save()`` and ``VersionedQuerySet`` bump their own rows.
These receivers cover the rest: deletes and raw saves (the table's change
count), related rows saved or deleted (the parents that show them, see
``dependencies``), foreign keys that a delete rewrites in place
(``SET_NULL`` and the like) and many-to-many links. :func:`install` connects
them once, from the app's ``ready()``.
"""

from __future__ import annotations

from typing import Any

from django.apps import apps
from django.db import models
from django.db.models.signals import m2m_changed, post_delete, post_save, pre_delete, pre_save

from . import dependencies
from .changes import record_change
from .clock import raise_floor
from .fields import LastModifiedField, VersionField, bump_fields
from .models import (
    VersionedModel,
    bump_rows,
    touch_instance,
    touch_parents,
    touch_pks,
    touch_referrers,
    use_versioned_base_manager,
)

__all__ = ["install", "stamp_raw_save"]

_installed = False


def install() -> None:
    """Connect the write hooks of every versioned model and declared dependency.

    Receivers are connected per sender, so models without them keep
    Django's fast deletes, and for proxies too: Django sends a proxy's
    signals with the proxy as sender.
    """
    global _installed
    if _installed:
        return
    _installed = True
    pre_save.connect(stamp_raw_save, dispatch_uid="conditional_api.stamp_raw_save")
    every_model = apps.get_models()
    versioned: list[type[models.Model]] = [m for m in every_model if issubclass(m, VersionedModel)]
    dependencies.register(versioned)
    for model in versioned:
        use_versioned_base_manager(model)
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
        if dependencies.is_shown(model):
            uid = model._meta.label
            pre_save.connect(_related_pre_save, sender=model, dispatch_uid=f"conditional_api.dep_pre_save.{uid}")
            post_save.connect(_related_post_save, sender=model, dispatch_uid=f"conditional_api.dep_post_save.{uid}")
            pre_delete.connect(_related_pre_delete, sender=model, dispatch_uid=f"conditional_api.dep_pre_delete.{uid}")


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


# -- related rows ----------------------------------------------------------------


def _related_pre_save(sender: type[models.Model], instance: models.Model, raw: bool, using: str, **kwargs: Any) -> None:
    if instance._state.adding or instance.pk is None:
        return
    dependencies.lock_rows(sender, [instance.pk], using)
    # The parents it shows up in before the write: a moved foreign key
    # leaves one of them, and that one changes too.
    for dependency in dependencies.dependencies_of(sender):
        if dependency.link_on_related is not None:
            bump_rows(dependency.parent, dependency.parents([instance.pk], using), using)


def _related_post_save(
    sender: type[models.Model], instance: models.Model, created: bool, raw: bool, using: str, **kwargs: Any
) -> None:
    for dependency in dependencies.dependencies_of(sender):
        if dependency.link_on_related is not None:
            bump_rows(dependency.parent, dependency.parents_by_link([instance]), using)
        elif not created:
            bump_rows(dependency.parent, dependency.parents([instance.pk], using), using)


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
    if action not in ("post_add", "post_remove", "pre_clear", "post_clear"):
        return
    if action in ("post_add", "post_remove") and not pk_set:
        return
    for side in (type(instance), model):
        if issubclass(side, VersionedModel) and action != "pre_clear":
            # A list filtered by this relation changes membership.
            record_change(side, using, pks=())
    for dependency in dependencies.through_dependencies(sender):
        if isinstance(instance, dependency.parent) and action != "pre_clear":
            # Links changed through the parent's own manager (article.tags.add()).
            touch_instance(instance, using)
        if dependencies.concrete(model) is dependency.parent and isinstance(instance, dependency.related):
            # Links changed from the other side (tag.articles.add()).
            if action == "pre_clear":
                # clear() names no rows: find the parents while the links exist.
                bump_rows(dependency.parent, dependency.parents([instance.pk], using), using)
            elif action in ("post_add", "post_remove"):
                touch_pks(dependency.parent, pk_set or (), using)
