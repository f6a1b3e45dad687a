"""Versioned models: a ``version`` counter and timestamps that every write bumps.

Example::

    from conditional_api.models import VersionedModel

    class Article(VersionedModel):
        title = models.CharField(max_length=200)

    article = Article.objects.create(title="Hello")   # version 1
    article.title = "Hello, world"
    article.save()                                     # version 2, in SQL
    Article.objects.filter(pk=article.pk).update(title="Hi")  # version 3

Every bump happens in SQL (``version = version + 1``), so concurrent writers
cannot lose an increment, and the instance reflects the stored values after
``save()``, ``bulk_create()`` and ``bulk_update()``.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Iterable, Mapping, Sequence
from contextvars import ContextVar
from datetime import datetime, timedelta
from functools import reduce
from operator import or_
from typing import Any, ClassVar, TypeVar

from django.db import connections, models, router, transaction
from django.db.models import F, Q
from django.db.models.functions import Greatest

from . import dependencies
from .changes import (
    ChangeCounter,
    in_current_transaction,
    inserted_in_open_transaction,
    record_change,
    remember_inserted,
    remember_write,
    saved_in_open_transaction,
)
from .fields import (
    BumpedField,
    LastModifiedField,
    UpdatedAtField,
    VersionField,
    bump_fields,
    bump_values,
    bumped_attnames,
    unread_bumps,
)

__all__ = [
    "BumpedField",
    "ChangeCounter",
    "LastModifiedField",
    "LinkQuerySet",
    "UpdatedAtField",
    "VersionField",
    "VersionedManager",
    "VersionedModel",
    "VersionedQuerySet",
    "bump_parents",
    "bump_rows",
    "claim_state",
    "links_managed",
    "manage_links",
    "release_links",
    "touch_instance",
    "touch_link_parents",
    "touch_linked_parents",
    "touch_moved_parents",
    "touch_parents",
    "touch_pks",
    "touch_referrers",
    "update_shown_rows",
    "use_link_manager",
    "use_versioned_base_manager",
]

_M = TypeVar("_M", bound=models.Model)
_REFRESH_BATCH = 500


def _matching(model: type[models.Model], keys: Sequence[Any], objs: Iterable[models.Model]) -> Q:
    """The stored rows whose ``keys`` (fields) hold the objects' values, as a filter."""
    if [key.attname for key in keys] == [model._meta.pk.attname]:
        return Q(pk__in=[obj.pk for obj in objs])
    match = Q(pk__in=[])
    for obj in objs:
        match |= Q(**{key.attname: getattr(obj, key.attname) for key in keys})
    return match


def _refresh_bumped(queryset: models.QuerySet[Any], objs: Sequence[models.Model], keys: Sequence[Any] = ()) -> None:
    """Copy the stored version and timestamp back onto instances after a bulk write.

    The instances are matched to the rows by ``keys`` (fields), the primary
    key unless named: an upsert's objects may carry pks that are not the
    stored rows'.
    """
    model = queryset.model
    keys = keys or [model._meta.pk]
    names = [f.attname for f in bump_fields(model)]
    key_names = [key.attname for key in keys]
    by_key = {tuple(getattr(obj, name) for name in key_names): obj for obj in objs}
    for start in range(0, len(objs), _REFRESH_BATCH):
        batch = objs[start : start + _REFRESH_BATCH]
        rows = model._base_manager.using(queryset.db).filter(_matching(model, keys, batch))
        for values in rows.values_list(*key_names, *names):
            obj = by_key.get(tuple(values[: len(key_names)]))
            if obj is not None:
                for name, value in zip(names, values[len(key_names) :], strict=True):
                    setattr(obj, name, value)


