"""The DRF mixins on the test app's viewsets and views."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from django.db.models import F
from django.utils.http import http_date
from model_bakery import baker
from rest_framework.test import APIClient

from conditional_api.flow import Flow
from tests.conftest import write_behind_the_orm
from tests.testapp import api as testapp_api
from tests.testapp import overrides
from tests.testapp.api import PostSerializer
from tests.testapp.models import Note, Post, Writer

pytestmark = pytest.mark.django_db


def detail(post: Post) -> str:
    return f"/test/posts/{post.pk}/"


def etag_of(client: APIClient, url: str) -> str:
    return client.get(url).headers["ETag"]


@pytest.fixture
def serializer_calls(monkeypatch) -> Iterator[list[str]]:
    """Record every run of the post serializer (representation, validation, save)."""
    calls: list[str] = []
    for name in ("to_representation", "is_valid", "save"):
        original = getattr(PostSerializer, name)

        def spy(self, *args, _original=original, _name=name, **kwargs):
            calls.append(_name)
            return _original(self, *args, **kwargs)

        monkeypatch.setattr(PostSerializer, name, spy)
    yield calls


class TestRetrieve:
    def test_200_carries_strong_etag_last_modified_and_no_cache(self, api_client, post):
        response = api_client.get(detail(post))
        assert response.status_code == 200
        assert re.fullmatch(r'"[A-Za-z0-9_-]{22}"', response.headers["ETag"])
        assert response.headers["Last-Modified"].endswith(" GMT")
        assert response.headers["Cache-Control"] == "no-cache"

    @pytest.mark.parametrize("method", ["get", "head"])
    def test_304_runs_one_validator_query_and_no_serializer(
        self, api_client, post, serializer_calls, method, django_assert_num_queries
    ):
        etag = etag_of(api_client, detail(post))
        serializer_calls.clear()
        with django_assert_num_queries(1) as queries:
            response = getattr(api_client, method)(detail(post), HTTP_IF_NONE_MATCH=etag)
        assert response.status_code == 304
        assert response.content == b""
        assert serializer_calls == []
        (query,) = queries.captured_queries
        selected = query["sql"].split(" FROM ")[0]
        assert sorted(re.findall(r'"testapp_post"\."(\w+)"', selected)) == ["id", "last_modified", "version"]

    @pytest.mark.parametrize(
        "headers, queries_run",
        [
            # Nothing to decide: DRF's own two queries (the row, its labels),
            # then the row's validator again, since the labels were read in a
            # statement of their own.
            ({}, ["testapp_post", "testapp_label", "testapp_post"]),
            # A stale copy: the validator query first, then DRF's, then the check.
            (
                {"HTTP_IF_NONE_MATCH": '"an old copy"'},
                ["testapp_post", "testapp_post", "testapp_label", "testapp_post"],
            ),
            (
                {"HTTP_IF_MODIFIED_SINCE": "Sat, 01 Jan 2000 00:00:00 GMT"},
                ["testapp_post", "testapp_post", "testapp_label", "testapp_post"],
            ),
        ],
    )
    def test_a_200_reads_the_validator_only_when_there_is_something_to_decide(
        self, api_client, post, headers, queries_run, django_assert_num_queries
    ):
        expected = api_client.get(detail(post), HTTP_IF_NONE_MATCH='"an old copy"')
        with django_assert_num_queries(len(queries_run)) as queries:
            response = api_client.get(detail(post), **headers)
        assert response.status_code == 200
        assert [re.search(r'FROM "(\w+)"', q["sql"]).group(1) for q in queries.captured_queries] == queries_run
        for header in ("ETag", "Last-Modified", "Cache-Control"):
            assert response.headers[header] == expected.headers[header], header
        assert response.content == expected.content

    def test_304_with_basic_auth_runs_only_the_authentication_query_besides(
        self, post, staff, django_assert_num_queries
    ):
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION="Basic ZGVtbzpkZW1v")  # demo:demo
        etag = etag_of(client, detail(post))
        with django_assert_num_queries(2) as queries:
            response = client.get(detail(post), HTTP_IF_NONE_MATCH=etag)
        assert response.status_code == 304
        tables = [re.search(r'FROM "(\w+)"', q["sql"]).group(1) for q in queries.captured_queries]
        assert tables == ["auth_user", "testapp_post"]

    def test_if_modified_since_revalidates_with_304(self, api_client, post):
        last_modified = api_client.get(detail(post)).headers["Last-Modified"]
        assert api_client.get(detail(post), HTTP_IF_MODIFIED_SINCE=last_modified).status_code == 304

    def test_a_write_makes_the_old_etag_and_date_stale(self, api_client, post):
        ok = api_client.get(detail(post))
        post.title = "Changed"
        post.save()
        for header, value in (
            ("HTTP_IF_NONE_MATCH", ok.headers["ETag"]),
            ("HTTP_IF_MODIFIED_SINCE", ok.headers["Last-Modified"]),
        ):
            response = api_client.get(detail(post), **{header: value})
            assert response.status_code == 200 and response.json()["title"] == "Changed"

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
    def test_an_unpublished_post_is_a_404_whatever_the_headers(self, draft_post, reader, user, headers):
        client = APIClient()
        if user:
            client.force_authenticate(reader)
        assert client.get(detail(draft_post), **headers).status_code == 404

    def test_staff_see_unpublished_posts_with_validators(self, staff_client, draft_post):
        etag = etag_of(staff_client, detail(draft_post))
        assert staff_client.get(detail(draft_post), HTTP_IF_NONE_MATCH=etag).status_code == 304

    def test_the_browsable_api_gets_no_validators(self, api_client, post):
        response = api_client.get(detail(post), HTTP_ACCEPT="text/html")
        assert response.status_code == 200 and "ETag" not in response.headers

    def test_the_negotiated_media_type_is_part_of_the_etag(self, api_client, post):
        plain = etag_of(api_client, detail(post))
        indented = api_client.get(detail(post), HTTP_ACCEPT="application/json; indent=4")
        assert indented.content != api_client.get(detail(post)).content
        assert indented.headers["ETag"] != plain

    def test_query_parameters_outside_the_variant_do_not_change_the_etag(self, api_client, post):
        # post-detail sets "query_params": [] in the test settings.
        assert etag_of(api_client, detail(post) + "?utm_source=x") == etag_of(api_client, detail(post))

    def test_the_release_salt_is_part_of_the_etag(self, api_client, post, settings):
        before = etag_of(api_client, detail(post))
        settings.CONDITIONAL_API = {**settings.CONDITIONAL_API, "RELEASE": "another-release"}
        assert etag_of(api_client, detail(post)) != before


class TestLastModified:
    def test_the_date_a_client_holds_passes_if_unmodified_since_until_a_write(self, staff_client, post):
        # A clamped date would fail here: the header and the comparison use one value.
        post.save()
        post.save()
        time.sleep(max(0.0, post.last_modified.timestamp() + 1 - time.time()))
        held = staff_client.get(detail(post)).headers["Last-Modified"]
        assert (
            staff_client.patch(detail(post), {"title": "ok"}, format="json", HTTP_IF_UNMODIFIED_SINCE=held).status_code
            == 200
        )

    def test_released_at_is_a_floor(self, api_client, post, settings):
        yesterday = datetime.now(tz=UTC) - timedelta(days=1)
        write_behind_the_orm(Post, post.pk, version=F("version") + 1, last_modified=yesterday)
        old = api_client.get(detail(post)).headers["Last-Modified"]
        assert api_client.get(detail(post), HTTP_IF_MODIFIED_SINCE=old).status_code == 304
        released = datetime.now(tz=UTC).replace(microsecond=0)
        settings.CONDITIONAL_API = {**settings.CONDITIONAL_API, "RELEASED_AT": released.isoformat()}
        assert api_client.get(detail(post)).headers["Last-Modified"] == http_date(released.timestamp())
        assert api_client.get(detail(post), HTTP_IF_MODIFIED_SINCE=old).status_code == 200

    def test_a_write_in_the_release_second_still_changes_last_modified(self, api_client, post, settings):
        released = datetime.now(tz=UTC).replace(microsecond=0) - timedelta(seconds=5)
        write_behind_the_orm(Post, post.pk, last_modified=released - timedelta(days=1))
        settings.CONDITIONAL_API = {**settings.CONDITIONAL_API, "RELEASED_AT": released.isoformat()}
        held = api_client.get(detail(post)).headers["Last-Modified"]
        assert held == http_date(released.timestamp())
        write_behind_the_orm(
            Post, post.pk, title="in the release second", last_modified=released + timedelta(microseconds=500)
        )
        response = api_client.get(detail(post), HTTP_IF_MODIFIED_SINCE=held)
        assert response.status_code == 200 and response.json()["title"] == "in the release second"


class TestWrites:
    def test_patch_without_a_precondition_is_428_and_writes_nothing(self, staff_client, post, serializer_calls):
        response = staff_client.patch(detail(post), {"title": "New"}, format="json")
        assert response.status_code == 428
        assert response.json() == {"detail": response.json()["detail"]} and "If-Match" in response.json()["detail"]
        assert serializer_calls == []
        assert Post.objects.get(pk=post.pk).version == post.version

    @pytest.mark.parametrize("method", ["put", "patch", "delete"])
    def test_stale_if_match_returns_412_and_keeps_row(self, staff_client, post, serializer_calls, method):
        stale = etag_of(staff_client, detail(post))
        Post.objects.filter(pk=post.pk).update(body="someone else's change")
        serializer_calls.clear()
        payload = {"title": "Mine", "body": "b", "published": True, "writer": post.writer_id, "labels": ["x"]}
        response = getattr(staff_client, method)(detail(post), payload, format="json", HTTP_IF_MATCH=stale)
        assert response.status_code == 412
        assert serializer_calls == []
        row = Post.objects.get(pk=post.pk)
        assert (row.title, row.body, row.version) == ("Hello", "someone else's change", post.version + 1)
        assert sorted(row.labels.values_list("name", flat=True)) == ["alpha", "beta"]

    @pytest.mark.parametrize("header", ["garbage", '"unterminated', 'W/"weak" "two"'])
    def test_malformed_if_match_is_400_and_writes_nothing(self, staff_client, post, header):
        response = staff_client.patch(detail(post), {"title": "New"}, format="json", HTTP_IF_MATCH=header)
        assert response.status_code == 400 and "If-Match" in response.json()["detail"]
        assert Post.objects.get(pk=post.pk).title == "Hello"

    def test_weak_if_match_never_matches(self, staff_client, post):
        etag = etag_of(staff_client, detail(post))
        response = staff_client.patch(detail(post), {"title": "New"}, format="json", HTTP_IF_MATCH="W/" + etag)
        assert response.status_code == 412

    def test_patch_with_the_current_etag_answers_the_new_representation_and_validators(self, staff_client, post):
        etag = etag_of(staff_client, detail(post))
        response = staff_client.patch(
            detail(post), {"title": "New", "labels": ["gamma"]}, format="json", HTTP_IF_MATCH=etag
        )
        assert response.status_code == 200
        body = response.json()
        assert (body["title"], body["labels"]) == ("New", ["gamma"])
        # The save and the label links each bump the version; the body shows the last.
        assert body["version"] == Post.objects.get(pk=post.pk).version > post.version
        assert response.headers["ETag"] not in (None, etag)
        fresh = staff_client.get(detail(post))
        assert fresh.headers["ETag"] == response.headers["ETag"]
        assert fresh.json() == body

    def test_if_unmodified_since_guards_a_write(self, staff_client, post):
        last_modified = staff_client.get(detail(post)).headers["Last-Modified"]
        ok = staff_client.patch(detail(post), {"title": "One"}, format="json", HTTP_IF_UNMODIFIED_SINCE=last_modified)
        assert ok.status_code == 200
        again = staff_client.patch(
            detail(post), {"title": "Two"}, format="json", HTTP_IF_UNMODIFIED_SINCE=last_modified
        )
        assert again.status_code == 412
        assert Post.objects.get(pk=post.pk).title == "One"

    def test_delete_with_the_current_etag(self, staff_client, post):
        etag = etag_of(staff_client, detail(post))
        assert staff_client.delete(detail(post), HTTP_IF_MATCH=etag).status_code == 204
        assert not Post.objects.filter(pk=post.pk).exists()

    def test_a_write_that_lands_between_check_and_claim_loses_nothing(self, staff_client, post, monkeypatch):
        """Another writer commits after the precondition passed: the claim fails, 412, their write stays."""
        etag = etag_of(staff_client, detail(post))
        original = Flow.read_row

        def read_then_concurrent_write(self, lookup):
            current = original(self, lookup)
            if self.request.method == "PATCH":
                Post.objects.filter(pk=post.pk).update(title="the other writer")
            return current

        monkeypatch.setattr(Flow, "read_row", read_then_concurrent_write)
        response = staff_client.patch(detail(post), {"title": "mine"}, format="json", HTTP_IF_MATCH=etag)
        assert response.status_code == 412
        assert Post.objects.get(pk=post.pk).title == "the other writer"

    def test_anonymous_writes_get_401_with_basic_challenge(self, api_client, post):
        response = api_client.patch(detail(post), {"title": "x"}, format="json", HTTP_IF_MATCH="*")
        assert response.status_code == 401 and response.headers["WWW-Authenticate"].startswith("Basic")

    def test_create_answers_201_with_location_and_the_detail_etag(self, staff_client, writer):
        response = staff_client.post(
            "/test/posts/",
            {"title": "T", "body": "B", "published": True, "writer": writer.pk, "labels": ["zeta", "eta"]},
            format="json",
        )
        assert response.status_code == 201
        body = response.json()
        assert body["labels"] == ["eta", "zeta"] and body["version"] == Post.objects.get(pk=body["id"]).version
        assert response.headers["Location"] == f"http://testserver/test/posts/{body['id']}/"
        assert response.headers["ETag"] == etag_of(staff_client, f"/test/posts/{body['id']}/")


@pytest.mark.parametrize(
    "headers, status",
    [
        ({"HTTP_IF_MATCH": "garbage"}, 400),
        ({"HTTP_IF_MATCH": '"x"'}, 412),
        ({"HTTP_IF_NONE_MATCH": "*"}, 412),
        ({"HTTP_IF_MATCH": "*"}, 201),
    ],
)
def test_a_create_evaluates_its_preconditions_before_writing(staff_client, writer, headers, status):
    payload = {"title": "T", "body": "B", "writer": writer.pk}
    assert staff_client.post("/test/posts/", payload, format="json", **headers).status_code == status
    assert Post.objects.filter(title="T").count() == (1 if status == 201 else 0)


class TestSettingsDriveTheStrategy:
    def test_posts_use_the_version_counter(self, api_client, post):
        before = etag_of(api_client, detail(post))
        write_behind_the_orm(Post, post.pk, version=99)
        assert etag_of(api_client, detail(post)) != before

    def test_writers_use_updated_at_alone(self, api_client, writer):
        url = f"/test/writers/{writer.pk}/"
        before = api_client.get(url)
        assert before.headers["Last-Modified"]
        write_behind_the_orm(Writer, writer.pk, version=99)
        assert etag_of(api_client, url) == before.headers["ETag"]
        Writer.objects.filter(pk=writer.pk).update(name="Grace")
        assert etag_of(api_client, url) != before.headers["ETag"]

    def test_writer_writes_need_no_precondition_but_check_one_when_sent(self, staff_client, writer):
        url = f"/test/writers/{writer.pk}/"
        stale = etag_of(staff_client, url)
        assert staff_client.patch(url, {"name": "Grace"}, format="json").status_code == 200
        assert staff_client.patch(url, {"name": "Ada"}, format="json", HTTP_IF_MATCH=stale).status_code == 412
        assert Writer.objects.get(pk=writer.pk).name == "Grace"

    def test_code_options_win_over_settings(self, api_client):
        note = Note.objects.create(key="k")
        response = api_client.get("/test/generic-notes/k/")
        assert response.headers["Cache-Control"] == "private, no-cache"
        write_behind_the_orm(Note, note.pk, version=5)  # the updated_at strategy ignores it
        assert etag_of(api_client, "/test/generic-notes/k/") == response.headers["ETag"]

    def test_a_plain_generic_view_writes_with_compare_and_set(self, api_client):
        Note.objects.create(key="k", text="one")
        etag = etag_of(api_client, "/test/generic-notes/k/")
        ok = api_client.put("/test/generic-notes/k/", {"key": "k", "text": "two"}, format="json", HTTP_IF_MATCH=etag)
        assert ok.status_code == 200 and ok.headers["ETag"] != etag
        stale = api_client.put(
            "/test/generic-notes/k/", {"key": "k", "text": "three"}, format="json", HTTP_IF_MATCH=etag
        )
        assert stale.status_code == 412 and Note.objects.get(key="k").text == "two"


@pytest.mark.parametrize(
    "headers, status", [({"HTTP_IF_MATCH": "*"}, 200), ({"HTTP_IF_MATCH": '"x"'}, 412), ({"HTTP_IF_MATCH": "x"}, 400)]
)
def test_a_content_strategy_write_can_only_be_conditional_on_any(staff_client, post, settings, headers, status):
    settings.CONDITIONAL_API = {**settings.CONDITIONAL_API, "VIEWS": {"post-detail": {"strategy": "content"}}}
    response = staff_client.patch(detail(post), {"title": "New"}, format="json", **headers)
    assert response.status_code == status
    assert Post.objects.get(pk=post.pk).title == ("New" if status == 200 else "Hello")


@pytest.mark.parametrize("headers", [{}, {"HTTP_IF_MATCH": '"x"'}, {"HTTP_IF_MATCH": "*"}])
def test_a_content_strategy_write_to_a_missing_row_is_404(staff_client, settings, headers):
    settings.CONDITIONAL_API = {
        **settings.CONDITIONAL_API,
        "VIEWS": {"post-detail": {"strategy": "content", "require_precondition": True}},
    }
    assert staff_client.patch("/test/posts/999999/", {"title": "x"}, format="json", **headers).status_code == 404


class TestObjectPermissions:
    @pytest.fixture
    def owned(self, staff, reader) -> Note:
        return Note.objects.create(key="mine", owner=staff)

    def test_no_304_for_a_user_the_object_permission_refuses(self, staff, reader, owned):
        owner = APIClient()
        owner.force_authenticate(staff)
        etag = etag_of(owner, f"/test/owned-notes/{owned.pk}/")
        other = APIClient()
        other.force_authenticate(reader)
        assert other.get(f"/test/owned-notes/{owned.pk}/", HTTP_IF_NONE_MATCH=etag).status_code == 403
        assert other.delete(f"/test/owned-notes/{owned.pk}/", HTTP_IF_MATCH=etag).status_code == 403
        assert Note.objects.filter(pk=owned.pk).exists()

    def test_the_owner_gets_a_304_in_one_query_with_permission_fields(self, staff, owned, django_assert_num_queries):
        owner = APIClient()
        owner.force_authenticate(staff)
        etag = etag_of(owner, f"/test/owned-notes/{owned.pk}/")
        testapp_api.SERIALIZED.clear()
        with django_assert_num_queries(1):
            assert owner.get(f"/test/owned-notes/{owned.pk}/", HTTP_IF_NONE_MATCH=etag).status_code == 304
        assert testapp_api.SERIALIZED == []


class TestOverriddenGetObject:
    """Access rules in get_object() hold for conditional requests too (§13.2.1)."""

    @pytest.fixture
    def owned(self, staff) -> Note:
        return Note.objects.create(key="mine", owner=staff)

    def test_no_304_and_no_412_for_a_user_get_object_refuses(self, staff, reader, owned):
        owner = APIClient()
        owner.force_authenticate(staff)
        url = f"/test/guarded-notes/{owned.pk}/"
        etag = etag_of(owner, url)
        assert owner.get(url, HTTP_IF_NONE_MATCH=etag).status_code == 304
        other = APIClient()
        other.force_authenticate(reader)
        refused = other.get(url, HTTP_IF_NONE_MATCH=etag)
        assert refused.status_code == 404 and "ETag" not in refused.headers
        assert other.put(url, {"key": "x", "text": "y"}, format="json", HTTP_IF_MATCH='"wrong"').status_code == 404
        assert Note.objects.get(pk=owned.pk).key == "mine"


def test_a_200_carries_the_etag_of_the_bytes_it_serves(api_client, post, monkeypatch):
    """A write between the validator query and the full query: the ETag follows the body."""
    original = Flow.read_row
    calls = []

    def write_after_the_validator_query(self, lookup):
        current = original(self, lookup)
        if not calls:
            Post.objects.filter(pk=post.pk).update(title="written in between")
        calls.append(current)
        return current

    monkeypatch.setattr(Flow, "read_row", write_after_the_validator_query)
    # A client revalidating a copy it no longer has: the validator query runs first.
    served = api_client.get(detail(post), HTTP_IF_NONE_MATCH='"an old copy"')
    monkeypatch.undo()
    assert served.json()["title"] == "written in between"
    assert served.headers["ETag"] == etag_of(api_client, detail(post))


class TestLists:
    @pytest.mark.parametrize("url", ["/test/posts/", "/test/writers/", "/test/labels/"])
    def test_lists_revalidate_with_304(self, api_client, post, url):
        ok = api_client.get(url)
        assert ok.status_code == 200 and set(ok.json()) == {"count", "next", "previous", "results"}
        not_modified = api_client.get(url, HTTP_IF_NONE_MATCH=ok.headers["ETag"])
        assert not_modified.status_code == 304 and not_modified.content == b""
        assert not_modified.headers["Cache-Control"] == "no-cache"

    def test_a_list_etag_changes_with_its_rows(self, api_client, post):
        before = etag_of(api_client, "/test/posts/")
        baker.make(Post, published=True, writer=post.writer)
        assert etag_of(api_client, "/test/posts/") != before

    def test_staff_and_anonymous_lists_differ(self, api_client, staff_client, post, draft_post):
        assert etag_of(api_client, "/test/posts/") != etag_of(staff_client, "/test/posts/")

    def test_shaping_query_parameters_change_the_list_etag(self, api_client, post):
        assert etag_of(api_client, "/test/posts/?ordering=-id") != etag_of(api_client, "/test/posts/")


@pytest.mark.urls("tests.testapp.overrides")
class TestCustomisedViews:
    """The hooks projects customise: each request still shows, claims and stamps one state of the row."""

    @pytest.fixture(autouse=True)
    def _no_pending_hooks(self):
        overrides.ON.clear()
        yield
        overrides.ON.clear()

    @pytest.fixture
    def note(self, db) -> Note:
        return Note.objects.create(key="k1", text="original")

    @pytest.mark.parametrize(
        "headers",
        [{}, {"HTTP_IF_MATCH": "*"}, {"HTTP_IF_UNMODIFIED_SINCE": "Fri, 01 Jan 2100 00:00:00 GMT"}],
        ids=["no precondition", "If-Match *", "If-Unmodified-Since"],
    )
    def test_a_row_loaded_before_the_claim_is_not_written_back(self, api_client, note, headers):
        """A permission loads the object; another writer commits; the write reads the row again after its claim."""

        def other_writer() -> None:
            Note.objects.filter(pk=note.pk).update(key="changed-by-B")

        overrides.ON["after the permission"] = other_writer
        response = api_client.patch(f"/notes/{note.pk}/", {"text": "by A"}, format="json", **headers)
        assert response.status_code == 200
        stored = Note.objects.get(pk=note.pk)
        assert (stored.key, stored.text) == ("changed-by-B", "by A")
        assert response.json()["key"] == "changed-by-B"

    def test_a_custom_write_action_is_stamped_with_the_etag_of_its_body(self, api_client, note):
        etag = api_client.get(f"/notes/{note.pk}/").headers["ETag"]
        published = api_client.post(f"/notes/{note.pk}/publish/", HTTP_IF_MATCH=etag)
        fetched = api_client.get(f"/notes/{note.pk}/")
        assert published.json()["text"] == fetched.json()["text"] == "published"
        assert published.headers["ETag"] == fetched.headers["ETag"]

    def test_create_with_perform_create_overridden_keeps_location_and_validators(self, api_client, db):
        response = api_client.post("/notes/", {"key": "new", "text": "t"}, format="json")
        created = Note.objects.get(key="new")
        assert response.status_code == 201
        assert response.headers["Location"].endswith(f"/notes/{created.pk}/")
        assert response.headers["ETag"] == api_client.get(f"/notes/{created.pk}/").headers["ETag"]
        assert "Last-Modified" in response.headers

    @pytest.mark.parametrize("url", ["/own-query-notes/{}/", "/own-query-content-notes/{}/"])
    def test_get_object_without_super_still_gets_validators_and_304s(self, api_client, note, url):
        first = api_client.get(url.format(note.pk))
        assert first.status_code == 200 and first.headers["ETag"]
        assert api_client.get(url.format(note.pk), HTTP_IF_NONE_MATCH=first.headers["ETag"]).status_code == 304

    def test_get_object_without_super_labels_the_body_it_rendered(self, api_client, note):
        """A write lands between the validator read and the full read: the ETag follows the body."""

        def write_on_the_next_read() -> None:  # the first get_object() reads the validator
            overrides.ON["get_object"] = lambda: Note.objects.filter(pk=note.pk).update(text="written in between")

        overrides.ON["get_object"] = write_on_the_next_read
        served = api_client.get(f"/own-query-notes/{note.pk}/", HTTP_IF_NONE_MATCH='"an-old-copy"')
        fresh = api_client.get(f"/own-query-notes/{note.pk}/")
        assert served.json() == fresh.json()
        assert served.headers["ETag"] == fresh.headers["ETag"]


@pytest.mark.parametrize("url", ["/test/posts/{}/", "/test/posts/"], ids=["detail", "list"])
def test_a_304_builds_the_views_queryset_once(api_client, monkeypatch, url):
    """The validator is read from the queryset the view builds for the request, not from a second one."""
    from tests.testapp.api import PostViewSet
    from tests.testapp.models import Post, Writer

    post = baker.make(Post, published=True, writer=baker.make(Writer))
    url = url.format(post.pk)
    etag = api_client.get(url).headers["ETag"]
    built = []
    original = PostViewSet.get_queryset
    monkeypatch.setattr(PostViewSet, "get_queryset", lambda self: built.append(1) or original(self))
    assert api_client.get(url, HTTP_IF_NONE_MATCH=etag).status_code == 304
    assert len(built) == 1
