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
from model_bakery import baker

from conditional_api.models import claim_state
from tests.conftest import requires_postgres
from tests.testapp.models import Post, Writer

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