class VersionedQuerySet(models.QuerySet[_M]):
    """A QuerySet whose bulk writes bump ``version`` and ``updated_at`` like ``save()`` does."""

    def update(self, **kwargs: Any) -> int:
        """Update rows and bump them.

        A bumped field you pass keeps your value, except that
        ``last_modified`` never moves back or stays in its second: a client
        may hold its date, and only a later one keeps its If-Modified-Since
        from a stale 304.
        """
        return self._write(kwargs, written=set(kwargs))

    update.alters_data = True  # type: ignore[attr-defined]

    def touch(self) -> int:
        """Bump the rows, and the rows that show them, without changing anything else.

        For writes the ORM cannot see, such as raw SQL: run it after them,
        in the same transaction. The rows count as written entirely, links
        too: whatever shows them through a path is bumped.
        """
        return self._write({}, written=None)

    touch.alters_data = True  # type: ignore[attr-defined]

    def _write(self, kwargs: dict[str, Any], written: Collection[str] | None) -> int:
        """Update with ``kwargs`` plus the bumps; ``written``: the fields the caller wrote (None: any, unseen)."""
        for field in bump_fields(self.model):
            if field.attname not in kwargs:
                kwargs[field.attname] = field.bump_value(add=False)
            elif isinstance(field, LastModifiedField):
                kwargs[field.attname] = Greatest(kwargs[field.attname], field.bump_value(add=False))
        with transaction.atomic(using=self.db, savepoint=False):
            if not dependencies.stops_of(self.model):
                rows, pks = super().update(**kwargs), None
            else:
                rows, pks = update_shown_rows(self, kwargs, written)
            if rows:
                record_change(self.model, self.db, pks=pks)
        return rows

    def _bump_only(self, keep_last_modified: bool = False) -> int:
        """Bump the rows and their table's count, and nothing beyond: a dependency touch.

        Touches do not cascade further, so two models that show each other
        cannot touch each other forever. Where the database locks rows, the
        parents are locked in primary key order first: two touches of
        overlapping parents (two tags of the same articles renamed at once)
        then queue instead of deadlocking.
        """
        with transaction.atomic(using=self.db, savepoint=False):
            rows_to_bump: models.QuerySet[_M] = self
            pks: list[Any] | None = None  # unknown: the validator cache drops the table
            fresh = set() if keep_last_modified else inserted_in_open_transaction(self.model, self.db)
            if connections[self.db].features.has_select_for_update:
                pks = dependencies.lock_rows(self.model, self.values("pk"), self.db)
            elif fresh:
                pks = list(self.values_list("pk", flat=True))
            if pks is not None:
                if not pks:
                    return 0
                rows_to_bump = models.QuerySet(model=self.model, using=self.db).filter(pk__in=pks)
            if fresh and pks:
                # Rows this transaction inserted have no committed state yet: this
                # write is part of their first one, and keeps its date.
                rows = 0
                for keep, part in (
                    (True, [pk for pk in pks if pk in fresh]),
                    (False, [pk for pk in pks if pk not in fresh]),
                ):
                    if part:
                        rows += models.QuerySet.update(
                            models.QuerySet(model=self.model, using=self.db).filter(pk__in=part),
                            **bump_values(self.model, keep_last_modified=keep),
                        )
            else:
                rows = models.QuerySet.update(rows_to_bump, **bump_values(self.model, keep_last_modified))
            if rows:
                record_change(self.model, self.db, pks=pks)
        return rows

    def bulk_update(self, objs: Iterable[_M], fields: Iterable[str], batch_size: int | None = None) -> int:
        objs = list(objs)
        fields = list(fields)
        bumped = {f.name for f in bump_fields(self.model)} | {f.attname for f in bump_fields(self.model)}
        if bumped & set(fields):
            raise ValueError(f"bulk_update() bumps {', '.join(sorted(bumped))} itself; leave them out of fields.")
        with transaction.atomic(using=self.db, savepoint=False):
            rows = super().bulk_update(objs, fields, batch_size=batch_size)
            _refresh_bumped(self, objs)
        return rows

    bulk_update.alters_data = True  # type: ignore[attr-defined]

    def bulk_create(
        self,
        objs: Iterable[_M],
        batch_size: int | None = None,
        ignore_conflicts: bool = False,
        update_conflicts: bool = False,
        update_fields: Collection[str] | None = None,
        unique_fields: Collection[str] | None = None,
    ) -> list[_M]:
        objs = list(objs)
        if not update_conflicts:
            with transaction.atomic(using=self.db, savepoint=False):
                created = super().bulk_create(objs, batch_size=batch_size, ignore_conflicts=ignore_conflicts)
                if created:
                    record_change(self.model, self.db, pks=())
                    if not ignore_conflicts:  # otherwise a pk may name a row that was there already
                        remember_inserted(self.model, [obj.pk for obj in created], self.db)
                    touch_linked_parents(self.model, created, self.db)
            return created
        # ON CONFLICT DO UPDATE copies EXCLUDED values, which would set the
        # version back to 1: keep the counters out of it and bump the rows
        # afterwards, in the same transaction.
        names = {f.name for f in bump_fields(self.model)}
        kept = [name for name in update_fields or () if name not in names]
        keys = self._conflict_fields(unique_fields)
        # The rows the conflict finds: by the fields it is on, not by the
        # objects' pks, which may not be the stored rows' (ids from elsewhere).
        rows = self.model._base_manager.using(self.db).filter(_matching(self.model, keys, objs))
        with transaction.atomic(using=self.db, savepoint=False):
            if dependencies.stops_of(self.model):
                # Rows that exist may move to other parents: touch the ones they leave.
                existing = dependencies.lock_rows(self.model, rows.values("pk"), self.db)
                touch_parents(self.model, existing, self.db, kept)
            created = super().bulk_create(
                objs,
                update_conflicts=True,
                update_fields=kept,
                unique_fields=unique_fields,
                batch_size=batch_size,
                ignore_conflicts=ignore_conflicts,
            )
            bump_rows(self.model, Q(pk__in=list(rows.values_list("pk", flat=True))), self.db)
            touch_linked_parents(self.model, created, self.db)
            _refresh_bumped(self, objs, keys)
        return created

    bulk_create.alters_data = True  # type: ignore[attr-defined]

    def _conflict_fields(self, unique_fields: Collection[str] | None) -> list[Any]:
        """The fields an upsert's conflict is on: ``unique_fields``, or the primary key when none are named."""
        opts = self.model._meta
        # bulk_create() takes concrete fields only in unique_fields: fields, not reverse relations.
        return [opts.pk if name == "pk" else opts.get_field(name) for name in unique_fields or ()] or [opts.pk]


