"""The example behind a real shared cache: nginx with ``proxy_cache`` in front of gunicorn.

RFC 9111 §3.5: a shared cache may reuse an answer to an authenticated
request only when the answer lets it (``public``, ``s-maxage``); RFC 9110
§12.5.5: it may hand a stored answer only to a request whose fields named
in Vary match. Here the example lets shared caches keep its anonymous
answers for ten minutes (a test-only settings module: its contract says
``no-cache``, which nginx would not store at all), and nginx also keeps any
answer that says nothing (``proxy_cache_valid``). Whatever nginx does with
that, a staff user's draft must never reach an anonymous client, nor an
anonymous answer a staff user; and revalidation through it must still work.

Skipped when there is no ``nginx`` binary (``.ci/run`` installs one).
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from django.db import transaction
from model_bakery import baker

from example_project.blog.models import Article, Author
from tests.live import LOOPBACK, basic_auth, make_server_user, session_auth
from tests.nginx import NGINX, Nginx, Origin

pytestmark = [
    pytest.mark.server,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(NGINX is None, reason="needs nginx (apt-get install nginx; .ci/run installs it)"),
]

TIMEOUT = httpx.Timeout(15.0)

#: What the example's views say to caches in these tests: anonymous answers may be shared for ten minutes.
SHARED_FOR_TEN_MINUTES = "public, max-age=0, s-maxage=600"
#: The plain view's anonymous answers go stale after a second, so that nginx revalidates them.
SHARED_FOR_A_SECOND = "public, max-age=0, s-maxage=1"

SETTINGS_MODULE = "shared_cache_settings"
SETTINGS = f'''"""The example's settings, with Cache-Control that lets a shared cache keep anonymous answers."""

from example_project.settings import *  # noqa: F403
from example_project.settings import CONDITIONAL_API

