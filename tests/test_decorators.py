"""@conditional on plain Django views, sync and async."""

from __future__ import annotations

import json

import pytest
from django.test import Client, RequestFactory
from django.utils.http import http_date

from tests.testapp.api import PostSerializer
from tests.testapp.models import Note, Post, Stamped
from tests.testapp.views import CALLS, FIXED_MOMENT

pytestmark = pytest.mark.django_db

SYNC, ASYNC = "/test/notes/{}/", "/test/async-notes/{}/"


@pytest.fixture
def client() -> Client:
    return Client()


@pytest.fixture
def note() -> Note:
    return Note.objects.create(key="k", text="one")


def put(client: Client, url: str, text: str, **headers: str):
    return client.put(url, json.dumps({"text": text}), content_type="application/json", **headers)


class TestPlainPostView:
    def test_serves_the_drf_detail_json_with_validators(self, client, post):
        response = client.get(f"/test/plain-posts/{post.pk}/")
        assert response.json() == PostSerializer(Post.objects.get(pk=post.pk)).data
        assert response.headers["ETag"].startswith('"') and response.headers["Last-Modified"]
        assert response.headers["Cache-Control"] == "no-cache"

    @pytest.mark.parametrize("method", ["get", "head"])
    def test_304_in_one_query_without_running_the_view(self, client, post, method, django_assert_num_queries):
        etag = client.get(f"/test/plain-posts/{post.pk}/").headers["ETag"]
        with django_assert_num_queries(1) as queries:
            response = getattr(client, method)(f"/test/plain-posts/{post.pk}/", HTTP_IF_NONE_MATCH=etag)
        assert response.status_code == 304 and response.content == b""
        assert response.headers["ETag"] == etag and response.headers["Cache-Control"] == "no-cache"
        assert "Content-Length" not in response.headers
        (query,) = queries.captured_queries
        assert "body" not in query["sql"] and "title" not in query["sql"]

    @pytest.mark.parametrize(
        "headers", [{}, {"HTTP_IF_NONE_MATCH": "*"}, {"HTTP_IF_MODIFIED_SINCE": "Fri, 01 Jan 2100 00:00:00 GMT"}]
    )
    def test_an_unpublished_post_is_a_404_whatever_the_headers(self, client, draft_post, headers):
        assert client.get(f"/test/plain-posts/{draft_post.pk}/", **headers).status_code == 404

    def test_writes_are_not_allowed(self, client, post):
        assert client.put(f"/test/plain-posts/{post.pk}/", HTTP_IF_MATCH="*").status_code == 405


@pytest.mark.parametrize("url", [SYNC, ASYNC])
class TestSyncAndAsync:
    def test_304_does_not_run_the_view(self, client, note, url):
        etag = client.get(url.format(note.pk)).headers["ETag"]
        CALLS.clear()
        assert client.get(url.format(note.pk), HTTP_IF_NONE_MATCH=etag).status_code == 304
        assert not CALLS

    def test_a_conditional_write_answers_the_new_etag(self, client, note, url):
        etag = client.get(url.format(note.pk)).headers["ETag"]
        response = put(client, url.format(note.pk), "two", HTTP_IF_MATCH=etag)
        assert response.status_code == 200 and response.json()["version"] == 2
        assert response.headers["ETag"] == client.get(url.format(note.pk)).headers["ETag"] != etag

    def test_stale_if_match_returns_412_and_does_not_run_the_view(self, client, note, url):
        stale = client.get(url.format(note.pk)).headers["ETag"]
        note.save()
        CALLS.clear()
        response = put(client, url.format(note.pk), "two", HTTP_IF_MATCH=stale)
        assert response.status_code == 412 and response.json()["detail"]
        assert not CALLS and Note.objects.get(pk=note.pk).text == "one"

    def test_delete_with_the_current_etag(self, client, note, url):
        etag = client.get(url.format(note.pk)).headers["ETag"]
        assert client.delete(url.format(note.pk), HTTP_IF_MATCH=etag).status_code == 204
        assert not Note.objects.filter(pk=note.pk).exists()

    def test_malformed_if_match_is_400(self, client, note, url):
        response = put(client, url.format(note.pk), "two", HTTP_IF_MATCH="not-quoted")
        assert response.status_code == 400 and Note.objects.get(pk=note.pk).text == "one"

    def test_a_write_between_check_and_claim_is_not_lost(self, client, note, url, monkeypatch):
        from conditional_api.flow import Flow

        etag = client.get(url.format(note.pk)).headers["ETag"]
        original = Flow.read

        def read_then_concurrent_write(self, *args):
            current = original(self, *args)
            if self.request.method == "PUT":
                Note.objects.filter(pk=note.pk).update(text="the other writer")
            return current

        monkeypatch.setattr(Flow, "read", read_then_concurrent_write)
        assert put(client, url.format(note.pk), "mine", HTTP_IF_MATCH=etag).status_code == 412
        assert Note.objects.get(pk=note.pk).text == "the other writer"


