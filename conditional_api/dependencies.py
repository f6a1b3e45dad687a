"""Related-row dependencies: when a representation shows related rows, their writes bump it.

Declared once, on the model whose representation shows them::

    class Article(VersionedModel):
        author = models.ForeignKey(Author, on_delete=models.CASCADE)
        tags = models.ManyToManyField(Tag)

        depends_on = ("author", "tags", "author__company")

A path names relations hop by hop, as a lookup does: forward foreign keys,
reverse foreign keys (``"articles"`` on Author) and many-to-many relations
from either side. From then on every write that can change what the
representation shows bumps the parent rows (``version``, ``updated_at``,
``last_modified`` and the table's change counter), in the same transaction
as the write: a row of the path's last hop saved, updated, bulk-updated,
created with a link to the parent, or deleted; a link moved at any hop (an
author moved to another company, before and after); an M2M link added,
removed, cleared or set from either side, or written on the ``through``
model itself. A row in the middle of a path is shown only through its links:
its other fields change nothing the parent shows.

Multi-table inheritance: a child's rows are rows of its parents' tables, so
a dependency on a parent sees writes made through the child, and a child is
covered by the dependencies its parent declares.

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

Not seen, as with any ORM-level hook: ``update()`` through a related manager
of a model that is not versioned (``company.employees.update()``; its own
managers' ``update()``, its ``save()`` and deletes are seen), raw SQL, link
rows of an auto-created M2M ``through`` model saved or deleted one by one
(Django sends no signal for that model; its manager's writes are seen), and
``bulk_create()`` or ``update()`` through a custom manager of a through
model. Call ``touch()`` on the parents for those, or install the database
triggers (``conditional_api.triggers``) for the rows' own columns.

Locks (PostgreSQL): a written related row is locked before its parents, and
a row is written only after the rows its path keys point at are held in key
share mode, so writers meet in one order; see :func:`lock_rows` and
:func:`share_key_targets`.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

from django.core.exceptions import FieldDoesNotExist
from django.db import connections, models

__all__ = [
    "Dependency",
    "Hop",
    "Stop",
    "concrete",
    "declared_dependencies",
    "is_shown",
    "link_hops",
    "link_models",
    "lock_rows",
    "register",
    "rewrites_on_delete",
    "share_key_targets",
    "shares_keys",
    "showing",
    "stops_of",
    "through_models",
]

#: on_delete handlers that never rewrite the referring row: they delete it
#: (CASCADE) or refuse the delete (PROTECT, RESTRICT). The others (SET_NULL,
#: SET_DEFAULT, SET(...), DO_NOTHING with a database-level action) leave it in
#: place with a new value, written by a bare UPDATE that bumps nothing.
_NEVER_REWRITES = {models.CASCADE, models.PROTECT, models.RESTRICT}

if TYPE_CHECKING:
    # The stubs make fields generic; Django's classes are not subscriptable.
    _Key = models.ForeignObject[Any, Any]


def _concrete(model: type[models.Model]) -> type[models.Model]:
    return model._meta.concrete_model or model


def _through(field: Any) -> type[models.Model]:
    """The M2M ``through`` model, from the forward field or its reverse relation."""
    through = field.remote_field.through if isinstance(field, models.ManyToManyField) else field.through
    # None only on an abstract model's relation; the relations of installed models have theirs.
    return cast("type[models.Model]", through)


def showing(parent: type[models.Model], path: str, rows: Any, using: str) -> models.Q:
    """The rows of ``parent`` that reach ``rows`` (pks, instances or a queryset) through ``path``, as a filter.

    An empty path names the parent's own rows.
    """
    if not path:
        return models.Q(pk__in=rows)
    found: models.QuerySet[models.Model] = models.QuerySet(model=parent, using=using).filter(**{f"{path}__in": rows})
    return models.Q(pk__in=found.values("pk"))


@dataclass(frozen=True)
class Hop:
    """One relation of a path: from the rows at ``near_path`` to the rows at ``far_path``.

    The paths are lookups from the dependency's parent; the parent's own
    rows are at the empty path.
    """

    near: type[models.Model]
    far: type[models.Model]
    near_path: str
    far_path: str
    #: A forward foreign key (or one-to-one) on ``near``: writes of near rows can move it.
    key_on_near: _Key | None = None
    #: A foreign key on ``far`` that points at ``near`` (a reverse relation seen from near).
    key_on_far: _Key | None = None
    #: The M2M ``through`` model, when the relation is many-to-many.
    through: type[models.Model] | None = None
    #: The through model's foreign keys (attnames) to the near and the far rows.
    through_near: str = ""
    through_far: str = ""
    #: Whether ``near`` declares the many-to-many field (its manager is then the forward one).
    m2m_on_near: bool = False

    def near_parents(self, parent: type[models.Model], rows: Any, using: str) -> models.Q:
        """The parents that reach the near ``rows`` (pks, instances or a queryset), as a filter of ``parent``."""
        return showing(parent, self.near_path, rows, using)

    def parents_by_key(self, parent: type[models.Model], objs: Iterable[models.Model], using: str) -> models.Q:
        """The parents that reach the near rows the far rows' own keys name now (``key_on_far``), as a filter."""
        assert self.key_on_far is not None
        key = self.key_on_far
        values = {getattr(obj, key.attname) for obj in objs} - {None}
        if not self.near_path:
            # The parent's own rows: filtered by the key's values, without a query.
            return models.Q(**{f"{key.target_field.attname}__in": values})
        return showing(parent, f"{self.near_path}__{key.target_field.name}", values, using)


