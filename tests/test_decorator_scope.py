"""A write the view would refuse anyway gets the view's answer, whatever precondition it carries (RFC 9110 §13.2.1).

The decorator's queryset may be scoped per user; a row outside that scope
has no representation for this request. A guard (If-Match,
If-Unmodified-Since) on it fails, but §13.2.1 has the server ignore
preconditions when the request without them would not have been a 2xx:
the view's own 404 must win over a 412 (which would also confirm that the
row exists). A write that would succeed without the guard (a PUT that
creates) is refused with 412 and leaves nothing written.
"""

from __future__ import annotations

import json

import pytest
from django.http import HttpRequest, JsonResponse
from django.shortcuts import get_object_or_404
from django.urls import path
from django.utils.http import http_date
from django.views.decorators.csrf import csrf_exempt

from conditional_api import conditional
from tests.testapp.models import Note

pytestmark = [pytest.mark.django_db, pytest.mark.urls(__name__)]


@csrf_exempt
@conditional(lambda request: Note.objects.filter(owner__username=request.GET.get("as", "")))
def scoped_note(request: HttpRequest, pk: int) -> JsonResponse:
    note = get_object_or_404(Note, pk=pk, owner__username=request.GET.get("as", ""))
    note.text = json.loads(request.body)["text"]
    note.save()
    return JsonResponse({"text": note.text})


@csrf_exempt
@conditional(Note)
def put_creates(request: HttpRequest, pk: int) -> JsonResponse:
    note, created = Note.objects.update_or_create(pk=pk, defaults={"key": f"k{pk}", "text": "created"})
    return JsonResponse({"text": note.text}, status=201 if created else 200)


urlpatterns = [path("scoped/<int:pk>/", scoped_note), path("creates/<int:pk>/", put_creates)]


def _put(client, url: str, **headers: str):
    return client.put(url, json.dumps({"text": "written"}), content_type="application/json", **headers)


@pytest.fixture
def hidden(django_user_model) -> Note:
    return Note.objects.create(key="hidden", text="before", owner=django_user_model.objects.create(username="owner"))


@pytest.mark.parametrize(
    "guard",
    [
        {"HTTP_IF_MATCH": "*"},
        {"HTTP_IF_MATCH": '"any-etag"'},
        {"HTTP_IF_UNMODIFIED_SINCE": http_date(2_000_000_000)},
    ],
    ids=["If-Match *", "If-Match a tag", "If-Unmodified-Since"],
)
def test_a_guarded_write_to_a_row_outside_the_scope_is_the_views_404(client, hidden, guard):
    assert _put(client, f"/scoped/{hidden.pk}/?as=stranger").status_code == 404  # without the guard
    assert _put(client, f"/scoped/{hidden.pk}/?as=stranger", **guard).status_code == 404
    hidden.refresh_from_db()
    assert hidden.text == "before"


def test_the_same_guard_inside_the_scope_still_holds_the_write(client, hidden):
    assert _put(client, f"/scoped/{hidden.pk}/?as=owner", HTTP_IF_MATCH='"stale"').status_code == 412
    assert _put(client, f"/scoped/{hidden.pk}/?as=owner", HTTP_IF_MATCH="*").status_code == 200


def test_a_guarded_put_that_would_create_is_412_and_creates_nothing(client):
    assert _put(client, "/creates/41/", HTTP_IF_MATCH="*").status_code == 412
    assert not Note.objects.filter(pk=41).exists()
    assert _put(client, "/creates/41/").status_code == 201  # without the guard it creates
