"""Per-table change counters: one bump per writing transaction, read in one raw query, never waited on."""

from __future__ import annotations

import threading
from datetime import datetime

import pytest
from django.db import transaction
from django.db.models import Max, Sum
from model_bakery import baker

from conditional_api.changes import (
    ChangeCounter,
    TableState,
    changes_committed,
    read_changes,
    read_state,
    record_change,
)
from tests.conftest import requires_postgres
from tests.testapp.models import Note, Writer

pytestmark = pytest.mark.django_db


class TestChangeCounters:
    def test_one_bump_per_transaction(self):
        before = read_changes(Note)
        with transaction.atomic():
            for key in "abc":
                baker.make(Note, key=key)
        assert read_changes(Note) == before + 1

    def test_a_read_between_two_writes_of_one_transaction_bumps_again(self):
        """An ETag computed mid-transaction must not also name the committed state."""
        with transaction.atomic():
            baker.make(Note, key="a")
            seen = read_changes(Note)
            baker.make(Note, key="b")
            assert read_changes(Note) > seen

    def test_a_rolled_back_savepoint_takes_its_bump_with_it(self):
        with transaction.atomic():
            baker.make(Note, key="a")
            seen = read_changes(Note)
            with pytest.raises(RuntimeError), transaction.atomic():
                baker.make(Note, key="b")
                raise RuntimeError
            baker.make(Note, key="c")
        assert read_changes(Note) > seen

    @pytest.mark.parametrize("writes", [0, 1, 3])
    def test_read_state_says_what_the_orm_would(self, writes):
        """The raw read gives the ORM's values and types: an int, and an aware datetime (or None)."""
        for key in range(writes):
            baker.make(Note, key=str(key))
        state = read_state(Note)
        expected = ChangeCounter.objects.filter(label="testapp.Note").aggregate(
            changes=Sum("value"), changed_at=Max("changed_at")
        )
        assert state == TableState(expected["changes"] or 0, expected["changed_at"])
        assert state.changes == min(writes, 1)  # one transaction, one bump
        assert (state.changed_at is None) == (writes == 0)
        if writes:
            assert isinstance(state.changed_at, datetime) and state.changed_at.tzinfo is not None

    def test_record_change_counts_under_the_model_label(self):
        before = read_changes(Note)
        record_change(Note)
        assert read_changes(Note) == before + 1
        # A pinned note is a note (multi-table inheritance): its table counts the write too.
        assert set(ChangeCounter.objects.values_list("label", flat=True)) == {"testapp.Note", "testapp.PinnedNote"}


@requires_postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_writers_never_wait_on_the_counter():
    """A writer takes a counter row no open transaction holds,
    so two tables bumped in opposite orders cannot deadlock.
    """
    from django.db import connections

    baker.make(Note, key="existing"), baker.make(Writer, name="existing")  # counter rows to contend for
    before = read_changes(Note), read_changes(Writer)
    first_holds = threading.Event()
    second_done = threading.Event()
    errors: list[BaseException] = []

    def second() -> None:
        try:
            first_holds.wait(5)
            with transaction.atomic():
                baker.make(Note, key="second")
                baker.make(Writer, name="second")
            second_done.set()
        except BaseException as error:  # reported by the main thread
            errors.append(error)
        finally:
            connections.close_all()

    thread = threading.Thread(target=second)
    thread.start()
    with transaction.atomic():
        baker.make(Writer, name="first")
        baker.make(Note, key="first")
        first_holds.set()
        # The other transaction bumps both counters while this one holds its rows.
        assert second_done.wait(5), "the second writer waited on a counter row"
    thread.join(5)
    assert not errors, errors
    assert (read_changes(Note), read_changes(Writer)) == (before[0] + 2, before[1] + 2)
    assert ChangeCounter.objects.filter(label="testapp.Note").count() == 2


@pytest.mark.django_db(transaction=True)
def test_one_changes_committed_per_commit_with_every_table_and_row_written():
    sent: list[dict] = []

    def receive(changes: dict, **kwargs: object) -> None:
        sent.append(changes)

    changes_committed.connect(receive, weak=False, dispatch_uid="test_changes_committed")
    try:
        with transaction.atomic():
            note = baker.make(Note, key="a")
            note.text = "read between writes, so the table is bumped twice"
            read_changes(Note)
            note.save()
            writer = baker.make(Writer)
            writer.save()
            record_change(Writer, pks=None)
    finally:
        changes_committed.disconnect(dispatch_uid="test_changes_committed")
    # A note's rows are rows of the table of PinnedNote, its child, too.
    rows = frozenset({note.pk})
    assert sent == [{"testapp.Note": rows, "testapp.PinnedNote": rows, "testapp.Writer": None}]