@dataclass(frozen=True)
class Dependency:
    """``parent``'s representation shows the rows reached through ``path``, one relation per hop."""

    parent: type[models.Model]
    path: str
    hops: tuple[Hop, ...]

    @property
    def related(self) -> type[models.Model]:
        """The model of the path's last hop: every write of its rows is shown."""
        return self.hops[-1].far

    def parents(self, related: Any, using: str) -> models.Q:
        """Which parent rows show ``related`` (pks, instances or a queryset), as a filter of ``parent``."""
        return showing(self.parent, self.path, related, using)


@dataclass(frozen=True)
class Stop:
    """Where a model's rows sit on a dependency's path: after hop ``index``."""

    dependency: Dependency
    index: int

    @property
    def hop(self) -> Hop:
        return self.dependency.hops[self.index]

    @property
    def parent(self) -> type[models.Model]:
        return self.dependency.parent

    @property
    def last(self) -> bool:
        """Whether these are the path's last rows, whose every write is shown (not only their links)."""
        return self.index == len(self.dependency.hops) - 1

    @property
    def back(self) -> _Key | None:
        """The rows' foreign key to the previous hop's rows, when the hop is a reverse relation."""
        return self.hop.key_on_far

    @property
    def onward(self) -> _Key | None:
        """The rows' foreign key to the next hop's rows, when the next hop is a forward one."""
        return None if self.last else self.dependency.hops[self.index + 1].key_on_near

    def moved_by(self, fields: Iterable[str] | None) -> bool:
        """Whether writing ``fields`` (None: any field) can move these rows on the path."""
        keys = [key for key in (self.back, self.onward) if key is not None]
        if fields is None:
            return bool(keys)
        names = set(fields)
        return any({key.name, key.attname} & names for key in keys)

    def parents(self, rows: Any, using: str) -> models.Q:
        """The parents that reach ``rows`` of this model through the path as stored now, as a filter."""
        return showing(self.parent, self.hop.far_path, rows, using)

    def parents_by_key(self, objs: Iterable[models.Model], using: str) -> models.Q:
        """The parents the rows' own ``back`` key reaches now (after a move or an insert), as a filter."""
        return self.hop.parents_by_key(self.parent, objs, using)


# -- declarations ------------------------------------------------------------------


def declared_dependencies(model: type[models.Model]) -> list[Dependency]:
    """The dependencies ``model`` declares in ``depends_on``; raises ``ValueError`` for a bad path.

    A path that a concrete parent declares too (multi-table inheritance, the
    child inheriting ``depends_on``) is the parent's: its dependency covers
    the child's rows, which are rows of its table.
    """
    return [
        Dependency(model, path, tuple(_hops(model, path)))
        for path in getattr(model, "depends_on", ()) or ()
        if not _declared_by_a_parent(model, path)
    ]


def _hops(model: type[models.Model], path: str) -> list[Hop]:
    label = model._meta.label
    hops: list[Hop] = []
    near, near_path = model, ""
    for name in path.split("__"):
        where = "" if near is model else f" (on {near._meta.label})"
        try:
            field: Any = near._meta.get_field(name)
        except FieldDoesNotExist:
            raise ValueError(
                f"{label}.depends_on names {path!r}: {name!r}{where} is not a field or relation of the model."
            ) from None
        if not field.is_relation or field.related_model is None:
            raise ValueError(f"{label}.depends_on names {path!r}: {name!r}{where} is not a relation.")
        hop = _hop(near, near_path, name, field)
        if hop is None:
            raise ValueError(
                f"{label}.depends_on names {path!r}: {name!r}{where} is a {type(field).__name__}; name "
                "foreign keys, reverse foreign keys or many-to-many relations."
            )
        hops.append(hop)
        near, near_path = hop.far, hop.far_path
    return hops