def test_the_async_view_requires_a_precondition_from_its_decorator(client, note):
    assert put(client, ASYNC.format(note.pk), "two").status_code == 428
    assert put(client, SYNC.format(note.pk), "two").status_code == 200


def test_a_missing_row_lets_the_view_answer_404(client):
    assert client.get(SYNC.format(999), HTTP_IF_NONE_MATCH="*").status_code == 404


def test_if_match_star_on_a_missing_row_is_the_views_404(client):
    # §13.2.1: without the guard the view answers 404, so the guard is ignored.
    assert put(client, SYNC.format(999), "x", HTTP_IF_MATCH="*").status_code == 404


@pytest.mark.parametrize("method", ["put", "delete"])
def test_a_write_to_a_missing_row_without_a_precondition_is_the_views_404(client, method):
    # Even where a precondition is required: none can be met for a row that is not there.
    response = getattr(client, method)(ASYNC.format(999), json.dumps({"text": "x"}), content_type="application/json")
    assert response.status_code == 404


def test_lookup_field_and_explicit_options(client, note):
    response = client.get("/test/notes/by-key/k/", HTTP_ACCEPT_LANGUAGE="fr")
    assert response.headers["Cache-Control"] == "private, max-age=0"
    assert response.headers["Vary"] == "Accept-Language, Authorization, Cookie"
    assert client.get("/test/notes/by-key/k/", HTTP_ACCEPT_LANGUAGE="de").headers["ETag"] != response.headers["ETag"]
    not_modified = client.get(
        "/test/notes/by-key/k/", HTTP_ACCEPT_LANGUAGE="fr", HTTP_IF_NONE_MATCH=response.headers["ETag"]
    )
    assert not_modified.status_code == 304 and not_modified.headers["Vary"] == response.headers["Vary"]


def test_a_scoped_queryset_comes_after_login_required(client, note, django_user_model):
    user = django_user_model.objects.create_user("owner", password="pw")
    note.owner = user
    note.save()
    anonymous = client.get(f"/test/my-notes/{note.pk}/", HTTP_IF_NONE_MATCH="*")
    assert anonymous.status_code == 302  # login_required ran first
    client.force_login(django_user_model.objects.create_user("other"))
    assert client.get(f"/test/my-notes/{note.pk}/", HTTP_IF_NONE_MATCH="*").status_code == 404
    client.force_login(user)
    assert client.get(f"/test/my-notes/{note.pk}/", HTTP_IF_NONE_MATCH="*").status_code == 304


class TestValidatorCallable:
    def test_stamps_and_revalidates(self, client):
        response = client.get("/test/validator/world/")
        assert response.headers["ETag"] == '"world-1"'
        assert response.headers["Last-Modified"] == http_date(FIXED_MOMENT.timestamp())
        assert client.get("/test/validator/world/", HTTP_IF_NONE_MATCH='"world-1"').status_code == 304
        assert (
            client.get("/test/validator/world/", HTTP_IF_MODIFIED_SINCE=response.headers["Last-Modified"]).status_code
            == 304
        )
        assert CALLS["by_validator"] == 1

    def test_none_means_no_representation(self, client):
        assert client.get("/test/validator/missing/", HTTP_IF_NONE_MATCH="*").status_code == 404


class TestContentStrategy:
    def test_etag_from_the_bytes(self, client):
        first = client.get("/test/content/")
        assert first.headers["ETag"] == client.get("/test/content/").headers["ETag"]
        assert client.get("/test/content/?text=other").headers["ETag"] != first.headers["ETag"]
        assert client.get("/test/content/", HTTP_IF_NONE_MATCH=first.headers["ETag"]).status_code == 304

    @pytest.mark.parametrize("method", ["GET", "HEAD"])
    @pytest.mark.parametrize("held, status", [(True, 200), (False, 412)])
    def test_if_match_on_a_read_compares_with_the_bytes(self, client, method, held, status):
        etag = client.get("/test/content/").headers["ETag"] if held else '"other-bytes"'
        response = client.generic(method, "/test/content/", HTTP_IF_MATCH=etag)
        assert response.status_code == status and CALLS["by_content"] == (2 if held else 1)

    @pytest.mark.parametrize(
        "headers, status",
        [
            ({}, 200),
            ({"HTTP_IF_MATCH": '"x"'}, 412),
            ({"HTTP_IF_MATCH": "*"}, 200),
            ({"HTTP_IF_NONE_MATCH": "*"}, 412),
            ({"HTTP_IF_MATCH": "x"}, 400),
        ],
    )
    def test_a_write_has_no_etag_to_compare(self, client, headers, status):
        assert client.post("/test/content/", **headers).status_code == status
        assert CALLS["by_content"] == (1 if status == 200 else 0)


