"""Client recipes from the README, run by the test suite against the example served by gunicorn.

The server never imports this module: it shows what a client of the API
does with its validators (``tests/test_client_recipes.py``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import hishel
import hishel.httpx
import httpx
import requests
import requests_cache


def revalidating_session() -> requests_cache.CachedSession:
    """requests with a cache that keeps each answer and revalidates it with If-None-Match, as Cache-Control says."""
    return requests_cache.CachedSession(backend="memory", cache_control=True)


def revalidating_client(cache_file: Path) -> httpx.Client:
    """httpx with hishel as an RFC 9111 private cache: the same, for httpx."""
    transport = hishel.httpx.CacheTransport(
        next_transport=httpx.HTTPTransport(),
        storage=hishel.SqliteStorage(database_path=cache_file),
        rfc=hishel.CacheOptions(shared=False),
    )
    return httpx.Client(transport=transport)


def patch_guarded(session: requests.Session, url: str, fields: dict[str, Any], attempts: int = 3) -> requests.Response:
    """PATCH ``fields`` with If-Match; after a 412, again with the ETag it carries, without another GET.

    Another writer changed the row in between: its other fields stay as it
    left them, since a PATCH sends only these. To keep its change to one of
    these fields too, GET the row instead and decide.
    """
    etag = session.get(url).headers["ETag"]
    for _ in range(attempts):
        response = session.patch(url, json=fields, headers={"If-Match": etag})
        if response.status_code != 412:
            break
        etag = response.headers["ETag"]  # the row as the other writer left it
    return response
