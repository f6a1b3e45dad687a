"""The validator cache: detail 304s with no query, invalidated by every committed write, never stale.

Runs against local memory and, when it is reachable, Redis through Django's
own backend. The tests commit (``transaction=True``): invalidation happens on
commit, as in production.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator

import pytest
import redis
from django.core.cache import caches
from django.db import connection, transaction
from django.test import override_settings
from model_bakery import baker
from rest_framework.test import APIClient

from conditional_api import cache as validator_cache
from tests.conftest import requires_postgres, requires_redis
from tests.testapp.models import Label, Post, Writer

pytestmark = pytest.mark.django_db(transaction=True)

REDIS_URL = "redis://127.0.0.1:6379/15"
RUN_PREFIX = f"conditional-api-tests-{os.getpid()}"


BACKENDS = {
    "locmem": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "validators"},
    # Redis is shared with whatever else runs on the machine (another test run, say): this run's keys are its own.
    "redis": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": REDIS_URL,
        "KEY_PREFIX": RUN_PREFIX,
    },
}
CACHED_VIEWS = {
    "post-detail": {
        "strategy": "version",
        "require_precondition": True,
        "query_params": [],
        "cache_validators": True,
    },
    "plain-post-detail": {"strategy": "version", "query_params": [], "cache_validators": True},
}


def _settings(backend: dict) -> override_settings:
    from django.conf import settings

    conditional = dict(settings.CONDITIONAL_API)
    conditional["VIEWS"] = {**conditional["VIEWS"], **CACHED_VIEWS}
    conditional["CACHE"] = "validators"
    return override_settings(
        CACHES={**settings.CACHES, "validators": backend},
        CONDITIONAL_API=conditional,
    )


@pytest.fixture(
    params=[
        "locmem",
        pytest.param("redis", marks=requires_redis),
    ]
)
def cached(request) -> Iterator[None]:
    with _settings(BACKENDS[request.param]):
        forget_everything()
        yield
        forget_everything()


def forget_everything() -> None:
    """An empty validator cache; on Redis, this run's keys only (``clear()`` would flush other runs' too)."""
    cache = caches["validators"]
    if cache.key_prefix != RUN_PREFIX:
        cache.clear()
        return
    client = redis.Redis.from_url(REDIS_URL)
    try:
        keys = list(client.scan_iter(match=f"{RUN_PREFIX}:*"))
        if keys:
            client.delete(*keys)
    finally:
        client.close()


@pytest.fixture
def post(db) -> Post:
    with transaction.atomic():
        post = baker.make(Post, title="Hello", published=True, writer=baker.make(Writer, name="Ada"))
        post.labels.set([baker.make(Label, name="alpha")])
    return post


URLS = ["/test/posts/{pk}/", "/test/plain-posts/{pk}/"]


@pytest.mark.parametrize("view", URLS)
def test_a_cached_304_runs_no_query(cached, client, post, view, django_assert_num_queries):
    url = view.format(pk=post.pk)
    etag = client.get(url).headers["ETag"]
    with django_assert_num_queries(0):
        assert client.get(url, HTTP_IF_NONE_MATCH=etag).status_code == 304


@pytest.mark.parametrize("view", URLS)
@pytest.mark.parametrize(
    "write",
    [
        pytest.param(lambda a: Post.objects.get(pk=a.pk).save(), id="save"),
        pytest.param(lambda a: Post.objects.filter(pk=a.pk).update(title="New"), id="QuerySet.update"),
        pytest.param(lambda a: Writer.objects.filter(pk=a.writer_id).update(name="Grace"), id="dependency"),
        pytest.param(lambda a: Label.objects.get(name="alpha").posts.clear(), id="m2m from the other side"),
        pytest.param(lambda a: Post.objects.filter(pk=a.pk).touch(), id="touch"),
    ],
)
def test_every_committed_write_invalidates(cached, client, post, view, write, django_assert_num_queries):
    url = view.format(pk=post.pk)
    etag = client.get(url).headers["ETag"]
    with django_assert_num_queries(0):
        assert client.get(url, HTTP_IF_NONE_MATCH=etag).status_code == 304
    write(post)
    assert client.get(url, HTTP_IF_NONE_MATCH=etag).status_code == 200


def test_a_write_through_the_api_invalidates(cached, post):
    staff = APIClient()
    staff.force_authenticate(baker.make("auth.User", is_staff=True))
    url = f"/test/posts/{post.pk}/"
    etag = staff.get(url).headers["ETag"]
    assert staff.patch(url, {"title": "New"}, format="json", HTTP_IF_MATCH=etag).status_code == 200
    assert staff.get(url, HTTP_IF_NONE_MATCH=etag).status_code == 200


def test_a_rolled_back_write_leaves_the_cache_right(cached, client, post, django_assert_num_queries):
    url = f"/test/posts/{post.pk}/"
    etag = client.get(url).headers["ETag"]
    with pytest.raises(RuntimeError), transaction.atomic():
        Post.objects.filter(pk=post.pk).update(title="never")
        raise RuntimeError
    with django_assert_num_queries(0):
        assert client.get(url, HTTP_IF_NONE_MATCH=etag).status_code == 304


@pytest.mark.parametrize("view", URLS)
def test_a_transaction_sees_its_own_writes_before_the_commit_moves_the_cache(
    cached, client, post, view, django_assert_num_queries
):
    """A request that writes, then reads in the same transaction (ATOMIC_REQUESTS, a view calling a view)."""
    url = view.format(pk=post.pk)
    etag = client.get(url).headers["ETag"]
    with django_assert_num_queries(0):
        assert client.get(url, HTTP_IF_NONE_MATCH=etag).status_code == 304
    with transaction.atomic():
        Post.objects.filter(pk=post.pk).update(title="Not committed yet")
        inside = client.get(url, HTTP_IF_NONE_MATCH=etag)
        assert inside.status_code == 200
        transaction.set_rollback(True)
    # Rolled back: the cached validator is right again.
    with django_assert_num_queries(0):
        assert client.get(url, HTTP_IF_NONE_MATCH=etag).status_code == 304


def test_a_scoped_queryset_stays_scoped(cached, client, post):
    """Staff fill the cache for a draft; anonymous users still get the 404 the query gives them."""
    staff = APIClient()
    staff.force_authenticate(baker.make("auth.User", is_staff=True))
    Post.objects.filter(pk=post.pk).update(published=False)
    url = f"/test/posts/{post.pk}/"
    etag = staff.get(url).headers["ETag"]
    assert staff.get(url, HTTP_IF_NONE_MATCH=etag).status_code == 304
    assert client.get(url, HTTP_IF_NONE_MATCH=etag).status_code == 404


def test_a_cache_that_is_down_falls_back_to_the_query(client, post, django_assert_num_queries):
    with _settings({"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": "redis://127.0.0.1:1/0"}):
        url = f"/test/posts/{post.pk}/"
        etag = client.get(url).headers["ETag"]
        with django_assert_num_queries(1):
            assert client.get(url, HTTP_IF_NONE_MATCH=etag).status_code == 304
        Post.objects.filter(pk=post.pk).update(title="New")
        assert client.get(url, HTTP_IF_NONE_MATCH=etag).status_code == 200


@requires_postgres
def test_a_reader_that_fills_after_a_racing_commit_leaves_no_stale_entry(cached, client, post, monkeypatch):
    """Two connections: the reader reads the old row, the write commits, then the reader fills the cache."""
    url = f"/test/posts/{post.pk}/"
    old_etag = client.get(url).headers["ETag"]
    forget_everything()
    written, go, committed = threading.Event(), threading.Event(), threading.Event()
    errors: list[BaseException] = []

    def write() -> None:
        try:
            with transaction.atomic():
                Post.objects.filter(pk=post.pk).update(title="New")
                written.set()
                go.wait(10)
            committed.set()  # the tombstone went in on commit
        except BaseException as error:  # reported by the test
            errors.append(error)
        finally:
            connection.close()

    original_fill = validator_cache.CachedLookup.fill

    def fill_after_the_commit(self, row):
        go.set()
        assert committed.wait(10)
        original_fill(self, row)

    writer = threading.Thread(target=write)
    writer.start()
    assert written.wait(10)
    monkeypatch.setattr(validator_cache.CachedLookup, "fill", fill_after_the_commit)
    # Reads the old row (the write is not committed yet), fills after the commit.
    assert client.get(url, HTTP_IF_NONE_MATCH=old_etag).status_code == 304
    monkeypatch.setattr(validator_cache.CachedLookup, "fill", original_fill)
    writer.join(10)
    assert not errors, errors
    assert client.get(url, HTTP_IF_NONE_MATCH=old_etag).status_code == 200
