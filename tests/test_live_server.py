"""The example project under a real gunicorn, on the test database: replicas, races, HEAD.

Everything here goes through real sockets to real server processes, so what
is checked is what a client sees: several processes agreeing on ETags,
concurrent writers against several workers, and HEAD as gunicorn sends it.
"""

from __future__ import annotations

import socket
import threading
from contextlib import ExitStack
from urllib.parse import urlsplit

import httpx
import pytest
from django.db import transaction
from django.utils.http import http_date
from model_bakery import baker

from conditional_api.strategies import VersionStrategy
from conditional_api.validators import Variant
from example_project.blog.models import Article, Author, Tag
from tests.conftest import requires_postgres, requires_redis
from tests.live import GunicornServer, basic_auth, gunicorn_server, gunicorn_url, make_server_user, session_auth

__all__ = ["gunicorn_url"]  # the fixture, imported so that pytest finds it here

pytestmark = [pytest.mark.server, pytest.mark.django_db(transaction=True)]

TIMEOUT = httpx.Timeout(15.0)

#: The article detail's routes: DRF's and django-ninja's serve one contract.
ARTICLE_ROUTES = pytest.mark.parametrize("prefix", ["/api/", "/ninja/"])


def make_article(**kwargs) -> Article:
    author = kwargs.pop("author", None) or baker.make(Author, name="Grace", email="grace@example.com")
    tags = kwargs.pop("tags", ("gamma", "alpha", "beta"))
    fields = {"title": "Replicated", "body": "Same bytes everywhere", "published": True, **kwargs}
    # One transaction, one state: a second write moves Last-Modified a second on.
    with transaction.atomic():
        article = baker.make(Article, author=author, **fields)
        article.tags.set([Tag.objects.get_or_create(name=name)[0] for name in tags])
    article.refresh_from_db()
    return article


def strong_etag(response: httpx.Response) -> str:
    etag = response.headers.get("etag")
    assert etag, f"{response.request.method} {response.request.url} answered {response.status_code} without an ETag"
    assert not etag.startswith("W/") and etag.startswith('"') and etag.endswith('"'), f"not a strong ETag: {etag!r}"
    return etag


# -- a. replicas ----------------------------------------------------------------


def test_replicas_agree_on_etags_whatever_their_hash_seed_and_releases_differ():
    article = make_article()
    author = article.author
    make_article(author=author, title="Second", tags=("beta",))
    paths = [
        f"/api/articles/{article.pk}/",  # version strategy
        f"/plain/articles/{article.pk}/",  # the decorator
        f"/api/authors/{author.pk}/",  # updated_at strategy
        # Collection strategy, with several query parameters (their order must not matter).
        "/api/articles/?published=true&ordering=-id&page_size=50",
        "/api/tags/",
    ]
    replica_1 = GunicornServer(workers=1, release="replicas-r1", hashseed="1")
    replica_2 = GunicornServer(workers=1, release="replicas-r1", hashseed="4242")
    next_release = GunicornServer(workers=1, release="replicas-r2", hashseed="1")
    servers = [replica_1, replica_2, next_release]
    with ExitStack() as stack:
        for server in servers:  # boot side by side, then wait for each
            server.start()
            stack.callback(server.stop)
        for server in servers:
            server.wait_ready()
        with httpx.Client(timeout=TIMEOUT) as client:
            for path in paths:
                # One Host for all, as behind a load balancer: list links name it.
                first, second, third = (
                    client.get(server.base_url + path, headers={"Host": "localhost"}) for server in servers
                )
                for response in (first, second, third):
                    assert response.status_code == 200, (path, response.status_code, response.text[:300])
                assert first.content == second.content == third.content, path
                etag = strong_etag(first)
                assert strong_etag(second) == etag, f"{path}: replicas with the same release disagree"
                assert strong_etag(third) != etag, f"{path}: a new release kept the old ETag"
                # A client revalidating against another replica gets its 304;
                # against the next release, a full answer.
                moved = client.get(replica_2.base_url + path, headers={"If-None-Match": etag, "Host": "localhost"})
                assert moved.status_code == 304, (path, moved.status_code)
                assert moved.headers.get("etag") == etag
                assert moved.content == b""
                released = client.get(
                    next_release.base_url + path, headers={"If-None-Match": etag, "Host": "localhost"}
                )
                assert released.status_code == 200, (path, released.status_code)
                assert released.headers.get("etag") == strong_etag(third)

            # The pytest process is one more replica, with its own hash seed.
            detail = client.get(f"{replica_1.base_url}/api/articles/{article.pk}/")
            computed = VersionStrategy().validator(article, Variant(media_type="application/json"), "replicas-r1")
            assert detail.headers["etag"] == computed.etag


#: A Redis database of its own, emptied before use.
SHARED_CACHE_URL = "redis://127.0.0.1:6379/14"


