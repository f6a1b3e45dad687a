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
from typing import Any, cast

from django.core.exceptions import FieldDoesNotExist
from django.db import connections, models

__all__ = [
    "Dependency",
    "concrete",
    "declared_dependencies",
    "dependencies_of",
    "is_shown",
    "lock_rows",
    "moves_links",
    "register",
    "rewrites_on_delete",
    "through_dependencies",
    "through_models",
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
    through = field.remote_field.through if isinstance(field, models.ManyToManyField) else field.through
    # None only on an abstract model's relation; the relations of installed models have theirs.
    return cast("type[models.Model]", through)


@dataclass(frozen=True)
class Dependency:
    """``parent``'s representation shows the ``related`` rows reached through ``path``."""

    parent: type[models.Model]
    path: str
    related: type[models.Model]
    #: The foreign key on ``related`` when it points at ``parent`` (a reverse
    #: foreign key seen from the parent): writes of the related row can move
    #: it from one parent to another.
    link_on_related: models.ForeignObject[Any, Any] | None = None
    #: The M2M ``through`` model, when the relation is many-to-many.
    through: type[models.Model] | None = None

    def parents(self, related: Any, using: str) -> models.Q:
        """Which parent rows show ``related`` (pks, instances or a queryset), as a filter of ``parent``."""
        showing: models.QuerySet[models.Model] = models.QuerySet(model=self.parent, using=using).filter(
            **{f"{self.path}__in": related}
        )
        return models.Q(pk__in=showing.values("pk"))

    def parents_by_link(self, objs: Iterable[models.Model]) -> models.Q:
        """The parents the related rows' own foreign keys name now (without a query per row), as a filter."""
        assert self.link_on_related is not None
        field = self.link_on_related
        values = {getattr(obj, field.attname) for obj in objs} - {None}
        return models.Q(**{f"{field.target_field.attname}__in": values})


_by_related: dict[type[models.Model], list[Dependency]] = defaultdict(list)
_by_through: dict[type[models.Model], list[Dependency]] = defaultdict(list)


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


def register(versioned: Iterable[type[models.Model]]) -> None:
    """Index the declared dependencies of ``versioned`` models by related model and M2M through model."""
    for model in versioned:
        if model._meta.proxy:
            continue
        for dependency in _declared_or_none(model):
            _by_related[_concrete(dependency.related)].append(dependency)
            if dependency.through is not None:
                _by_through[dependency.through].append(dependency)


def through_dependencies(through: type[models.Model]) -> Sequence[Dependency]:
    """The dependencies whose M2M links live in ``through``."""
    return _by_through.get(through, ())


def is_shown(model: type[models.Model]) -> bool:
    """Whether some versioned model shows ``model``'s rows."""
    return _concrete(model) in _by_related


def rewrites_on_delete(field: Any) -> bool:
    """Whether deleting the row ``field`` points at rewrites ``field`` in place (SET_NULL and the like)."""
    return bool((field.many_to_one or field.one_to_one) and field.remote_field.on_delete not in _NEVER_REWRITES)


def through_models(model: type[models.Model]) -> list[type[models.Model]]:
    """The M2M through models of ``model``'s relations, forward and reverse (generic relations aside)."""
    return [_through(f) for f in model._meta.get_fields(include_hidden=True) if f.many_to_many and not _is_generic(f)]


def concrete(model: type[models.Model]) -> type[models.Model]:
    """The model whose table ``model``'s rows live in (proxies share their model's)."""
    return _concrete(model)


# -- related rows ----------------------------------------------------------------


def lock_rows(model: type[models.Model], rows: Any, using: str) -> list[Any]:
    """Lock the related rows about to be written, before their parents are touched; their pks.

    On PostgreSQL a plain UPDATE of a row does not conflict with the key
    share lock that a concurrent insert or update of a parent takes to check
    its foreign key, so a parent could link to the row after the touch ran
    and before the write commits, and keep its old validator. FOR UPDATE
    does conflict: the linking write waits for this one, or this one for it.
    Taking the row before its parents on every path also keeps the lock
    order the same for saves, updates and deletes. Outside a transaction (a
    bare ``save()`` of a model that is not versioned, in autocommit) no lock
    could outlive its own statement, so none is taken: the write and the
    touches each commit on their own, as any autocommit write does.
    """
    connection = connections[using]
    queryset: models.QuerySet[models.Model] = models.QuerySet(model=model, using=using).filter(pk__in=rows)
    if connection.features.has_select_for_update and connection.in_atomic_block:
        queryset = (
            queryset.select_for_update(of=("self",))
            if connection.features.has_select_for_update_of
            else queryset.select_for_update()
        )
    return list(queryset.order_by("pk").values_list("pk", flat=True))


def moves_links(related: type[models.Model], fields: Iterable[str]) -> bool:
    """Whether writing ``fields`` of ``related`` rows can move them to other parents."""
    names = set(fields)
    return any(
        d.link_on_related is not None and {d.link_on_related.name, d.link_on_related.attname} & names
        for d in dependencies_of(related)
    )
