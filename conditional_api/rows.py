"""The cheap reads: a detail's validator query, and what a list's ETag fingerprints.

A detail 304 costs its query and little else, so it is built with two clones of
the view's queryset instead of the seven that chaining ``select_related(None)``,
``prefetch_related(None)``, ``order_by()``, ``only()``, ``filter()`` and
``get()`` make. That takes ``Query`` methods Django's own QuerySet methods use
(``_chain``, ``clear_ordering``, ``add_immediate_loading``, ``add_q``,
``set_limits``), the same in Django 5.2 and 6.1, which CI runs: building and
compiling the example's validator query takes 123 µs this way against 150 µs
through the public chain, about 3–4% of a detail 304. Its filters, and so its scoping, are the view's:
only what cannot change which row is found (ordering, joins for
``select_related``, prefetches, the loaded columns) is dropped. A list's
fingerprint keeps its ordering: it compiles the list's row selection alone.
"""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass
from typing import Any

from django.core.exceptions import EmptyResultSet, FieldDoesNotExist, FullResultSet, ValidationError
from django.db import connections, models
from django.db.models.expressions import Col
from django.db.models.lookups import Lookup
from django.db.models.sql.where import AND

from .scopes import remembered, scope_key

__all__ = [
    "find_state_row",
    "from_validator_cache",
    "mark_cache_result",
    "query_fingerprint",
    "row_selection",
    "state_queryset",
]

#: Where a row found through the validator cache says whether the cache had it.
_CACHE_RESULT = "_conditional_api_cache_hit"


def mark_cache_result(row: models.Model, hit: bool) -> None:
    """Note on a row looked up through the validator cache whether the cache served it."""
    row.__dict__[_CACHE_RESULT] = hit


def from_validator_cache(row: models.Model | None) -> bool | None:
    """True: the validator cache served the row; False: it was asked and the database answered; None: not asked."""
    return None if row is None else row.__dict__.get(_CACHE_RESULT)


def _loading_only(queryset: models.QuerySet[Any], fields: tuple[str, ...]) -> models.QuerySet[Any]:
    """A copy of ``queryset`` that loads only the primary key and ``fields``, with no ``select_related`` joins."""
    # QuerySet's own copy, as every method makes (private, so untyped).
    clone: models.QuerySet[Any] = queryset._chain()  # type: ignore[attr-defined]
    clone.query.select_related = False
    clone.query.clear_deferred_loading()
    clone.query.add_immediate_loading(fields)
    return clone


def state_queryset(queryset: models.QuerySet[Any], fields: tuple[str, ...]) -> models.QuerySet[Any]:
    """``queryset`` loading only the primary key and ``fields``, unordered, without joins or prefetches.

    The same as ``queryset.select_related(None).prefetch_related(None)
    .order_by().only(*fields)``, in one clone.
    """
    if queryset.query.is_sliced:
        # Django refuses to reorder or filter a slice; so does this.
        return queryset.select_related(None).prefetch_related(None).order_by().only(*fields)
    clone = _loading_only(queryset, fields)
    clone.query.clear_ordering(force=True)
    # What prefetch_related(None) clears, without another clone.
    clone._prefetch_related_lookups = ()  # type: ignore[attr-defined]
    return clone


def find_state_row(queryset: models.QuerySet[Any], lookup_field: str, value: Any) -> models.Model | None:
    """The row of ``queryset`` (a ``state_queryset``) whose ``lookup_field`` is ``value``, or None.

    None also when ``value`` is one the column cannot hold, as
    ``get_object_or_404`` answers 404 to those; several rows raise the
    model's ``MultipleObjectsReturned``, as ``get()`` does. A queryset of a
    shape seen before runs the statement compiled then (see
    :class:`_RowStatement`), with this value in it.
    """
    key = scope_key(queryset)
    try:
        statement = None if key is None else _statement(key, queryset, lookup_field, value)
        rows = statement.rows(queryset, value) if statement is not None else None
        if rows is None:
            rows = list(_selecting(queryset, lookup_field, value))
    except (ValueError, TypeError, OverflowError, ValidationError):
        # OverflowError: SQLite's driver refuses an integer wider than 64 bits,
        # which a relation's lookup (a child's parent link) does not range-check.
        return None
    if len(rows) > 1:
        raise queryset.model.MultipleObjectsReturned(f"{lookup_field}={value!r} finds more than one row.")
    return rows[0] if rows else None


def _statement(key: Hashable, queryset: models.QuerySet[Any], lookup_field: str, value: Any) -> _RowStatement | None:
    """The statement remembered for this shape and lookup, compiled now with ``value`` when there is none."""
    try:
        return remembered((key, lookup_field, _RowStatement), lambda: _RowStatement.of(queryset, lookup_field, value))
    except _ValueSpecific:
        return None


def _selecting(queryset: models.QuerySet[Any], lookup_field: str, value: Any) -> models.QuerySet[Any]:
    """``queryset`` cut to two rows at most whose ``lookup_field`` is ``value``; raises on a value it cannot hold."""
    clone: models.QuerySet[Any] = queryset._chain()  # type: ignore[attr-defined]  # see _loading_only()
    clone.query.add_q(models.Q(**{lookup_field: value}))
    clone.query.set_limits(high=2)
    return clone


