"""Bulk inserts of versioned rows: the bumped columns computed once per statement, not once per row.

Django's INSERT carries one value per row and column, and a bumped
column's value is an SQL expression: the database clock, and for
``last_modified`` a look-up of the table's ``LastModifiedFloor``. Django
resolves and compiles that expression for every row, and the database
parses it for every row; for a bulk insert that was most of its cost.
A bumped field's insert value does not depend on the row
(``BumpedField.bump_value`` sees none), so a bulk insert selects the rows'
own values and adds the bumped ones once::

    INSERT INTO t (title, ..., version, updated_at, last_modified)
    SELECT *, 1, <now>, <first write time> FROM UNNEST(...) WHERE true                  -- PostgreSQL
    SELECT *, 1, <now>, <first write time> FROM (VALUES (...), ...) AS rows WHERE true  -- SQLite

(PostgreSQL takes the VALUES form, its values cast to their columns'
types, where Django does not unnest a column.) Every row gets what it got
with its own copy of the expression: the clock is the statement's on both
databases (PostgreSQL's ``STATEMENT_TIMESTAMP()``; SQLite fixes ``'now'``
for the step that writes all the rows), and the floor is read once, in the
statement's snapshot. ``ON CONFLICT`` and ``RETURNING`` follow the rows as
they do after ``VALUES``.

Built on Django's insert compiler (5.2), private parts included:
``prepare_value()``, ``assemble_as_sql()`` and PostgreSQL's ``InsertUnnest``.
An insert of one row, or of rows with no column but the bumped ones, is
left to Django as it is.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator
from functools import cache
from typing import TYPE_CHECKING, Any, cast

from django.db import connections
from django.db.backends.postgresql.compiler import InsertUnnest
from django.db.models.sql.compiler import SQLInsertCompiler
from django.db.models.sql.subqueries import InsertQuery

from .fields import BumpedField

if TYPE_CHECKING:
    from django.db.backends.base.base import BaseDatabaseWrapper

__all__ = ["StampedInsertQuery"]


class _StampOnce(SQLInsertCompiler):
    """An insert compiler that writes the bumped columns' values once per statement."""

    def as_sql(self) -> list[tuple[str, tuple[Any, ...]]]:  # type: ignore[override]
        # The stubs leave out the insert's conflict options (on_conflict, update_fields, unique_fields).
        query: Any = self.query
        stamped = [field for field in query.fields if isinstance(field, BumpedField)]
        row_fields = [field for field in query.fields if not isinstance(field, BumpedField)]
        features = self.connection.features
        if (
            len(query.objs) < 2  # one row: its values are once per statement already
            or query.raw
            or not stamped
            or not row_fields  # nothing to select the rows from
            or self.connection.vendor not in ("postgresql", "sqlite")
            or (self.returning_fields and not features.can_return_rows_from_bulk_insert)
        ):
            return super().as_sql()
        stamps = [(field, field.bump_value(add=True)) for field in stamped]
        for obj in query.objs:
            for field, value in stamps:
                setattr(obj, field.attname, value)  # what pre_save() sets on each
        value_rows = [
            [self.prepare_value(field, self.pre_save_val(field, obj)) for field in row_fields] for obj in query.objs
        ]
        placeholder_rows, param_rows = self.assemble_as_sql(row_fields, value_rows)
        stamp_sql, params = self._compile_stamps(stamps)
        params.extend(param for row in param_rows for param in row)
        qn = self.connection.ops.quote_name
        columns = ", ".join(qn(cast(str, field.column)) for field in [*row_fields, *stamped])
        sql = [
            self.connection.ops.insert_statement(on_conflict=query.on_conflict),
            f"{qn(query.get_meta().db_table)} ({columns})",
            f"SELECT *, {stamp_sql} FROM {_rows_source(self.connection, row_fields, placeholder_rows)}",
            # SQLite would read an ON CONFLICT after a bare FROM as a join's ON.
            "WHERE true",
        ]
        on_conflict = self.connection.ops.on_conflict_suffix_sql(
            query.fields,
            query.on_conflict,
            (field.column for field in query.update_fields),
            (field.column for field in query.unique_fields),
        )
        if on_conflict:
            sql.append(on_conflict)
        if self.returning_fields:
            ops: Any = self.connection.ops  # the stubs leave out return_insert_columns()
            returning, self.returning_params = ops.return_insert_columns(self.returning_fields)
            if returning:
                sql.append(returning)
                params.extend(self.returning_params)
        return [(" ".join(sql), tuple(params))]

    def apply_converters(self, rows: Iterable[Any], converters: dict[int, Any]) -> Iterator[list[Any]]:
        # RETURNING gives every row of the statement the same bumped values
        # (a conflicting row its own): convert each distinct one once.
        stamped = {pos for pos, field in enumerate(self.returning_fields or ()) if isinstance(field, BumpedField)}
        once = {
            pos: ([_converting_once(convs)], expression)
            for pos, (convs, expression) in converters.items()
            if pos in stamped
        }
        return super().apply_converters(rows, {**converters, **once})

    def _compile_stamps(self, stamps: list[tuple[BumpedField, Any]]) -> tuple[str, list[Any]]:
        """The SELECT list of the bumped values, and its parameters."""
        parts: list[str] = []
        params: list[Any] = []
        for field, value in stamps:
            prepared = self.prepare_value(field, value)
            part, part_params = self.field_as_sql(field, getattr(field, "get_placeholder", None), prepared)  # type: ignore[arg-type]
            if self.connection.vendor == "postgresql" and not hasattr(prepared, "as_sql"):
                # A parameter in a SELECT list has no column to take its type from.
                part = f"({part})::{field.db_type(self.connection)}"
            parts.append(part)
            params.extend(part_params)
        return ", ".join(parts), params


