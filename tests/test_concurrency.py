"""Conditional writes race on one row: exactly one writer wins each round, nothing is lost.

Each thread has its own database connection (Django's connections are per
thread), so the writes really are concurrent on PostgreSQL.
"""

from __future__ import annotations

import threading
from collections import Counter

import pytest
from django.db import connection
from rest_framework.test import APIClient

from tests.conftest import requires_postgres
from tests.testapp.models import Post

WRITERS = 6
ROUNDS = 8


def race(url: str, etag: str, staff, round_number: int) -> list[tuple[int, str]]:
    barrier = threading.Barrier(WRITERS)
    results: list[tuple[int, str]] = []
    lock = threading.Lock()

    def writer(index: int) -> None:
        client = APIClient()
        client.force_authenticate(staff)
        title = f"round {round_number} writer {index}"
        try:
            barrier.wait(timeout=10)
            response = client.patch(url, {"title": title}, format="json", HTTP_IF_MATCH=etag)
            with lock:
                results.append((response.status_code, title))
        finally:
            connection.close()

    threads = [threading.Thread(target=writer, args=(i,)) for i in range(WRITERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    return results


@requires_postgres
@pytest.mark.django_db(transaction=True)
def test_exactly_one_conditional_writer_wins_each_round(staff, post):
    url = f"/test/posts/{post.pk}/"
    client = APIClient()
    client.force_authenticate(staff)
    for round_number in range(1, ROUNDS + 1):
        before = client.get(url)
        results = race(url, before.headers["ETag"], staff, round_number)
        statuses = Counter(status for status, _ in results)
        assert statuses == {200: 1, 412: WRITERS - 1}, f"round {round_number}: {statuses}"
        winner = next(title for status, title in results if status == 200)
        row = Post.objects.get(pk=post.pk)
        assert (row.title, row.version) == (winner, before.json()["version"] + 1)
