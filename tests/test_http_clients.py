"""Real HTTP clients against the example project under gunicorn.

* hishel 2.x, an RFC 9111 cache for httpx: it stores the 200, revalidates it
  (``Cache-Control: no-cache``) with If-None-Match, serves the stored body on
  the server's 304, and picks up a write.
* REDbot, the HTTP linter: its own If-None-Match and If-Modified-Since
  checks, run by its command line against the live URLs.
"""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass

import hishel
import hishel.httpx
import httpx
import pytest
import redbot  # noqa: F401  (a test dependency: fail loudly if it is missing)
from django.db import transaction
from model_bakery import baker

from example_project.blog.models import Article, Author, Tag
from tests.live import basic_auth, gunicorn_url, make_server_user

__all__ = ["gunicorn_url"]  # the fixture, imported so that pytest finds it here

pytestmark = [pytest.mark.server, pytest.mark.django_db(transaction=True)]

TIMEOUT = httpx.Timeout(15.0)


def make_article(title: str = "Cached") -> Article:
    # One transaction, one state: a second write moves Last-Modified a second on.
    with transaction.atomic():
        author = baker.make(Author, name="Edsger", email="edsger@example.com")
        article = baker.make(Article, title=title, body="Served from the cache", published=True, author=author)
        article.tags.set([Tag.objects.get_or_create(name=name)[0] for name in ("http", "caching")])
    return article


# -- hishel ---------------------------------------------------------------------


@dataclass
class Exchange:
    """One request that really went to the server, and its answer."""

    method: str
    url: str
    if_none_match: str | None
    status: int
    etag: str | None


class RecordingTransport(httpx.BaseTransport):
    """Sits between hishel and the network: sees exactly what the server is asked and answers."""

    def __init__(self, inner: httpx.BaseTransport) -> None:
        self.inner = inner
        self.exchanges: list[Exchange] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = self.inner.handle_request(request)
        self.exchanges.append(
            Exchange(
                request.method,
                str(request.url),
                request.headers.get("if-none-match"),
                response.status_code,
                response.headers.get("etag"),
            )
        )
        return response

    def close(self) -> None:
        self.inner.close()


def caching_client(tmp_path) -> tuple[httpx.Client, RecordingTransport]:
    network = RecordingTransport(httpx.HTTPTransport())
    transport = hishel.httpx.CacheTransport(
        next_transport=network,
        storage=hishel.SqliteStorage(database_path=tmp_path / "hishel-cache.db"),
        # hishel 2.x caches by its own TTL unless told to follow RFC 9111:
        # rfc=True, or CacheOptions for the details. A client's own cache is private.
        rfc=hishel.CacheOptions(shared=False),
    )
    return httpx.Client(transport=transport, timeout=TIMEOUT), network


def caching(response: httpx.Response) -> dict[str, bool]:
    """hishel's account of a response (the ``caching`` extension): from_cache, revalidated, stored."""
    status = response.extensions.get("caching")
    assert status is not None, "hishel did not handle this response"
    return dict(status)


def test_hishel_rfc9111_stores_revalidates_with_304_and_sees_writes(gunicorn_url, tmp_path):
    make_server_user()
    article = make_article()
    url = f"{gunicorn_url}/api/articles/{article.pk}/"
    client, network = caching_client(tmp_path)
    with client, httpx.Client(auth=basic_auth(), timeout=TIMEOUT) as other_client:
        # 1. A miss: from the network, and stored.
        first = client.get(url)
        assert first.status_code == 200
        etag = first.headers["etag"]
        assert first.headers["cache-control"] == "no-cache"
        assert caching(first) == {"from_cache": False, "revalidated": False, "stored": True}
        assert [(e.method, e.if_none_match, e.status) for e in network.exchanges] == [("GET", None, 200)]

        # 2. no-cache: the stored response is revalidated with its ETag, the
        # server answers 304, and the client gets the stored 200 and body.
        second = client.get(url)
        assert caching(second) == {"from_cache": True, "revalidated": True, "stored": False}
        assert network.exchanges[-1] == Exchange("GET", url, etag, 304, etag)
        assert len(network.exchanges) == 2
        assert second.status_code == 200
        assert second.content == first.content
        assert second.headers["etag"] == etag

        # 3. A write through the cache (as user demo): hishel passes it on
        # and drops what it stored for the URL (RFC 9111 §4.4).
        patched = client.patch(
            url, json={"title": "Written through the cache"}, headers={"If-Match": etag}, auth=basic_auth()
        )
        assert patched.status_code == 200, patched.text[:300]
        new_etag = patched.headers["etag"]
        assert new_etag != etag
        assert network.exchanges[-1].method == "PATCH" and network.exchanges[-1].status == 200

        third = client.get(url)
        assert third.status_code == 200
        assert third.json()["title"] == "Written through the cache"
        assert third.json()["version"] == article.version + 1
        assert third.headers["etag"] == new_etag
        assert caching(third) == {"from_cache": False, "revalidated": False, "stored": True}
        assert network.exchanges[-1] == Exchange("GET", url, None, 200, new_etag)

        # ...and the new body is what the next 304 serves.
        again = client.get(url)
        assert caching(again) == {"from_cache": True, "revalidated": True, "stored": False}
        assert network.exchanges[-1] == Exchange("GET", url, new_etag, 304, new_etag)
        assert again.content == third.content

        # 4. A write the cache does not see (another client): the next
        # revalidation gets a 200 with the new body instead of a 304.
        elsewhere = other_client.patch(url, json={"title": "Written elsewhere"}, headers={"If-Match": new_etag})
        assert elsewhere.status_code == 200, elsewhere.text[:300]
        latest_etag = elsewhere.headers["etag"]
        fourth = client.get(url)
        assert network.exchanges[-1] == Exchange("GET", url, new_etag, 200, latest_etag)
        assert caching(fourth) == {"from_cache": False, "revalidated": True, "stored": True}
        assert fourth.json()["title"] == "Written elsewhere"
        assert fourth.headers["etag"] == latest_etag

        # 5. Revalidated once more, the client still gets the latest body.
        # hishel 2.0.0 keeps the superseded entry after a 200 to a
        # revalidation (it drops all but the last one it revalidated, meaning
        # to reuse that one's id, but stores the new response as a new entry).
        # It then picks the entry with the latest Date, and Date has whole
        # seconds, so on a tie it may send the superseded ETag: the server
        # must then answer 200, and 304 only to the latest ETag.
        fifth = client.get(url)
        sent = network.exchanges[-1]
        assert sent.if_none_match in (new_etag, latest_etag)
        assert sent.status == (304 if sent.if_none_match == latest_etag else 200)
        assert sent.etag == latest_etag
        assert caching(fifth)["revalidated"] is True
        assert caching(fifth)["from_cache"] is (sent.status == 304)
        assert fifth.status_code == 200
        assert fifth.content == fourth.content
    assert len(network.exchanges) == 7


