"""Function views for the decorator's tests. ``CALLS`` records which view bodies ran."""

from __future__ import annotations

import json
from collections import Counter
from datetime import UTC, datetime
from typing import Any

from django.contrib.auth.decorators import login_required
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseNotModified, JsonResponse, StreamingHttpResponse
from django.shortcuts import get_object_or_404
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from conditional_api import Validator, claim_state, conditional

from .models import Note, Post, Stamped

CALLS: Counter[str] = Counter()


def _note_response(note: Note) -> JsonResponse:
    return JsonResponse({"key": note.key, "text": note.text, "version": note.version})


def _write(request: HttpRequest, note: Note) -> HttpResponse:
    if request.method == "DELETE":
        note.delete()
        return HttpResponse(status=204)
    note.text = json.loads(request.body)["text"]
    note.save()
    return _note_response(note)


@csrf_exempt
@require_http_methods(["GET", "HEAD", "PUT", "DELETE"])
@conditional(Note)
def note_detail(request: HttpRequest, pk: int) -> HttpResponse:
    CALLS["note_detail"] += 1
    note = get_object_or_404(Note, pk=pk)
    return _note_response(note) if request.method in ("GET", "HEAD") else _write(request, note)


@csrf_exempt
@require_http_methods(["GET", "HEAD", "PUT", "DELETE"])
@conditional(Note, require_precondition=True)
async def note_detail_async(request: HttpRequest, pk: int) -> HttpResponse:
    CALLS["note_detail_async"] += 1
    note = await Note.objects.filter(pk=pk).afirst()
    if note is None:
        return HttpResponse(status=404)
    if request.method in ("GET", "HEAD"):
        return _note_response(note)
    if request.method == "DELETE":
        await note.adelete()
        return HttpResponse(status=204)
    note.text = json.loads(request.body)["text"]
    await note.asave()
    return _note_response(note)


@conditional(
    Note.objects.all(),
    lookup_field="key",
    lookup_url_kwarg="key",
    cache_control="private, max-age=0",
    vary=["Accept-Language"],
)
def note_by_key(request: HttpRequest, key: str) -> HttpResponse:
    CALLS["note_by_key"] += 1
    return _note_response(get_object_or_404(Note, key=key))


@login_required
@conditional(lambda request: Note.objects.filter(owner=request.user))
def my_note(request: HttpRequest, pk: int) -> HttpResponse:
    CALLS["my_note"] += 1
    return _note_response(get_object_or_404(Note, pk=pk, owner=request.user))


def _shared_with(request: HttpRequest) -> QuerySet[Note]:
    """The notes of owners who share a group with the user: a scope through a join."""
    return Note.objects.filter(owner__groups__user=request.user).distinct()


@login_required
@conditional(_shared_with)
def shared_note(request: HttpRequest, pk: int) -> HttpResponse:
    CALLS["shared_note"] += 1
    return _note_response(get_object_or_404(_shared_with(request), pk=pk))


FIXED_MOMENT = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


@conditional(
    validator=lambda request, name: (
        Validator(etag=f'"{name}-1"', last_modified=FIXED_MOMENT) if name != "missing" else None
    )
)
def by_validator(request: HttpRequest, name: str) -> HttpResponse:
    CALLS["by_validator"] += 1
    return HttpResponse(f"hello {name}", status=200 if name != "missing" else 404)


@csrf_exempt
@conditional(strategy="content")
def by_content(request: HttpRequest) -> HttpResponse:
    CALLS["by_content"] += 1
    return HttpResponse(request.GET.get("text", "same bytes"))


@conditional(Stamped, strategy="updated_at")
def stamped_detail(request: HttpRequest, pk: int) -> HttpResponse:
    CALLS["stamped_detail"] += 1
    stamped = get_object_or_404(Stamped, pk=pk)
    return JsonResponse({"text": stamped.text})


def _note_validator(request: HttpRequest, pk: int) -> Validator | None:
    row = Note.objects.filter(pk=pk).values("version", "last_modified").first()
    if row is None:
        return None
    return Validator(
        etag=f'"note-{pk}-v{row["version"]}"', last_modified=row["last_modified"], state={"version": row["version"]}
    )


def _note_claim(request: HttpRequest, validator: Validator, pk: int) -> bool:
    return claim_state(Note, pk, validator.state)


