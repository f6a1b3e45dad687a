"""Which tables a list reads: every one its SQL names, and every one its ``select_related`` and prefetches load.

A list's ETag must move whenever any row its bytes come from moves: the
rows it shows, and the rows that decide which rows it shows. Filters,
ordering and annotations across relations join other tables, ``Exists`` and
``Subquery`` read them, ``select_related`` and ``prefetch_related`` load
them. Rather than trusting a declaration, the tables are taken from what
the query says:

* the compiled SQL of the list's row selection: every table name it quotes,
  and every name after ``FROM`` or ``JOIN`` (so that raw SQL naming a table
  Django does not know makes the answer unknown, not partial);
* the tables a ``select_related`` of the same paths joins, compiled once per
  model and paths;
* each prefetch path, hop by hop (an M2M hop reads its ``through`` table
  too), and the query of a ``Prefetch(queryset=...)``.

The answer is None when any of it is unknown: a name that is no model's
table, a prefetch path that is no relation. Results are memoized per SQL
text and per paths, so a list 304 pays a dictionary lookup.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from functools import lru_cache
from typing import Any, cast

from django.apps import apps
from django.core.exceptions import FieldDoesNotExist
from django.db import connections, models

from .rows import query_fingerprint, row_selection

__all__ = ["tables_read"]

Tables = frozenset[type[models.Model]]

_FROM_OR_JOIN = re.compile(r"\b(?:FROM|JOIN)\s+([`\"\[]?)([A-Za-z0-9_$.]+)[`\"\]]?", re.IGNORECASE)


@lru_cache(maxsize=1)
def _models_by_table() -> dict[str, type[models.Model]]:
    """Each concrete model by its table name (built once the app registry is ready)."""
    found: dict[str, type[models.Model]] = {}
    for model in apps.get_models(include_auto_created=True):
        if model._meta.proxy:
            continue
        found.setdefault(model._meta.db_table, model)
    return found


def _quoted(connection: Any, table: str) -> str:
    return str(connection.ops.quote_name(table))


@lru_cache(maxsize=1024)
def _sql_tables(alias: str, sql: str) -> Tables | None:
    """The models whose tables ``sql`` reads; None when it names a table that is no model's."""
    connection = connections[alias]
    by_table = _models_by_table()
    found = {model for table, model in by_table.items() if _quoted(connection, table) in sql}
    for _quote, name in _FROM_OR_JOIN.findall(sql):
        model = by_table.get(name)
        if model is None:
            return None  # a table this project has no model for: raw SQL
        found.add(model)
    return frozenset(found)


def _queryset_tables(queryset: models.QuerySet[Any]) -> Tables | None:
    sql = query_fingerprint(queryset)[0]
    return frozenset() if sql == "<empty>" else _sql_tables(queryset.db, sql)


def _select_related_paths(value: Any, prefix: str = "") -> tuple[str, ...]:
    paths: list[str] = []
    for name, nested in value.items():
        path = f"{prefix}{name}"
        paths.append(path)
        paths.extend(_select_related_paths(nested, f"{path}__"))
    return tuple(paths)


@lru_cache(maxsize=256)
def _select_related_tables(model: type[models.Model], alias: str, paths: tuple[str, ...] | None) -> Tables | None:
    """The tables ``select_related(*paths)`` joins (``paths`` None: Django's default, every non-null FK)."""
    queryset: models.QuerySet[Any] = models.QuerySet(model=model, using=alias)
    queryset = queryset.select_related() if paths is None else queryset.select_related(*paths)
    return _queryset_tables(queryset)


def _relation(model: type[models.Model], name: str) -> Any:
    """The relation a prefetch path's hop names: a field name, or a reverse relation's accessor name."""
    try:
        return model._meta.get_field(name)
    except FieldDoesNotExist:
        for field in model._meta.get_fields(include_hidden=True):
            if isinstance(field, models.ForeignObjectRel) and field.get_accessor_name() == name:
                return field
    return None


@lru_cache(maxsize=256)
def _path_tables(model: type[models.Model], path: str) -> Tables | None:
    """The tables a prefetch of ``path`` reads, hop by hop; None when a hop is no relation."""
    found: set[type[models.Model]] = set()
    for name in path.split("__"):
        field = _relation(model, name)
        related = getattr(field, "related_model", None)
        if field is None or not isinstance(related, type) or not issubclass(related, models.Model):
            return None  # a to_attr, a property, a generic relation: not known here
        if field.many_to_many:
            through = field.remote_field.through if isinstance(field, models.ManyToManyField) else field.through
            found.add(cast("type[models.Model]", through))
        model = related._meta.concrete_model or related
        found.add(model)
    return frozenset(found)


def _prefetch_tables(model: type[models.Model], lookups: Iterable[Any]) -> Tables | None:
    found: set[type[models.Model]] = set()
    for lookup in lookups:
        path = lookup if isinstance(lookup, str) else lookup.prefetch_through
        tables = _path_tables(model, path)
        if tables is None:
            return None
        found |= tables
        queryset = None if isinstance(lookup, str) else lookup.queryset
        if queryset is not None:
            inner = tables_read(queryset)
            if inner is None:
                return None
            found |= inner
    return frozenset(found)


def tables_read(queryset: models.QuerySet[Any], selection_sql: str | None = None) -> Tables | None:
    """The models whose tables the list ``queryset`` reads to build its bytes; None when not all are known.

    ``selection_sql``: the SQL of ``row_selection(queryset)``, when the caller
    has compiled it already (a list's ETag fingerprints it too).
    """
    if selection_sql is None:
        selection = _queryset_tables(row_selection(queryset))
    else:
        selection = frozenset() if selection_sql == "<empty>" else _sql_tables(queryset.db, selection_sql)
    parts: list[Tables | None] = [selection]
    select_related = queryset.query.select_related
    if select_related:
        paths = None if select_related is True else _select_related_paths(select_related)
        model: type[models.Model] = queryset.model
        parts.append(_select_related_tables(model, queryset.db, paths))
    lookups = queryset._prefetch_related_lookups  # type: ignore[attr-defined]  # no public reader
    if lookups:
        parts.append(_prefetch_tables(queryset.model, lookups))
    if any(part is None for part in parts):
        return None
    return frozenset().union(*parts)  # type: ignore[arg-type]