CONDITIONAL_API = {{
    **CONDITIONAL_API,
    "DEFAULTS": {{**CONDITIONAL_API["DEFAULTS"], "cache_control": {SHARED_FOR_TEN_MINUTES!r}}},
    "VIEWS": {{
        **CONDITIONAL_API["VIEWS"],
        "plain-article-detail": {{
            **CONDITIONAL_API["VIEWS"]["plain-article-detail"],
            "cache_control": {SHARED_FOR_A_SECOND!r},
        }},
    }},
}}
'''


def nginx_config(prefix: Path, upstream: str) -> str:
    """One server that caches everything it may (the ``http`` block's contents)."""
    return f"""
    proxy_cache_path {prefix}/cache levels=1:2 keys_zone=api:1m max_size=16m inactive=10m use_temp_path=off;
    server {{
        listen {LOOPBACK}:{{port}};
        access_log {prefix}/access.log;
        location / {{
            proxy_pass {upstream};
            proxy_set_header Host $http_host;
            proxy_cache api;
            # The app's Cache-Control and Vary decide; an answer that says
            # nothing (a 404) is kept too.
            proxy_cache_valid 200 404 10m;
            # A stale entry is revalidated with its ETag and Last-Modified.
            proxy_cache_revalidate on;
            add_header X-Cache-Status $upstream_cache_status always;
        }}
    }}
"""


@pytest.fixture
def behind_nginx(transactional_db: None) -> Iterator[str]:
    """nginx's base URL, with the example behind it on the test database."""
    with tempfile.TemporaryDirectory(prefix="shared-cache-") as directory:
        root = Path(directory)
        (root / f"{SETTINGS_MODULE}.py").write_text(SETTINGS)
        with Origin(root, SETTINGS_MODULE) as upstream, Nginx(root, nginx_config(root, upstream)) as base_url:
            yield base_url


@pytest.fixture
def staff_user():
    return make_server_user("demo", "demo", is_staff=True)


def staff_client(how: str, user, base_url: str) -> httpx.Client:
    """A client that the example knows as its staff user: by Basic credentials or by a session cookie."""
    if how == "basic":
        return httpx.Client(base_url=base_url, auth=basic_auth(), timeout=TIMEOUT)
    cookies, headers = session_auth(user)
    return httpx.Client(base_url=base_url, cookies=cookies, headers=headers, timeout=TIMEOUT)


def make_article(title: str, published: bool) -> Article:
    author = baker.make(Author, name="Grace", email="grace@example.com")
    with transaction.atomic():
        return baker.make(Article, title=title, body=f"{title} body", published=published, author=author)


def cache_status(response: httpx.Response) -> str:
    return response.headers.get("x-cache-status", "")


def directives(response: httpx.Response) -> set[str]:
    return {item.strip() for item in response.headers.get("cache-control", "").split(",") if item.strip()}


AUTHENTICATION = ["basic", "session"]


@pytest.mark.parametrize("how", AUTHENTICATION)
@pytest.mark.parametrize("path", ["/api/articles/{draft}/", "/api/articles/?published=false"])
def test_a_staff_answer_is_never_served_to_an_anonymous_client(behind_nginx, staff_user, how, path):
    draft = make_article("Unpublished plans", published=False)
    path = path.format(draft=draft.pk)
    with (
        staff_client(how, staff_user, behind_nginx) as staff,
        httpx.Client(base_url=behind_nginx, timeout=TIMEOUT) as anonymous,
    ):
        seen = [staff.get(path) for _ in range(2)]
        unseen = anonymous.get(path)

        assert b"Unpublished plans" not in unseen.content, unseen.headers
        assert cache_status(unseen) != "HIT", unseen.headers
        if "published=false" in path:
            assert unseen.status_code == 200 and unseen.json()["count"] == 0
        else:
            assert unseen.status_code == 404
        for response in seen:
            assert response.status_code == 200 and b"Unpublished plans" in response.content, response.text[:300]
        # Not stored at all: not even this user gets it from the cache.
        assert "HIT" not in [cache_status(response) for response in seen]
        for response in seen:
            assert "private" in directives(response) and "public" not in directives(response)


@pytest.mark.parametrize("how", AUTHENTICATION)
@pytest.mark.parametrize("path", ["/api/articles/{draft}/", "/api/articles/?published=false"])
def test_an_anonymous_answer_is_never_served_to_a_staff_user(behind_nginx, staff_user, how, path):
    draft = make_article("Unpublished plans", published=False)
    path = path.format(draft=draft.pk)
    with (
        staff_client(how, staff_user, behind_nginx) as staff,
        httpx.Client(base_url=behind_nginx, timeout=TIMEOUT) as anonymous,
    ):
        first, second = anonymous.get(path), anonymous.get(path)
        assert first.status_code == second.status_code == (200 if "published=false" in path else 404)
        # nginx does keep anonymous answers here: the 200 by its s-maxage, the 404 by proxy_cache_valid.
        assert (cache_status(first), cache_status(second)) == ("MISS", "HIT")

        seen = staff.get(path)
        assert cache_status(seen) != "HIT", seen.headers
        assert seen.status_code == 200 and b"Unpublished plans" in seen.content, seen.text[:300]


@pytest.mark.parametrize("how", AUTHENTICATION)
def test_revalidation_through_the_shared_cache(behind_nginx, staff_user, how):
    article = make_article("Published", published=True)
    path = f"/api/articles/{article.pk}/"
    with (
        staff_client(how, staff_user, behind_nginx) as staff,
        httpx.Client(base_url=behind_nginx, timeout=TIMEOUT) as anonymous,
    ):
        ok = anonymous.get(path)
        assert ok.status_code == 200 and directives(ok) == set(SHARED_FOR_TEN_MINUTES.split(", "))
        etag = ok.headers["etag"]

        # The stored answer revalidates from the cache, saying what the 200 said (RFC 9110 §15.4.5).
        not_modified = anonymous.get(path, headers={"If-None-Match": etag})
        assert not_modified.status_code == 304 and cache_status(not_modified) == "HIT"
        for header in ("etag", "cache-control", "vary"):
            assert not_modified.headers[header] == ok.headers[header], header

        # The staff's revalidation of the same URL is answered from the app,
        # privately. nginx does not forward If-None-Match on a request it may
        # cache, nor compare it with an answer it may not store: a full 200,
        # never the anonymous entry's 304.
        mine = staff.get(path)
        assert mine.status_code == 200 and "private" in directives(mine)
        revalidated = staff.get(path, headers={"If-None-Match": mine.headers["etag"]})
        assert revalidated.status_code in (200, 304) and cache_status(revalidated) != "HIT"
        for header in ("etag", "cache-control", "vary"):
            assert revalidated.headers[header] == mine.headers[header], header


def wait_until_stale(seconds: float = 1) -> None:
    """Past a freshness lifetime of ``seconds`` (nginx counts whole seconds)."""
    time.sleep(seconds + 1.1)


def test_a_stale_entry_is_revalidated_with_its_etag_and_replaced_after_a_write(behind_nginx):
    article = make_article("Before", published=True)
    path = f"/plain/articles/{article.pk}/"  # the decorator's view: a one-second s-maxage here
    with httpx.Client(base_url=behind_nginx, timeout=TIMEOUT) as anonymous:
        first = anonymous.get(path)
        assert first.status_code == 200 and cache_status(first) == "MISS"
        assert directives(first) == set(SHARED_FOR_A_SECOND.split(", "))

        # proxy_cache_revalidate: nginx asks the app with the stored ETag; its 304 refreshes the entry.
        wait_until_stale()
        revalidated = anonymous.get(path)
        assert cache_status(revalidated) == "REVALIDATED", revalidated.headers
        assert revalidated.status_code == 200 and revalidated.content == first.content
        assert revalidated.headers["etag"] == first.headers["etag"]

        Article.objects.filter(pk=article.pk).update(title="After")
        wait_until_stale()
        changed = anonymous.get(path)
        assert cache_status(changed) == "EXPIRED", changed.headers
        assert changed.status_code == 200 and changed.json()["title"] == "After"
        assert changed.headers["etag"] != first.headers["etag"]