@csrf_exempt
@conditional(validator=_note_validator)
def note_by_validator(request: HttpRequest, pk: int) -> HttpResponse:
    CALLS["note_by_validator"] += 1
    note = get_object_or_404(Note, pk=pk)
    return _note_response(note) if request.method in ("GET", "HEAD") else _write(request, note)


@csrf_exempt
@conditional(validator=_note_validator, claim=_note_claim)
def note_by_validator_with_claim(request: HttpRequest, pk: int) -> HttpResponse:
    CALLS["note_by_validator_with_claim"] += 1
    note = get_object_or_404(Note, pk=pk)
    return _note_response(note) if request.method in ("GET", "HEAD") else _write(request, note)


@conditional(Note)
def note_stream(request: HttpRequest, pk: int) -> StreamingHttpResponse:
    note = get_object_or_404(Note, pk=pk)
    return StreamingHttpResponse(iter([note.key.encode(), b" ", note.text.encode()]), content_type="text/plain")


@require_http_methods(["GET", "HEAD"])
@conditional(lambda request: Note.objects.order_by("key"), strategy="collection")
def note_list(request: HttpRequest) -> JsonResponse:
    """A list without DRF: the collection strategy from the decorator."""
    CALLS["note_list"] += 1
    size = int(request.GET.get("size", 10))
    notes = Note.objects.order_by("key")[:size]
    return JsonResponse({"results": [{"key": note.key, "text": note.text} for note in notes]})


def _post_response(post: Post) -> dict[str, Any]:
    """What the DRF post view shows: the writer's name and the labels' names."""
    return {
        "id": post.pk,
        "title": post.title,
        "body": post.body,
        "published": post.published,
        "writer": {"id": post.writer.pk, "name": post.writer.name},
        "labels": sorted(label.name for label in post.labels.all()),
        "version": post.version,
        "updated_at": post.updated_at.astimezone(UTC).isoformat().replace("+00:00", "Z"),
    }


@require_http_methods(["GET", "HEAD"])
@conditional(Post.objects.filter(published=True))
def plain_post_detail(request: HttpRequest, pk: int) -> JsonResponse:
    """A post with dependencies, without DRF: validators from the decorator."""
    CALLS["plain_post_detail"] += 1
    post = get_object_or_404(Post.objects.select_related("writer").prefetch_related("labels"), pk=pk, published=True)
    return JsonResponse(_post_response(post))


@require_http_methods(["GET", "HEAD"])
@conditional(Post.objects.filter(published=True).order_by("id"), strategy="collection")
def plain_post_list(request: HttpRequest) -> JsonResponse:
    """The published posts without DRF: a list validated by the decorator's collection strategy."""
    CALLS["plain_post_list"] += 1
    posts = Post.objects.filter(published=True).select_related("writer").prefetch_related("labels").order_by("id")
    return JsonResponse({"results": [_post_response(post) for post in posts[:100]]})


# -- Answers for the probe's tests (tests/test_probe.py) ------------------------
# Validators set by hand, not by the package: each ``flaw`` breaks one rule
# the probe checks, and "sound" breaks none.

PROBE_LAST_MODIFIED = "Fri, 02 Jan 2026 03:04:05 GMT"


def probe_target(request: HttpRequest, flaw: str) -> HttpResponse:
    etag = {"weak-etag": 'W/"probe"', "unquoted-etag": "probe"}.get(flaw, '"probe"')
    matches = request.headers.get("If-None-Match") == etag or (
        "If-None-Match" not in request.headers and request.headers.get("If-Modified-Since") == PROBE_LAST_MODIFIED
    )
    if flaw == "missing":
        return HttpResponse(status=404)
    response = HttpResponseNotModified() if matches and flaw != "no-304" else HttpResponse(b"probe")
    response["ETag"] = '"other"' if flaw == "304-other-etag" and response.status_code == 304 else etag
    if flaw == "no-etag":
        del response["ETag"]
    response["Last-Modified"] = PROBE_LAST_MODIFIED
    response["Cache-Control"] = "no-cache"
    if not (flaw == "304-without-vary" and response.status_code == 304):
        response["Vary"] = "Accept"
    if flaw == "head-differs" and request.method == "HEAD":
        response["Content-Type"] = "text/html"
    return response
