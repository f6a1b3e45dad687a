"""The collection strategy: list 304s from the table's change count, in one query, before the list runs."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from django.db import transaction
from django.db.models import Prefetch
from model_bakery import baker
from rest_framework.test import APIClient

from conditional_api.strategies import CollectionStrategy
from conditional_api.validators import UNKNOWN_UNTIL_RENDERED, Variant
from tests.testapp import views as testapp_views
from tests.testapp.api import PostSerializer
from tests.testapp.models import Label, Note, Post, Writer

pytestmark = pytest.mark.django_db


def _posts(count: int) -> None:
    writer = baker.make(Writer, name="Ada")
    Post.objects.bulk_create(
        [Post(title=f"t{i:05}", body="b", published=True, writer=writer) for i in range(count)], batch_size=2000
    )


@pytest.fixture
def serializer_runs(monkeypatch) -> list[int]:
    runs: list[int] = []
    original = PostSerializer.to_representation

    def counting(self, instance):
        runs.append(instance.pk)
        return original(self, instance)

    monkeypatch.setattr(PostSerializer, "to_representation", counting)
    return runs


@pytest.mark.parametrize("rows", [10, 10_000])
@pytest.mark.parametrize("page_size", [5, 20, 100])
def test_a_list_304_is_one_query_at_any_size(client, rows, page_size, serializer_runs, django_assert_num_queries):
    _posts(rows)
    page = 2 if rows > page_size else 1
    url = f"/test/posts/?page_size={page_size}&page={page}"
    ok = client.get(url)
    assert ok.status_code == 200 and len(ok.json()["results"]) == min(page_size, rows - (page - 1) * page_size)
    serializer_runs.clear()
    with django_assert_num_queries(1) as queries:
        assert client.get(url, HTTP_IF_NONE_MATCH=ok.headers["ETag"]).status_code == 304
    assert "conditional_api_changecounter" in queries.captured_queries[0]["sql"]
    assert serializer_runs == []


def test_a_list_200_costs_two_queries_more_than_drf(client, django_assert_num_queries):
    _posts(30)
    # DRF's own: COUNT, the page, the page's labels; ours: the change counts
    # before them (to decide) and after them (to prove they saw one state).
    with django_assert_num_queries(5):
        assert client.get("/test/posts/").status_code == 200


class TestTheListEtagChanges:
    """Whatever a page shows: its rows, the set it is cut from, the order, count, links."""

    @pytest.fixture
    def listed(self, db) -> list[Post]:
        _posts(12)
        return list(Post.objects.order_by("id"))

    def _changes(self, client, url: str, write) -> None:
        before = client.get(url)
        write()
        after = client.get(url, HTTP_IF_NONE_MATCH=before.headers["ETag"])
        assert after.status_code == 200
        assert after.headers["ETag"] != before.headers["ETag"]

    @pytest.mark.parametrize(
        "write",
        [
            pytest.param(lambda rows: Post.objects.filter(pk=rows[0].pk).update(title="changed"), id="row on the page"),
            pytest.param(
                lambda rows: Post.objects.filter(pk=rows[-1].pk).update(title="changed"), id="row on no page shown"
            ),
            pytest.param(lambda rows: rows[1].delete(), id="delete"),
            pytest.param(
                lambda rows: Post.objects.filter(pk__in=[r.pk for r in rows[:2]]).delete(), id="QuerySet.delete"
            ),
            pytest.param(lambda rows: baker.make(Post, published=True, writer=rows[0].writer), id="create"),
            pytest.param(
                lambda rows: Post.objects.filter(pk=rows[0].pk).update(published=False), id="leaves the filter"
            ),
            pytest.param(lambda rows: Post.objects.filter(pk=rows[5].pk).update(title="a"), id="reorder"),
            pytest.param(lambda rows: rows[0].labels.add(baker.make(Label, name="alpha")), id="m2m link"),
            pytest.param(
                lambda rows: Writer.objects.filter(pk=rows[0].writer_id).update(name="Grace"), id="shown writer"
            ),
        ],
    )
    @pytest.mark.parametrize(
        "url", ["/test/posts/?page_size=5", "/test/posts/?page_size=5&ordering=title&published=true"]
    )
    def test_after(self, client, listed, write, url):
        self._changes(client, url, lambda: write(listed))

    def test_bulk_create(self, client, listed):
        self._changes(client, "/test/posts/", lambda: _posts(1))

    def test_labels_list_after_a_label_write(self, client, listed):
        baker.make(Label, name="alpha")
        self._changes(client, "/test/labels/", lambda: Label.objects.filter(name="alpha").update(name="omega"))

    def test_a_rolled_back_write_leaves_it(self, client, listed):
        before = client.get("/test/posts/")
        with pytest.raises(RuntimeError), transaction.atomic():
            Post.objects.filter(pk=listed[0].pk).update(title="never")
            raise RuntimeError
        assert client.get("/test/posts/", HTTP_IF_NONE_MATCH=before.headers["ETag"]).status_code == 304


class TestTheVariant:
    def test_page_size_page_filters_and_ordering_count(self, client):
        _posts(30)
        urls = [
            "/test/posts/",
            "/test/posts/?page=2",
            "/test/posts/?page_size=5",
            "/test/posts/?ordering=-id",
            "/test/posts/?published=true",
            "/test/posts/?writer=1",
        ]
        assert len({client.get(url).headers["ETag"] for url in urls}) == len(urls)

    def test_an_unrelated_parameter_counts_because_the_links_copy_it(self, client):
        _posts(30)
        plain, other = client.get("/test/posts/"), client.get("/test/posts/?utm=x")
        assert other.json()["next"].endswith("utm=x") and plain.headers["ETag"] != other.headers["ETag"]

    def test_the_host_counts_because_the_links_name_it(self, client):
        _posts(30)
        assert (
            client.get("/test/posts/").headers["ETag"]
            != client.get("/test/posts/", HTTP_HOST="localhost").headers["ETag"]
        )

    def test_users_who_see_different_rows_get_different_etags(self, client):
        _posts(3)
        staff = APIClient()
        staff.force_authenticate(User.objects.create_user("staff", is_staff=True))
        assert client.get("/test/posts/").headers["ETag"] != staff.get("/test/posts/").headers["ETag"]


class TestTheDecorator:
    def test_a_304_runs_one_query_and_not_the_view(self, client, django_assert_num_queries):
        baker.make(Note, key="a")
        ok = client.get("/test/notes/")
        assert ok.status_code == 200 and testapp_views.CALLS["note_list"] == 1
        with django_assert_num_queries(1):
            assert client.get("/test/notes/", HTTP_IF_NONE_MATCH=ok.headers["ETag"]).status_code == 304
        assert testapp_views.CALLS["note_list"] == 1

    def test_a_write_changes_it(self, client):
        note = baker.make(Note, key="a")
        before = client.get("/test/notes/").headers["ETag"]
        note.text = "new"
        note.save()
        assert client.get("/test/notes/", HTTP_IF_NONE_MATCH=before).status_code == 200

    def test_query_parameters_shape_it(self, client):
        baker.make(Note, key="a")
        assert client.get("/test/notes/?size=1").headers["ETag"] != client.get("/test/notes/").headers["ETag"]


@pytest.mark.django_db(transaction=True)
def test_a_reset_counter_does_not_bring_an_old_list_etag_back(client):
    """After a flush (or a restored backup) the count repeats; the time of the latest bump does not."""
    from django.core.management import call_command

    baker.make(Post, writer=baker.make(Writer, name="Ada"), published=True, title="before")
    before = client.get("/test/posts/")
    call_command("flush", interactive=False, verbosity=0)
    baker.make(Post, writer=baker.make(Writer, name="Grace"), published=True, title="after")
    after = client.get("/test/posts/", HTTP_IF_NONE_MATCH=before.headers["ETag"])
    assert after.status_code == 200 and after.json()["results"][0]["title"] == "after"


def test_the_decorator_list_etag_names_the_host_its_links_would_name(client):
    baker.make(Note, key="a")
    assert (
        client.get("/test/notes/").headers["ETag"] != client.get("/test/notes/", HTTP_HOST="localhost").headers["ETag"]
    )


# -- noticed, not fixed: what the list's fingerprint does not cover -----------------------


def _list_etag(queryset) -> str | None:
    current = CollectionStrategy().read_collection(queryset, Variant(), "r1")
    return None if current.validator is None else current.validator.etag


@pytest.mark.django_db
@pytest.mark.xfail(
    strict=True,
    reason=(
        "the ETag fingerprints the row selection alone: a Prefetch(queryset=...) whose filter takes another "
        "value shows other related rows under the same tables and the same selection, so one ETag"
    ),
)
def test_prefetches_that_filter_by_other_values_give_other_etags():
    def labelled(name: str):
        return Post.objects.order_by("id").prefetch_related(
            Prefetch("labels", queryset=Label.objects.filter(name=name))
        )

    assert _list_etag(labelled("mine")) != _list_etag(labelled("theirs"))


@pytest.mark.django_db
@pytest.mark.xfail(
    strict=True,
    reason="order_by('?') compiles to one statement whose rows come in another order each time: a count-based "
    "strong ETag names bodies that differ; only the content can validate it",
)
def test_a_list_in_random_order_is_validated_by_its_content():
    current = CollectionStrategy().read_collection(Post.objects.order_by("?"), Variant(), "r1")
    assert current is UNKNOWN_UNTIL_RENDERED
