"""One ETag, one body, under concurrent writers: real server processes, PostgreSQL, both adapters, detail and list.

A writer renames the tags and retitles the articles as fast as it can,
while readers fetch details and lists through gunicorn's workers. Every
(ETag, body) pair seen is recorded: an ETag that ever came with two
different bodies is the bug (RFC 9110 §8.8.3), since a cache that stored
one body under it would hand it out for the other.
"""

from __future__ import annotations

import threading
import time
from collections import defaultdict
from contextlib import ExitStack

import httpx
from django.db import transaction

from example_project.blog.models import Article, Author, Tag
from tests.conftest import requires_postgres
from tests.live import gunicorn_server

SECONDS = 4.0
LIMIT = 30.0
READERS = 4


@requires_postgres
def test_no_etag_comes_with_two_bodies_while_writers_run(transactional_db):
    author = Author.objects.create(name="Grace", email="grace@example.com")
    tags = [Tag.objects.create(name=f"tag-{index}") for index in range(3)]
    articles = []
    with transaction.atomic():
        for index in range(3):
            article = Article.objects.create(title=f"a{index}", body="", author=author, published=True)
            article.tags.set(tags)
            articles.append(article)
    urls = [
        *(f"/api/articles/{article.pk}/" for article in articles),
        *(f"/plain/articles/{article.pk}/" for article in articles),
        "/api/articles/?page_size=2",
        "/plain/articles/",
        "/api/tags/",
    ]
    bodies: dict[str, set[bytes]] = defaultdict(set)
    served = {"with": 0, "without": 0}
    stop = threading.Event()
    errors: list[BaseException] = []

    def read(client: httpx.Client) -> None:
        try:
            while not stop.is_set():
                for url in urls:
                    response = client.get(url)
                    assert response.status_code == 200, (url, response.status_code, response.text[:300])
                    etag = response.headers.get("etag")
                    served["with" if etag else "without"] += 1
                    if etag:
                        bodies[etag].add(response.content)
        except BaseException as error:
            errors.append(error)

    writes = 0
    with gunicorn_server(workers=4, threads=2, preload=True) as base_url, ExitStack() as stack:
        clients = [stack.enter_context(httpx.Client(base_url=base_url, timeout=15.0)) for _ in range(READERS)]
        threads = [threading.Thread(target=read, args=(client,), daemon=True) for client in clients]
        for thread in threads:
            thread.start()
        started = time.monotonic()
        # At least SECONDS, and on a slow machine until enough was seen to mean something, within LIMIT.
        while not errors and time.monotonic() < started + LIMIT:
            if time.monotonic() >= started + SECONDS and writes > 20 and served["with"] > 100:
                break
            writes += 1
            Tag.objects.filter(pk=tags[writes % 3].pk).update(name=f"tag-{writes % 3}-{writes}")
            Article.objects.filter(pk=articles[writes % 3].pk).update(title=f"a{writes % 3}-{writes}")
        stop.set()
        for thread in threads:
            thread.join(timeout=30)
    assert not errors, errors[0]
    twice = {etag: len(seen) for etag, seen in bodies.items() if len(seen) > 1}
    assert not twice, f"{len(twice)} of {len(bodies)} ETags came with two or more bodies"
    assert writes > 20 and served["with"] > 100, (writes, served)
    print(f"{writes} writes; {served['with']} answers with an ETag, {served['without']} without (moved meanwhile)")
