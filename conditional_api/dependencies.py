"""Related-row dependencies: when a representation shows related rows, their writes bump it.

Declared once, on the model whose representation shows them::

    class Article(VersionedModel):
        author = models.ForeignKey(Author, on_delete=models.CASCADE)
        tags = models.ManyToManyField(Tag)

        depends_on = ("author", "tags")

Forward foreign keys, reverse foreign keys (``"articles"`` on Author) and
many-to-many relations from either side can be named. From then on every
write that can change what the representation shows bumps the parent rows
(``version``, ``updated_at``, ``last_modified`` and the table's change
counter), in the same transaction as the write: a related row saved,
updated, bulk-updated, created with a link to the parent, or deleted; an
M2M link added, removed, cleared or set from either side.

Why touch the parents on write, not fold related versions into the read:
folding (one query joining the author's version and summing the tags')
costs nothing on writes and about 0.7 ms per validator read on PostgreSQL,
flat with table size; touching costs nothing on reads (a 304 stays one query
of the row's own columns) and, on writes, one UPDATE of the parents: 0.7 ms
for 10 parents, 2.5 ms for 100, 150 ms for 10,000. Reads outnumber writes
by orders of magnitude in the traffic this package is for, so touching wins
there too; and only touching keeps Last-Modified sound. An HTTP date has
one-second resolution, and a related row written in the same second as the
parent's latest write would leave max(last_modified) in that second, so a
client's If-Modified-Since would get a stale 304; a touch moves the parent's
own ``last_modified`` to a later second. The cost to watch is fan-out: a
related row shown by many parents (a tag on 10,000 articles) makes its own
writes that much slower, and the touch locks those parent rows.

Not seen, as with any ORM-level hook: ``QuerySet.update()`` on a related model
that is not versioned (its ``save()`` and deletes are seen), raw SQL, and
writes to an explicit M2M ``through`` model that bypass the relation manager.
Call ``touch()`` on the parents for those, or install the database triggers
(``conditional_api.triggers``) for the rows' own columns.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from django.apps import apps
from django.core.exceptions import FieldDoesNotExist
from django.db import connections, models
from django.db.models.signals import m2m_changed, post_delete, post_save, pre_delete, pre_save

__all__ = [
    "Dependency",
    "declared_dependencies",
    "dependencies_of",
    "install",
    "lock_rows",
    "moves_links",
    "touch_linked_parents",
    "touch_parents",
]

#: on_delete handlers that never rewrite the referring row: they delete it
#: (CASCADE) or refuse the delete (PROTECT, RESTRICT). The others (SET_NULL,
#: SET_DEFAULT, SET(...), DO_NOTHING with a database-level action) leave it in
#: place with a new value, written by a bare UPDATE that bumps nothing.
_NEVER_REWRITES = {models.CASCADE, models.PROTECT, models.RESTRICT}


def _concrete(model: type[models.Model]) -> type[models.Model]:
    return model._meta.concrete_model or model


def _through(field: Any) -> type[models.Model]:
    """The M2M ``through`` model, from the forward field or its reverse relation."""
    return field.remote_field.through if isinstance(field, models.ManyToManyField) else field.through


@dataclass(frozen=True)
class Dependency:
    """``parent``'s representation shows the ``related`` rows reached through ``path``."""

    parent: type[models.Model]
    path: str
    related: type[models.Model]
    #: The foreign key on ``related`` when it points at ``parent`` (a reverse
    #: foreign key seen from the parent): writes of the related row can move
    #: it from one parent to another.
    link_on_related: models.ForeignKey | None = None
    #: The M2M ``through`` model, when the relation is many-to-many.
    through: type[models.Model] | None = None

    def parents(self, related: Any, using: str) -> models.QuerySet:
        """The parent rows showing ``related`` (pks, instances or a queryset), as a bumping QuerySet."""
        from .models import VersionedQuerySet

        showing = models.QuerySet(model=self.parent, using=using).filter(**{f"{self.path}__in": related})
        return VersionedQuerySet(model=self.parent, using=using).filter(pk__in=showing.values("pk"))

    def parents_by_link(self, objs: Iterable[models.Model], using: str) -> models.QuerySet:
        """The parents the related rows' own foreign keys name now (without a query per row)."""
        from .models import VersionedQuerySet

        assert self.link_on_related is not None
        field = self.link_on_related
        values = {getattr(obj, field.attname) for obj in objs} - {None}
        return VersionedQuerySet(model=self.parent, using=using).filter(**{f"{field.target_field.attname}__in": values})


_by_related: dict[type[models.Model], list[Dependency]] = defaultdict(list)
_by_through: dict[type[models.Model], list[Dependency]] = defaultdict(list)
_installed = False


