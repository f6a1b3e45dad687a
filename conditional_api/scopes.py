"""Which rows a queryset can find, as a hashable key built without compiling it.

The validator cache keys its entries by the compiled SQL of the view's
queryset, so that a scoped queryset stays scoped. Compiling costs more than
the rest of a cache hit; but the queryset of one view for one kind of user
is the same on every request. :func:`scope_key` describes the parts of a
``Query`` that decide which rows it finds (the model, the tables and joins,
and every filter with its values, by type and as the statement writes them)
for the shapes it knows; for any other shape it answers None and the caller
compiles.
:func:`remembered` keeps what the compiled query said under that key, so an
equal queryset is compiled once per process.

Exact by construction: two queries with equal keys compile to the same
statement, because everything the compiler reads to build it is in the
key (the active time zone too, which date transforms name) or is the same
for every query with that key. What it does not know (an annotation, an
expression on either side of a filter, ``extra()``, a subquery, a filtered
relation) makes the key None, never a guess.
"""

from __future__ import annotations

import datetime
import decimal
import threading
import uuid
from collections.abc import Callable, Hashable
from typing import Any, Final, TypeVar

from django.core.exceptions import FieldDoesNotExist
from django.db import models
from django.db.models.expressions import Col
from django.db.models.lookups import Lookup
from django.db.models.sql.datastructures import BaseTable, Join
from django.db.models.sql.where import NothingNode, WhereNode
from django.utils import timezone

__all__ = ["remembered", "scope_key"]

T = TypeVar("T")

#: Values whose type and value alone say what a filter compares with.
_PLAIN: Final = (
    type(None),
    bool,
    int,
    float,
    str,
    bytes,
    decimal.Decimal,
    datetime.date,
    datetime.datetime,
    datetime.time,
    datetime.timedelta,
    uuid.UUID,
)
#: How many keys a process remembers: one per view and kind of user, or per user for querysets filtered by user.
MAX_REMEMBERED: Final = 4096


class _Unknown(Exception):
    """A part of the query whose effect on the rows this module cannot describe."""


def scope_key(queryset: models.QuerySet[Any], *, ordered: bool = False) -> Hashable | None:
    """A key equal for two querysets exactly when they compile to one statement; None for a shape it does not know.

    ``ordered``: the queryset may be ordered by field names (a list's
    selection, whose order is part of what it says); otherwise any ordering
    is a shape it does not know.
    """
    query = queryset.query
    if (
        query.combinator
        or query.is_sliced
        or query.extra
        or query.extra_tables
        or query.annotations
        or query.group_by is not None
        or query.distinct_fields
        or query.select_related is not False
        or (query.order_by and not (ordered and all(type(name) is str for name in query.order_by)))
        or query.extra_order_by
        or query.explain_info is not None
    ):
        return None
    try:
        return (
            queryset.db,
            timezone.get_current_timezone_name() if _may_name_time_zone(query) else None,
            tuple(query.order_by),
            query.standard_ordering,
            query.alias_cols,  # type: ignore[attr-defined]  # not in the stubs
            query.subquery,
            (query.select_for_update, query.select_for_update_nowait, query.select_for_update_skip_locked),
            query.select_for_no_key_update,
            tuple(query.select_for_update_of),
            query.model,
            query.default_ordering,
            query.distinct,
            frozenset(query.deferred_loading[0]),
            query.deferred_loading[1],
            query.values_select,
            tuple(_table_key(alias, table, query.alias_refcount[alias]) for alias, table in query.alias_map.items()),
            _node_key(query.where),
        )
    except _Unknown:
        return None


def _may_name_time_zone(query: Any) -> bool:
    """Whether the statement may name the active time zone, which the compiler reads, not the query.

    A date transform does (``updated_at__date``). The key is None for one in
    a filter, so only the names the statement is ordered by (the query's, or
    the model's ``Meta.ordering``) or selects (``values()``) can hold one:
    a path, or a relation ordered by its own model's ordering. Reading the
    zone costs more than the rest of a key, so names of plain columns skip it.
    """
    names = [*query.order_by, *query.values_select]
    if query.default_ordering and not query.order_by:
        names.extend(query.get_meta().ordering)
    return not all(_names_a_column(query.get_meta(), name) for name in names)


def _names_a_column(opts: Any, name: Any) -> bool:
    if type(name) is not str:
        return False
    name = name.removeprefix("-")
    if name in ("?", "pk"):
        return True
    try:
        field = opts.get_field(name)
    except FieldDoesNotExist:
        return False  # a path (writer__name, updated_at__date) or a name only the compiler resolves
    return not field.is_relation


def _table_key(alias: str, table: Any, refcount: int) -> Hashable:
    if type(table) is BaseTable:
        return (alias, refcount, table.table_name, table.table_alias)
    if type(table) is Join and table.filtered_relation is None:
        return (
            alias,
            refcount,
            table.table_name,
            table.parent_alias,
            table.join_type,
            table.join_field,
            table.nullable,
        )
    raise _Unknown


def _node_key(node: Any) -> Hashable:
    if type(node) is WhereNode:
        return (node.connector, node.negated, tuple(_node_key(child) for child in node.children))
    if type(node) is NothingNode:
        return NothingNode
    if isinstance(node, Lookup) and type(node.lhs) is Col and not node.bilateral_transforms:
        column = node.lhs
        return (type(node), column.alias, column.target, column.output_field, _value_key(node.rhs))
    raise _Unknown


def _value_key(value: Any) -> Hashable:
    """The value with its type, and as it is written where ``==`` says less than SQL does.

    ``1``, ``True`` and ``1.0`` are equal in Python, not in every column. Nor
    are values of one type that ``==`` identifies but whose parameter is
    written otherwise: ``Decimal("1.0")`` and ``Decimal("1")``, ``-0.0`` and
    ``0.0``; the two readings of a repeated local time (``fold``), one
    instant at two offsets. A lookup that does not prepare its value
    (``contains``, ``iexact``) writes ``str(value)`` into its pattern, which
    ``repr`` (and, for a time of day, its offset) determines. A set's items
    are written in the order it iterates, which equal sets need not share.
    """
    kind = type(value)
    if kind is datetime.datetime or kind is datetime.time:
        return (kind, repr(value), value.utcoffset())
    if kind is float or kind is decimal.Decimal:
        return (kind, repr(value))  # also hashable for Decimal("sNaN"), which hash() refuses
    if kind in _PLAIN:
        return (kind, value)
    if kind in (list, tuple, set, frozenset):
        return (kind, tuple(_value_key(item) for item in value))
    raise _Unknown


_remembered: dict[Hashable, Any] = {}
_lock = threading.Lock()


def remembered(key: Hashable | None, compute: Callable[[], T]) -> T:
    """``compute()``, once per ``key`` in this process (every time when ``key`` is None)."""
    if key is None:
        return compute()
    try:
        return _remembered[key]  # type: ignore[no-any-return]
    except KeyError:
        pass
    value = compute()
    with _lock:
        if len(_remembered) >= MAX_REMEMBERED:
            _remembered.clear()  # a bound, not a policy: the next request compiles again
        _remembered[key] = value
    return value
