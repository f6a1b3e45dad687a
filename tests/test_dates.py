"""Last-Modified: a URL is never dated again with a date it had for other bytes (RFC 9110 §8.8.2.2, §13.1.3).

A client that holds a date and sends it as If-Modified-Since gets 304 when
the current date is not later. So every state a URL shows must get a later
date than every earlier state of that URL: across a delete and re-create,
a database clock that stepped back, and a release that changed the shape.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any

import pytest
from django.db import transaction
from django.db.models import Value
from django.db.models.functions import Lower
from django.utils.http import http_date
from model_bakery import baker

from conditional_api.strategies import after_release
from conditional_api.validators import whole_seconds
from tests.conftest import write_behind_the_orm
from tests.testapp.models import Note, PinnedNote

pytestmark = pytest.mark.django_db


def _held(moment: datetime) -> str:
    """The If-Modified-Since a client sends for ``moment``: its whole second."""
    return http_date(int(moment.timestamp()))


def _recreate_in_bulk(pk: int, key: str, text: Any = "new", **options: Any) -> Note:
    """Re-create the row in a bulk insert of several rows, first among them."""
    rows = [Note(pk=pk, key=key, text=text), *(Note(pk=pk + i, key=f"{key}-{i}", text=text) for i in (1, 2))]
    Note.objects.bulk_create(rows, **options)
    return Note.objects.get(pk=pk)


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
    # Several rows: the insert's values are computed once for the whole statement.
    **{
        f"{name}, several rows": (Note, "/test/notes/{pk}/", partial(_recreate_in_bulk, **options))
        for name, options in {
            "bulk_create": {},
            "bulk_create(ignore_conflicts)": {"ignore_conflicts": True},
            "bulk_create(update_conflicts)": {
                "update_conflicts": True,
                "unique_fields": ["key"],
                "update_fields": ["text"],
            },
            "bulk_create, an expression among the values": {"text": Lower(Value("NEW"))},
        }.items()
    },
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
    kept = baker.make(Note, key="kept")
    ahead = kept.last_modified + timedelta(seconds=30)
    write_behind_the_orm(Note, kept.pk, last_modified=ahead)
    with pytest.raises(RuntimeError), transaction.atomic():
        Note.objects.filter(pk=kept.pk).delete()
        raise RuntimeError
    created = Note.objects.create(key="created")
    assert whole_seconds(created.last_modified) < whole_seconds(ahead)


def test_a_date_the_previous_release_served_before_released_at_is_not_served_again(client, settings):
    """RELEASED_AT with a fraction: the previous release could still answer within its whole second."""
    now = datetime.now(tz=UTC).replace(microsecond=0)
    released = now - timedelta(seconds=10) + timedelta(milliseconds=500)
    note = baker.make(Note)
    write_behind_the_orm(Note, note.pk, last_modified=whole_seconds(released) - timedelta(seconds=1))
    url = f"/test/notes/{note.pk}/"
    base = settings.CONDITIONAL_API
    settings.CONDITIONAL_API = {
        **base,
        "RELEASE": "previous",
        "RELEASED_AT": (released - timedelta(days=1)).isoformat(),
    }
    served = client.get(url).headers["Last-Modified"]
    assert served == _held(whole_seconds(released))  # the previous release's answer, just before RELEASED_AT
    settings.CONDITIONAL_API = {**base, "RELEASE": "next", "RELEASED_AT": released.isoformat()}
    assert client.get(url, HTTP_IF_MODIFIED_SINCE=served).status_code == 200


def test_a_release_still_rolling_out_sends_no_last_modified_until_released_at(client, settings):
    """RELEASED_AT at the end of the rollout, still ahead: If-Modified-Since clients of the old shape refetch."""
    note = baker.make(Note)
    url = f"/test/notes/{note.pk}/"
    served = client.get(url).headers["Last-Modified"]
    end_of_rollout = datetime.now(tz=UTC) + timedelta(minutes=10)
    settings.CONDITIONAL_API = {
        **settings.CONDITIONAL_API,
        "RELEASE": "next",
        "RELEASED_AT": end_of_rollout.isoformat(),
    }
    response = client.get(url, HTTP_IF_MODIFIED_SINCE=served)
    assert response.status_code == 200 and "Last-Modified" not in response.headers


T = datetime(2026, 11, 23, 10, 0, 0, tzinfo=UTC)
SECOND = timedelta(seconds=1)


@pytest.mark.parametrize(
    "released_at, last_modified, served",
    [
        (T, T - SECOND, T),
        (T, T, T + SECOND),
        (T + timedelta(milliseconds=500), T - SECOND, T + SECOND),
        (T + timedelta(milliseconds=500), T, T + SECOND),
        (T + timedelta(milliseconds=500), T + SECOND, T + 2 * SECOND),
    ],
    ids=["before", "in the release second", "before, RELEASED_AT with a fraction", "in its second", "after it"],
)
def test_dates_start_at_the_first_whole_second_at_or_after_released_at(settings, released_at, last_modified, served):
    settings.CONDITIONAL_API = {**settings.CONDITIONAL_API, "RELEASED_AT": released_at.isoformat()}
    assert after_release(last_modified) == served
