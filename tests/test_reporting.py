"""What was answered and why: the ``decision_made`` signal, the ``conditional_api`` logger and the metrics.

The metrics are read from ``prometheus_client``'s registry in process, and
from ``/metrics`` of the example served by gunicorn: the 304:200 ratio an
operator computes from them is the ratio of the requests the test sent.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from django.core.cache import caches
from django.test import Client, override_settings
from model_bakery import baker
from prometheus_client import REGISTRY
from prometheus_client.parser import text_string_to_metric_families

from conditional_api import metrics
from conditional_api.signals import decision_made
from example_project.blog.models import Article
from tests.live import gunicorn_server
from tests.settings import CONDITIONAL_API
from tests.testapp.models import Note

pytestmark = pytest.mark.django_db

#: Reads of one resource: its URL, and the view name every answer reports.
READS = {
    "drf-detail": ("/api/articles/{article}/", "article-detail", "version"),
    "decorator-detail": ("/plain/articles/{article}/", "plain-article-detail", "version"),
    "async-decorator-detail": ("/test/async-notes/{note}/", "note-detail-async", "version"),
    "drf-list": ("/api/articles/", "article-list", "collection"),
}

#: Writes, each with a precondition that fails: (URL, view, a request that is not conditional answers).
WRITES = {
    "drf": ("/api/articles/{article}/", "article-detail", 428),
    "decorator": ("/test/notes/{note}/", "note-detail", 200),
    "async-decorator": ("/test/async-notes/{note}/", "note-detail-async", 428),
}


@pytest.fixture
def decisions() -> Iterator[list[dict[str, Any]]]:
    seen: list[dict[str, Any]] = []

    def receiver(sender: Any, **kwargs: Any) -> None:
        seen.append({"sender": sender, **kwargs})

    decision_made.connect(receiver)
    yield seen
    decision_made.disconnect(receiver)


@pytest.fixture
def urls(article: Article) -> dict[str, int]:
    return {"article": article.pk, "note": baker.make(Note, key="n", text="t").pk}


def url_of(template: str, urls: dict[str, int]) -> str:
    return template.format(**urls)


@pytest.mark.parametrize("read", READS)
def test_every_read_is_reported_with_its_outcome_and_reason(read, urls, decisions):
    template, view, strategy = READS[read]
    client = Client()
    first = client.get(url_of(template, urls))
    client.get(url_of(template, urls), HTTP_IF_NONE_MATCH=first["ETag"])
    client.head(url_of(template, urls), HTTP_IF_NONE_MATCH=first["ETag"])

    assert [(d["method"], d["outcome"], d["reason"]) for d in decisions] == [
        ("GET", 200, ""),
        ("GET", 304, "If-None-Match matches the current ETag."),
        ("HEAD", 304, "If-None-Match matches the current ETag."),
    ]
    assert {(d["view"], d["strategy"], d["sender"].name) for d in decisions} == {(view, strategy, strategy)}
    assert [d["request"].method for d in decisions] == ["GET", "GET", "HEAD"]
    # Every revalidation is decided, and timed; a plain GET only where the adapter reads before the view.
    assert all(0 < d["seconds"] < 5 for d in decisions[1:])
    assert (decisions[0]["seconds"] is None) == (read == "drf-detail")
    assert {d["cached"] for d in decisions} == {None}


@pytest.mark.parametrize("write", WRITES)
@pytest.mark.parametrize(
    "headers, outcome, reason",
    [
        ({"HTTP_IF_MATCH": '"stale"'}, 412, "If-Match does not match the current ETag."),
        ({"HTTP_IF_MATCH": "no quotes"}, 400, "If-Match must be"),
        ({}, None, "This request must be conditional"),
    ],
    ids=["412", "400", "unconditional"],
)
def test_every_write_is_reported_with_its_outcome_and_reason(write, headers, outcome, reason, urls, staff, decisions):
    template, view, unconditional = WRITES[write]
    client = Client()
    client.force_login(staff)
    response = client.put(url_of(template, urls), b'{"text": "x"}', content_type="application/json", **headers)
    if write == "drf":  # the article's serializer needs a valid article
        response = client.patch(url_of(template, urls), b'{"title": "x"}', content_type="application/json", **headers)
        decisions[:] = decisions[-1:]
    expected = outcome or unconditional
    assert response.status_code == expected
    [decision] = decisions
    assert (decision["view"], decision["method"], decision["outcome"]) == (view, response.wsgi_request.method, expected)
    if expected == 200:
        assert decision["reason"] == ""
    else:
        assert decision["reason"].startswith(reason)


@pytest.mark.parametrize(
    "send, level, status",
    [
        (lambda client, url, etag: client.get(url, HTTP_IF_NONE_MATCH=etag), logging.DEBUG, 304),
        (lambda client, url, etag: client.patch(url, {}, HTTP_IF_MATCH='"stale"'), logging.INFO, 412),
        (lambda client, url, etag: client.patch(url, {}), logging.INFO, 428),
        (lambda client, url, etag: client.patch(url, {}, HTTP_IF_MATCH="bad"), logging.INFO, 400),
    ],
    ids=["304", "412", "428", "400"],
)
def test_the_logger_says_why_at_debug_for_304s_and_info_for_refusals(send, level, status, article, staff, caplog):
    client = Client()
    client.force_login(staff)
    url = f"/api/articles/{article.pk}/"
    etag = client.get(url)["ETag"]
    with caplog.at_level(logging.DEBUG, logger="conditional_api"):
        assert send(client, url, etag).status_code == status
    [record] = [r for r in caplog.records if r.name == "conditional_api"]
    assert record.levelno == level
    message = record.getMessage()
    assert f" {url} {status} (article-detail): " in message and "[version strategy]" in message


def test_answers_of_the_view_are_not_logged(article, caplog):
    with caplog.at_level(logging.DEBUG, logger="conditional_api"):
        assert Client().get(f"/api/articles/{article.pk}/").status_code == 200
    assert [r for r in caplog.records if r.name == "conditional_api"] == []


def sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def test_the_metrics_count_each_answer_so_the_304_to_200_ratio_is_the_requests_ratio(article):
    metrics.install()
    url = f"/api/articles/{article.pk}/"
    labels = {"view": "article-detail", "method": "GET"}
    before = {code: sample("conditional_api_responses_total", **labels, outcome=code) for code in ("200", "304")}
    decided = sample("conditional_api_decision_seconds_count", view="article-detail")
    client = Client()
    etag = client.get(url)["ETag"]
    client.get(url)
    client.get(url)
    for _ in range(6):
        assert client.get(url, HTTP_IF_NONE_MATCH=etag).status_code == 304

    after = {code: sample("conditional_api_responses_total", **labels, outcome=code) for code in ("200", "304")}
    assert after["200"] - before["200"] == 3
    assert after["304"] - before["304"] == 6
    assert (after["304"] - before["304"]) / (after["200"] - before["200"]) == 2
    # Only revalidations decide before the view; each is timed.
    assert sample("conditional_api_decision_seconds_count", view="article-detail") - decided == 6


@pytest.mark.django_db(transaction=True)
def test_cache_hits_and_misses_are_reported_and_counted(article, decisions):
    metrics.install()
    settings = {**CONDITIONAL_API, "CACHE": "default", "DEFAULTS": {"cache_validators": True}}
    caches["default"].clear()
    url = f"/api/articles/{article.pk}/"
    hits = sample("conditional_api_validator_cache_total", view="article-detail", result="hit")
    misses = sample("conditional_api_validator_cache_total", view="article-detail", result="miss")
    with override_settings(CONDITIONAL_API=settings):
        client = Client()
        etag = client.get(url)["ETag"]
        for _ in range(3):
            assert client.get(url, HTTP_IF_NONE_MATCH=etag).status_code == 304
    caches["default"].clear()
    # The first GET does not ask the cache; the first revalidation fills it, the ones after it are served from there.
    assert [d["cached"] for d in decisions] == [None, False, True, True]
    assert sample("conditional_api_validator_cache_total", view="article-detail", result="miss") - misses == 1
    assert sample("conditional_api_validator_cache_total", view="article-detail", result="hit") - hits == 2


def test_the_example_serves_its_metrics(article):
    metrics.install()
    client = Client()
    etag = client.get(f"/api/articles/{article.pk}/")["ETag"]
    client.get(f"/api/articles/{article.pk}/", HTTP_IF_NONE_MATCH=etag)
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain")
    names = {family.name for family in text_string_to_metric_families(response.content.decode())}
    assert {"conditional_api_responses", "conditional_api_decision_seconds"} <= names


@pytest.mark.server
def test_metrics_of_a_served_example_match_the_requests_sent(transactional_db):
    article = baker.make(Article, published=True, author=baker.make("blog.Author"))
    with gunicorn_server(workers=1) as base, httpx.Client(base_url=base) as client:
        url = f"/api/articles/{article.pk}/"
        etag = client.get(url).headers["ETag"]
        for _ in range(2):
            client.get(url)
        for _ in range(9):
            assert client.get(url, headers={"If-None-Match": etag}).status_code == 304
        text = client.get("/metrics").text
    counts = {
        sample.labels["outcome"]: sample.value
        for family in text_string_to_metric_families(text)
        if family.name == "conditional_api_responses"
        for sample in family.samples
        if sample.name == "conditional_api_responses_total" and sample.labels["view"] == "article-detail"
    }
    assert counts == {"200": 3.0, "304": 9.0}
    assert counts["304"] / counts["200"] == 3