def declared_dependencies(model: type[models.Model]) -> list[Dependency]:
    """The dependencies ``model`` declares in ``depends_on``; raises ``ValueError`` for a bad path."""
    found = []
    label = model._meta.label
    for path in getattr(model, "depends_on", ()) or ():
        try:
            field: Any = model._meta.get_field(path)
        except FieldDoesNotExist:
            raise ValueError(
                f"{label}.depends_on names {path!r}, which is not a field or relation of the model."
            ) from None
        if not field.is_relation or field.related_model is None:
            raise ValueError(f"{label}.depends_on names {path!r}, which is not a relation.")
        related = field.related_model
        if field.many_to_many and hasattr(field.remote_field, "through") and not _is_generic(field):
            found.append(Dependency(model, path, related, through=_through(field)))
        elif isinstance(field, models.ForeignObjectRel) and (field.one_to_many or field.one_to_one):
            found.append(Dependency(model, path, related, link_on_related=field.field))
        elif isinstance(field, models.ForeignKey):
            found.append(Dependency(model, path, related))
        else:
            raise ValueError(
                f"{label}.depends_on names {path!r}, a {type(field).__name__}: name a foreign key, "
                "a reverse foreign key or a many-to-many relation."
            )
    return found


def _is_generic(field: Any) -> bool:
    return type(field).__name__ == "GenericRelation"


def dependencies_of(related: type[models.Model]) -> Sequence[Dependency]:
    """The dependencies in which ``related``'s writes bump other rows (proxies count as their model)."""
    return _by_related.get(_concrete(related), ())


def _declared_or_none(model: type[models.Model]) -> list[Dependency]:
    try:
        return declared_dependencies(model)
    except ValueError:
        return []  # reported by the system check (conditional_api.E002)


def install() -> None:
    """Connect the write hooks of every versioned model and declared dependency (from ``ready()``).

    Receivers are connected per sender, so models without them keep
    Django's fast deletes, and for proxies too: Django sends a proxy's
    signals with the proxy as sender.
    """
    global _installed
    if _installed:
        return
    _installed = True
    from .models import VersionedModel, use_versioned_base_manager

    every_model = apps.get_models()
    versioned = [m for m in every_model if issubclass(m, VersionedModel)]
    for model in versioned:
        use_versioned_base_manager(model)
        uid = model._meta.label
        post_delete.connect(_record_delete, sender=model, dispatch_uid=f"conditional_api.delete.{uid}")
        post_save.connect(_record_raw_save, sender=model, dispatch_uid=f"conditional_api.raw.{uid}")
        if model._meta.proxy:
            continue
        for dependency in _declared_or_none(model):
            _by_related[_concrete(dependency.related)].append(dependency)
            if dependency.through is not None:
                _by_through[dependency.through].append(dependency)
        for field in model._meta.concrete_fields:
            if (field.many_to_one or field.one_to_one) and field.remote_field.on_delete not in _NEVER_REWRITES:
                _connect_rewritten(model, field, every_model)
        for field in model._meta.get_fields(include_hidden=True):
            if field.many_to_many and not _is_generic(field):
                through = _through(field)
                m2m_changed.connect(
                    _m2m_changed, sender=through, dispatch_uid=f"conditional_api.m2m.{through._meta.label}"
                )
    for model in every_model:
        if _concrete(model) in _by_related:
            uid = model._meta.label
            pre_save.connect(_related_pre_save, sender=model, dispatch_uid=f"conditional_api.dep_pre_save.{uid}")
            post_save.connect(_related_post_save, sender=model, dispatch_uid=f"conditional_api.dep_post_save.{uid}")
            pre_delete.connect(_related_pre_delete, sender=model, dispatch_uid=f"conditional_api.dep_pre_delete.{uid}")


# -- the model's own table ------------------------------------------------------


def _record_delete(sender: type[models.Model], instance: models.Model, using: str, **kwargs: Any) -> None:
    from .changes import record_change

    record_change(sender, using, pks=[instance.pk])


def _record_raw_save(sender: type[models.Model], instance: models.Model, raw: bool, using: str, **kwargs: Any) -> None:
    # save() records its change itself; a raw save (loaddata) bypasses it.
    if raw:
        from .changes import record_change

        record_change(sender, using, pks=[instance.pk])


def _connect_rewritten(model: type[models.Model], field: Any, every_model: list[type[models.Model]]) -> None:
    """Deleting the target rewrites this foreign key with a bare UPDATE: bump the referring rows first."""
    from .models import VersionedQuerySet

    def bump_referrers(sender: type[models.Model], instance: models.Model, using: str, **kwargs: Any) -> None:
        VersionedQuerySet(model=model, using=using).filter(**{field.name: instance}).touch()

    target = _concrete(field.related_model)
    for sender in every_model:
        if _concrete(sender) is target:
            pre_delete.connect(
                bump_referrers,
                sender=sender,
                weak=False,
                dispatch_uid=f"conditional_api.rewritten.{model._meta.label}.{field.name}.{sender._meta.label}",
            )


