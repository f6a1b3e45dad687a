"""Surrogate keys: every answer names what it shows, and every commit purges the answers whose bytes it changed.

The promise checked here: after any write path, the keys the commit sends
intersect the keys of every stored answer whose body the write changed,
through both adapters, details and lists. Checked by reading each answer
before and after the write, not by trusting the key design.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from model_bakery import baker
from rest_framework.test import APIClient

from conditional_api.surrogates import ANY_WRITE, ROWS_PER_TABLE, row_keys, surrogate_keys_invalidated, written_keys
from example_project.blog.models import Article, Author, Tag

#: Every answer about articles, authors and tags, one per adapter and kind.
URLS = [
    "/api/articles/{article}/",  # DRF detail
    "/api/articles/{other}/",  # DRF detail of a row the write does not touch
    "/api/articles/",  # DRF list (joins authors, prefetches tags)
    "/api/authors/{author}/",  # DRF detail, updated_at strategy
    "/api/authors/",
    "/api/tags/",
    "/plain/articles/{article}/",  # decorator detail
    "/plain/articles/",  # decorator list
]


class Rows:
    """The rows one write path works on: two published articles of one author, two tags on the first."""

    def __init__(self) -> None:
        self.author = baker.make(Author, name="Ada", email="ada@example.com")
        self.alpha = baker.make(Tag, name="alpha")
        self.beta = baker.make(Tag, name="beta")
        self.spare = baker.make(Tag, name="gamma")
        self.article = baker.make(Article, title="First", body="One", published=True, author=self.author)
        self.article.tags.set([self.alpha, self.beta])
        self.other = baker.make(Article, title="Second", body="Two", published=True, author=self.author)

    def urls(self) -> list[str]:
        return [url.format(article=self.article.pk, other=self.other.pk, author=self.author.pk) for url in URLS]


@pytest.fixture
def purged() -> Iterator[list[set[str]]]:
    """The keys of every purge signal sent while the test runs, one set per commit."""
    sent: list[set[str]] = []

    def receive(keys: tuple[str, ...], **kwargs: Any) -> None:
        sent.append(set(keys))

    surrogate_keys_invalidated.connect(receive, weak=False, dispatch_uid="test_surrogate_keys")
    yield sent
    surrogate_keys_invalidated.disconnect(dispatch_uid="test_surrogate_keys")


def snapshot(client: APIClient, urls: list[str]) -> dict[str, tuple[int, bytes, set[str]]]:
    answers = {}
    for url in urls:
        response = client.get(url)
        answers[url] = (response.status_code, response.content, set(response.headers.get("Surrogate-Key", "").split()))
    return answers


def in_one_transaction(write: Callable[[Rows], Any]) -> Callable[[Rows], None]:
    def run(rows: Rows) -> None:
        with transaction.atomic():
            write(rows)

    return run


def _retitle(rows: Rows) -> None:
    rows.article.title = "Renamed"
    rows.article.save()


def _rename_author(rows: Rows) -> None:
    rows.author.name = "Grace"
    rows.author.save()


def _rename_tag(rows: Rows) -> None:
    rows.alpha.name = "aleph"
    rows.alpha.save()


#: Every write path the package sees, each changing some answer's bytes.
WRITES: dict[str, Callable[[Rows], None]] = {
    "save, autocommit": _retitle,
    "save": in_one_transaction(_retitle),
    "delete": in_one_transaction(lambda rows: rows.article.delete()),
    "queryset update": in_one_transaction(lambda rows: Article.objects.filter(pk=rows.article.pk).update(body="New")),
    "bulk_create": in_one_transaction(
        lambda rows: Article.objects.bulk_create([Article(title="Third", published=True, author=rows.author)])
    ),
    "bulk_update": in_one_transaction(
        lambda rows: Article.objects.bulk_update([Article(pk=rows.article.pk, title="Bulk")], ["title"])
    ),
    "m2m add": in_one_transaction(lambda rows: rows.article.tags.add(rows.spare)),
    "m2m remove": in_one_transaction(lambda rows: rows.article.tags.remove(rows.alpha)),
    "m2m clear": in_one_transaction(lambda rows: rows.article.tags.clear()),
    "m2m add from the far side": in_one_transaction(lambda rows: rows.spare.articles.add(rows.article)),
    "m2m clear from the far side": in_one_transaction(lambda rows: rows.alpha.articles.clear()),
    "related row saved (depends_on)": in_one_transaction(_rename_author),
    "related rows updated (depends_on)": in_one_transaction(
        lambda rows: Author.objects.filter(pk=rows.author.pk).update(name="Grace")
    ),
    "linked row saved (depends_on)": in_one_transaction(_rename_tag),
    "related row deleted (depends_on)": in_one_transaction(lambda rows: rows.beta.delete()),
}


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("write", WRITES.values(), ids=WRITES.keys())
def test_every_answer_a_write_changes_is_purged_by_its_keys(purged, write):
    rows = Rows()
    client = APIClient()
    urls = rows.urls()
    before = snapshot(client, urls)
    purged.clear()

    write(rows)

    after = snapshot(client, urls)
    emitted = set().union(*purged)
    changed = [url for url in urls if before[url][:2] != after[url][:2]]
    assert changed, "the write changed no answer: the case checks nothing"
    for url in changed:
        keys = before[url][2]
        assert keys, f"{url} carried no keys"
        assert keys & emitted, f"{url} changed, carried {sorted(keys)}, the commit purged {sorted(emitted)}"


@pytest.mark.django_db(transaction=True)
def test_a_save_purges_its_row_and_the_lists_over_its_table_but_no_other_row(purged):
    rows = Rows()
    purged.clear()
    _retitle(rows)
    assert purged == [{ANY_WRITE, "blog.article", f"blog.article:{rows.article.pk}"}]


@pytest.mark.django_db(transaction=True)
def test_one_purge_per_commit_whatever_tables_it_wrote(purged):
    rows = Rows()
    purged.clear()
    with transaction.atomic():
        _retitle(rows)
        _rename_author(rows)
        rows.article.tags.add(rows.spare)
    assert len(purged) == 1
    assert {"blog.article", "blog.author", f"blog.author:{rows.author.pk}"} <= purged[0]


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("where", ["transaction", "savepoint"])
def test_a_rolled_back_write_purges_nothing(purged, where):
    rows = Rows()
    purged.clear()
    with transaction.atomic():
        try:
            with transaction.atomic():
                _retitle(rows)
                raise RuntimeError("rolled back")
        except RuntimeError:
            pass
        if where == "transaction":
            transaction.set_rollback(True)
    assert purged == []


@pytest.mark.django_db(transaction=True)
def test_a_write_after_a_rolled_back_savepoint_is_still_purged(purged):
    rows = Rows()
    purged.clear()
    with transaction.atomic():
        try:
            with transaction.atomic():
                _rename_author(rows)
                raise RuntimeError("rolled back")
        except RuntimeError:
            pass
        _retitle(rows)
    assert len(purged) == 1 and f"blog.article:{rows.article.pk}" in purged[0]


@pytest.mark.django_db(transaction=True)
def test_no_purge_signal_while_the_setting_is_off(purged, settings):
    rows = Rows()
    settings.CONDITIONAL_API = {**settings.CONDITIONAL_API, "SURROGATE_KEYS": None}
    purged.clear()
    _retitle(rows)
    assert purged == []


# -- the header ----------------------------------------------------------------


@pytest.fixture
def rows(db) -> Rows:
    return Rows()


@pytest.mark.parametrize(
    "url, expected",
    [
        ("/api/articles/{article}/", "blog.article:{article} blog.article:*"),
        ("/plain/articles/{article}/", "blog.article:{article} blog.article:*"),
        ("/api/authors/{author}/", "blog.author:{author} blog.author:*"),
        # The list reads articles, their authors (select_related), their tags and the links (prefetch).
        ("/api/articles/", "blog.article blog.article_tags blog.author blog.tag"),
        # The decorator's queryset reads articles only: depends_on bumps them when authors or tags change.
        ("/plain/articles/", "blog.article"),
    ],
)
def test_an_answer_and_its_304_name_what_it_shows(rows, url, expected):
    client = APIClient()
    url = url.format(article=rows.article.pk, author=rows.author.pk)
    ok = client.get(url)
    not_modified = client.get(url, HTTP_IF_NONE_MATCH=ok.headers["ETag"])
    assert not_modified.status_code == 304
    expected = expected.format(article=rows.article.pk, author=rows.author.pk)
    assert ok.headers["Surrogate-Key"] == not_modified.headers["Surrogate-Key"] == expected


@pytest.mark.parametrize(
    "header, expected",
    [("Cache-Tag", "blog.article:{pk},blog.article:*"), ("xkey", "blog.article:{pk} blog.article:*")],
)
def test_each_cdns_header_separates_keys_its_way(rows, settings, header, expected):
    settings.CONDITIONAL_API = {**settings.CONDITIONAL_API, "SURROGATE_KEYS": header}
    response = APIClient().get(f"/api/articles/{rows.article.pk}/")
    assert response.headers[header] == expected.format(pk=rows.article.pk)
    assert "Surrogate-Key" not in response.headers


@pytest.mark.django_db
def test_an_answer_whose_sources_are_not_known_is_purged_by_every_write():
    # The content strategy hashes the bytes: it cannot say which rows they came from.
    client = APIClient()
    ok = client.get("/test/content/")
    not_modified = client.get("/test/content/", HTTP_IF_NONE_MATCH=ok.headers["ETag"])
    assert ok.headers["Surrogate-Key"] == not_modified.headers["Surrogate-Key"] == ANY_WRITE


def test_no_header_for_an_answer_that_is_not_2xx(rows):
    assert "Surrogate-Key" not in APIClient().get("/api/articles/999999/").headers


@pytest.mark.parametrize("url", ["/api/articles/{article}/", "/plain/articles/{article}/", "/api/articles/"])
def test_the_keys_cost_a_304_no_query(rows, settings, url):
    url = url.format(article=rows.article.pk)
    client = APIClient()
    etag = client.get(url).headers["ETag"]
    counts = {}
    for header in (None, "Surrogate-Key"):
        settings.CONDITIONAL_API = {**settings.CONDITIONAL_API, "SURROGATE_KEYS": header}
        with CaptureQueriesContext(connection) as queries:
            response = client.get(url, HTTP_IF_NONE_MATCH=etag)
        assert response.status_code == 304 and (header is None) == ("Surrogate-Key" not in response.headers)
        counts[header] = len(queries)
    assert counts[None] == counts["Surrogate-Key"] == 1


@pytest.mark.parametrize("pk, shown", [(5, "5"), ("05", "5"), ("a b,c", None)])
def test_a_rows_key_is_the_same_from_the_answer_and_the_write(pk, shown):
    # A primary key with a separator in it is hashed; a key set by hand as text names the stored row.
    stored = Author._meta.pk.to_python(pk) if shown else pk
    (row, _table) = row_keys(Author, stored)
    assert row in written_keys({"blog.Author": {pk}})
    if shown:
        assert row == f"blog.author:{shown}"
    else:
        assert " " not in row and "," not in row


@pytest.mark.django_db(transaction=True)
def test_the_example_logs_each_purge(caplog):
    rows = Rows()
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="example_project.blog.purges"):
        _retitle(rows)
    assert [record.getMessage() for record in caplog.records] == [
        f"purge all blog.article blog.article:{rows.article.pk}"
    ]


def test_a_commit_of_many_rows_purges_their_tables_wildcard():
    few, many = range(ROWS_PER_TABLE), range(ROWS_PER_TABLE + 1)
    assert "blog.author:*" not in written_keys({"blog.Author": set(few)})
    assert written_keys({"blog.Author": set(many)}) == (ANY_WRITE, "blog.author", "blog.author:*")
