"""A reverse foreign key dependency: a shelf shows its books, and a book can move between shelves."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from django.db.models import QuerySet
from model_bakery import baker

from conditional_api.changes import read_changes
from tests.testapp.models import Book, BookProxy, Note, PinnedNote, Shelf

pytestmark = pytest.mark.django_db


def _versions(*shelves: Shelf) -> list[int]:
    return [Shelf.objects.get(pk=shelf.pk).version for shelf in shelves]


def _save_title(book: Book, other: Shelf) -> None:
    book.title = "new"
    book.save()


def _move_by_save(book: Book, other: Shelf) -> None:
    book.shelf = other
    book.save()


def _move_by_update(book: Book, other: Shelf) -> None:
    Book.objects.filter(pk=book.pk).update(shelf=other)


def _move_by_bulk_update(book: Book, other: Shelf) -> None:
    book.shelf = other
    Book.objects.bulk_update([book], ["shelf"])


def _move_by_create(book: Book, other: Shelf) -> None:
    book.delete()
    Book.objects.create(shelf=other)


def _move_by_bulk_create(book: Book, other: Shelf) -> None:
    QuerySet(model=Book).filter(pk=book.pk).delete()  # behind the ORM: only the old shelf is not told
    Shelf.objects.filter(pk=book.shelf_id).touch()
    Book.objects.bulk_create([Book(shelf=other)])


def _move_by_related_manager_add(book: Book, other: Shelf) -> None:
    other.books.add(book)


def _move_by_related_manager_set(book: Book, other: Shelf) -> None:
    other.books.set([book])


def _move_by_upsert(book: Book, other: Shelf) -> None:
    Book.objects.bulk_create(
        [Book(pk=book.pk, shelf=other, title="t")], update_conflicts=True, unique_fields=["id"], update_fields=["shelf"]
    )


def _move_through_a_proxy(book: Book, other: Shelf) -> None:
    proxy = BookProxy.objects.get(pk=book.pk)
    proxy.shelf = other
    proxy.save()


MOVES: dict[str, Callable[[Book, Shelf], None]] = {
    "shelf.books.add": _move_by_related_manager_add,
    "shelf.books.set": _move_by_related_manager_set,
    "bulk_create(update_conflicts=True)": _move_by_upsert,
    "save through a proxy": _move_through_a_proxy,
    "save": _move_by_save,
    "QuerySet.update": _move_by_update,
    "bulk_update": _move_by_bulk_update,
    "delete + create": _move_by_create,
    "raw delete + touch + bulk_create": _move_by_bulk_create,
}


@pytest.mark.parametrize("move", MOVES.values(), ids=MOVES.keys())
def test_a_book_moving_bumps_both_shelves(move):
    old, new = baker.make(Shelf), baker.make(Shelf)
    book = baker.make(Book, shelf=old)
    before = _versions(old, new)
    move(book, new)
    after = _versions(old, new)
    assert after[0] > before[0] and after[1] > before[1]


@pytest.mark.parametrize(
    "write",
    [
        pytest.param(_save_title, id="save"),
        pytest.param(lambda book, other: Book.objects.filter(pk=book.pk).update(title="new"), id="QuerySet.update"),
        pytest.param(lambda book, other: book.delete(), id="delete"),
        pytest.param(lambda book, other: Book.objects.filter(pk=book.pk).delete(), id="QuerySet.delete"),
    ],
)
def test_a_book_written_in_place_bumps_its_shelf_only(write):
    shelf, other = baker.make(Shelf), baker.make(Shelf)
    book = baker.make(Book, shelf=shelf)
    before = _versions(shelf, other)
    write(book, other)
    after = _versions(shelf, other)
    assert after[0] > before[0] and after[1] == before[1]


def test_deleting_a_shelf_bumps_the_books_it_leaves_without_one():
    shelf = baker.make(Shelf)
    book = baker.make(Book, shelf=shelf)
    version = book.version
    shelf.delete()
    book.refresh_from_db()
    assert book.shelf_id is None and book.version > version


@pytest.mark.parametrize(
    "write",
    [
        pytest.param(lambda book: BookProxy.objects.filter(pk=book.pk).update(title="x"), id="QuerySet.update"),
        pytest.param(lambda book: BookProxy.objects.get(pk=book.pk).delete(), id="delete"),
        pytest.param(lambda book: BookProxy.objects.filter(pk=book.pk).delete(), id="QuerySet.delete"),
    ],
)
def test_writes_through_a_proxy_count_and_touch_like_the_model(write):
    shelf = baker.make(Shelf)
    book = baker.make(Book, shelf=shelf)
    before = read_changes(Book), _versions(shelf)
    from django.db import transaction

    with transaction.atomic():  # a transaction of its own, so the count can move
        write(book)
    assert read_changes(Book) > before[0] and _versions(shelf) > before[1]


@pytest.mark.parametrize(
    "write",
    [
        pytest.param(lambda: PinnedNote.objects.create(key="p"), id="create"),
        pytest.param(lambda: PinnedNote.objects.filter(key="k").update(text="x"), id="QuerySet.update"),
        pytest.param(lambda: PinnedNote.objects.get(key="k").delete(), id="delete"),
    ],
)
def test_a_child_model_counts_its_parents_table(write):
    """Multi-table inheritance: the child's rows are rows of the parent's table, which lists read."""
    baker.make(PinnedNote, key="k")
    from django.db import transaction

    before = read_changes(Note)
    with transaction.atomic():
        write()
    assert read_changes(Note) > before