@requires_redis
def test_replicas_sharing_a_redis_validator_cache_see_each_others_writes():
    import redis
    from django.db import connection

    redis.Redis.from_url(SHARED_CACHE_URL).flushdb()
    make_server_user()
    article = make_article(title="Cached")
    path = f"/api/articles/{article.pk}/"
    replicas = [GunicornServer(workers=1, cache_url=SHARED_CACHE_URL) for _ in range(2)]
    with ExitStack() as stack:
        for server in replicas:
            server.start()
            stack.callback(server.stop)
        for server in replicas:
            server.wait_ready()
        writer, reader = (server.base_url + path for server in replicas)
        with httpx.Client(auth=basic_auth(), timeout=TIMEOUT) as client:
            etag = strong_etag(client.get(reader))
            # The reader's first revalidation fills the shared cache.
            assert client.get(reader, headers={"If-None-Match": etag}).status_code == 304

            # A write that no Python process sees moves nothing in the cache
            # (the README says so). That the writer then still answers 304 to
            # the old ETag shows it read the reader's entry from Redis: it
            # never read this row itself, and the row says otherwise.
            with connection.cursor() as cursor:
                cursor.execute("UPDATE blog_article SET version = version + 100 WHERE id = %s", [article.pk])
            assert client.get(writer, headers={"If-None-Match": etag}).status_code == 304

            # A write through the writer commits, then moves the row's
            # generation in Redis: the reader's entry is gone everywhere.
            patched = client.patch(writer, json={"title": "Written"}, headers={"If-Match": "*"})
            assert patched.status_code == 200, patched.text[:300]
            for url in (reader, writer):
                fresh = client.get(url, headers={"If-None-Match": etag})
                assert fresh.status_code == 200, url
                assert fresh.json()["title"] == "Written"
                assert strong_etag(fresh) == strong_etag(patched)
                assert client.get(url, headers={"If-None-Match": strong_etag(fresh)}).status_code == 304


# -- b. concurrent conditional writes -----------------------------------------


ROUNDS = 8
WRITERS = 6


@requires_postgres
@ARTICLE_ROUTES
def test_concurrent_patches_with_one_etag_let_exactly_one_win(prefix):
    user = make_server_user()
    # Session cookies rather than Basic: a PBKDF2 check costs ~0.5 s of CPU
    # per request, which would spread the writers out instead of racing them.
    cookies, csrf_headers = session_auth(user)
    article = make_article(title="Round 0")
    start_version = article.version
    url = f"{prefix}articles/{article.pk}/"
    cas_losses = 0
    with gunicorn_server(workers=4, threads=2, preload=True) as base_url, ExitStack() as stack:
        clients = [
            stack.enter_context(httpx.Client(base_url=base_url, cookies=cookies, headers=csrf_headers, timeout=TIMEOUT))
            for _ in range(WRITERS)
        ]
        for client in clients:  # open each connection (and check the session works) before racing
            me = client.get(url)
            assert me.status_code == 200
        reader = clients[0]
        for round_number in range(1, ROUNDS + 1):
            before = reader.get(url)
            assert before.status_code == 200
            etag = strong_etag(before)
            assert before.json()["version"] == start_version + round_number - 1
            barrier = threading.Barrier(WRITERS, timeout=10)
            responses: list[httpx.Response | BaseException | None] = [None] * WRITERS

            def write(index: int, title: str, etag: str = etag, barrier=barrier, responses=responses) -> None:
                try:
                    barrier.wait()
                    responses[index] = clients[index].patch(url, json={"title": title}, headers={"If-Match": etag})
                except BaseException as error:  # reported by the assertions below
                    responses[index] = error

            threads = [
                threading.Thread(target=write, args=(index, f"round {round_number} writer {index}"), daemon=True)
                for index in range(WRITERS)
            ]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join(timeout=30)
            assert not any(thread.is_alive() for thread in threads), "a writer hung"
            for response in responses:
                assert isinstance(response, httpx.Response), f"a writer failed: {response!r}"
            statuses = sorted(response.status_code for response in responses)
            assert statuses == [200] + [412] * (WRITERS - 1), f"round {round_number}: {statuses}"
            winner_index = next(i for i, response in enumerate(responses) if response.status_code == 200)
            winner = responses[winner_index]
            assert winner.json()["title"] == f"round {round_number} writer {winner_index}"
            assert winner.json()["version"] == start_version + round_number
            for loser in responses:
                if loser is not winner:
                    assert "detail" in loser.json(), loser.text[:300]
            cas_losses += sum("changed while this request was checked" in r.text for r in responses)

            stored = Article.objects.get(pk=article.pk)
            assert stored.title == f"round {round_number} writer {winner_index}"
            assert stored.version == start_version + round_number, "not exactly one increment this round"
            after = reader.get(url)
            assert after.json()["title"] == stored.title
            # The winner's answer carried the validators of what it wrote.
            assert winner.headers["etag"] == strong_etag(after) != etag
    stored = Article.objects.get(pk=article.pk)
    assert stored.version == start_version + ROUNDS
    print(f"{cas_losses} of {ROUNDS * (WRITERS - 1)} losers were stopped by the compare-and-set")


# -- c. a failed conditional write changes nothing --------------------------------


