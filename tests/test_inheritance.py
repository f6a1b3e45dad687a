"""Multi-table inheritance: a child's row is a row of its parent's table, so writes on either side count for both.

A pinned note is a note: writing it through ``Note`` changes what the pinned
note's detail and lists show, and a reminder that shows a note shows a pinned
one too. A featured post is a post: the post's ``depends_on`` covers it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from django.db import transaction
from model_bakery import baker

from conditional_api.changes import read_changes, table_changed
from tests.testapp.models import FeaturedPost, Label, Note, PinnedNote, Post, Reminder, Writer

pytestmark = pytest.mark.django_db


def _update_through_the_parent(pinned: PinnedNote) -> None:
    Note.objects.filter(pk=pinned.pk).update(text="through the parent")


def _save_through_the_parent(pinned: PinnedNote) -> None:
    note = Note.objects.get(pk=pinned.pk)
    note.text = "through the parent"
    note.save()


def _touch_through_the_parent(pinned: PinnedNote) -> None:
    Note.objects.filter(pk=pinned.pk).touch()


def _bulk_update_through_the_parent(pinned: PinnedNote) -> None:
    note = Note.objects.get(pk=pinned.pk)
    note.text = "through the parent"
    Note.objects.bulk_update([note], ["text"])


PARENT_WRITES: dict[str, Callable[[PinnedNote], None]] = {
    "QuerySet.update": _update_through_the_parent,
    "save": _save_through_the_parent,
    "touch": _touch_through_the_parent,
    "bulk_update": _bulk_update_through_the_parent,
}


@pytest.fixture
def heard() -> Iterator[list[dict[str, Any]]]:
    """What ``table_changed`` says after each commit."""
    calls: list[dict[str, Any]] = []

    def receiver(sender: Any, **kwargs: Any) -> None:
        calls.append(kwargs)

    table_changed.connect(receiver, dispatch_uid="tests.test_inheritance")
    yield calls
    table_changed.disconnect(dispatch_uid="tests.test_inheritance")


@pytest.mark.parametrize("write", PARENT_WRITES.values(), ids=PARENT_WRITES.keys())
def test_a_write_through_the_parent_counts_the_child_table(write):
    """The child's lists read the child's counter: it must move when the shared row changes."""
    pinned = baker.make(PinnedNote, key="k")
    before = read_changes(PinnedNote), read_changes(Note)
    with transaction.atomic():  # a transaction of its own, so the counts can move
        write(pinned)
    assert read_changes(PinnedNote) > before[0]
    assert read_changes(Note) > before[1]


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("write", PARENT_WRITES.values(), ids=PARENT_WRITES.keys())
def test_a_write_through_the_parent_names_the_child_rows_after_commit(write, heard):
    """The validator cache drops the child's rows when it hears of them."""
    pinned = baker.make(PinnedNote, key="k")
    heard.clear()
    write(pinned)
    child = [call for call in heard if call["label"] == "testapp.PinnedNote"]
    assert child and (child[0]["pks"] is None or pinned.pk in child[0]["pks"])


@pytest.mark.django_db(transaction=True)
def test_the_parent_table_count_moves_once_per_transaction_with_its_children(heard):
    pinned = baker.make(PinnedNote, key="k")
    heard.clear()
    with transaction.atomic():
        Note.objects.filter(pk=pinned.pk).update(text="a")
        Note.objects.filter(pk=pinned.pk).update(text="b")
    assert sorted(call["label"] for call in heard) == ["testapp.Note", "testapp.PinnedNote"]


@pytest.mark.parametrize(
    "write",
    [
        pytest.param(lambda pinned: pinned.save(), id="child save"),
        pytest.param(lambda pinned: PinnedNote.objects.filter(pk=pinned.pk).update(text="x"), id="child update"),
        pytest.param(_save_through_the_parent, id="parent save"),
        pytest.param(_update_through_the_parent, id="parent update"),
    ],
)
def test_a_dependency_on_the_parent_sees_writes_through_the_child(write):
    """A reminder shows a note; the note it shows may be written as a pinned note."""
    pinned = baker.make(PinnedNote, key="k")
    reminder = baker.make(Reminder, note=pinned)
    write(pinned)
    assert Reminder.objects.get(pk=reminder.pk).version == reminder.version + 1


@pytest.mark.parametrize(
    "write",
    [
        pytest.param(lambda post: Writer.objects.filter(pk=post.writer_id).update(name="Grace"), id="writer update"),
        pytest.param(lambda post: Label.objects.filter(posts=post).update(name="renamed"), id="label update"),
        pytest.param(lambda post: post.labels.add(baker.make(Label, name="gamma")), id="labels.add"),
        pytest.param(lambda post: baker.make(Label, name="gamma").posts.add(post), id="label.posts.add"),
    ],
)
def test_the_parents_dependencies_bump_a_child_row_once_and_count_the_child_table(write):
    featured = baker.make(FeaturedPost, writer=baker.make(Writer), published=True)
    featured.labels.set([baker.make(Label, name="alpha")])
    featured.refresh_from_db()
    before = featured.version, read_changes(FeaturedPost)
    with transaction.atomic():
        write(Post.objects.get(pk=featured.pk))
    assert FeaturedPost.objects.get(pk=featured.pk).version == before[0] + 1
    assert read_changes(FeaturedPost) > before[1]
