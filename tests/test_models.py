"""Every ORM write path bumps version and updated_at, in SQL, and instances see the stored values."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.contrib.contenttypes.models import ContentType
from django.core import checks
from django.db import connection, transaction
from django.db.models import F, Value
from django.db.models.functions import Lower
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from model_bakery import baker

from conditional_api.changes import inserted_in_open_transaction, read_changes
from conditional_api.clock import DatabaseNow
from conditional_api.models import VersionedQuerySet, claim_state
from tests.conftest import write_behind_the_orm
from tests.testapp.models import Book, Note, PlainManaged, Shelf

pytestmark = pytest.mark.django_db


def stored(note: Note) -> tuple[int, datetime, datetime]:
    return Note.objects.filter(pk=note.pk).values_list("version", "updated_at", "last_modified").get()


def in_memory(note: Note) -> tuple[int, datetime, datetime]:
    return (note.version, note.updated_at, note.last_modified)


def test_insert_starts_at_version_one_with_the_database_clock():
    note = Note.objects.create(key="a")
    assert note.version == 1
    assert in_memory(note) == stored(note)


def test_model_bakery_cannot_bypass_the_database_clock():
    note = baker.make(Note, key="baked")
    assert note.version == 1 and in_memory(note) == stored(note)


WRITES: dict[str, Callable[[Note], None]] = {
    "save": lambda note: note.save(),
    "save(update_fields)": lambda note: note.save(update_fields=["text"]),
    "save(force_update)": lambda note: note.save(force_update=True),
    "QuerySet.update": lambda note: Note.objects.filter(pk=note.pk).update(text="updated"),
    "related manager update": lambda note: note.owner.note_set.update(text="updated"),
    "QuerySet.touch": lambda note: Note.objects.filter(pk=note.pk).touch(),
    "bulk_update": lambda note: Note.objects.bulk_update([note], ["text"]),
    "update_or_create": lambda note: Note.objects.update_or_create(key=note.key, defaults={"text": "updated"}),
    "bulk_create(update_conflicts)": lambda note: Note.objects.bulk_create(
        [Note(key=note.key, text="upserted")], update_conflicts=True, unique_fields=["key"], update_fields=["text"]
    ),
}


# Each write its own transaction, as in production: writes within the transaction that inserted a row keep its date.
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("write", WRITES.values(), ids=WRITES.keys())
def test_every_write_path_bumps_version_and_updated_at(write, django_user_model):
    note = Note.objects.create(key="a", owner=django_user_model.objects.create(username="owner"))
    before = stored(note)
    write(note)
    version, updated_at, last_modified = stored(note)
    assert version == before[0] + 1
    assert updated_at >= before[1]
    # Each write moves last_modified into a later whole second (see clock.py).
    assert last_modified.replace(microsecond=0) > before[2].replace(microsecond=0)


@pytest.mark.parametrize("write", ["save", "save(update_fields)", "bulk_update"])
def test_the_instance_reflects_the_stored_values_after_a_write(write):
    note = Note.objects.create(key="a")
    note.text = "changed"
    WRITES[write](note)
    assert in_memory(note) == stored(note)
    assert not hasattr(note.version, "resolve_expression")


def test_bulk_create_upsert_never_moves_the_version_back():
    note = Note.objects.create(key="a")
    Note.objects.filter(pk=note.pk).update(text="x")
    Note.objects.filter(pk=note.pk).update(text="y")
    (upserted,) = Note.objects.bulk_create(
        [Note(key="a", text="z")], update_conflicts=True, unique_fields=["key"], update_fields=["text", "version"]
    )
    assert stored(note)[0] == 4
    assert upserted.version == 4


def test_bulk_create_sets_version_and_updated_at_on_the_instances():
    notes = Note.objects.bulk_create([Note(key="a"), Note(key="b")])
    assert [n.version for n in notes] == [1, 1]
    if connection.features.can_return_rows_from_bulk_insert:
        assert [in_memory(n) for n in notes] == [stored(n) for n in notes]


def test_get_or_create_creates_a_versioned_row():
    note, created = Note.objects.get_or_create(key="a")
    assert created and in_memory(note) == stored(note)


def test_save_with_no_update_fields_writes_nothing_and_bumps_nothing():
    note = Note.objects.create(key="a")
    note.save(update_fields=[])
    assert stored(note)[0] == 1


def test_bulk_update_refuses_to_set_the_counters_from_python():
    note = Note.objects.create(key="a")
    with pytest.raises(ValueError, match="bumps"):
        Note.objects.bulk_update([note], ["version"])


def test_update_may_set_the_counters_explicitly():
    note = Note.objects.create(key="a")
    Note.objects.filter(pk=note.pk).update(version=10)
    assert stored(note)[0] == 10


def test_the_bump_is_computed_in_sql_not_from_the_instance():
    # A stale instance must not write its stale version back.
    note = Note.objects.create(key="a")
    stale = Note.objects.get(pk=note.pk)
    note.save()
    note.save()
    stale.text = "from a stale copy"
    stale.save()
    assert stored(note)[0] == 4 and stale.version == 4


def test_update_statement_increments_in_sql():
    note = Note.objects.create(key="a")
    with CaptureQueriesContext(connection) as queries:
        note.save()
    update = next(q["sql"] for q in queries if q["sql"].startswith("UPDATE"))
    assert '"version" = ("testapp_note"."version" + ' in update


def test_several_writes_in_one_second_get_distinct_last_modified_seconds():
    note = Note.objects.create(key="a")
    seconds = {note.last_modified.replace(microsecond=0)}
    for _ in range(3):
        note.save()
        seconds.add(note.last_modified.replace(microsecond=0))
    assert len(seconds) == 4


def test_updated_at_stays_the_database_clock_through_a_burst_of_writes():
    note = Note.objects.create(key="a")
    first = Note.objects.get(pk=note.pk).last_modified.replace(microsecond=0)
    for _ in range(5):
        note.save()
    # Each write takes a later second, however fast the writes come: the date runs
    # ahead of the clock in a burst, while updated_at keeps the database's time.
    assert note.last_modified >= first + timedelta(seconds=5)
    assert note.updated_at - Note.objects.get(pk=note.pk).updated_at == timedelta(0)
    assert note.updated_at <= datetime.now(tz=UTC) + timedelta(seconds=1)


def test_last_modified_follows_the_clock_again_when_writes_are_far_apart():
    note = Note.objects.create(key="a")
    write_behind_the_orm(Note, note.pk, last_modified=note.last_modified - timedelta(days=1))
    Note.objects.filter(pk=note.pk).update(text="now")
    assert stored(note)[2] >= note.last_modified


class TestClaimState:
    def test_claims_the_row_in_the_expected_state(self):
        note = Note.objects.create(key="a")
        assert claim_state(Note, note.pk, {"version": note.version, "updated_at": note.updated_at})
        assert stored(note)[0] == 1  # the claim itself changes nothing

    @pytest.mark.parametrize("fields", [("version",), ("last_modified",), ("updated_at", "last_modified")])
    def test_refuses_a_row_that_moved_on(self, fields):
        note = Note.objects.create(key="a")
        state = {name: getattr(note, name) for name in fields}
        note.save()
        assert not claim_state(Note, note.pk, state)

    def test_matches_whole_second_timestamps(self):
        # Django writes whole seconds without a fraction on SQLite; the claim
        # must still match them.
        note = Note.objects.create(key="a")
        whole = note.updated_at.replace(microsecond=0) + timedelta(seconds=5)
        write_behind_the_orm(Note, note.pk, updated_at=whole)
        assert claim_state(Note, note.pk, {"updated_at": whole})


def test_system_check_warns_about_a_manager_without_the_versioned_queryset():
    messages = [m for m in checks.run_checks() if m.id == "conditional_api.W001"]
    assert [m.obj for m in messages] == [PlainManaged]
    assert "VersionedQuerySet" in messages[0].hint


def test_versioned_models_get_the_versioned_queryset_by_default():
    assert isinstance(Note.objects.all(), VersionedQuerySet)


@pytest.mark.parametrize(
    "load", [lambda: Note.objects.only("text"), lambda: Note.objects.defer("text")], ids=["only", "defer"]
)
def test_saving_a_partly_loaded_instance_bumps(load):
    note = Note.objects.create(key="a")
    partial = load().get(pk=note.pk)
    partial.key = "b"
    partial.save()
    assert stored(note)[0] == 2 and partial.version == 2


def test_setting_updated_at_explicitly_still_bumps_the_version():
    note = Note.objects.create(key="a")
    Note.objects.filter(pk=note.pk).update(text="changed", updated_at=timezone.now())
    assert stored(note)[0] == 2


def test_the_manager_is_used_in_migrations():
    from conditional_api.models import VersionedManager

    assert VersionedManager.use_in_migrations is True


@pytest.mark.parametrize(
    "write",
    [
        lambda note: Note.objects.filter(pk=note.pk).update(text="x", version=F("version") + 1),
        lambda note: Note.objects.filter(pk=note.pk).update(
            text="x", last_modified=note.last_modified - timedelta(days=1)
        ),
        lambda note: Note.objects.filter(pk=note.pk).update(text="x", version=7, updated_at=note.updated_at),
    ],
    ids=["explicit-version", "last-modified-backwards", "all-but-last-modified"],
)
def test_last_modified_moves_forward_whatever_update_is_given(write):
    note = Note.objects.create(key="a")
    write(note)
    assert stored(note)[2].replace(microsecond=0) > note.last_modified.replace(microsecond=0)


def test_a_raw_save_from_a_fixture_cannot_move_last_modified_back():
    from django.core import serializers

    note = Note.objects.create(key="a")
    fixture = serializers.serialize("json", [note])
    note.save()
    newest = stored(note)[2]
    for restored in serializers.deserialize("json", fixture):
        restored.save()
    assert stored(note)[2] >= newest


def test_the_claim_itself_changes_nothing():
    note = Note.objects.create(key="a")
    assert claim_state(Note, note.pk, {"version": 1})
    assert stored(note) == in_memory(note)


# Each write its own transaction, as in production: writes within the transaction that inserted a row keep its date.
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("pk", ["another system's id", "the row's own id"])
def test_an_upsert_bumps_the_row_its_conflict_finds_whatever_pk_the_objects_carry(pk):
    """ON CONFLICT (key) rewrites the stored row, whose pk need not be the one the object carries."""
    from django.db import transaction

    from conditional_api.changes import read_changes

    note = Note.objects.create(key="a")
    before, changes = stored(note), read_changes(Note)
    incoming = Note(pk=note.pk + 1000 if pk == "another system's id" else note.pk, key="a", text="upserted")
    with transaction.atomic():
        Note.objects.bulk_create([incoming], update_conflicts=True, unique_fields=["key"], update_fields=["text"])
    version, _, last_modified = stored(note)
    assert Note.objects.get(pk=note.pk).text == "upserted"
    assert version == before[0] + 1
    assert last_modified.replace(microsecond=0) > before[2].replace(microsecond=0)
    assert read_changes(Note) > changes
    assert incoming.version == version


@pytest.mark.parametrize("insert", ["save", "bulk_create"])
def test_a_row_inserted_and_linked_in_one_transaction_keeps_one_date(insert):
    """Its first committed state is the whole transaction: the links do not push its date a second ahead."""
    from tests.testapp.models import Label, Post, Writer

    writer = Writer.objects.create(name="W", email="w@example.com")
    label = Label.objects.create(name="l")
    with transaction.atomic():
        if insert == "save":
            post = Post.objects.create(title="t", body="", writer=writer)
        else:
            (post,) = Post.objects.bulk_create([Post(title="t", body="", writer=writer)])
        inserted = Post.objects.values_list("version", "last_modified").get(pk=post.pk)
        Post.labels.through.objects.bulk_create([Post.labels.through(post=post, label=label)])
        linked = Post.objects.values_list("version", "last_modified").get(pk=post.pk)
    assert linked[0] > inserted[0] and linked[1] == inserted[1]


@pytest.mark.django_db(transaction=True)
def test_a_row_linked_in_a_later_transaction_takes_a_later_date():
    from tests.testapp.models import Label, Post, Writer

    post = Post.objects.create(title="t", body="", writer=Writer.objects.create(name="W", email="w@example.com"))
    before = Post.objects.values_list("last_modified", flat=True).get(pk=post.pk)
    Post.labels.through.objects.bulk_create([Post.labels.through(post=post, label=Label.objects.create(name="l"))])
    assert Post.objects.values_list("last_modified", flat=True).get(pk=post.pk) > before


# -- bulk_create: one statement per batch, with the bumped values --------------------

#: The shapes of rows a bulk insert writes: PostgreSQL unnests plain values and
#: lists the others in VALUES; pks given take Django's other insert.
BULK_ROWS: dict[str, Callable[[int], Note]] = {
    "plain values": lambda i: Note(key=f"k{i}", text="t"),
    "an expression among the values": lambda i: Note(key=f"k{i}", text=Lower(Value("T"))),
    "their own pks": lambda i: Note(pk=10_000 + i, key=f"k{i}"),
}

BULK_INSERTS: dict[str, Callable[[list[Note], int], list[Note]]] = {
    "bulk_create": lambda notes, batch: Note.objects.bulk_create(notes, batch_size=batch),
    "bulk_create(ignore_conflicts)": lambda notes, batch: Note.objects.bulk_create(
        notes, batch_size=batch, ignore_conflicts=True
    ),
    "bulk_create(update_conflicts)": lambda notes, batch: Note.objects.bulk_create(
        notes, batch_size=batch, update_conflicts=True, unique_fields=["key"], update_fields=["text"]
    ),
}


#: The same writes of rows that a parent shows (Shelf shows its books).
BOOK_INSERTS: dict[str, Callable[[list[Any], int], list[Any]]] = {
    "bulk_create": lambda books, batch: Book.objects.bulk_create(books, batch_size=batch),
    "bulk_create(ignore_conflicts)": lambda books, batch: Book.objects.bulk_create(
        books, batch_size=batch, ignore_conflicts=True
    ),
    "bulk_create(update_conflicts)": lambda books, batch: Book.objects.bulk_create(
        [Book(pk=10_000 + i, title=book.title, shelf=book.shelf) for i, book in enumerate(books)],
        batch_size=batch,
        update_conflicts=True,
        unique_fields=["id"],
        update_fields=["title"],
    ),
}


def stored_version(row: Any) -> int:
    return type(row).objects.values_list("version", flat=True).get(pk=row.pk)


def database_clock() -> datetime:
    """The database's time now, read as the bumps read it."""
    return ContentType.objects.annotate(now=DatabaseNow()).values_list("now", flat=True)[:1].get()


