"""InstallVersionTriggers: writes that bypass the ORM still bump the row and count the table.

The writes here are real SQL through ``connection.cursor()``, in autocommit
(``transaction=True``), as another service would make them.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from io import StringIO
from types import SimpleNamespace

import pytest
from django.contrib.auth.models import User
from django.core.management import call_command
from django.db import NotSupportedError, connection, transaction
from django.db.migrations.loader import MigrationLoader
from django.db.migrations.writer import OperationWriter
from django.utils import timezone
from model_bakery import baker

from conditional_api.changes import read_changes
from conditional_api.models import claim_state
from conditional_api.triggers import InstallVersionTriggers, _object_name
from tests.conftest import requires_postgres
from tests.testapp.models import Triggered

pytestmark = pytest.mark.django_db(transaction=True)

TABLE = Triggered._meta.db_table
WITHOUT_TRIGGERS = "0002_triggered"
WITH_TRIGGERS = "0003_install_version_triggers_triggered"
DJANGO_TEXT = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{6}$")


def run(statement: str, params: list | None = None) -> int:
    """Execute raw SQL on the test database; ``{table}`` is the quoted triggered table."""
    with connection.cursor() as cursor:
        cursor.execute(statement.format(table=connection.ops.quote_name(TABLE)), params or [])
        return cursor.rowcount


def stored(row: Triggered) -> Triggered:
    return Triggered.objects.get(pk=row.pk)


def bumped_state(row: Triggered) -> tuple:
    return (row.version, row.updated_at, row.last_modified)


def next_second(value: datetime) -> datetime:
    return value.replace(microsecond=0) + timedelta(seconds=1)


def clock_now() -> datetime:
    """Now, cut to the milliseconds SQLite's clock has, so the database's later reading is not earlier."""
    now = timezone.now()
    return now.replace(microsecond=now.microsecond // 1000 * 1000)


def installed_triggers() -> set[str]:
    with connection.cursor() as cursor:
        if connection.vendor == "sqlite":
            cursor.execute("SELECT name FROM sqlite_master WHERE type = 'trigger' AND tbl_name = %s", [TABLE])
        else:
            cursor.execute(
                "SELECT tgname FROM pg_trigger WHERE tgrelid = to_regclass(%s) AND NOT tgisinternal",
                [connection.ops.quote_name(TABLE)],
            )
        return {name for (name,) in cursor.fetchall()}


def installed_functions() -> set[str]:
    if connection.vendor != "postgresql":
        return set()
    with connection.cursor() as cursor:
        cursor.execute("SELECT proname FROM pg_proc WHERE starts_with(proname, %s)", [f"{TABLE}_versioned"])
        return {name for (name,) in cursor.fetchall()}


@pytest.fixture
def user() -> User:
    return baker.make(User)


@pytest.fixture
def row(user) -> Triggered:
    return baker.make(Triggered, text="original", owner=None)


# An outside write changes a column but not the version.
OUTSIDE_WRITES = {
    "text": "UPDATE {table} SET text = 'changed' WHERE id = %s",
    "text from itself": "UPDATE {table} SET text = text || '!' WHERE id = %s",
    "foreign key": "UPDATE {table} SET owner_id = (SELECT MAX(id) FROM auth_user) WHERE id = %s",
    "a bumped column only": "UPDATE {table} SET updated_at = '2000-01-01 00:00:00' WHERE id = %s",
}

# Writes that change nothing: no bump of the row, nor of the counter.
NO_OPS = {
    "version = version": lambda row: run("UPDATE {table} SET version = version WHERE id = %s", [row.pk]),
    "text = text": lambda row: run("UPDATE {table} SET text = text WHERE id = %s", [row.pk]),
    "every column to itself": lambda row: run(
        "UPDATE {table} SET version = version, updated_at = updated_at, last_modified = last_modified, "
        "text = text, owner_id = owner_id WHERE id = %s",
        [row.pk],
    ),
    "no row matches": lambda row: run("UPDATE {table} SET text = 'changed' WHERE id = %s", [row.pk + 1000]),
    "claim_state": lambda row: claim_state(
        Triggered, row.pk, {"version": row.version, "last_modified": row.last_modified}
    ),
}


def _save(row: Triggered) -> None:
    row.text = "saved"
    row.save()


def _bulk_update(row: Triggered) -> None:
    row.text = "bulk"
    Triggered.objects.bulk_update([row], ["text"])


# The ORM's own writes, which bump the version themselves.
ORM_WRITES = {
    "save": _save,
    "save(update_fields)": lambda row: (setattr(row, "text", "partial"), row.save(update_fields=["text"])),
    "update": lambda row: Triggered.objects.filter(pk=row.pk).update(text="updated"),
    "touch": lambda row: Triggered.objects.filter(pk=row.pk).touch(),
    "bulk_update": _bulk_update,
}


# Writes that bypass the ORM's counting, and must count all the same.
COUNTED_WRITES = {
    "insert": lambda row: run("INSERT INTO {table} (version, text) VALUES (1, 'inserted')"),
    "update": lambda row: run("UPDATE {table} SET text = 'changed' WHERE id = %s", [row.pk]),
    "update keeping its own version": lambda row: run(
        "UPDATE {table} SET version = version + 1 WHERE id = %s", [row.pk]
    ),
    "delete": lambda row: run("DELETE FROM {table} WHERE id = %s", [row.pk]),
    "delete all": lambda row: run("DELETE FROM {table}"),
}


@pytest.mark.parametrize("statement", OUTSIDE_WRITES.values(), ids=OUTSIDE_WRITES.keys())
def test_an_outside_update_bumps_the_row(row, statement):
    before = stored(row)
    start = clock_now()

    assert run(statement, [row.pk]) == 1

    after = stored(row)
    assert after.version == before.version + 1
    assert start <= after.updated_at <= timezone.now()
    assert after.last_modified == max(after.updated_at, next_second(before.last_modified))


@pytest.mark.skipif(connection.vendor != "sqlite", reason="PostgreSQL stores timestamps, not text")
@pytest.mark.parametrize("ahead", [False, True], ids=["clock wins", "next second wins"])
def test_sqlite_stamps_are_text_in_djangos_format(row, ahead):
    previous = "2100-01-01 10:00:00.250000" if ahead else "2000-01-01 10:00:00.250000"
    run("UPDATE {table} SET version = version + 1, last_modified = %s WHERE id = %s", [previous, row.pk])

    run("UPDATE {table} SET text = 'changed' WHERE id = %s", [row.pk])

    with connection.cursor() as cursor:
        # CAST: the stored text, past Django's datetime converters.
        cursor.execute(
            f"SELECT CAST(updated_at AS TEXT), CAST(last_modified AS TEXT) FROM {TABLE} WHERE id = %s", [row.pk]
        )
        updated_at, last_modified = cursor.fetchone()
    assert DJANGO_TEXT.match(updated_at), updated_at
    assert DJANGO_TEXT.match(last_modified), last_modified
    assert last_modified == ("2100-01-01 10:00:01.000000" if ahead else updated_at)


@pytest.mark.parametrize("write", NO_OPS.values(), ids=NO_OPS.keys())
def test_an_update_that_changes_nothing_bumps_nothing(row, write):
    before = stored(row)
    changes = read_changes(Triggered)

    write(stored(row))

    assert bumped_state(stored(row)) == bumped_state(before)
    assert read_changes(Triggered) == changes


@pytest.mark.parametrize("write", ORM_WRITES.values(), ids=ORM_WRITES.keys())
def test_the_orms_writes_are_bumped_once(row, write):
    before = stored(row)

    write(stored(row))

    after = stored(row)
    assert after.version == before.version + 1
    assert after.last_modified == max(after.updated_at, next_second(before.last_modified))


@pytest.mark.parametrize("version", ["version + 1", "42"])
def test_an_outside_update_that_sets_the_version_is_left_alone(row, version):
    before = stored(row)

    run(f"UPDATE {{table}} SET version = {version}, text = 'changed' WHERE id = %s", [row.pk])

    after = stored(row)
    assert after.version == (before.version + 1 if version == "version + 1" else 42)
    assert (after.updated_at, after.last_modified) == (before.updated_at, before.last_modified)


def test_only_the_rows_an_update_changes_are_bumped():
    rows = [baker.make(Triggered, text=text) for text in ("a", "a", "b")]
    before = [stored(row) for row in rows]

    assert run("UPDATE {table} SET text = 'b'") == 3

    assert [stored(row).version for row in rows] == [before[0].version + 1, before[1].version + 1, before[2].version]
    assert bumped_state(stored(rows[2])) == bumped_state(before[2])


def test_an_outside_update_in_the_same_second_moves_last_modified_a_whole_second(row):
    # A row written several times in one second runs ahead of the clock;
    # an hour ahead makes every raw write below land in "the same second".
    ahead = (timezone.now() + timedelta(hours=1)).replace(microsecond=250_000)
    Triggered.objects.filter(pk=row.pk).update(last_modified=ahead)

    run("UPDATE {table} SET text = 'once' WHERE id = %s", [row.pk])
    assert stored(row).last_modified == next_second(ahead)

    run("UPDATE {table} SET text = 'twice' WHERE id = %s", [row.pk])
    assert stored(row).last_modified == next_second(ahead) + timedelta(seconds=1)


def test_back_to_back_outside_updates_each_move_last_modified_a_whole_second(row):
    before = stored(row)

    for n in range(3):
        run("UPDATE {table} SET text = %s WHERE id = %s", [f"write {n}", row.pk])

    after = stored(row)
    assert after.version == before.version + 3
    assert after.last_modified >= next_second(before.last_modified) + timedelta(seconds=2)


@pytest.mark.parametrize(
    "write",
    [
        *(pytest.param(write, id=name) for name, write in COUNTED_WRITES.items()),
        pytest.param(lambda row: run("TRUNCATE {table}"), marks=requires_postgres, id="truncate"),
    ],
)
def test_outside_writes_grow_the_change_count(row, write):
    changes = read_changes(Triggered)

    write(row)

    assert read_changes(Triggered) > changes


def test_a_rolled_back_savepoint_takes_its_count_along(row):
    changes = read_changes(Triggered)

    with transaction.atomic():
        with pytest.raises(RuntimeError), transaction.atomic():
            run("UPDATE {table} SET text = 'rolled back' WHERE id = %s", [row.pk])
            raise RuntimeError
        assert read_changes(Triggered) == changes
        run("UPDATE {table} SET text = 'kept' WHERE id = %s", [row.pk])

    assert read_changes(Triggered) > changes


@requires_postgres
def test_postgresql_counts_a_transaction_once(row):
    changes = read_changes(Triggered)

    with transaction.atomic():
        run("INSERT INTO {table} (version, text) VALUES (1, 'inserted')")
        run("UPDATE {table} SET text = 'changed'")
        run("DELETE FROM {table} WHERE id = %s", [row.pk])

    assert read_changes(Triggered) == changes + 1


def test_migrating_backwards_removes_the_triggers_and_forwards_restores_them(row):
    assert len(installed_triggers()) == 4
    try:
        call_command("migrate", "testapp", WITHOUT_TRIGGERS, verbosity=0)
        assert installed_triggers() == set()
        assert installed_functions() == set()

        before, changes = stored(row), read_changes(Triggered)
        run("UPDATE {table} SET text = 'unseen' WHERE id = %s", [row.pk])
        assert bumped_state(stored(row)) == bumped_state(before)
        assert read_changes(Triggered) == changes

        call_command("migrate", "testapp", WITH_TRIGGERS, verbosity=0)
        assert len(installed_triggers()) == 4
        assert len(installed_functions()) == (2 if connection.vendor == "postgresql" else 0)

        run("UPDATE {table} SET text = 'seen' WHERE id = %s", [row.pk])
        assert stored(row).version == before.version + 1
        assert read_changes(Triggered) > changes
    finally:
        call_command("migrate", "testapp", verbosity=0)


def test_installing_again_replaces_the_triggers(row):
    executor_state = MigrationLoader(connection).project_state(("testapp", WITH_TRIGGERS))
    with connection.schema_editor() as editor:
        InstallVersionTriggers("triggered").database_forwards("testapp", editor, executor_state, executor_state)

    assert len(installed_triggers()) == 4
    before = stored(row)
    run("UPDATE {table} SET text = 'changed' WHERE id = %s", [row.pk])
    assert stored(row).version == before.version + 1


def test_sqlmigrate_shows_the_sql_both_ways():
    forwards, backwards = StringIO(), StringIO()

    call_command("sqlmigrate", "testapp", WITH_TRIGGERS, stdout=forwards)
    call_command("sqlmigrate", "testapp", WITH_TRIGGERS, backwards=True, stdout=backwards)

    assert forwards.getvalue().count("CREATE TRIGGER") == 4
    assert backwards.getvalue().count("DROP TRIGGER") == 4
    assert "CREATE" not in backwards.getvalue()


def test_the_operation_serializes_into_a_migration():
    operation = InstallVersionTriggers("Triggered")

    assert operation.deconstruct() == ("InstallVersionTriggers", [], {"model_name": "Triggered"})
    assert operation.describe() == "Install version and change-counter triggers on Triggered"
    assert operation.migration_name_fragment == "install_version_triggers_triggered"
    assert operation.reversible and operation.reduces_to_sql
    assert operation.references_model("triggered", "testapp")
    assert not operation.references_model("note", "testapp")
    code, imports = OperationWriter(operation).serialize()
    assert code.strip().startswith("conditional_api.triggers.InstallVersionTriggers(")
    assert imports == {"import conditional_api.triggers"}


def test_names_are_deterministic_and_fit_postgresql():
    long_a, long_b = "a" * 70 + "_first", "a" * 70 + "_second"

    names = {_object_name(table, "versioned_count_truncate") for table in (long_a, long_b)}

    assert len(names) == 2
    assert all(len(name) <= 63 and name.endswith("_versioned_count_truncate") for name in names)
    assert _object_name(long_a, "versioned_bump") == _object_name(long_a, "versioned_bump")
    assert _object_name("testapp_triggered", "versioned_bump") == "testapp_triggered_versioned_bump"


def test_other_databases_are_refused():
    state = MigrationLoader(connection).project_state(("testapp", WITH_TRIGGERS))
    editor = SimpleNamespace(connection=SimpleNamespace(vendor="mysql", alias="default"), quote_name=str)

    with pytest.raises(NotSupportedError, match="mysql is not supported"):
        InstallVersionTriggers("triggered").database_forwards("testapp", editor, state, state)


def test_a_model_without_a_version_is_refused():
    state = MigrationLoader(connection).project_state(("testapp", WITH_TRIGGERS))

    with pytest.raises(ValueError, match=r"needs a VersionField on testapp\.Stamped"):
        with connection.schema_editor() as editor:
            InstallVersionTriggers("stamped").database_forwards("testapp", editor, state, state)
