"""Database triggers that keep a versioned table's validators right, whoever writes it.

The ORM's write paths bump ``version``, ``updated_at`` and ``last_modified``
in SQL and count the write in the table's change counter. Writes that bypass
them do not: raw SQL, another service sharing the database, a DBA's fix
in psql, Django's own plain ``QuerySet.update()``. Such a write leaves the
old ETag and Last-Modified in place, and clients go on getting 304 for data
that changed. :class:`InstallVersionTriggers` is an opt-in migration
operation that moves the bookkeeping into the database::

    from django.db import migrations
    from conditional_api.triggers import InstallVersionTriggers

    class Migration(migrations.Migration):
        dependencies = [("blog", "0002_article"), ("conditional_api", "0001_initial")]
        operations = [InstallVersionTriggers("article")]

What the triggers do, on PostgreSQL and SQLite:

* An UPDATE that changes some column of a row but not its ``version``
  came from outside the ORM: the row gets ``version + 1``, ``updated_at``
  = the database clock and ``last_modified`` = the later of now and the
  whole second after its previous value, the values the ORM would have
  written (on SQLite as text in Django's ``YYYY-MM-DD HH:MM:SS.ffffff``
  format). Only the bumped columns the model has are set.
* An UPDATE that changes ``version`` is the ORM's own write (or one that
  keeps its own books): the triggers leave the row alone, so version grows
  by exactly one. The ORM paths and the triggers cooperate; the two-statement
  paths listed below are the only ones bumped twice.
* An UPDATE that changes nothing (``SET version = version``, the lock that
  ``claim_state`` takes) bumps nothing: neither the row nor the counter.
* INSERT, DELETE, a changing UPDATE and, on PostgreSQL, TRUNCATE bump the
  table's change counter, with the sharding rule of ``changes._bump``. The
  ORM counts its writes too; counting one twice is harmless, since a list's
  ETag only needs the count to change.

What they do not do:

* They keep a row's own validators and its table's counter right, nothing
  beyond: rows of other tables whose representation shows this row
  (``depends_on``) are not touched. Raw writes there still need ``touch()``.
* A raw INSERT keeps the values it writes; ``version`` has no database
  default, so it must supply one.
* ORM paths that write a row and bump it in two statements (``bulk_create``
  with ``update_conflicts``; a ``SET_NULL`` foreign key, whose rows are bumped
  before Django rewrites them) look like an outside write followed by the
  ORM's bump: the row's version grows by two and ``last_modified`` by two
  seconds. Validators only need to change, so this is harmless.
* SQLite compares the columns the model had when the triggers were
  installed, and Django rebuilds a SQLite table (dropping its triggers) for
  most schema changes. After a migration that changes the model's fields,
  run this operation again: it replaces what it finds. PostgreSQL compares
  whole rows and survives added columns, but its functions name the bumped
  columns, so renaming or removing one needs a reinstall too.

Trade-offs: every written row runs trigger code. On PostgreSQL the row
bump is a BEFORE UPDATE trigger whose ``WHEN`` clause filters in C before
any PL/pgSQL runs, and the counter bump happens once per table per
transaction (a transaction-local setting remembers it, and a rolled-back
savepoint forgets it with the bump). On SQLite, which has neither
statement-level triggers nor per-transaction state, every written row costs
a counter update, and a bumped row a second write of itself. Bulk raw
writes get slower; ORM writes pay the ``WHEN`` checks and the counter bump.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.db import NotSupportedError
from django.db.backends.utils import names_digest
from django.db.migrations.operations.base import Operation
from django.db.models import Model

from .clock import SQLITE_NOW
from .fields import LastModifiedField, UpdatedAtField, VersionField

__all__ = ["InstallVersionTriggers"]

#: PostgreSQL truncates longer identifiers (NAMEDATALEN - 1).
_MAX_NAME = 63
#: SQLite's text form of the database clock, as ``DatabaseNow.as_sqlite`` writes it.
_SQLITE_NOW = SQLITE_NOW  # raw: trigger SQL runs without parameters


def _object_name(table: str, suffix: str) -> str:
    """A trigger or function name for ``table``: deterministic and at most 63 characters."""
    name = f"{table}_{suffix}"
    if len(name) <= _MAX_NAME:
        return name
    keep = _MAX_NAME - len(suffix) - 10
    return f"{table[:keep]}_{names_digest(table, length=8)}_{suffix}"


def _literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


@dataclass(frozen=True)
class _Target:
    """What the triggers of one table need to know, read from the migration state."""

    table: str
    label: str
    counter: str
    columns: list[str]
    versions: list[str]
    updated: list[str]
    last_modified: list[str]

    @classmethod
    def of(cls, model: type[Model], state: Any) -> _Target:
        fields = [(f, f.column) for f in model._meta.concrete_fields if f.column]
        versions = [column for f, column in fields if isinstance(f, VersionField)]
        if not versions:
            raise ValueError(
                f"InstallVersionTriggers needs a VersionField on {model._meta.label}: "
                "a changed version is how the triggers tell the ORM's writes from others."
            )
        try:
            counter = state.apps.get_model("conditional_api", "ChangeCounter")
        except LookupError:
            raise ValueError(
                f"InstallVersionTriggers({model._meta.model_name!r}) needs the change counter table: "
                'add ("conditional_api", "0001_initial") to the migration\'s dependencies.'
            ) from None
        return cls(
            table=model._meta.db_table,
            label=model._meta.label,
            counter=counter._meta.db_table,
            columns=[column for _, column in fields],
            versions=versions,
            updated=[column for f, column in fields if isinstance(f, UpdatedAtField)],
            last_modified=[column for f, column in fields if isinstance(f, LastModifiedField)],
        )


class _PostgreSQL:
    """A BEFORE UPDATE row trigger for the row, row triggers and a TRUNCATE trigger for the counter."""

    SUFFIXES = ("versioned_bump", "versioned_count_write", "versioned_count_update", "versioned_count_truncate")

    def __init__(self, target: _Target, qn: Callable[[str], str], schema: str | None) -> None:
        self.target = target
        self.qn = qn
        self.table = qn(target.table)
        prefix = f"{qn(schema)}." if schema else ""
        self.bump_function = prefix + qn(_object_name(target.table, "versioned_bump"))
        self.count_function = prefix + qn(_object_name(target.table, "versioned_count"))
        self.counter = prefix + qn(target.counter)
        self.triggers = {suffix: qn(_object_name(target.table, suffix)) for suffix in self.SUFFIXES}
        # A custom setting marks the transaction that already bumped the
        # counter; SET LOCAL semantics end it with the transaction and undo
        # it with a rolled-back savepoint, together with the bump.
        self.setting = _literal(f"conditional_api.changed_{names_digest(target.label, length=16)}")

    def install(self) -> list[str]:
        t, qn = self.target, self.qn
        assignments = [f"NEW.{qn(c)} := OLD.{qn(c)} + 1;" for c in t.versions]
        assignments += [f"NEW.{qn(c)} := STATEMENT_TIMESTAMP();" for c in t.updated]
        assignments += [
            f"NEW.{qn(c)} := GREATEST(STATEMENT_TIMESTAMP(), DATE_TRUNC('second', OLD.{qn(c)}) + INTERVAL '1 second');"
            for c in t.last_modified
        ]
        unchanged_version = " AND ".join(f"OLD.{qn(c)} IS NOT DISTINCT FROM NEW.{qn(c)}" for c in t.versions)
        label = _literal(t.label)
        # *<> compares the rows' stored images: it needs no equality operator
        # (json, xml columns) and sees every change, case-only ones included.
        changed = "OLD *<> NEW"
        bump, write, update, truncate = self.triggers.values()
        return [
            f"CREATE OR REPLACE FUNCTION {self.bump_function}() RETURNS trigger LANGUAGE plpgsql AS $body$\n"
            "BEGIN\n" + "".join(f"    {line}\n" for line in assignments) + "    RETURN NEW;\n"
            "END\n"
            "$body$",
            f"CREATE OR REPLACE FUNCTION {self.count_function}() RETURNS trigger LANGUAGE plpgsql AS $body$\n"
            "BEGIN\n"
            f"    IF CURRENT_SETTING({self.setting}, true) IS DISTINCT FROM '1' THEN\n"
            f"        UPDATE {self.counter} SET value = value + 1, changed_at = STATEMENT_TIMESTAMP() WHERE id = (\n"
            f"            SELECT id FROM {self.counter} WHERE label = {label}\n"
            "            ORDER BY id LIMIT 1 FOR UPDATE SKIP LOCKED);\n"
            "        IF NOT FOUND THEN\n"
            f"            INSERT INTO {self.counter} (label, value) VALUES ({label}, 1);\n"
            "        END IF;\n"
            f"        PERFORM SET_CONFIG({self.setting}, '1', true);\n"
            "    END IF;\n"
            "    IF TG_OP = 'DELETE' THEN\n"
            "        RETURN OLD;\n"
            "    END IF;\n"
            "    RETURN NEW;\n"
            "END\n"
            "$body$",
            *self.drop_triggers(),
            f"CREATE TRIGGER {bump} BEFORE UPDATE ON {self.table} FOR EACH ROW "
            f"WHEN ({unchanged_version} AND {changed}) EXECUTE FUNCTION {self.bump_function}()",
            # BEFORE, not AFTER: nothing queues per row until the statement
            # ends. A row a later trigger skips is counted anyway, harmlessly.
            f"CREATE TRIGGER {write} BEFORE INSERT OR DELETE ON {self.table} FOR EACH ROW "
            f"EXECUTE FUNCTION {self.count_function}()",
            f"CREATE TRIGGER {update} BEFORE UPDATE ON {self.table} FOR EACH ROW "
            f"WHEN ({changed}) EXECUTE FUNCTION {self.count_function}()",
            f"CREATE TRIGGER {truncate} AFTER TRUNCATE ON {self.table} FOR EACH STATEMENT "
            f"EXECUTE FUNCTION {self.count_function}()",
        ]

    def drop_triggers(self) -> list[str]:
        return [f"DROP TRIGGER IF EXISTS {name} ON {self.table}" for name in self.triggers.values()]

    def drop(self) -> list[str]:
        return [
            *self.drop_triggers(),
            f"DROP FUNCTION IF EXISTS {self.bump_function}()",
            f"DROP FUNCTION IF EXISTS {self.count_function}()",
        ]


class _SQLite:
    """AFTER row triggers: one rewrites a changed row, three count writes.

    SQLite cannot assign NEW, so the bump is an UPDATE of the row from its
    AFTER UPDATE trigger. That UPDATE does not fire triggers again while
    recursive_triggers is off (the default); with it on, the bump's new
    version fails the trigger's WHEN, so it cannot loop either.
    """

    SUFFIXES = ("versioned_bump", "versioned_count_insert", "versioned_count_delete", "versioned_count_update")

    def __init__(self, target: _Target, qn: Callable[[str], str]) -> None:
        self.target = target
        self.qn = qn
        self.table = qn(target.table)
        self.triggers = {suffix: qn(_object_name(target.table, suffix)) for suffix in self.SUFFIXES}

    def install(self) -> list[str]:
        t, qn = self.target, self.qn
        assignments = [f"{qn(c)} = OLD.{qn(c)} + 1" for c in t.versions]
        assignments += [f"{qn(c)} = {_SQLITE_NOW}" for c in t.updated]
        # MAX() of text: both sides are in Django's fixed-width format. A
        # NULL previous value falls back to now instead of nulling the MAX.
        assignments += [
            f"{qn(c)} = MAX({_SQLITE_NOW}, "
            f"COALESCE(STRFTIME('%Y-%m-%d %H:%M:%S', OLD.{qn(c)}, '+1 seconds') || '.000000', ''))"
            for c in t.last_modified
        ]
        unchanged_version = " AND ".join(f"NEW.{qn(c)} IS OLD.{qn(c)}" for c in t.versions)
        others = [c for c in t.columns if c not in t.versions]
        changed_other = " OR ".join(f"NEW.{qn(c)} IS NOT OLD.{qn(c)}" for c in others) or "0"
        changed_any = " OR ".join(f"NEW.{qn(c)} IS NOT OLD.{qn(c)}" for c in t.columns)
        counter = qn(t.counter)
        label = _literal(t.label)
        count = (
            f"INSERT INTO {counter} (label, value) SELECT {label}, 0 "
            f"WHERE NOT EXISTS (SELECT 1 FROM {counter} WHERE label = {label}); "
            f"UPDATE {counter} SET value = value + 1, changed_at = {_SQLITE_NOW} WHERE label = {label};"
        )
        bump, insert, delete, update = self.triggers.values()
        return [
            *self.drop(),
            f"CREATE TRIGGER {bump} AFTER UPDATE ON {self.table} FOR EACH ROW "
            f"WHEN ({unchanged_version}) AND ({changed_other}) BEGIN "
            f"UPDATE {self.table} SET {', '.join(assignments)} WHERE rowid = NEW.rowid; END",
            f"CREATE TRIGGER {insert} AFTER INSERT ON {self.table} FOR EACH ROW BEGIN {count} END",
            f"CREATE TRIGGER {delete} AFTER DELETE ON {self.table} FOR EACH ROW BEGIN {count} END",
            f"CREATE TRIGGER {update} AFTER UPDATE ON {self.table} FOR EACH ROW WHEN {changed_any} BEGIN {count} END",
        ]

    def drop(self) -> list[str]:
        return [f"DROP TRIGGER IF EXISTS {name}" for name in self.triggers.values()]


def _statements(model: type[Model], state: Any, schema_editor: Any) -> _PostgreSQL | _SQLite:
    connection = schema_editor.connection
    if connection.vendor not in ("postgresql", "sqlite"):
        raise NotSupportedError(
            f"InstallVersionTriggers supports PostgreSQL and SQLite; {connection.vendor} is not supported."
        )
    target = _Target.of(model, state)
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            # Qualify the counter and the functions: a writer with another
            # search_path must still reach the same objects.
            cursor.execute("SELECT CURRENT_SCHEMA()")
            schema = cursor.fetchone()[0]
        return _PostgreSQL(target, schema_editor.quote_name, schema)
    return _SQLite(target, schema_editor.quote_name)


class InstallVersionTriggers(Operation):
    """Install triggers that bump a versioned model's row and count its table's writes, whoever writes.

    ``model_name`` names a model of the migration's app, like other model
    operations. The model needs a :class:`~conditional_api.models.VersionField`;
    its :class:`~conditional_api.models.UpdatedAtField` and
    :class:`~conditional_api.models.LastModifiedField` are kept if it has
    them. The migration must depend on ``("conditional_api", "0001_initial")``.
    Reversing it drops the triggers and functions. Running it again
    replaces them, which refreshes them after the model's fields change.
    Like Django's own model operations, it does nothing for unmanaged and
    proxy models, nor on databases the router keeps the model off.
    """

    reversible = True
    reduces_to_sql = True

    def __init__(self, model_name: str) -> None:
        self.model_name = model_name

    @property
    def model_name_lower(self) -> str:
        return self.model_name.lower()

    def deconstruct(self) -> tuple[str, list[Any], dict[str, Any]]:
        return (self.__class__.__qualname__, [], {"model_name": self.model_name})

    def state_forwards(self, app_label: str, state: Any) -> None:
        pass

    def database_forwards(self, app_label: str, schema_editor: Any, from_state: Any, to_state: Any) -> None:
        model = to_state.apps.get_model(app_label, self.model_name)
        if self.allow_migrate_model(schema_editor.connection.alias, model):
            for sql in _statements(model, to_state, schema_editor).install():
                schema_editor.execute(sql, params=None)

    def database_backwards(self, app_label: str, schema_editor: Any, from_state: Any, to_state: Any) -> None:
        model = from_state.apps.get_model(app_label, self.model_name)
        if self.allow_migrate_model(schema_editor.connection.alias, model):
            for sql in _statements(model, from_state, schema_editor).drop():
                schema_editor.execute(sql, params=None)

    def references_model(self, name: str, app_label: str) -> bool:
        return name.lower() in (self.model_name_lower, "changecounter")

    def describe(self) -> str:
        return f"Install version and change-counter triggers on {self.model_name}"

    @property
    def migration_name_fragment(self) -> str:
        return f"install_version_triggers_{self.model_name_lower}"