# -- touches: bump the rows that show written rows ---------------------------------


def bump_rows(model: type[models.Model], rows: Q, using: str, keep_last_modified: bool = False) -> int:
    """Bump the rows of ``model`` that ``rows`` selects, and their table's count, nothing beyond."""
    return VersionedQuerySet(model=model, using=using).filter(rows)._bump_only(keep_last_modified)


def bump_parents(touches: Mapping[type[models.Model], list[Q]], using: str) -> None:
    """One bump per parent model: the rows any of its filters select (touches of one write, grouped)."""
    for parent, filters in touches.items():
        bump_rows(parent, reduce(or_, filters), using)


def update_shown_rows(
    queryset: models.QuerySet[Any], kwargs: dict[str, Any], written: Collection[str] | None
) -> tuple[int, list[Any]]:
    """Update rows that versioned rows show (``depends_on``), bumping those before and after; (rows, their pks).

    Call it inside the write's transaction. ``written``: the fields written
    (None: any, unseen).
    """
    model, using = queryset.model, queryset.db
    pks = dependencies.lock_rows(model, queryset.values("pk"), using)
    # Before the write: the parents that show these rows now.
    touch_parents(model, pks, using, written)
    # Exactly the rows locked and touched: the filter run again
    # could match rows that changed or were linked meanwhile.
    rows = models.QuerySet(model=model, using=using).filter(pk__in=pks).update(**kwargs)
    # After it: the parents that moved keys point at now.
    touch_moved_parents(model, pks, using, written)
    return rows, pks


def touch_parents(related: type[models.Model], rows: Any, using: str, written: Collection[str] | None = None) -> None:
    """Bump every parent that shows ``rows`` of ``related`` (pks, instances or a queryset) as they are stored now.

    Rows of a path's last hop are shown whole; rows in the middle of a path
    only through their links, so they count when ``written`` (the fields
    written; None: any, as in a delete or a touch) includes a link.
    """
    touches: dict[type[models.Model], list[Q]] = defaultdict(list)
    for stop in dependencies.stops_of(related):
        if stop.last or written is None or stop.moved_by(written):
            touches[stop.parent].append(stop.parents(rows, using))
    bump_parents(touches, using)