# Each insert its own transaction: the table's change count is bumped once per transaction.
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("rows", BULK_ROWS.values(), ids=BULK_ROWS.keys())
@pytest.mark.parametrize("insert", BULK_INSERTS.values(), ids=BULK_INSERTS.keys())
def test_a_bulk_insert_runs_one_statement_per_batch_whatever_its_rows(insert, rows):
    insert([rows(i) for i in range(1000, 1002)], 10)  # the table's change counter row, made once
    statements = {}
    for count, start in ((20, 0), (200, 100)):
        with CaptureQueriesContext(connection) as queries:
            insert([rows(i) for i in range(start, start + count)], 10)
        statements[count] = [query["sql"] for query in queries]
        inserts = [sql for sql in statements[count] if sql.startswith("INSERT") and '"testapp_note"' in sql]
        assert len(inserts) == count // 10
    assert len(statements[200]) - len(statements[20]) == 200 // 10 - 20 // 10


# An upsert bumps the rows its conflict finds after the insert, its new rows among them (see bulk_create).
@pytest.mark.parametrize("rows", BULK_ROWS.values(), ids=BULK_ROWS.keys())
@pytest.mark.parametrize("insert", ["bulk_create", "bulk_create(ignore_conflicts)"])
def test_a_bulk_insert_starts_every_row_at_version_one_with_the_database_clock(insert, rows, monkeypatch):
    monkeypatch.setattr(timezone, "now", lambda: datetime(2001, 1, 1, tzinfo=UTC))  # an app server's skewed clock
    before = database_clock()
    notes = BULK_INSERTS[insert]([rows(i) for i in range(25)], 10)
    after = database_clock()
    saved = {pk: rest for pk, *rest in Note.objects.values_list("pk", "version", "updated_at", "last_modified")}
    assert len(saved) == 25
    assert {version for version, _, _ in saved.values()} == {1}
    assert all(before <= updated_at <= after for _, updated_at, _ in saved.values())
    # No row was ever deleted from the table: last_modified is the insert's clock.
    assert all(last_modified == updated_at for _, updated_at, last_modified in saved.values())
    assert [note.version for note in notes] == [1] * 25
    if connection.features.can_return_rows_from_bulk_insert and insert == "bulk_create":
        assert {note.pk: [note.version, note.updated_at, note.last_modified] for note in notes} == saved


# Each write its own transaction: the change count grows when one commits.
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("insert", BOOK_INSERTS)
def test_a_bulk_insert_counts_its_table_and_bumps_what_shows_its_rows(insert):
    shelf = Shelf.objects.create()
    changes, shelf_version = read_changes(Book), stored_version(shelf)
    books = [Book(title=f"b{i}", shelf=shelf) for i in range(5)]
    with transaction.atomic():
        BOOK_INSERTS[insert](books, 2)
        if insert == "bulk_create":  # the others may name rows that were there already
            assert inserted_in_open_transaction(Book, "default") == {book.pk for book in books}
    assert Book.objects.filter(shelf=shelf).count() == 5
    assert read_changes(Book) > changes
    assert stored_version(shelf) > shelf_version
