"""The django-ninja adapter on the test app's operations (tests.testapp.ninja_api) and the example's /ninja/ API."""

from __future__ import annotations

import json
import re

import pytest

pytest.importorskip("ninja", reason="django-ninja is not installed: pip install 'conditional-api[ninja]'")

from django.core.cache import caches
from django.core.exceptions import ImproperlyConfigured
from django.test import Client
from model_bakery import baker
from ninja import Router
from openapi_spec_validator import validate

from conditional_api.flow import Flow
from conditional_api.ninja import conditional
from example_project.blog.models import Article
from tests.conftest import write_behind_the_orm
from tests.testapp import views as testapp_views
from tests.testapp.models import Note
from tests.testapp.ninja_api import REFUSED

pytestmark = pytest.mark.django_db

CALLS = testapp_views.CALLS


@pytest.fixture
def client() -> Client:
    return Client()


@pytest.fixture
def note(db) -> Note:
    return baker.make(Note, key="n1", text="one")


def url(note: Note, kind: str = "notes") -> str:
    return f"/test-ninja/{kind}/{note.pk}/"


def put(client: Client, path: str, text: str, **headers: str):
    return client.put(path, json.dumps({"text": text}), content_type="application/json", **headers)


class TestReads:
    @pytest.mark.parametrize(
        "header, value, status",
        [
            ("HTTP_IF_NONE_MATCH", "{etag}", 304),
            ("HTTP_IF_NONE_MATCH", '"old", {etag}', 304),
            ("HTTP_IF_NONE_MATCH", "W/{etag}", 304),
            ("HTTP_IF_NONE_MATCH", "*", 304),
            ("HTTP_IF_NONE_MATCH", '"old"', 200),
            # Malformed on a read: ignored, the worst it costs is a 200 (a write answers 400).
            ("HTTP_IF_NONE_MATCH", '"unterminated', 200),
            ("HTTP_IF_MODIFIED_SINCE", "{last_modified}", 304),
            ("HTTP_IF_MODIFIED_SINCE", "Sat, 01 Jan 2000 00:00:00 GMT", 200),
            ("HTTP_IF_MATCH", '"old"', 412),
            ("HTTP_IF_MATCH", "garbage", 400),
        ],
    )
    def test_the_rfc_table_on_a_get(self, client, note, header, value, status):
        first = client.get(url(note))
        value = value.format(etag=first["ETag"], last_modified=first["Last-Modified"])
        CALLS.clear()
        response = client.get(url(note), **{header: value})
        assert response.status_code == status
        # Only a 200 runs the operation function.
        assert CALLS["ninja note"] == (1 if status == 200 else 0)
        if status == 304:
            assert response.content == b"" and response["ETag"] == first["ETag"]
        if status in (400, 412):
            assert list(response.json()) == ["detail"]

    @pytest.mark.parametrize("method", ["get", "head"])
    def test_a_304_runs_one_query_of_the_validator_columns(self, client, note, method, django_assert_num_queries):
        etag = client.get(url(note))["ETag"]
        with django_assert_num_queries(1) as queries:
            response = getattr(client, method)(url(note), HTTP_IF_NONE_MATCH=etag)
        assert response.status_code == 304
        selected = queries.captured_queries[0]["sql"].split(" FROM ")[0]
        assert sorted(re.findall(r'"testapp_note"\."(\w+)"', selected)) == ["id", "last_modified", "version"]

    def test_a_200_costs_the_validator_the_function_and_the_confirmation(self, client, note, django_assert_num_queries):
        # The validator before the function, its own query, and the validator again: the body is one state.
        with django_assert_num_queries(3):
            response = client.get(url(note))
        assert response.status_code == 200
        assert response.json() == {"key": "n1", "text": "one", "version": note.version}
        assert re.fullmatch(r'"[A-Za-z0-9_-]{22}"', response["ETag"]) and response["Last-Modified"].endswith(" GMT")
        assert response["Cache-Control"] == "no-cache"

    def test_head_answers_as_get_without_the_body(self, client, note):
        get, head = client.get(url(note)), client.head(url(note))
        assert head.status_code == 200 and head.content == b""
        assert head["ETag"] == get["ETag"] and head["Last-Modified"] == get["Last-Modified"]

    def test_a_write_makes_the_held_etag_stale(self, client, note):
        held = client.get(url(note))["ETag"]
        write_behind_the_orm(Note, note.pk, text="changed", version=note.version + 1)
        response = client.get(url(note), HTTP_IF_NONE_MATCH=held)
        assert response.status_code == 200 and response.json()["text"] == "changed"
        assert response["ETag"] != held

    def test_a_missing_row_is_the_functions_404_whatever_the_headers(self, client):
        for headers in ({}, {"HTTP_IF_NONE_MATCH": "*"}, {"HTTP_IF_MATCH": '"x"'}):
            response = client.get("/test-ninja/notes/999999/", **headers)
            assert response.status_code == 404 and "ETag" not in response