def touch_moved_parents(related: type[models.Model], rows: Any, using: str, written: Collection[str] | None) -> None:
    """After a write of ``written`` fields: bump the parents that a moved key back along the path reaches now."""
    touches: dict[type[models.Model], list[Q]] = defaultdict(list)
    for stop in dependencies.stops_of(related):
        if stop.back is not None and (written is None or {stop.back.name, stop.back.attname} & set(written)):
            touches[stop.parent].append(stop.parents(rows, using))
    bump_parents(touches, using)


def touch_linked_parents(related: type[models.Model], objs: Iterable[models.Model], using: str) -> None:
    """Bump the parents the rows' own keys back along a path reach now (new rows, moved rows)."""
    objs = list(objs)
    touches: dict[type[models.Model], list[Q]] = defaultdict(list)
    for stop in dependencies.stops_of(related):
        if stop.back is not None:
            touches[stop.parent].append(stop.parents_by_key(objs, using))
    bump_parents(touches, using)


def touch_pks(model: type[models.Model], pks: Iterable[Any], using: str) -> None:
    """Bump these rows of ``model`` and their table's count, nothing beyond."""
    bump_rows(model, Q(pk__in=list(pks)), using)


def touch_instance(instance: models.Model, using: str) -> None:
    """Bump the row and the instance in memory: a serializer about to render it must show the new version.

    When this very instance was saved earlier in the same transaction (a
    serializer's ``save()`` then ``tags.set()``), the save already moved
    ``last_modified`` past every committed state, and both writes commit as
    one state: moving it a second further would only hold the header back.
    """
    keep = saved_in_open_transaction(instance, using)
    bump_rows(type(instance), Q(pk=instance.pk), using, keep_last_modified=keep)
    instance.refresh_from_db(using=using, fields=bumped_attnames(type(instance)))


def touch_referrers(model: type[models.Model], field: Any, target: models.Model, using: str) -> None:
    """Bump the rows of ``model`` whose ``field`` points at ``target`` (a delete rewrites it), and what shows them.

    The parents that reach these rows through ``field`` itself reach
    ``target`` too, and its own delete touches them: ``field`` counts as
    no link here, so they are bumped once.
    """
    VersionedQuerySet(model=model, using=using).filter(**{field.name: target})._write({}, written=())


# -- links: M2M through rows written outside the relation managers -------------------

#: The through models whose rows a relation manager (or a bulk link write) is
#: writing right now, each with its on-commit marker: the manager's own
#: m2m_changed signals (or the bulk write itself) bump the parents, so the
#: rows' own writes must not bump them again.
_managed_links: ContextVar[dict[tuple[type[models.Model], str], object] | None] = ContextVar(
    "conditional_api_managed_links", default=None
)


class _LinkWrite:
    """An on-commit marker: queued exactly while the transaction (and savepoint) writing the links lives."""

    def __call__(self) -> None:
        """Nothing to do after the commit: the marker only tells whether the write is still open."""


def manage_links(through: type[models.Model], using: str) -> None:
    """Note that the open transaction is writing ``through``'s rows and bumps their parents itself."""
    marker = _LinkWrite()
    if connections[using].in_atomic_block:
        transaction.on_commit(marker, using=using)
    _managed_links.set({**(_managed_links.get() or {}), (through, using): marker})


def release_links(through: type[models.Model], using: str) -> None:
    """The link write :func:`manage_links` noted is over."""
    managed = _managed_links.get() or {}
    _managed_links.set({key: marker for key, marker in managed.items() if key != (through, using)})


def links_managed(through: type[models.Model], using: str) -> bool:
    """Whether a link write that bumps the parents itself is writing ``through``'s rows now.

    A marker whose transaction rolled back (the write raised before it was
    released) no longer counts.
    """
    marker = (_managed_links.get() or {}).get((through, using))
    return marker is not None and in_current_transaction(marker, using)


def touch_link_parents(through: type[models.Model], rows: Iterable[Mapping[str, Any]], using: str) -> None:
    """Bump the parents that reach the near rows of link ``rows`` (attname to value mappings of ``through``).

    Both sides' tables count too, when versioned: a list filtered by the
    relation changes membership.
    """
    rows = list(rows)
    if not rows:
        return
    touches: dict[type[models.Model], list[Q]] = defaultdict(list)
    for dependency, index in dependencies.link_hops(through):
        hop = dependency.hops[index]
        for side in (hop.near, hop.far):
            if issubclass(side, VersionedModel):
                record_change(side, using, pks=())
        near = {row.get(hop.through_near) for row in rows} - {None}
        if near:
            touches[dependency.parent].append(hop.near_parents(dependency.parent, near, using))
    bump_parents(touches, using)


