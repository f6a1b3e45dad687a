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
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.db import NotSupportedError
from django.db.models import DateTimeField, F, Func
from django.db.models.functions import Greatest, Now

if TYPE_CHECKING:
    from django.db.backends.base.base import BaseDatabaseWrapper
    from django.db.models.sql.compiler import SQLCompiler

    #: What ``as_sql()`` and its vendor variants return: the SQL and its parameters.
    _SQL = tuple[str, tuple[Any, ...]]

__all__ = ["SQLITE_NOW", "DatabaseNow", "NextSecond", "next_write_time"]

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