# -- REDbot ------------------------------------------------------------------------


def redbot_har(url: str) -> dict:
    """Run REDbot's command line (``redbot -o har URL``) and parse its HAR, with REDbot's notes in it."""
    completed = subprocess.run(
        [sys.executable, "-m", "redbot.cli", "--output-format", "har", url],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr[-2000:]
    har = json.loads(completed.stdout)
    assert "_red_error" not in har["log"], har["log"]["_red_error"]
    return har


def flat_notes(notes: list[dict]) -> list[dict]:
    flat = []
    for note in notes:
        flat.append(note)
        flat.extend(flat_notes(note.get("subnotes", [])))
    return flat


def assert_redbot_finds_validation_supported(har: dict, expected_etag: str) -> None:
    """REDbot's verdict on one URL: 304s to its conditional requests, strong validators, nothing bad."""
    # Imported for their names: if REDbot renamed a note, this fails here
    # instead of quietly never matching.
    from httplint.field.parsers.last_modified import LM_FUTURE
    from redbot.resource.active_check.base import MISSING_HDRS_304
    from redbot.resource.active_check.etag_validate import (
        ETAG_SUBREQ_PROBLEM,
        INM_304,
        INM_DUP_ETAG_STRONG,
        INM_DUP_ETAG_WEAK,
        INM_FULL,
        INM_STATUS,
        INM_UNKNOWN,
    )
    from redbot.resource.active_check.lm_validate import (
        IMS_304,
        IMS_FULL,
        IMS_STATUS,
        IMS_UNKNOWN,
        LM_SUBREQ_PROBLEM,
    )

    (entry,) = har["log"]["entries"]
    assert entry["response"]["status"] == 200
    headers = {header["name"].lower(): header["value"].strip() for header in entry["response"]["headers"]}
    notes = flat_notes(entry["_red_messages"])
    found = {note["note_id"]: note for note in notes}
    summary = "\n".join(f"{n['level']:5} {n['category']:10} {n['note_id']}: {n['summary']}" for n in notes)

    # Validators as REDbot saw them: a strong ETag (REDbot itself has no
    # note against a weak one, so this is checked on its record of the
    # response), the one a plain GET gets, and a Last-Modified.
    assert not headers.get("etag", "").startswith("W/"), f"weak ETag {headers['etag']}"
    assert headers.get("etag") == expected_etag, summary
    assert "last-modified" in headers, summary

    # Its own conditional requests: If-None-Match with the ETag and
    # If-Modified-Since with the Last-Modified both got a 304.
    for good in (INM_304, IMS_304):
        assert found.get(good.__name__, {}).get("level") == "GOOD", f"no {good.__name__}:\n{summary}"
    # Nothing it says against validation, the 304s or the validators.
    for problem in (
        INM_FULL,  # a full 200 to a matching If-None-Match
        IMS_FULL,
        INM_STATUS,  # neither 200 nor 304
        IMS_STATUS,
        INM_UNKNOWN,  # the body changed between its requests
        IMS_UNKNOWN,
        INM_DUP_ETAG_STRONG,  # one strong ETag for two bodies
        INM_DUP_ETAG_WEAK,
        MISSING_HDRS_304,  # a 304 without the ETag/Cache-Control/Vary the 200 had
        ETAG_SUBREQ_PROBLEM,
        LM_SUBREQ_PROBLEM,
        LM_FUTURE,  # Last-Modified later than Date
    ):
        assert problem.__name__ not in found, f"REDbot reports {problem.__name__}:\n{summary}"
    relevant = {"VALIDATION", "CACHING", "GENERAL", "CONNEG", "RANGE"}
    bad = [note for note in notes if note["level"] == "BAD" and note["category"] in relevant]
    assert not bad, f"REDbot reports problems:\n{summary}"
    warnings = [note for note in notes if note["level"] == "WARN" and note["category"] == "VALIDATION"]
    assert not warnings, f"REDbot warns about validation:\n{summary}"
    # The contract's Cache-Control: no-cache, which REDbot reads as "revalidate every time".
    assert "FRESHNESS_NO_CACHE" in found, summary


@pytest.mark.parametrize("path", ["/api/articles/{pk}/", "/plain/articles/{pk}/"], ids=["drf-detail", "plain-view"])
def test_redbot_finds_validation_supported_and_nothing_bad(gunicorn_url, path):
    article = make_article()
    url = gunicorn_url + path.format(pk=article.pk)
    expected_etag = httpx.get(url, timeout=TIMEOUT).headers["etag"]
    assert_redbot_finds_validation_supported(redbot_har(url), expected_etag)
