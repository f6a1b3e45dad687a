"""Ninja operations for the adapter's tests: notes, sync and async, scoped by ninja's own authentication.

``CALLS`` records which operation functions ran.
"""

from __future__ import annotations

from django.db.models import QuerySet
from django.http import HttpRequest
from django.shortcuts import aget_object_or_404, get_object_or_404
from ninja import NinjaAPI, Router, Schema
from ninja.errors import HttpError
from ninja.pagination import LimitOffsetPagination, paginate
from ninja.responses import Status
from ninja.security import SessionAuth

from conditional_api.ninja import conditional

from .models import Note
from .views import CALLS


class NoteOut(Schema):
    key: str
    text: str
    version: int


class NoteIn(Schema):
    text: str


#: A text whose write the function refuses after saving it: nothing of it may stay.
REFUSED = "refused after the write"

router = Router()


@router.get("/notes/{int:pk}/", response=NoteOut, url_name="ninja-note")
@conditional(Note)
def note(request: HttpRequest, pk: int) -> Note:
    CALLS["ninja note"] += 1
    return get_object_or_404(Note, pk=pk)


@router.put("/notes/{int:pk}/", response=NoteOut)
@conditional(Note)
def replace_note(request: HttpRequest, pk: int, payload: NoteIn) -> Note:
    CALLS["ninja replace_note"] += 1
    note = get_object_or_404(Note, pk=pk)
    note.text = payload.text
    note.save()
    if payload.text == REFUSED:
        raise HttpError(409, REFUSED)
    return note


@router.delete("/notes/{int:pk}/", response={204: None})
@conditional(Note)
def delete_note(request: HttpRequest, pk: int) -> Status:
    get_object_or_404(Note, pk=pk).delete()
    return Status(204, None)


@router.get("/async-notes/{int:pk}/", response=NoteOut, url_name="ninja-async-note")
@conditional(Note, require_precondition=True)
async def async_note(request: HttpRequest, pk: int) -> Note:
    CALLS["ninja async_note"] += 1
    return await aget_object_or_404(Note, pk=pk)


@router.put("/async-notes/{int:pk}/", response=NoteOut)
@conditional(Note, require_precondition=True)
async def async_replace_note(request: HttpRequest, pk: int, payload: NoteIn) -> Note:
    CALLS["ninja async_replace_note"] += 1
    note = await aget_object_or_404(Note, pk=pk)
    note.text = payload.text
    await note.asave()
    return note


@router.get("/async-notes/", response=list[NoteOut], url_name="ninja-async-notes")
@paginate(LimitOffsetPagination)
@conditional()
async def async_notes(request: HttpRequest) -> QuerySet[Note]:
    return Note.objects.order_by("id")


@router.get("/note-keys/", response=list[str], url_name="ninja-note-keys")
@conditional()
def note_keys(request: HttpRequest) -> list[str]:
    """A list that is no QuerySet: its bytes are its validator."""
    CALLS["ninja note_keys"] += 1
    return sorted(Note.objects.values_list("key", flat=True))


@router.get("/my-notes/{int:pk}/", response=NoteOut, auth=SessionAuth(), url_name="ninja-my-note")
@conditional(lambda request: Note.objects.filter(owner=request.auth))
def my_note(request: HttpRequest, pk: int) -> Note:
    CALLS["ninja my_note"] += 1
    return get_object_or_404(Note, pk=pk, owner=request.auth)  # type: ignore[attr-defined]


@router.put("/my-notes/{int:pk}/", response=NoteOut, auth=SessionAuth())
@conditional(lambda request: Note.objects.filter(owner=request.auth))
def replace_my_note(request: HttpRequest, pk: int, payload: NoteIn) -> Note:
    CALLS["ninja replace_my_note"] += 1
    note = get_object_or_404(Note, pk=pk, owner=request.auth)  # type: ignore[attr-defined]
    note.text = payload.text
    note.save()
    return note


api = NinjaAPI(title="conditional_api tests", urls_namespace="test-ninja")
api.add_router("/", router)
