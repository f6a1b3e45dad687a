"""Conditional writes of related rows racing each other on real servers (PostgreSQL): no deadlock, nothing lost.

An article shows its author's name (``depends_on = ("author", ...)``), so a
rename of the author touches the article while a PATCH of the article may be
writing it. The two writes meet on the same two rows in opposite roles; they
must queue, never deadlock (a 500), and every write that answered 200 must
be the one stored.
"""

from __future__ import annotations

import threading
import time
from contextlib import ExitStack

import httpx
import pytest
from model_bakery import baker

from example_project.blog.models import Article, Author
from tests.conftest import requires_postgres
from tests.live import gunicorn_server, make_server_user, session_auth

pytestmark = [pytest.mark.server, requires_postgres, pytest.mark.django_db(transaction=True)]

TIMEOUT = httpx.Timeout(30.0)
ROUNDS = 10
ARTICLES = 4


def _race(clients: list[httpx.Client], requests: list[tuple[str, dict[str, str], str]], lead: float) -> list[object]:
    """Send one PATCH per client at once; the first (the author's) ``lead`` seconds late (negative: early)."""
    barrier = threading.Barrier(len(requests), timeout=10)
    responses: list[object] = [None] * len(requests)

    def send(index: int) -> None:
        url, body, etag = requests[index]
        try:
            barrier.wait()
            delay = lead if index == 0 else -lead
            if delay > 0:
                time.sleep(delay)
            responses[index] = clients[index].patch(url, json=body, headers={"If-Match": etag})
        except BaseException as error:  # reported by the assertions
            responses[index] = error

    threads = [threading.Thread(target=send, args=(index,), daemon=True) for index in range(len(requests))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not any(thread.is_alive() for thread in threads), "a writer hung"
    return responses


def test_conditional_writes_of_an_author_and_its_articles_never_deadlock():
    cookies, csrf_headers = session_auth(make_server_user())
    author = baker.make(Author, name="Ada", email="ada@example.com")
    articles = baker.make(Article, author=author, published=True, title="Round 0", _quantity=ARTICLES)
    author_url = f"/api/authors/{author.pk}/"
    article_urls = [f"/api/articles/{article.pk}/" for article in articles]
    with gunicorn_server(workers=ARTICLES + 1, threads=1, preload=True) as base_url, ExitStack() as stack:
        clients = [
            stack.enter_context(httpx.Client(base_url=base_url, cookies=cookies, headers=csrf_headers, timeout=TIMEOUT))
            for _ in range(ARTICLES + 1)
        ]
        for round_number in range(1, ROUNDS + 1):
            urls = [author_url, *article_urls]
            etags = [clients[0].get(url).headers["ETag"] for url in urls]
            bodies = [{"name": f"Author {round_number}"}] + [
                {"title": f"Round {round_number} article {index}"} for index in range(ARTICLES)
            ]
            # The parent first, the children first, and both at once, in turn.
            lead = (0.0, 0.002, -0.002)[round_number % 3]
            responses = _race(clients, list(zip(urls, bodies, etags, strict=True)), lead)
            for url, body, response in zip(urls, bodies, responses, strict=True):
                assert isinstance(response, httpx.Response), f"round {round_number}: {url} failed: {response!r}"
                assert response.status_code in (200, 412), (
                    f"round {round_number}: {url} answered {response.status_code}: {response.text[:300]}"
                )
                if response.status_code == 200:
                    # Nothing lost: what answered 200 is stored, and its ETag describes one body.
                    assert body.items() <= response.json().items()
                    now = clients[0].get(url)
                    assert body.items() <= now.json().items(), f"round {round_number}: {url} lost its write"
                    if now.headers["ETag"] == response.headers["ETag"]:
                        assert now.content == response.content, f"round {round_number}: one ETag, two bodies"
            # The author's write has no rival for its own row: it always wins.
            assert responses[0].status_code == 200, f"round {round_number}: {responses[0]!r}"
    assert Author.objects.get(pk=author.pk).name == f"Author {ROUNDS}"