def _link_keys(through: type[models.Model]) -> list[str]:
    return sorted({dependency.hops[index].through_near for dependency, index in dependencies.link_hops(through)})


class LinkQuerySet(models.QuerySet[_M]):
    """The QuerySet of an M2M through model on a dependency path: links written through it bump their parents.

    Django sends no signal for ``bulk_create()`` and ``update()``, and none
    at all for an auto-created through model (``Article.tags.through``), so
    the writes are seen here: the parents that reach the links' near rows
    are bumped, once per write. The relation managers (``add()``,
    ``remove()``, ``clear()``, ``set()``) write through this QuerySet too;
    their m2m_changed signals bump the parents, so it stays out of their way.
    """

    def bulk_create(self, objs: Iterable[_M], *args: Any, **kwargs: Any) -> list[_M]:
        objs = list(objs)
        with transaction.atomic(using=self.db, savepoint=False):
            created = super().bulk_create(objs, *args, **kwargs)
            if not links_managed(self.model, self.db):
                touch_link_parents(self.model, [vars(obj) for obj in created], self.db)
        return created

    bulk_create.alters_data = True  # type: ignore[attr-defined]

    def create(self, **kwargs: Any) -> _M:
        with transaction.atomic(using=self.db, savepoint=False):
            obj = super().create(**kwargs)
            # A through model of the project's own sends post_save, which the hooks hear.
            if self.model._meta.auto_created and not links_managed(self.model, self.db):
                touch_link_parents(self.model, [vars(obj)], self.db)
        return obj

    create.alters_data = True  # type: ignore[attr-defined]

    def update(self, **kwargs: Any) -> int:
        keys = _link_keys(self.model)
        with transaction.atomic(using=self.db, savepoint=False):
            before = list(self.values("pk", *keys))
            written: models.QuerySet[_M] = models.QuerySet(model=self.model, using=self.db)
            written = written.filter(pk__in=[row["pk"] for row in before])
            rows = written.update(**kwargs)
            # The near rows the links leave, and the ones they reach now.
            after = list(written.values(*keys))
            touch_link_parents(self.model, before + after, self.db)
        return rows

    update.alters_data = True  # type: ignore[attr-defined]

    def delete(self) -> tuple[int, dict[str, int]]:
        if links_managed(self.model, self.db):
            return super().delete()
        with transaction.atomic(using=self.db, savepoint=False):
            # Exactly the rows read: the filter run again could match links made meanwhile.
            rows = list(self.values("pk", *_link_keys(self.model)))
            read: models.QuerySet[_M] = models.QuerySet(model=self.model, using=self.db)
            manage_links(self.model, self.db)  # the rows' own delete signals, if any, bump nothing
            try:
                deleted = read.filter(pk__in=[row["pk"] for row in rows]).delete()
            finally:
                release_links(self.model, self.db)
            touch_link_parents(self.model, rows, self.db)
        return deleted

    delete.alters_data = True  # type: ignore[attr-defined]


def use_link_manager(through: type[models.Model]) -> None:
    """Make the through model's automatic default manager a :class:`LinkQuerySet` one.

    The relation managers write links through ``through._default_manager``;
    a manager the model names itself is left alone.
    """
    manager = through._meta.default_manager
    # _queryset_class: private, as in use_versioned_base_manager() below.
    if (
        manager is not None and getattr(manager, "auto_created", False) and manager._queryset_class is models.QuerySet  # type: ignore[attr-defined]
    ):
        manager._queryset_class = LinkQuerySet  # type: ignore[attr-defined]


# Bound to a name so that type checkers give the manager the QuerySet's methods;
# at runtime VersionedManager's base is this class itself (Manager[...] is Manager).
_VersionedManagerBase = models.Manager.from_queryset(VersionedQuerySet)


class VersionedManager(_VersionedManagerBase[_M]):
    """The default manager of versioned models; data migrations get it too."""

    use_in_migrations = True


