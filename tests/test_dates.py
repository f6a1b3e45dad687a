"""Last-Modified: a URL is never dated again with a date it had for other bytes (RFC 9110 §8.8.2.2, §13.1.3).

A client that holds a date and sends it as If-Modified-Since gets 304 when
the current date is not later. So every state a URL shows must get a later
date than every earlier state of that URL: across a delete and re-create,
a database clock that stepped back, and a release that changed the shape.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

import pytest
from django.utils.http import http_date
from model_bakery import baker

from conditional_api.validators import whole_seconds
from tests.conftest import write_behind_the_orm
from tests.testapp.models import Note, PinnedNote

pytestmark = pytest.mark.django_db


def _held(moment: datetime) -> str:
    """The If-Modified-Since a client sends for ``moment``: its whole second."""
    return http_date(int(moment.timestamp()))


RECREATIONS: dict[str, tuple[type[Note], str, Callable[[int, str], Note]]] = {
    "the same primary key": (
        Note,
        "/test/notes/{pk}/",
        lambda pk, key: Note.objects.create(pk=pk, key=key, text="new"),
    ),
    "the same lookup value, another row": (
        Note,
        "/test/notes/by-key/{key}/",
        lambda pk, key: Note.objects.create(key=key, text="new"),
    ),
    "bulk_create": (
        Note,
        "/test/notes/{pk}/",
        lambda pk, key: Note.objects.bulk_create([Note(pk=pk, key=key, text="new")])[0],
    ),
    "a child row (its date is in the parent's table)": (
        PinnedNote,
        "/test/notes/{pk}/",
        lambda pk, key: PinnedNote.objects.create(pk=pk, key=key, text="new"),
    ),
}


@pytest.mark.parametrize(
    "ahead",
    # 999 ms: whatever the fraction of the second the row was written in, the
    # re-created row's clock is not past the deleted row's second.
    [timedelta(milliseconds=999), timedelta(seconds=30)],
    ids=["re-created within its second", "its date ahead of the clock (a clock that stepped back)"],
)
@pytest.mark.parametrize("recreation", list(RECREATIONS))
def test_a_recreated_row_is_dated_after_every_date_its_url_had(client, recreation, ahead):
    model, url, recreate = RECREATIONS[recreation]
    old = baker.make(model, key="recreated", text="old")
    write_behind_the_orm(Note, old.pk, last_modified=old.last_modified + ahead)
    old.refresh_from_db()
    url = url.format(pk=old.pk, key=old.key)
    old_etag = client.get(url).headers["ETag"]
    pk = old.pk
    old.delete()
    new = recreate(pk, old.key)
    new.refresh_from_db()
    assert whole_seconds(new.last_modified) > whole_seconds(old.last_modified)
    response = client.get(url, HTTP_IF_MODIFIED_SINCE=_held(old.last_modified))
    assert response.status_code == 200
    assert response.json()["text"] == "new" and response.headers["ETag"] != old_etag


def test_a_delete_that_rolls_back_raises_no_floor(client):
    """The floor is written in the delete's transaction: rolled back with it."""
    from django.db import transaction

    kept = baker.make(Note, key="kept")
    ahead = kept.last_modified + timedelta(seconds=30)
    write_behind_the_orm(Note, kept.pk, last_modified=ahead)
    with pytest.raises(RuntimeError), transaction.atomic():
        Note.objects.filter(pk=kept.pk).delete()
        raise RuntimeError
    created = Note.objects.create(key="created")
    assert whole_seconds(created.last_modified) < whole_seconds(ahead)