def test_updated_at_strategy_on_a_model_that_is_not_versioned(client):
    stamped = Stamped.objects.create(text="a")
    url = f"/test/stamped/{stamped.pk}/"
    first = client.get(url)
    assert client.get(url, HTTP_IF_NONE_MATCH=first.headers["ETag"]).status_code == 304
    stamped.text = "b"
    stamped.save()
    assert client.get(url, HTTP_IF_NONE_MATCH=first.headers["ETag"]).status_code == 200


def test_a_plain_auto_now_timestamp_gives_no_last_modified(client):
    """auto_now can change twice within the second an HTTP date names: no Last-Modified, IMS ignored."""
    stamped = Stamped.objects.create(text="a")
    url = f"/test/stamped/{stamped.pk}/"
    assert "Last-Modified" not in client.get(url).headers
    stamped.text = "b"
    stamped.save()
    response = client.get(url, HTTP_IF_MODIFIED_SINCE="Fri, 01 Jan 2100 00:00:00 GMT")
    assert response.status_code == 200 and response.json() == {"text": "b"}


class TestValidatorCallableWrites:
    """validator= writes are compare-and-set only with claim=; without it only If-Match * holds."""

    @pytest.mark.parametrize("header, status", [("current", 412), ("*", 200)])
    def test_without_claim(self, client, note, header, status):
        url = f"/test/validated-notes/{note.pk}/"
        etag = client.get(url).headers["ETag"]
        response = put(client, url, "two", HTTP_IF_MATCH=etag if header == "current" else header)
        assert response.status_code == status
        assert Note.objects.get(pk=note.pk).text == ("two" if status == 200 else "one")

    def test_with_claim_writes_and_answers_the_new_etag(self, client, note):
        url = f"/test/claimed-notes/{note.pk}/"
        etag = client.get(url).headers["ETag"]
        response = put(client, url, "two", HTTP_IF_MATCH=etag)
        assert response.status_code == 200 and response.headers["ETag"] == f'"note-{note.pk}-v2"'
        assert put(client, url, "three", HTTP_IF_MATCH=etag).status_code == 412
        assert Note.objects.get(pk=note.pk).text == "two"

    def test_with_claim_a_write_between_check_and_claim_is_not_lost(self, client, note, monkeypatch):
        from conditional_api.flow import Flow

        url = f"/test/claimed-notes/{note.pk}/"
        etag = client.get(url).headers["ETag"]
        original = Flow.write

        def concurrent_write_then_claim(self, current, decision, call, refuse):
            Note.objects.filter(pk=note.pk).update(text="the other writer")
            return original(self, current, decision, call, refuse)

        monkeypatch.setattr(Flow, "write", concurrent_write_then_claim)
        assert put(client, url, "mine", HTTP_IF_MATCH=etag).status_code == 412
        assert Note.objects.get(pk=note.pk).text == "the other writer"


def test_a_write_without_claim_cannot_be_held_to_a_date(client, note):
    url = f"/test/validated-notes/{note.pk}/"
    held = "Fri, 01 Jan 2100 00:00:00 GMT"
    assert put(client, url, "two", HTTP_IF_UNMODIFIED_SINCE=held).status_code == 412
    assert Note.objects.get(pk=note.pk).text == "one"


@pytest.mark.urls("tests.testapp.overrides")
def test_a_row_outside_the_queryset_that_the_view_serves_gets_no_validators_or_caching(client):
    hidden = Note.objects.create(key="hidden", text="not visible")
    response = client.get(f"/scoped-notes/{hidden.pk}/")
    assert response.status_code == 200
    assert not {"ETag", "Last-Modified", "Cache-Control"} & set(response.headers)


def test_a_detail_does_not_read_the_host(note, settings):
    """Only a collection's ETag names the host (its links would); a detail answers whatever Host says."""
    from tests.testapp.views import note_detail

    settings.ALLOWED_HOSTS = ["good.example"]
    request = RequestFactory().get(f"/test/notes/{note.pk}/", HTTP_HOST="elsewhere.example")
    assert note_detail(request, pk=note.pk).status_code == 200