class TestWrites:
    def test_stale_if_match_is_412_before_the_function_and_keeps_the_row(self, client, note):
        stale = client.get(url(note))["ETag"]
        write_behind_the_orm(Note, note.pk, version=note.version + 1)
        CALLS.clear()
        response = put(client, url(note), "mine", HTTP_IF_MATCH=stale)
        assert response.status_code == 412 and "detail" in response.json()
        assert CALLS["ninja replace_note"] == 0
        assert Note.objects.get(pk=note.pk).text == "one"

    def test_a_stale_if_match_is_412_even_for_a_body_ninja_would_refuse(self, client, note):
        response = client.put(url(note), "{}", content_type="application/json", HTTP_IF_MATCH='"stale"')
        assert response.status_code == 412

    @pytest.mark.parametrize("header", ["garbage", '"unterminated'])
    def test_a_malformed_if_match_is_400_and_writes_nothing(self, client, note, header):
        response = put(client, url(note), "mine", HTTP_IF_MATCH=header)
        assert response.status_code == 400 and "If-Match" in response.json()["detail"]
        assert Note.objects.get(pk=note.pk).text == "one"

    def test_the_current_etag_writes_and_answers_the_new_validators(self, client, note):
        etag = client.get(url(note))["ETag"]
        response = put(client, url(note), "two", HTTP_IF_MATCH=etag)
        assert response.status_code == 200 and response.json()["text"] == "two"
        fresh = client.get(url(note))
        assert response["ETag"] == fresh["ETag"] != etag
        assert response.json() == fresh.json()

    def test_if_unmodified_since_guards_a_write(self, client, note):
        held = client.get(url(note))["Last-Modified"]
        assert put(client, url(note), "two", HTTP_IF_UNMODIFIED_SINCE=held).status_code == 200
        assert put(client, url(note), "three", HTTP_IF_UNMODIFIED_SINCE=held).status_code == 412
        assert Note.objects.get(pk=note.pk).text == "two"

    def test_a_write_that_lands_between_check_and_claim_loses_nothing(self, client, note, monkeypatch):
        """Another writer commits after the precondition held: the claim fails, 412 with what they left."""
        etag = client.get(url(note))["ETag"]
        original = Flow.read

        def read_then_concurrent_write(self, *args, **kwargs):
            current = original(self, *args, **kwargs)
            if self.request.method == "PUT":
                Note.objects.filter(pk=note.pk).update(text="the other writer")
            return current

        monkeypatch.setattr(Flow, "read", read_then_concurrent_write)
        response = put(client, url(note), "mine", HTTP_IF_MATCH=etag)
        monkeypatch.undo()
        assert response.status_code == 412
        now = client.get(url(note))
        assert now.json()["text"] == "the other writer"
        assert response["ETag"] == now["ETag"] != etag

    def test_an_error_answer_undoes_what_the_function_wrote(self, client, note):
        etag = client.get(url(note))["ETag"]
        response = put(client, url(note), REFUSED, HTTP_IF_MATCH=etag)
        assert response.status_code == 409
        assert Note.objects.get(pk=note.pk).text == "one"
        assert client.get(url(note))["ETag"] == etag

    def test_delete_with_the_current_etag(self, client, note):
        etag = client.get(url(note))["ETag"]
        assert client.delete(url(note), HTTP_IF_MATCH='"stale"').status_code == 412
        assert client.delete(url(note), HTTP_IF_MATCH=etag).status_code == 204
        assert not Note.objects.filter(pk=note.pk).exists()

    def test_refusals_cost_what_drfs_do(self, client, note, django_assert_num_queries):
        """A 412 or 428 reads the validator once, then answers: the function, the body and the claim never run."""
        with django_assert_num_queries(1):
            assert put(client, url(note), "x", HTTP_IF_MATCH='"stale"').status_code == 412
        with django_assert_num_queries(1):
            assert put(client, url(note, "async-notes"), "x").status_code == 428