class _ValueSpecific(Exception):
    """The statement compiled for this value says nothing of others' (it found no rows before running)."""


@dataclass(frozen=True)
class _RowStatement:
    """The compiled statement of a validator query, kept to run again with another value.

    Compiling is most of what building the query costs, and a view's
    queryset has the same shape on every request (``scopes``). The filter on
    ``lookup_field`` is the WHERE clause's last term, so its value is the
    statement's last parameter. Another value is put in by compiling that
    one term alone: the statement is reused only when the term compiles to
    the same SQL with one parameter; anything else (a value out of the
    column's range, for one) goes through the whole compile again.
    """

    sql: str
    params: tuple[Any, ...]
    lookup: type[Lookup]
    column: Col
    term: str
    model: type[models.Model]
    columns: tuple[str, ...]
    converters: dict[int, tuple[list[Any], Any]]

    @classmethod
    def of(cls, queryset: models.QuerySet[Any], lookup_field: str, value: Any) -> _RowStatement | None:
        """The statement that finds ``value``, when its lookup is a plain column's; None when it cannot be reused."""
        if not _plain_column(queryset.model, lookup_field) or queryset.query.select_for_update:
            # A locking read is compiled each time: the compiler refuses it outside a transaction.
            return None
        clone = _selecting(queryset, lookup_field, value)
        query = clone.query
        term = query.where.children[-1] if query.where.connector == AND and query.where.children else None
        if not isinstance(term, Lookup) or type(term.lhs) is not Col:
            return None
        compiler = query.get_compiler(using=clone.db)
        try:
            sql, params = compiler.as_sql()
            term_sql, term_params = compiler.compile(term)
        except (EmptyResultSet, FullResultSet) as error:
            raise _ValueSpecific from error  # this value's; another may compile
        if (
            len(term_params) != 1
            or term_sql.count("%s") != 1
            or not params
            or params[-1] != term_params[0]
            or sql.rfind(term_sql) < 0
            or sql.rfind(term_sql) + term_sql.index("%s") != sql.rfind("%s")
        ):
            return None
        select, klass_info = compiler.select, compiler.klass_info
        if klass_info is None or compiler.annotation_col_map or len(klass_info["select_fields"]) != len(select):
            return None
        return cls(
            sql=sql,
            params=tuple(params[:-1]),
            lookup=type(term),
            column=term.lhs,
            term=term_sql,
            model=klass_info["model"],
            columns=tuple(column.target.attname for column, *_ in select),
            converters=compiler.get_converters([column for column, *_ in select]),
        )

    def rows(self, queryset: models.QuerySet[Any], value: Any) -> list[models.Model] | None:
        """The rows whose value is ``value``; None when this statement cannot say (compile the query instead)."""
        if value is None:
            return None
        # Built as the whole compile builds it (prepared: raises on a value the field cannot hold), and
        # reused only as the same lookup: one that prepares to None is written IS NULL there, not = NULL.
        term = queryset.query.build_lookup(["exact"], self.column, value)
        if type(term) is not self.lookup:
            return None
        using = queryset.db
        try:
            term_sql, term_params = queryset.query.get_compiler(using=using).compile(term)
        except EmptyResultSet:
            return []
        if term_sql != self.term or len(term_params) != 1:
            return None
        connection = connections[using]
        with connection.cursor() as cursor:
            cursor.execute(self.sql, (*self.params, *term_params))
            fetched = cursor.fetchall()
        found = []
        for row in fetched:
            values = list(row)
            for position, (functions, expression) in self.converters.items():
                for convert in functions:
                    values[position] = convert(values[position], expression, connection)
            found.append(self.model.from_db(using, self.columns, values))
        return found


def _plain_column(model: type[models.Model], lookup_field: str) -> bool:
    """Whether ``lookup_field`` names a column of ``model`` itself, with no relation or transform to follow."""
    try:
        field = model._meta.pk if lookup_field == "pk" else model._meta.get_field(lookup_field)
    except FieldDoesNotExist:
        return False
    # A child's primary key is its parent link: a relation, but one column of the row itself.
    return bool(getattr(field, "concrete", False)) and (getattr(field, "primary_key", False) or not field.is_relation)


def row_selection(queryset: models.QuerySet[Any]) -> models.QuerySet[Any]:
    """``queryset`` selecting the primary key alone: what its SQL says of which rows, in which order.

    Filters, ordering, grouping, distinct, slices, annotations and extra
    selects stay, since each can change the rows or their values; the
    columns loaded and the joins of ``select_related`` go, since they change
    neither. Compiling this costs about half of compiling the list query.
    """
    if not queryset.query.default_cols:  # values() and values_list() name their columns themselves
        return queryset
    return _loading_only(queryset, ("pk",))


def query_fingerprint(queryset: models.QuerySet[Any]) -> tuple[str, ...]:
    """The SQL and parameters the queryset compiles to on its database (no query runs)."""
    try:
        sql, params = queryset.query.get_compiler(using=queryset.db).as_sql()
    except EmptyResultSet:
        return ("<empty>",)
    return (sql, *(repr(param) for param in params))
