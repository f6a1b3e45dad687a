"""The nginx configuration of docs/reverse-proxy.md, run as written in front of the example under gunicorn.

The test reads the configuration out of the page, so the page cannot drift
from what runs: only the addresses and paths it says to replace are
replaced. nginx's access log says where each answer came from
(``$upstream_cache_status``) and what the app answered (``$upstream_status``).

The example keeps its contract's ``no-cache`` on the DRF detail; here the
plain detail lets shared caches keep anonymous answers for a second and
the DRF article list for ten minutes, so that nginx stores something.

Skipped when there is no ``nginx`` binary (``.ci/run`` installs one).
"""

from __future__ import annotations

import re
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

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

DOC = Path(__file__).resolve().parent.parent / "docs" / "reverse-proxy.md"
TIMEOUT = httpx.Timeout(15.0)

#: The plain detail's anonymous answers: kept a second, then revalidated.
FOR_A_SECOND = "public, max-age=0, s-maxage=1"
#: The DRF list's anonymous answers: kept ten minutes, longer than any test.
FOR_TEN_MINUTES = "public, max-age=0, s-maxage=600"

SETTINGS_MODULE = "reverse_proxy_settings"
SETTINGS = f'''"""The example's settings, with policies that let nginx keep some anonymous answers."""

from example_project.settings import *  # noqa: F403
from example_project.settings import CONDITIONAL_API

_VIEWS = CONDITIONAL_API["VIEWS"]
CONDITIONAL_API = {{
    **CONDITIONAL_API,
    "VIEWS": {{
        **_VIEWS,
        "plain-article-detail": {{**_VIEWS["plain-article-detail"], "cache_control": {FOR_A_SECOND!r}}},
        "article-list": {{**_VIEWS["article-list"], "cache_control": {FOR_TEN_MINUTES!r}}},
    }},
}}
'''


def documented_config(prefix: Path, upstream: str) -> str:
    """The page's one nginx block, with its addresses and paths replaced by this test's."""
    blocks = re.findall(r"```nginx\n(.*?)```", DOC.read_text(), flags=re.S)
    assert len(blocks) == 1, f"{DOC.name} should hold one nginx block, not {len(blocks)}"
    config = blocks[0]
    for documented, here in {
        "/var/cache/nginx/api": f"{prefix}/cache",
        "/var/log/nginx/api.log": f"{prefix}/access.log",
        "server 127.0.0.1:8000;": f"server {upstream.removeprefix('http://')};",
        "listen 80;": f"listen {LOOPBACK}:{{port}};",
    }.items():
        assert config.count(documented) == 1, f"{DOC.name}'s nginx block should name {documented!r} once"
        config = config.replace(documented, here)
    return config


_LOGGED = re.compile(r'"(?P<request>[^"]*)" (?P<status>\d+) cache=(?P<cache>\S+) upstream=(?P<upstream>\S+)$')


@dataclass(frozen=True)
class Logged:
    """One line of the documented access log."""

    request: str
    status: str
    cache: str
    upstream: str


class Proxy:
    """nginx as the page configures it, and its access log."""

    def __init__(self, base_url: str, prefix: Path) -> None:
        self.base_url = base_url
        self.log = prefix / "access.log"

    def lines(self) -> list[str]:
        return self.log.read_text().splitlines() if self.log.exists() else []

    def get(self, client: httpx.Client, path: str, **headers: str) -> tuple[httpx.Response, Logged]:
        return self.send(client, "GET", path, headers=headers)

    def send(self, client: httpx.Client, method: str, path: str, **kwargs: Any) -> tuple[httpx.Response, Logged]:
        """The answer, and what the log says of it.

        nginx writes a request's line once the request ends, which may be
        after the client has its answer: the test waits for the line, and
        sends its next request only then.
        """
        count = len(self.lines())
        response = client.request(method, path, **kwargs)
        deadline = time.monotonic() + 5
        while True:
            logged = [match for line in self.lines()[count:] if (match := _LOGGED.search(line))]
            mine = [match for match in logged if match["request"].startswith(f"{method} {path} ")]
            if mine:
                assert len(logged) == 1, f"requests overlapped: {logged}"
                return response, Logged(**mine[0].groupdict())
            assert time.monotonic() < deadline, f"nginx logged nothing for {method} {path}"
            time.sleep(0.02)


@pytest.fixture
def proxy(transactional_db: None) -> Iterator[Proxy]:
    with tempfile.TemporaryDirectory(prefix="reverse-proxy-") as directory:
        root = Path(directory)
        (root / f"{SETTINGS_MODULE}.py").write_text(SETTINGS)
        with Origin(root, SETTINGS_MODULE) as upstream, Nginx(root, documented_config(root, upstream)) as base_url:
            yield Proxy(base_url, root)


@pytest.fixture
def staff_user():
    return make_server_user("demo", "demo", is_staff=True)


def client_of(who: str, user, base_url: str) -> httpx.Client:
    if who == "basic":
        return httpx.Client(base_url=base_url, auth=basic_auth(), timeout=TIMEOUT)
    if who == "session":
        cookies, headers = session_auth(user)
        return httpx.Client(base_url=base_url, cookies=cookies, headers=headers, timeout=TIMEOUT)
    return httpx.Client(base_url=base_url, timeout=TIMEOUT)


def make_article(title: str, published: bool = True) -> Article:
    author = baker.make(Author, name="Grace", email="grace@example.com")
    with transaction.atomic():
        return baker.make(Article, title=title, body=f"{title} body", published=published, author=author)


def retitle(article: Article, title: str) -> None:
    with transaction.atomic():
        article.title = title
        article.save()