class TestAsync:
    def test_304_and_200(self, client, note, django_assert_num_queries):
        first = client.get(url(note, "async-notes"))
        assert first.status_code == 200 and first.json()["text"] == "one"
        CALLS.clear()
        with django_assert_num_queries(1):
            again = client.get(url(note, "async-notes"), HTTP_IF_NONE_MATCH=first["ETag"])
        assert again.status_code == 304 and CALLS["ninja async_note"] == 0
        assert first["ETag"] == client.get(url(note))["ETag"]  # one representation, one ETag

    def test_writes_require_a_precondition_and_claim_the_row(self, client, note):
        etag = client.get(url(note, "async-notes"))["ETag"]
        required = put(client, url(note, "async-notes"), "two")
        assert required.status_code == 428 and required["ETag"] == etag
        assert CALLS["ninja async_replace_note"] == 0
        written = put(client, url(note, "async-notes"), "two", HTTP_IF_MATCH=etag)
        assert written.status_code == 200 and written.json()["text"] == "two"
        assert written["ETag"] == client.get(url(note, "async-notes"))["ETag"]
        stale = put(client, url(note, "async-notes"), "three", HTTP_IF_MATCH=etag)
        assert stale.status_code == 412 and stale["ETag"] == written["ETag"]
        assert Note.objects.get(pk=note.pk).text == "two"

    def test_an_async_list_answers_304_from_the_counts_before_the_page(self, client, note, django_assert_num_queries):
        first = client.get("/test-ninja/async-notes/")
        assert first.status_code == 200 and first.json()["count"] == 1
        with django_assert_num_queries(1):
            assert client.get("/test-ninja/async-notes/", HTTP_IF_NONE_MATCH=first["ETag"]).status_code == 304
        baker.make(Note, key="n2")
        changed = client.get("/test-ninja/async-notes/", HTTP_IF_NONE_MATCH=first["ETag"])
        assert changed.status_code == 200 and changed.json()["count"] == 2


class TestLists:
    def test_a_list_that_is_no_queryset_is_validated_by_its_bytes(self, client, note):
        first = client.get("/test-ninja/note-keys/")
        assert first.json() == ["n1"] and first["ETag"]
        assert client.get("/test-ninja/note-keys/", HTTP_IF_NONE_MATCH=first["ETag"]).status_code == 304
        baker.make(Note, key="n2")
        assert client.get("/test-ninja/note-keys/", HTTP_IF_NONE_MATCH=first["ETag"]).status_code == 200

    def test_a_list_304_runs_neither_the_count_nor_the_page(self, client, article, django_assert_num_queries):
        etag = client.get("/ninja/articles/")["ETag"]
        with django_assert_num_queries(1) as queries:
            assert client.get("/ninja/articles/", HTTP_IF_NONE_MATCH=etag).status_code == 304
        assert "conditional_api_changecounter" in queries.captured_queries[0]["sql"]


class TestAuthenticationComesFirst:
    @pytest.fixture
    def owned(self, staff) -> Note:
        return baker.make(Note, key="mine", owner=staff)

    def test_no_304_before_authentication(self, client, staff, owned):
        client.force_login(staff)
        etag = client.get(url(owned, "my-notes"))["ETag"]
        client.logout()
        CALLS.clear()
        refused = client.get(url(owned, "my-notes"), HTTP_IF_NONE_MATCH=etag)
        assert refused.status_code == 401 and "ETag" not in refused

    def test_a_row_outside_the_users_queryset_is_404_with_nothing_about_it(self, client, staff, reader, owned):
        owner = Client()
        owner.force_login(staff)
        etag = owner.get(url(owned, "my-notes"))["ETag"]
        client.force_login(reader)
        for response in (
            client.get(url(owned, "my-notes"), HTTP_IF_NONE_MATCH=etag),
            put(client, url(owned, "my-notes"), "theirs", HTTP_IF_MATCH='"stale"'),
            put(client, url(owned, "my-notes"), "theirs", HTTP_IF_MATCH=etag),
        ):
            assert response.status_code == 404
            assert "ETag" not in response and "Last-Modified" not in response
        assert Note.objects.get(pk=owned.pk).text == ""


