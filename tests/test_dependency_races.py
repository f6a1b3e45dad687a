"""Related-row writes racing other writes on PostgreSQL: no stale validator, no deadlock.

Each test holds one transaction open in a thread at the point that matters
and runs the other write on the main thread's connection.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import pytest
from django.db import connection, transaction
from django.db.models import F, Value
from django.db.models.functions import Concat
from model_bakery import baker

from conditional_api.models import claim_state
from tests.conftest import requires_postgres
from tests.testapp.models import Label, Post, Writer

pytestmark = [requires_postgres, pytest.mark.django_db(transaction=True)]


def _in_thread(body: Callable[[], None]) -> tuple[threading.Thread, list[BaseException]]:
    errors: list[BaseException] = []

    def run() -> None:
        try:
            body()
        except BaseException as error:  # reported by the test
            errors.append(error)
        finally:
            connection.close()

    thread = threading.Thread(target=run)
    thread.start()
    return thread, errors


def _rename_by_save(pk: int) -> None:
    writer = Writer.objects.get(pk=pk)
    writer.name = "Grace"
    writer.save()


def _rename_by_update(pk: int) -> None:
    Writer.objects.filter(pk=pk).update(name="Grace")


@pytest.mark.parametrize("rename", [_rename_by_save, _rename_by_update], ids=["save", "QuerySet.update"])
def test_a_post_moved_to_a_writer_during_a_rename_is_touched(client, rename):
    """The move's foreign key check waits for the rename, or the rename for the move: either way the post changes."""
    ada, linus = baker.make(Writer, name="Ada"), baker.make(Writer, name="Linus")
    moved = baker.make(Post, writer=linus, published=True)
    renamed, finish = threading.Event(), threading.Event()

    def rename_and_hold() -> None:
        with transaction.atomic():
            rename(ada.pk)
            renamed.set()
            finish.wait(10)

    thread, errors = _in_thread(rename_and_hold)
    assert renamed.wait(10)
    mover, mover_errors = _in_thread(lambda: Post.objects.filter(pk=moved.pk).update(writer=ada))
    time.sleep(0.5)  # the move runs now, or waits on the rename's lock
    before = client.get(f"/test/posts/{moved.pk}/")
    finish.set()
    thread.join(10)
    mover.join(10)
    assert not errors and not mover_errors, errors + mover_errors
    after = client.get(f"/test/posts/{moved.pk}/", HTTP_IF_NONE_MATCH=before.headers["ETag"])
    assert after.json()["writer"]["name"] == "Grace"
    assert after.status_code == 200, "a stale 304: the post shows the old name"


@pytest.mark.parametrize(
    "other_write",
    [
        pytest.param(lambda pk: Writer.objects.filter(pk=pk).update(email="new@example.com"), id="QuerySet.update"),
        pytest.param(lambda pk: Writer.objects.get(pk=pk).delete(), id="delete"),
    ],
)
def test_a_conditional_write_and_another_path_on_one_writer_do_not_deadlock(other_write):
    """Every path locks the related row before its parents, as the compare-and-set of a PATCH does."""
    ada = baker.make(Writer, name="Ada")
    baker.make(Post, writer=ada, published=True, _quantity=2)
    claimed = threading.Event()

    def patch_like() -> None:
        with transaction.atomic():
            row = Writer.objects.get(pk=ada.pk)
            assert claim_state(Writer, ada.pk, {"updated_at": row.updated_at, "last_modified": row.last_modified})
            claimed.set()
            time.sleep(1)
            row.name = "Grace"
            row.save()

    thread, errors = _in_thread(patch_like)
    assert claimed.wait(10)
    other_write(ada.pk)
    thread.join(10)
    assert not errors, errors


def _wait_for_lock_waits(count: int, done: Callable[[], bool] = lambda: False) -> bool:
    """Poll until ``count`` sessions of this database wait on a lock (True), or ``done()`` holds first (False)."""
    deadline = time.monotonic() + 10
    with connection.cursor() as cursor:
        while time.monotonic() < deadline:
            if done():
                return False
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'"
            )
            if cursor.fetchone()[0] >= count:
                return True
            time.sleep(0.02)
    raise AssertionError(f"{count} sessions never waited on a lock")