# -- related rows ----------------------------------------------------------------


def lock_rows(model: type[models.Model], rows: Any, using: str) -> list[Any]:
    """Lock the related rows about to be written, before their parents are touched; their pks.

    On PostgreSQL a plain UPDATE of a row does not conflict with the key
    share lock that a concurrent insert or update of a parent takes to check
    its foreign key, so a parent could link to the row after the touch ran
    and before the write commits, and keep its old validator. FOR UPDATE
    does conflict: the linking write waits for this one, or this one for it.
    Taking the row before its parents on every path also keeps the lock
    order the same for saves, updates and deletes.
    """
    queryset = models.QuerySet(model=model, using=using).filter(pk__in=rows)
    if connections[using].features.has_select_for_update:
        queryset = (
            queryset.select_for_update(of=("self",))
            if connections[using].features.has_select_for_update_of
            else queryset.select_for_update()
        )
    return list(queryset.order_by("pk").values_list("pk", flat=True))


def touch_parents(related: type[models.Model], rows: Any, using: str) -> None:
    """Bump every parent that shows any of ``rows`` (pks, instances or a queryset of ``related``)."""
    for dependency in dependencies_of(related):
        dependency.parents(rows, using)._bump_only()


def touch_linked_parents(related: type[models.Model], objs: Iterable[models.Model], using: str) -> None:
    """Bump the parents the rows' own foreign keys point at now (reverse foreign key dependencies)."""
    objs = list(objs)
    for dependency in dependencies_of(related):
        if dependency.link_on_related is not None:
            dependency.parents_by_link(objs, using)._bump_only()


def moves_links(related: type[models.Model], fields: Iterable[str]) -> bool:
    """Whether writing ``fields`` of ``related`` rows can move them to other parents."""
    names = set(fields)
    return any(
        d.link_on_related is not None and {d.link_on_related.name, d.link_on_related.attname} & names
        for d in dependencies_of(related)
    )


def _related_pre_save(sender: type[models.Model], instance: models.Model, raw: bool, using: str, **kwargs: Any) -> None:
    if instance._state.adding or instance.pk is None:
        return
    lock_rows(sender, [instance.pk], using)
    # The parents it shows up in before the write: a moved foreign key
    # leaves one of them, and that one changes too.
    for dependency in dependencies_of(sender):
        if dependency.link_on_related is not None:
            dependency.parents([instance.pk], using)._bump_only()


def _related_post_save(
    sender: type[models.Model], instance: models.Model, created: bool, raw: bool, using: str, **kwargs: Any
) -> None:
    for dependency in dependencies_of(sender):
        if dependency.link_on_related is not None:
            dependency.parents_by_link([instance], using)._bump_only()
        elif not created:
            dependency.parents([instance.pk], using)._bump_only()


def _related_pre_delete(sender: type[models.Model], instance: models.Model, using: str, **kwargs: Any) -> None:
    lock_rows(sender, [instance.pk], using)
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
    from .changes import record_change
    from .models import VersionedModel

    if action not in ("post_add", "post_remove", "pre_clear", "post_clear"):
        return
    if action in ("post_add", "post_remove") and not pk_set:
        return
    for side in (type(instance), model):
        if issubclass(side, VersionedModel) and action != "pre_clear":
            # A list filtered by this relation changes membership.
            record_change(side, using, pks=())
    for dependency in _by_through.get(sender, ()):
        if isinstance(instance, dependency.parent) and action != "pre_clear":
            # Links changed through the parent's own manager (article.tags.add()).
            _touch_instance(instance, using)
        if _concrete(model) is dependency.parent and isinstance(instance, dependency.related):
            # Links changed from the other side (tag.articles.add()).
            if action == "pre_clear":
                # clear() names no rows: find the parents while the links exist.
                dependency.parents([instance.pk], using)._bump_only()
            elif action in ("post_add", "post_remove"):
                _touch_pks(dependency.parent, pk_set or (), using)


def _touch_pks(model: type[models.Model], pks: Iterable[Any], using: str) -> None:
    from .models import VersionedQuerySet

    VersionedQuerySet(model=model, using=using).filter(pk__in=list(pks))._bump_only()


def _touch_instance(instance: models.Model, using: str) -> None:
    """Bump the row and the instance in memory: a serializer about to render it must show the new version.

    When this very instance was saved earlier in the same transaction (a
    serializer's ``save()`` then ``tags.set()``), the save already moved
    ``last_modified`` past every committed state, and both writes commit as
    one state: moving it a second further would only hold the header back.
    """
    from .models import VersionedQuerySet, bumped_attnames, saved_in_open_transaction

    keep = saved_in_open_transaction(instance, using)
    VersionedQuerySet(model=type(instance), using=using).filter(pk=instance.pk)._bump_only(keep_last_modified=keep)
    instance.refresh_from_db(using=using, fields=bumped_attnames(type(instance)))