def _hop(near: type[models.Model], near_path: str, name: str, field: Any) -> Hop | None:
    far = field.related_model
    far_path = f"{near_path}__{name}" if near_path else name
    common = {"near": near, "far": far, "near_path": near_path, "far_path": far_path}
    if field.many_to_many and not _is_generic(field):
        through = _through(field)
        forward = isinstance(field, models.ManyToManyField)
        declared = field if forward else field.field
        # The through model's key to the model that declares the field, and to its target.
        to_declaring = _attname(through, declared.m2m_field_name())
        to_target = _attname(through, declared.m2m_reverse_field_name())
        near_key, far_key = (to_declaring, to_target) if forward else (to_target, to_declaring)
        return Hop(**common, through=through, through_near=near_key, through_far=far_key, m2m_on_near=forward)
    if isinstance(field, models.ForeignObjectRel) and (field.one_to_many or field.one_to_one):
        return Hop(**common, key_on_far=field.field)
    if isinstance(field, models.ForeignKey):
        return Hop(**common, key_on_near=field)
    return None


def _attname(model: type[models.Model], name: str) -> str:
    """The column attribute of ``model``'s concrete field ``name`` (a through model's foreign key)."""
    field: Any = model._meta.get_field(name)
    return str(field.attname)


def _is_generic(field: Any) -> bool:
    return type(field).__name__ == "GenericRelation"


def _declared_or_none(model: type[models.Model]) -> list[Dependency]:
    try:
        return declared_dependencies(model)
    except ValueError:
        return []  # reported by the system check (conditional_api.E002)


# -- the index ------------------------------------------------------------------------

_stops: dict[type[models.Model], list[Stop]] = defaultdict(list)
_links: dict[type[models.Model], list[tuple[Dependency, int]]] = defaultdict(list)
_shared_keys: dict[type[models.Model], list[_Key]] = defaultdict(list)


def _declared_by_a_parent(model: type[models.Model], path: str) -> bool:
    """Whether a concrete parent (multi-table inheritance) declares ``path``: its dependency covers the child's rows."""
    return any(path in (getattr(parent, "depends_on", ()) or ()) for parent in model._meta.get_parent_list())


def register(versioned: Iterable[type[models.Model]]) -> None:
    """Index the declared dependencies of ``versioned`` models by the models and through models on their paths."""
    for model in versioned:
        if model._meta.proxy:
            continue
        for dependency in _declared_or_none(model):
            for index, hop in enumerate(dependency.hops):
                _stops[_concrete(hop.far)].append(Stop(dependency, index))
                if hop.through is not None:
                    _links[hop.through].append((dependency, index))
                _index_shared_key(hop.near, hop.key_on_near)
                if index > 0:
                    # A key back to the parent itself is left out: the touch
                    # takes that row for update, and a key share lock held
                    # first would make two such writers wait on each other.
                    _index_shared_key(hop.far, hop.key_on_far)


def _index_shared_key(owner: type[models.Model], key: _Key | None) -> None:
    keys = _shared_keys[_concrete(owner)]
    if key is not None and key not in keys:
        keys.append(key)


def _with_parents(index: Mapping[type[models.Model], Sequence[Any]], model: type[models.Model]) -> list[Any]:
    """The entries of ``model`` and of its concrete parents: a child's rows are rows of its parents' tables."""
    concrete = _concrete(model)
    found = list(index.get(concrete, ()))
    for parent in concrete._meta.get_parent_list():
        found.extend(index.get(parent, ()))
    return found


def stops_of(model: type[models.Model]) -> list[Stop]:
    """Where ``model``'s rows sit on the declared paths (proxies count as their model, children as their parents)."""
    return _with_parents(_stops, model)


def is_shown(model: type[models.Model]) -> bool:
    """Whether some versioned model shows ``model``'s rows, or their links, through a path."""
    return bool(stops_of(model))


def shares_keys(model: type[models.Model]) -> bool:
    """Whether ``model`` has path keys whose targets its writes take in key share mode first."""
    return bool(_with_parents(_shared_keys, model))


def link_hops(through: type[models.Model]) -> Sequence[tuple[Dependency, int]]:
    """The dependency hops whose M2M links live in ``through``: (dependency, index of the hop)."""
    return _links.get(through, ())


def link_models() -> list[type[models.Model]]:
    """The M2M through models of every declared path."""
    return list(_links)