def test_nginx_revalidates_its_copy_with_the_app(proxy):
    article = make_article("Kept")
    path = f"/plain/articles/{article.pk}/"
    with httpx.Client(base_url=proxy.base_url, timeout=TIMEOUT) as anonymous:
        first, logged = proxy.get(anonymous, path)
        assert (first.status_code, logged.cache, logged.upstream) == (200, "MISS", "200")
        assert first.headers["cache-control"] == FOR_A_SECOND
        _, logged = proxy.get(anonymous, path)
        assert (logged.cache, logged.upstream) == ("HIT", "-")

        time.sleep(2.1)  # past the one-second lifetime (nginx counts whole seconds)
        again, logged = proxy.get(anonymous, path)
        # nginx asked with its copy's ETag; the app's 304 let it serve the copy again.
        assert (again.status_code, logged.cache, logged.upstream) == (200, "REVALIDATED", "304")
        assert again.content == first.content
        for header in ("etag", "last-modified", "surrogate-key"):
            assert again.headers[header] == first.headers[header], header


WHO = ["anonymous", "basic", "session"]
#: The contract's no-cache detail, a detail nginx keeps a second, a list it keeps ten minutes.
PATHS = ["/api/articles/{pk}/", "/plain/articles/{pk}/", "/api/articles/"]


@pytest.mark.parametrize("who", WHO)
@pytest.mark.parametrize("path", PATHS)
def test_a_clients_own_revalidation_is_answered_by_the_app(proxy, staff_user, who, path):
    article = make_article("Shown")
    path = path.format(pk=article.pk)
    with client_of(who, staff_user, proxy.base_url) as client:
        ok, _ = proxy.get(client, path)
        assert ok.status_code == 200
        not_modified, logged = proxy.get(client, path, **{"If-None-Match": ok.headers["etag"]})
        # Not nginx's copy, nor a full 200: the app's own 304, stored nowhere.
        assert (not_modified.status_code, logged.cache, logged.upstream) == (304, "BYPASS", "304")
        for header in ("etag", "cache-control", "vary", "surrogate-key"):
            assert not_modified.headers[header] == ok.headers[header], header


def test_a_write_through_nginx_is_seen_at_once_where_nothing_is_kept(proxy, staff_user):
    article = make_article("Before")
    path = f"/api/articles/{article.pk}/"
    with (
        httpx.Client(base_url=proxy.base_url, timeout=TIMEOUT) as anonymous,
        client_of("basic", staff_user, proxy.base_url) as staff,
    ):
        before, _ = proxy.get(anonymous, path)
        etag = before.headers["etag"]
        # If-Match passes through nginx: the compare-and-set holds the write to the version read.
        written, logged = proxy.send(staff, "PATCH", path, json={"title": "After"}, headers={"If-Match": etag})
        assert (written.status_code, logged.upstream) == (200, "200"), written.text[:300]
        lost, logged = proxy.send(staff, "PATCH", path, json={"title": "Lost"}, headers={"If-Match": etag})
        assert (lost.status_code, logged.upstream) == (412, "412")

        plain, logged = proxy.get(anonymous, path)
        assert (plain.json()["title"], logged.upstream) == ("After", "200")
        revalidated, logged = proxy.get(anonymous, path, **{"If-None-Match": etag})
        assert (revalidated.status_code, revalidated.json()["title"], logged.upstream) == (200, "After", "200")


def test_a_kept_copy_lags_a_write_until_it_expires_but_a_revalidating_client_sees_it(proxy):
    article = make_article("Before")
    with httpx.Client(base_url=proxy.base_url, timeout=TIMEOUT) as anonymous:
        before, logged = proxy.get(anonymous, "/api/articles/")
        assert logged.cache == "MISS" and before.headers["cache-control"] == FOR_TEN_MINUTES

        retitle(article, "After")

        # nginx open source cannot be told: its copy serves its ten minutes.
        kept, logged = proxy.get(anonymous, "/api/articles/")
        assert (logged.cache, kept.content) == ("HIT", before.content)
        # A client holding the old ETag asks the app, and gets the new list.
        fresh, logged = proxy.get(anonymous, "/api/articles/", **{"If-None-Match": before.headers["etag"]})
        assert (fresh.status_code, logged.cache, logged.upstream) == (200, "BYPASS", "200")
        assert fresh.json()["results"][0]["title"] == "After"
        # The write's keys reach the copy a CDN would purge.
        assert "blog.article" in kept.headers["surrogate-key"].split()


@pytest.mark.parametrize("who", ["basic", "session"])
@pytest.mark.parametrize("path", ["/api/articles/{pk}/", "/api/articles/?published=false"])
def test_one_users_answer_never_reaches_another(proxy, staff_user, who, path):
    draft = make_article("Unpublished plans", published=False)
    path = path.format(pk=draft.pk)
    with (
        client_of(who, staff_user, proxy.base_url) as staff,
        httpx.Client(base_url=proxy.base_url, timeout=TIMEOUT) as anonymous,
    ):
        # Either way round: the staff's answer first, then the anonymous one, then the staff's again.
        seen, seen_logged = proxy.get(staff, path)
        unseen, _ = proxy.get(anonymous, path)
        again, _ = proxy.get(staff, path)
        assert b"Unpublished plans" not in unseen.content
        assert unseen.status_code == 404 or unseen.json()["count"] == 0
        for mine in (seen, again):
            assert mine.status_code == 200 and b"Unpublished plans" in mine.content
        # The staff's answer went straight to the app, and said no shared cache may keep it.
        assert seen_logged.cache == "BYPASS" and "private" in seen.headers["cache-control"]