def _rows_source(connection: BaseDatabaseWrapper, fields: list[Any], placeholder_rows: Any) -> str:
    """The rows' values as a FROM item: Django's unnested arrays, or a VALUES list.

    In a VALUES list outside INSERT, PostgreSQL cannot take a value's type
    from its column, and would read a NULL or a quoted value as text: each
    value is cast to its column's type, without the type's length, so a value
    too long still fails as it does in a plain INSERT.
    """
    if isinstance(placeholder_rows, InsertUnnest):
        return str(placeholder_rows)
    if connection.vendor == "postgresql":
        types = [_unsized(field.db_type(connection)) for field in fields]
        placeholder_rows = [
            [sql if db_type is None else f"CAST({sql} AS {db_type})" for sql, db_type in zip(row, types, strict=True)]
            for row in placeholder_rows
        ]
    return f"({connection.ops.bulk_insert_sql(fields, placeholder_rows)}) AS inserted_rows"


def _unsized(db_type: str | None) -> str | None:
    """A column type without its length or precision: ``varchar(50)[]`` is ``varchar[]``."""
    return None if db_type is None else re.sub(r"\([^)]*\)", "", db_type)


def _converting_once(converters: list[Callable[..., Any]]) -> Callable[..., Any]:
    """The converters of a column, applied once per distinct value."""
    converted: dict[Any, Any] = {}

    def convert(value: Any, expression: Any, connection: BaseDatabaseWrapper) -> Any:
        if value not in converted:
            result = value
            for converter in converters:
                result = converter(result, expression, connection)
            converted[value] = result
        return converted[value]

    return convert


@cache
def _stamping(compiler: type[Any]) -> type[SQLInsertCompiler]:
    """The database's own insert compiler, writing the bumped values once per statement."""
    return type(f"StampOnce{compiler.__name__}", (_StampOnce, compiler), {})


class StampedInsertQuery(InsertQuery):
    """An insert whose bumped columns get one value per statement (see the module's doc)."""

    def get_compiler(
        self, using: str | None = None, connection: BaseDatabaseWrapper | None = None, elide_empty: bool = True
    ) -> SQLInsertCompiler:
        if using:
            connection = connections[using]
        if connection is None:
            raise ValueError("Need either using or connection")
        base: Any = connection.ops.compiler(self.compiler)
        return _stamping(base)(self, connection, using, elide_empty)