def concrete(model: type[models.Model]) -> type[models.Model]:
    """The model whose table ``model``'s rows live in (proxies share their model's)."""
    return _concrete(model)


def rewrites_on_delete(field: Any) -> bool:
    """Whether deleting the row ``field`` points at rewrites ``field`` in place (SET_NULL and the like)."""
    return bool((field.many_to_one or field.one_to_one) and field.remote_field.on_delete not in _NEVER_REWRITES)


def through_models(model: type[models.Model]) -> list[type[models.Model]]:
    """The M2M through models of ``model``'s relations, forward and reverse (generic relations aside)."""
    return [_through(f) for f in model._meta.get_fields(include_hidden=True) if f.many_to_many and not _is_generic(f)]


# -- locks ---------------------------------------------------------------------------


def lock_rows(model: type[models.Model], rows: Any, using: str) -> list[Any]:
    """Lock the related rows about to be written, before their parents are touched; their pks.

    On PostgreSQL a plain UPDATE of a row does not conflict with the key
    share lock that a concurrent insert or update of a parent takes to check
    its foreign key, so a parent could link to the row after the touch ran
    and before the write commits, and keep its old validator. FOR UPDATE
    does conflict: the linking write waits for this one, or this one for it.
    Taking the row before its parents on every path also keeps the lock
    order the same for saves, updates and deletes. A child's row
    (multi-table inheritance) is locked in its parents' tables too, after
    its own (writes through a parent model lock only the parent's): keys
    that point at a parent model check the row there. Outside a
    transaction (a bare ``save()`` of a model that is not versioned, in
    autocommit) no lock could outlive its own statement, so none is taken:
    the write and the touches each commit on their own, as any autocommit
    write does.
    """
    connection = connections[using]
    locking = connection.features.has_select_for_update and connection.in_atomic_block
    concrete = _concrete(model)
    pks = list(_rows_to_lock(concrete, rows, using, locking).order_by("pk").values_list("pk", flat=True))
    if locking:
        for parent in reversed(concrete._meta.get_parent_list()):
            # The same primary keys: a child's row shares its parents'.
            list(_rows_to_lock(parent, pks, using, locking).order_by("pk").values_list("pk", flat=True))
    return pks


def _rows_to_lock(model: type[models.Model], rows: Any, using: str, locking: bool) -> models.QuerySet[Any]:
    queryset: models.QuerySet[Any] = models.QuerySet(model=model, using=using).filter(pk__in=rows)
    if not locking:
        return queryset
    if connections[using].features.has_select_for_update_of:
        return queryset.select_for_update(of=("self",))
    return queryset.select_for_update()


def share_key_targets(model: type[models.Model], using: str, *, rows: Any = None, instance: Any = None) -> None:
    """Hold the rows that ``model``'s path keys point at, in key share mode, before ``model``'s rows are written.

    PostgreSQL checks a foreign key by taking the row it names in key share
    mode, and it checks again on every update of a row that its own
    transaction has already updated, whether the key changed or not: a
    conditional write claims its row and then saves it, so its save waits
    for the author while holding the article. A write of the author meanwhile
    holds the author for update (see :func:`lock_rows`) and then waits for
    the articles it touches: a deadlock. Taken first, the key share lock puts
    the article's writer in the same order as the author's: the author's row,
    then the article's. Key share locks do not conflict with each other, so
    writers of two articles of one author do not wait on each other here.

    ``rows`` (pks or a queryset) names stored rows, whose keys are read in the
    query; ``instance`` an instance about to be saved, whose keys are the
    values the save writes. PostgreSQL only: the other backends lock tables
    or databases, not rows, or check keys without row locks.
    """
    connection = connections[using]
    if connection.vendor != "postgresql" or not connection.in_atomic_block:
        return
    for key in _with_parents(_shared_keys, model):
        field = key.target_field.attname
        targets: models.QuerySet[Any] = models.QuerySet(model=key.related_model, using=using)
        if instance is not None:
            value = getattr(instance, key.attname)
            if value is None:
                continue
            targets = targets.filter(**{field: value})
        else:
            stored: models.QuerySet[Any] = models.QuerySet(model=model, using=using).filter(pk__in=rows)
            targets = targets.filter(**{f"{field}__in": stored.values(key.attname)})
        # Django's select_for_update() has no key share mode; the rest of the query is Django's.
        sql, params = targets.order_by("pk").values("pk").query.sql_with_params()
        with connection.cursor() as cursor:
            cursor.execute(f"{sql} FOR KEY SHARE", params)
