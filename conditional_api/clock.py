"""The database clock, as SQL expressions.

Versioned rows are stamped by the database, never by the app server, so that
app servers with skewed clocks agree. ``updated_at`` is the database's time of
the write. ``last_modified`` backs the Last-Modified header: HTTP dates have
one-second resolution (RFC 9110 §5.6.7), and a client holding
``Last-Modified: 10:00:00`` must not get a 304 after a second write within
10:00:00 (§8.8.2.2), so every write moves ``last_modified`` to a later whole
second than the row's previous one. A row written several times in one second
runs ahead of the clock by that many seconds; the response layer sends no
Last-Modified while it is ahead (§8.8.2.1).

A URL can also outlive its row: a row deleted and re-created (the same
primary key, or the same slug) must be dated after every date the deleted
one had, or a client holding the old date gets a 304 for the new row. An
insert therefore takes the later of now and the whole second after its
table's :class:`LastModifiedFloor`, the latest ``last_modified`` of the rows
deleted from it, which covers a deleted row whose date ran ahead of the
clock, or a database clock that stepped back since.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, cast

from django.db import NotSupportedError, connections, models
from django.db.models import DateTimeField, Expression, F, Func
from django.db.models.functions import Greatest, Now

if TYPE_CHECKING:
    from django.db.backends.base.base import BaseDatabaseWrapper
    from django.db.models.sql.compiler import SQLCompiler

    #: What ``as_sql()`` and its vendor variants return: the SQL and its parameters.
    _SQL = tuple[str, tuple[Any, ...]]

__all__ = [
    "SQLITE_NOW",
    "DatabaseNow",
    "FirstWriteTime",
    "LastModifiedFloor",
    "NextSecond",
    "next_write_time",
    "raise_floor",
]

#: SQLite's current time as the text Django writes: six fraction digits, so
#: stored values compare as text. Raw SQL; escape ``%`` where params follow.
SQLITE_NOW = "STRFTIME('%Y-%m-%d %H:%M:%f000', 'NOW')"


class DatabaseNow(Now):
    """The database's current time, to the microsecond on every supported backend."""

    def as_sqlite(self, compiler: SQLCompiler, connection: BaseDatabaseWrapper, **extra_context: Any) -> _SQL:
        # Django's Now() gives milliseconds on SQLite; pad to the six digits
        # that Django itself writes, so stored values compare as text.
        return self.as_sql(compiler, connection, template=SQLITE_NOW.replace("%", "%%%%"), **extra_context)


class NextSecond(Func):
    """The start of the whole second after a timestamp."""

    output_field = DateTimeField()

    def as_postgresql(self, compiler: SQLCompiler, connection: BaseDatabaseWrapper, **extra_context: Any) -> _SQL:
        return self.as_sql(
            compiler,
            connection,
            template="(DATE_TRUNC('second', %(expressions)s) + INTERVAL '1 second')",
            **extra_context,
        )

    def as_sqlite(self, compiler: SQLCompiler, connection: BaseDatabaseWrapper, **extra_context: Any) -> _SQL:
        return self.as_sql(
            compiler,
            connection,
            template="STRFTIME('%%%%Y-%%%%m-%%%%d %%%%H:%%%%M:%%%%S', %(expressions)s, '+1 seconds')",
            **extra_context,
        )

    def as_sql(
        self,
        compiler: SQLCompiler,
        connection: BaseDatabaseWrapper,
        function: str | None = None,
        template: str | None = None,
        arg_joiner: str | None = None,
        **extra_context: Any,
    ) -> _SQL:
        # Only the vendor methods above name a template: other databases get here without one.
        if template is None:
            raise NotSupportedError(
                f"conditional_api keeps updated_at on PostgreSQL and SQLite; {connection.vendor} is not supported."
            )
        return super().as_sql(
            compiler, connection, function=function, template=template, arg_joiner=arg_joiner, **extra_context
        )


def next_write_time(field_name: str) -> Greatest:
    """The value a write gives ``field_name``: now, or the next second if now is not past it."""
    return Greatest(DatabaseNow(), NextSecond(F(field_name)), output_field=DateTimeField())