def _hold_row_lock(model: type, pk: int, release: threading.Event) -> threading.Event:
    """Lock one row in a thread until ``release`` is set; returns the event set once it is held."""
    held = threading.Event()

    def hold() -> None:
        with transaction.atomic():
            list(model.objects.select_for_update().filter(pk=pk))
            held.set()
            release.wait(10)

    _in_thread(hold)
    assert held.wait(10)
    return held


def _rename_labels_by_update(shown: Label) -> None:
    Label.objects.filter(name__startswith="x").update(name=Concat(F("name"), Value("-renamed")))


def _clear_the_labels_posts(shown: Label) -> None:
    Label.objects.get(pk=shown.pk).posts.clear()


@pytest.mark.parametrize(
    ("write", "link"),
    [
        pytest.param(
            _rename_labels_by_update,
            lambda label, post: post.labels.add(Label.objects.create(name="x-linked-meanwhile")),
            id="QuerySet.update of labels, a matching label linked meanwhile",
        ),
        pytest.param(
            _clear_the_labels_posts,
            lambda label, post: post.labels.add(label),
            id="label.posts.clear(), a post linked meanwhile",
        ),
    ],
)
def test_a_related_write_touches_every_row_it_writes_even_rows_linked_while_it_waits(client, write, link):
    """The write waits on a locked post between its touch and its statement; a link made then is not missed."""
    label = baker.make(Label, name="x-shown")
    waiting_post = baker.make(Post, title="Locked", published=True, writer=baker.make(Writer))
    waiting_post.labels.add(label)
    post = baker.make(Post, title="Linked meanwhile", published=True, writer=baker.make(Writer))
    url = f"/test/posts/{post.pk}/"
    release = threading.Event()
    _hold_row_lock(Post, waiting_post.pk, release)
    writer, writer_errors = _in_thread(lambda: write(label))
    try:
        _wait_for_lock_waits(1)  # the write waits to touch the locked post
        linker, linker_errors = _in_thread(lambda: link(label, post))
        if not _wait_for_lock_waits(2, done=lambda: not linker.is_alive()):
            # The link committed before the related write: a client may hold what it shows now.
            held = client.get(url)
        else:
            held = None  # the link waits for the related write: nothing to hold in between
    finally:
        release.set()
    writer.join(10)
    linker.join(10)
    assert not writer_errors and not linker_errors, writer_errors + linker_errors
    now = client.get(url)
    if held is not None:
        revalidated = client.get(url, HTTP_IF_NONE_MATCH=held.headers["ETag"])
        assert revalidated.status_code == 200 or now.content == held.content, "a stale 304: one ETag, two bodies"


def test_a_conditional_write_of_a_post_and_a_rename_of_its_writer_do_not_deadlock():
    """The claim updates the post once and the save again, so the save re-checks the post's foreign key."""
    ada = baker.make(Writer, name="Ada")
    post = baker.make(Post, title="Hello", writer=ada, published=True)
    claimed, go_on = threading.Event(), threading.Event()

    def patch_like() -> None:
        with transaction.atomic():
            row = Post.objects.get(pk=post.pk)
            assert claim_state(Post, post.pk, {"version": row.version})
            claimed.set()
            go_on.wait(10)
            row.title = "Patched"
            row.save()

    patcher, patch_errors = _in_thread(patch_like)
    assert claimed.wait(10)

    def rename() -> None:
        with transaction.atomic():
            _rename_by_save(ada.pk)

    renamer, rename_errors = _in_thread(rename)
    _wait_for_lock_waits(1, done=lambda: not renamer.is_alive())  # the rename waits on the post (or the claim on it)
    go_on.set()
    patcher.join(10)
    renamer.join(10)
    assert not patch_errors and not rename_errors, patch_errors + rename_errors
    stored = Post.objects.select_related("writer").get(pk=post.pk)
    assert (stored.title, stored.writer.name) == ("Patched", "Grace")