@ARTICLE_ROUTES
def test_failed_conditional_writes_leave_the_row_unchanged(gunicorn_url, prefix):
    make_server_user()
    article = make_article(title="Original")
    url = f"{gunicorn_url}{prefix}articles/{article.pk}/"
    with httpx.Client(auth=basic_auth(), timeout=TIMEOUT) as client:
        stale = strong_etag(client.get(url))
        # Someone else writes in between: the client's ETag is now stale.
        Article.objects.filter(pk=article.pk).update(body="Edited elsewhere")
        current = client.get(url)
        current_etag = strong_etag(current)
        assert current_etag != stale
        row = Article.objects.values("title", "body", "version", "updated_at", "last_modified").get(pk=article.pk)

        attempts = [
            client.patch(url, json={"title": "Lost update"}, headers={"If-Match": stale}),
            client.put(
                url,
                json={"title": "Lost put", "body": "x", "published": True, "author": article.author_id},
                headers={"If-Match": stale},
            ),
            client.delete(url, headers={"If-Match": stale}),
            client.patch(
                url, json={"title": "Too late"}, headers={"If-Unmodified-Since": "Sat, 01 Jan 2000 00:00:00 GMT"}
            ),
        ]
        for attempt in attempts:
            assert attempt.status_code == 412, (attempt.request.method, attempt.status_code, attempt.text[:300])
            assert "detail" in attempt.json()

        assert (
            Article.objects.values("title", "body", "version", "updated_at", "last_modified").get(pk=article.pk) == row
        )
        after = client.get(url)
        assert after.status_code == 200
        assert after.content == current.content
        assert after.headers["etag"] == current_etag
        # Sent once the clock has passed the row's date (two writes within a
        # second put it ahead), and then the row's, unchanged.
        for response in (current, after):
            assert response.headers.get("last-modified") in (None, http_date(row["last_modified"].timestamp()))
        assert client.get(url, headers={"If-None-Match": current_etag}).status_code == 304
        # The control: with the current ETag the same client may write.
        control = client.patch(url, json={"title": "Now allowed"}, headers={"If-Match": current_etag})
        assert control.status_code == 200, control.text[:300]
        assert control.json()["version"] == row["version"] + 1


# -- d. HEAD through gunicorn --------------------------------------------------------


def raw_exchange(
    base_url: str, method: str, path: str, headers: dict[str, str] | None = None
) -> tuple[int, dict[str, str], bytes]:
    """One request on its own connection, read to EOF: what the server really sends after the header block."""
    parts = urlsplit(base_url)
    lines = [f"{method} {path} HTTP/1.1", f"Host: {parts.netloc}", "Connection: close", "Accept: application/json"]
    lines += [f"{name}: {value}" for name, value in (headers or {}).items()]
    received = bytearray()
    with socket.create_connection((parts.hostname, parts.port), timeout=10) as sock:
        sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))
        for _ in range(1000):  # bounded: at most ~64 MB
            chunk = sock.recv(65536)
            if not chunk:
                break
            received += chunk
        else:
            raise AssertionError("the server did not close the connection")
    head, separator, body = bytes(received).partition(b"\r\n\r\n")
    assert separator, f"no complete header block in {bytes(received)[:300]!r}"
    status_line, *field_lines = head.decode("latin-1").split("\r\n")
    fields = {}
    for line in field_lines:
        name, _, value = line.partition(":")
        fields[name.strip().lower()] = value.strip()
    return int(status_line.split()[1]), fields, body


def test_head_matches_get_without_a_body_and_answers_304(gunicorn_url):
    article = make_article()
    paths = [f"/api/articles/{article.pk}/", f"/plain/articles/{article.pk}/", "/api/articles/"]
    paths += [f"/ninja/articles/{article.pk}/", "/ninja/articles/", f"/ninja/authors/{article.author_id}/"]
    for path in paths:
        get_status, get_fields, get_body = raw_exchange(gunicorn_url, "GET", path)
        assert get_status == 200 and get_body, path
        etag = get_fields.get("etag")
        assert etag and not etag.startswith("W/"), (path, etag)

        head_status, head_fields, head_body = raw_exchange(gunicorn_url, "HEAD", path)
        assert head_status == 200, path
        assert head_body == b"", f"HEAD {path} sent {len(head_body)} body bytes"
        assert head_fields.get("etag") == etag, path
        assert head_fields.get("last-modified") == get_fields.get("last-modified"), path
        assert head_fields.get("content-type") == get_fields.get("content-type"), path
        assert "no-cache" in head_fields.get("cache-control", ""), path
        if "content-length" in head_fields:
            assert int(head_fields["content-length"]) == len(get_body), path

        for method in ("HEAD", "GET"):
            status, fields, body = raw_exchange(gunicorn_url, method, path, {"If-None-Match": etag})
            assert status == 304, (method, path, status)
            assert body == b"", f"{method} {path}: a 304 with {len(body)} body bytes"
            assert fields.get("etag") == etag, (method, path)
            assert "no-cache" in fields.get("cache-control", ""), (method, path)

        # A tag that does not match gets the full answer.
        status, fields, body = raw_exchange(gunicorn_url, "HEAD", path, {"If-None-Match": '"not-the-etag"'})
        assert (status, body, fields.get("etag")) == (200, b"", etag), path