class LastModifiedFloor(models.Model):
    """The latest ``last_modified`` of a table's deleted rows: rows inserted later are dated after it.

    Raised in the delete's transaction, so it commits or rolls back with the
    delete. A table's floor is the maximum of its rows: a deleting
    transaction raises a row no other open transaction holds, or adds one,
    as the change counters do (see ``changes``), so deletes of one table do
    not queue behind each other here and two transactions deleting from two
    tables in opposite orders cannot deadlock on it.
    """

    label = models.CharField(max_length=255, help_text="The label of the model whose table holds the column.")
    deleted_until = models.DateTimeField(help_text="The latest last_modified of a row deleted from that table.")

    class Meta:
        app_label = "conditional_api"
        indexes = [models.Index(fields=["label", "deleted_until"], name="conditional_api_floor_idx")]

    def __str__(self) -> str:
        return f"{self.label}: {self.deleted_until}"


class FirstWriteTime(Expression):
    """The value an insert gives a ``last_modified`` column: now, or the whole second after its table's floor."""

    output_field = DateTimeField()

    def __init__(self, label: str) -> None:
        super().__init__()
        self.label = label

    def as_postgresql(self, compiler: SQLCompiler, connection: BaseDatabaseWrapper, **extra_context: Any) -> _SQL:
        floor = connection.ops.quote_name(LastModifiedFloor._meta.db_table)
        # GREATEST skips the NULL of a table with no floor.
        return (
            "GREATEST(STATEMENT_TIMESTAMP(), (SELECT DATE_TRUNC('second', MAX(deleted_until)) + INTERVAL '1 second' "
            f"FROM {floor} WHERE label = %s))",
            (self.label,),
        )

    def as_sqlite(self, compiler: SQLCompiler, connection: BaseDatabaseWrapper, **extra_context: Any) -> _SQL:
        floor = connection.ops.quote_name(LastModifiedFloor._meta.db_table)
        # SQLite's MAX() of a NULL is NULL: no floor compares as the empty text, below every date.
        return (
            f"MAX({SQLITE_NOW.replace('%', '%%')}, COALESCE((SELECT STRFTIME('%%Y-%%m-%%d %%H:%%M:%%S', "
            f"MAX(deleted_until), '+1 seconds') FROM {floor} WHERE label = %s), ''))",
            (self.label,),
        )

    def as_sql(self, compiler: SQLCompiler, connection: BaseDatabaseWrapper, **extra_context: Any) -> _SQL:
        raise NotSupportedError(
            f"conditional_api keeps last_modified on PostgreSQL and SQLite; {connection.vendor} is not supported."
        )


def raise_floor(field: models.Field[Any, Any], pk: Any, using: str) -> None:
    """Raise the floor of ``field``'s table to the value row ``pk`` holds, before the row is deleted.

    Call it in the delete's transaction. The row is read without a lock:
    the delete's pre_delete signals run for cascaded rows before the rows
    they depend on, and locking them here would take locks in the opposite
    order from every other write path (related rows before the rows that
    show them), which deadlocks. A write that commits between this read and
    the delete is missed (see the README's known limits).
    """
    model = field.model
    connection = connections[using]
    if connection.vendor not in ("postgresql", "sqlite"):
        return  # the insert that would read the floor raises NotSupportedError there
    quote = connection.ops.quote_name
    floor = quote(LastModifiedFloor._meta.db_table)
    # Concrete fields (this one, the primary key) always have their column.
    column, key = quote(cast(str, field.column)), quote(cast(str, model._meta.pk.column))
    table = quote(model._meta.db_table)
    row = f"SELECT {column} FROM {table} WHERE {key} = %s"
    label = model._meta.label
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(
                f"UPDATE {floor} SET deleted_until = GREATEST(deleted_until, ({row})) WHERE id = ("
                f"SELECT id FROM {floor} WHERE label = %s ORDER BY id LIMIT 1 FOR UPDATE SKIP LOCKED)",
                [pk, label],
            )
        else:  # SQLite: one writer at a time, so one row per table.
            cursor.execute(
                f"UPDATE {floor} SET deleted_until = MAX(deleted_until, COALESCE(({row}), deleted_until)) "
                "WHERE label = %s",
                [pk, label],
            )
        if cursor.rowcount == 0:
            cursor.execute(
                f"INSERT INTO {floor} (label, deleted_until) SELECT %s, {column} FROM {table} WHERE {key} = %s",
                [label, pk],
            )