class TestSettings:
    @pytest.mark.parametrize(
        "key",
        ["tests.testapp.ninja_api.note", "ninja-note", "test-ninja:ninja-note"],
        ids=["path", "url", "namespaced"],
    )
    def test_views_name_an_operation_by_function_url_name_or_namespaced_url_name(self, client, note, settings, key):
        settings.CONDITIONAL_API = {**settings.CONDITIONAL_API, "VIEWS": {key: {"cache_control": "private, max-age=0"}}}
        assert client.get(url(note))["Cache-Control"] == "private, max-age=0"

    def test_the_settings_choose_the_strategy(self, client, note, settings):
        before = client.get(url(note))["ETag"]
        write_behind_the_orm(Note, note.pk, version=note.version + 5)
        assert client.get(url(note))["ETag"] != before  # version
        settings.CONDITIONAL_API = {**settings.CONDITIONAL_API, "VIEWS": {"ninja-note": {"strategy": "updated_at"}}}
        held = client.get(url(note))["ETag"]
        write_behind_the_orm(Note, note.pk, version=note.version + 9)
        assert client.get(url(note), HTTP_IF_NONE_MATCH=held).status_code == 304  # updated_at ignores the version

    def test_a_setting_can_require_a_precondition(self, client, note, settings):
        settings.CONDITIONAL_API = {
            **settings.CONDITIONAL_API,
            "VIEWS": {"test-ninja:ninja-note": {"require_precondition": True}},
        }
        assert put(client, url(note), "two").status_code == 428


@pytest.mark.django_db(transaction=True)  # the cache moves on when a write commits
def test_the_validator_cache_answers_a_304_without_a_query(client, note, settings, django_assert_num_queries):
    caches["default"].clear()
    views = {"ninja-note": {"cache_validators": True}}
    settings.CONDITIONAL_API = {**settings.CONDITIONAL_API, "CACHE": "default", "VIEWS": views}
    etag = client.get(url(note))["ETag"]
    with django_assert_num_queries(0):
        assert client.get(url(note), HTTP_IF_NONE_MATCH=etag).status_code == 304
    Note.objects.filter(pk=note.pk).update(text="new")
    assert client.get(url(note), HTTP_IF_NONE_MATCH=etag).status_code == 200
    caches["default"].clear()


def test_conditional_above_the_route_decorator_names_the_fix():
    router = Router()

    def detail(request, pk: int) -> None: ...

    routed = router.get("/x/{pk}/")(detail)
    with pytest.raises(ImproperlyConfigured, match="below"):
        conditional(Note)(routed)