class VersionedModel(models.Model):
    """An abstract model whose rows carry a ``version``, ``updated_at`` and ``last_modified`` that every write bumps.

    Custom managers must be built on :class:`VersionedQuerySet`
    (``VersionedManager.from_queryset(MyQuerySet)``); a system check says so.
    """

    version = VersionField(help_text="Grows by one on every write of the row.")
    updated_at = UpdatedAtField(help_text="Set by the database clock on every write of the row.")
    last_modified = LastModifiedField(help_text="Last-Modified: a later whole second on every write of the row.")

    objects = VersionedManager()

    #: Relations whose rows the representation shows (``"author"``,
    #: ``"tags"``, ``"articles"``): their writes bump this row too. See
    #: ``conditional_api.dependencies``.
    depends_on: ClassVar[Sequence[str]] = ()

    class Meta:
        abstract = True

    def save(self, *args: Any, **kwargs: Any) -> None:
        bumped = {f.name for f in bump_fields(type(self))}
        update_fields = kwargs.get("update_fields")
        deferred = self.get_deferred_fields()
        if update_fields is None and deferred and not self._state.adding and not kwargs.get("force_insert"):
            # Django saves only the loaded fields of a partly loaded instance;
            # the counters must be among them even when they were deferred.
            update_fields = {f.attname for f in self._meta.concrete_fields if not f.primary_key} - deferred
        if update_fields:
            kwargs["update_fields"] = {*update_fields, *bumped}
        using = kwargs.get("using") or router.db_for_write(type(self), instance=self)
        # Without RETURNING on UPDATE (Django < 6), the new values are read
        # back in the same transaction, while the row is still locked: a
        # concurrent write cannot slip in between and lend us its version.
        with transaction.atomic(using=using, savepoint=False):
            inserting = self._state.adding
            super().save(*args, **kwargs)
            remember_write(self, record_change(type(self), using, pks=[self.pk]), using)
            if inserting:
                remember_inserted(type(self), [self.pk], using)
            unread = unread_bumps(self)
            if unread:
                self.refresh_from_db(using=using, fields=unread)

    save.alters_data = True  # type: ignore[attr-defined]


def use_versioned_base_manager(model: type[models.Model]) -> None:
    """Make Django's automatic base manager bump too.

    Related managers write through it: a reverse foreign key's ``add()`` is
    ``_base_manager.filter(pk__in=...).update(fk=parent)``. A base manager the
    model names itself is left alone (the system check looks at it).
    """
    manager = model._meta.base_manager
    # _queryset_class: private, the QuerySet class the manager's methods build (set by from_queryset()).
    # No public API swaps the QuerySet of Django's automatic base manager; the public way,
    # Meta.base_manager_name on every versioned model, would be the users' to remember.
    if getattr(manager, "auto_created", False) and manager._queryset_class is models.QuerySet:  # type: ignore[attr-defined]
        manager._queryset_class = VersionedQuerySet  # type: ignore[attr-defined]


def claim_state(model: type[models.Model], pk: Any, state: Mapping[str, Any], using: str | None = None) -> bool:
    """Lock the row if it is still in ``state``; False when another write changed it first.

    The compare-and-set of conditional writes: a no-op UPDATE that matches only
    the state the precondition was evaluated against. It holds the row lock
    (PostgreSQL) or the write lock (SQLite) until the transaction ends, so the
    write that follows cannot interleave with another.
    """
    lookups: dict[str, Any] = {}
    for name, value in state.items():
        if isinstance(value, datetime):
            # A range, not equality: SQLite compares timestamps as text, and
            # Django writes whole seconds without the fraction.
            lookups[f"{name}__gte"] = value
            lookups[f"{name}__lt"] = value + timedelta(microseconds=1)
        else:
            lookups[name] = value
    first = next(iter(state))
    using = using or router.db_for_write(model)
    # The claim writes the row, so the write after it re-checks the row's
    # foreign keys: take what they point at first (PostgreSQL), in the order
    # every other writer takes it.
    dependencies.share_key_targets(model, using, rows=[pk])
    # A plain QuerySet: the claim itself must bump nothing.
    rows: models.QuerySet[models.Model] = models.QuerySet(model=model, using=using)
    return rows.filter(pk=pk, **lookups).update(**{first: F(first)}) == 1