class TestExample:
    """The example's /ninja/ routes against its /api/ ones: one representation, one ETag."""

    @pytest.mark.parametrize("path", ["articles/{article}/", "authors/{author}/"])
    def test_the_same_bytes_and_the_same_etag_as_drf(self, client, article, path):
        path = path.format(article=article.pk, author=article.author_id)
        drf, ninja = client.get(f"/api/{path}"), client.get(f"/ninja/{path}")
        assert ninja.content == drf.content
        assert ninja["ETag"] == drf["ETag"] and ninja["Last-Modified"] == drf["Last-Modified"]

    @pytest.mark.parametrize("path", ["articles/", "authors/", "articles/?ordering=-title&page_size=1"])
    def test_lists_serve_drfs_bytes_with_their_own_links(self, client, article, author, path):
        baker.make(Article, published=True, author=author, title="Another")
        drf, ninja = client.get(f"/api/{path}"), client.get(f"/ninja/{path}")
        assert ninja.content == drf.content.replace(b"/api/", b"/ninja/")

    @pytest.mark.parametrize(
        "headers",
        [
            {},
            {"HTTP_IF_NONE_MATCH": "*"},
            {"HTTP_IF_MATCH": "*"},
            {"HTTP_IF_MODIFIED_SINCE": "Fri, 01 Jan 2100 00:00:00 GMT"},
        ],
    )
    @pytest.mark.parametrize("user", [None, "reader"])
    def test_a_draft_is_a_404_whatever_the_headers(self, client, draft, reader, user, headers):
        if user:
            client.force_login(reader)
        response = client.get(f"/ninja/articles/{draft.pk}/", **headers)
        assert response.status_code == 404
        assert "ETag" not in response and "Last-Modified" not in response

    def test_staff_see_drafts_with_validators(self, client, staff, draft):
        client.force_login(staff)
        etag = client.get(f"/ninja/articles/{draft.pk}/")["ETag"]
        assert client.get(f"/ninja/articles/{draft.pk}/", HTTP_IF_NONE_MATCH=etag).status_code == 304

    def test_a_created_article_carries_location_and_the_detail_etag(self, client, staff, author):
        client.force_login(staff)
        payload = {"title": "T", "body": "B", "published": True, "author": author.pk, "tags": ["zeta", "eta"]}
        response = client.post("/ninja/articles/", json.dumps(payload), content_type="application/json")
        assert response.status_code == 201
        body = response.json()
        assert body["tags"] == ["eta", "zeta"] and body["version"] == Article.objects.get(pk=body["id"]).version
        assert response["Location"] == f"http://testserver/ninja/articles/{body['id']}/"
        assert response["ETag"] == client.get(response["Location"])["ETag"]

    @pytest.mark.parametrize("headers, status", [({"HTTP_IF_MATCH": "x"}, 400), ({"HTTP_IF_NONE_MATCH": "*"}, 412)])
    def test_a_create_evaluates_its_preconditions_before_writing(self, client, staff, author, headers, status):
        client.force_login(staff)
        payload = {"title": "T", "body": "B", "author": author.pk}
        response = client.post("/ninja/articles/", json.dumps(payload), content_type="application/json", **headers)
        assert response.status_code == status
        assert not Article.objects.filter(title="T").exists()

    def test_an_invalid_body_is_a_400_in_drfs_shape(self, client, staff, article):
        client.force_login(staff)
        etag = client.get(f"/ninja/articles/{article.pk}/")["ETag"]
        response = client.patch(
            f"/ninja/articles/{article.pk}/",
            json.dumps({"author": 999999}),
            content_type="application/json",
            HTTP_IF_MATCH=etag,
        )
        assert response.status_code == 400 and list(response.json()) == ["author"]
        assert Article.objects.get(pk=article.pk).version == article.version


class TestSchema:
    @pytest.fixture
    def schema(self, client) -> dict:
        document = client.get("/ninja/openapi.json").json()
        validate(document)
        return document

    @staticmethod
    def headers(operation: dict) -> dict[str, bool]:
        return {p["name"]: p["required"] for p in operation["parameters"] if p["in"] == "header"}

    def test_reads_document_their_validators_and_the_304(self, schema):
        for path, last_modified in (("/ninja/articles/{pk}/", True), ("/ninja/articles/", False)):
            get = schema["paths"][path]["get"]
            assert self.headers(get) == {"If-None-Match": False, "If-Modified-Since": False}
            assert set(get["responses"]["200"]["headers"]) == {"ETag", *(["Last-Modified"] * last_modified)}
            assert set(get["responses"]) >= {"200", "304", "400"}
            assert "head" not in schema["paths"][path]  # answered, not listed twice

    @pytest.mark.parametrize("method", ["put", "patch", "delete"])
    def test_article_writes_require_if_match_and_document_412_and_428(self, schema, method):
        operation = schema["paths"]["/ninja/articles/{pk}/"][method]
        assert self.headers(operation) == {"If-Match": True, "If-Unmodified-Since": False}
        assert set(operation["responses"]) >= {"400", "412", "428"}

    def test_a_setting_that_drops_the_requirement_drops_it_from_the_schema(self, client, settings):
        views = {**settings.CONDITIONAL_API["VIEWS"], "article-detail": {"strategy": "version"}}
        settings.CONDITIONAL_API = {**settings.CONDITIONAL_API, "VIEWS": views}
        operation = client.get("/ninja/openapi.json").json()["paths"]["/ninja/articles/{pk}/"]["patch"]
        assert self.headers(operation)["If-Match"] is False and "428" not in operation["responses"]

    def test_a_create_documents_its_preconditions_and_the_201s_etag(self, schema):
        post = schema["paths"]["/ninja/articles/"]["post"]
        assert self.headers(post) == {"If-Match": False, "If-None-Match": False}
        assert "ETag" in post["responses"]["201"]["headers"] and "412" in post["responses"]

    def test_the_test_apps_schema_is_valid_too(self, client):
        validate(client.get("/test-ninja/openapi.json").json())
