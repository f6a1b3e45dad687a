"""The README's client recipes, run against the example served by gunicorn.

The Python recipes are ``example_project.clients``; the browser one is the
README's ``javascript`` block, run by Node's ``fetch`` (which, unlike a
browser, does not enforce CORS: the preflight and the exposed headers a
browser would ask for are checked over HTTP beside it).
"""

from __future__ import annotations

import base64
import json
import re
import shutil
import subprocess
from pathlib import Path

import httpx
import pytest
import requests
import requests_cache
from django.db import transaction
from model_bakery import baker

from example_project.blog.models import Article, Author
from example_project.clients import patch_guarded, revalidating_client, revalidating_session
from tests.live import gunicorn_server, gunicorn_url, make_server_user

__all__ = ["gunicorn_url"]  # the fixture, imported so that pytest finds it here

pytestmark = [pytest.mark.server, pytest.mark.django_db(transaction=True)]

ROOT = Path(__file__).resolve().parent.parent
NODE = shutil.which("node")
ORIGIN = "http://localhost:3000"
#: The example answers browsers on other origins only where DJANGO_CORS_ALLOWED_ORIGINS names them.
CORS = {"DJANGO_CORS_ALLOWED_ORIGINS": ORIGIN}


def published(title: str = "Kept") -> Article:
    with transaction.atomic():
        return baker.make(Article, title=title, published=True, author=baker.make(Author))


def rename(article: Article, title: str) -> None:
    Article.objects.filter(pk=article.pk).update(title=title)


def test_requests_cache_with_cache_control_revalidates_and_sees_writes(gunicorn_url):
    article = published()
    url = f"{gunicorn_url}/api/articles/{article.pk}/"
    with revalidating_session() as session:
        first = session.get(url)
        assert first.status_code == 200 and not first.from_cache
        second = session.get(url)
        assert second.from_cache and second.status_code == 200  # the server's 304, answered from the store
        assert second.json() == first.json()
        rename(article, "Renamed")
        third = session.get(url)
        assert not third.from_cache and third.json()["title"] == "Renamed"


def test_requests_cache_without_cache_control_keeps_serving_the_old_body(gunicorn_url):
    article = published()
    url = f"{gunicorn_url}/api/articles/{article.pk}/"
    with requests_cache.CachedSession(backend="memory") as session:
        assert session.get(url).json()["title"] == "Kept"
        rename(article, "Renamed")
        stale = session.get(url)
    assert stale.from_cache and stale.json()["title"] == "Kept"  # what the README warns about


def test_hishel_in_rfc_mode_revalidates_and_sees_writes(gunicorn_url, tmp_path):
    article = published()
    url = f"{gunicorn_url}/api/articles/{article.pk}/"
    with revalidating_client(tmp_path / "cache.db") as client:
        first = client.get(url)
        second = client.get(url)
        assert dict(second.extensions["caching"]) == {"from_cache": True, "revalidated": True, "stored": False}
        assert second.content == first.content
        rename(article, "Renamed")
        assert client.get(url).json()["title"] == "Renamed"


def test_the_write_loop_retries_with_the_etag_of_the_412(gunicorn_url):
    make_server_user()
    article = published()
    url = f"{gunicorn_url}/api/articles/{article.pk}/"
    with requests.Session() as session:
        session.auth = ("demo", "demo")
        original = session.get
        calls: list[str] = []

        def get_then_another_writer(*args, **kwargs):
            response = original(*args, **kwargs)
            calls.append(response.headers["ETag"])
            rename(article, "Theirs")  # lands between this client's read and its write
            Article.objects.filter(pk=article.pk).update(body="their body")
            return response

        session.get = get_then_another_writer  # type: ignore[method-assign]
        response = patch_guarded(session, url, {"title": "Mine"})
    assert response.status_code == 200
    assert len(calls) == 1  # one GET: the retry used the ETag the 412 carried
    assert response.json()["title"] == "Mine" and response.json()["body"] == "their body"


def javascript_recipe() -> str:
    [block] = re.findall(r"```javascript\n(.*?)```", (ROOT / "README.md").read_text(), flags=re.S)
    return block


HARNESS = """
const [url, authorization] = process.argv.slice(2);
const first = await getFresh(url);
const second = await getFresh(url);
// Another writer changes the row after this app read it: the ETag the app keeps is stale now.
const other = await fetch(url, {
  method: "PATCH",
  headers: { "Content-Type": "application/json", "If-Match": stored.get(url).etag, Authorization: authorization },
  body: JSON.stringify({ body: "their body" }),
});
const written = await patchGuarded(url, { title: "From the browser" }, authorization);
const shown = await written.json();
console.log(JSON.stringify({
  first: first.title, second: second.title, same: first === second,
  other: other.status, written: written.status, title: shown.title, body: shown.body,
}));
"""


def refusals(metrics: str) -> float:
    """The article detail's 412s, as the example's /metrics counts them."""
    found = re.search(
        r'conditional_api_responses_total\{method="PATCH",outcome="412",view="article-detail"\} (\S+)', metrics
    )
    return float(found.group(1)) if found else 0.0


@pytest.mark.skipif(NODE is None, reason="needs Node.js (its fetch runs the README's browser recipe)")
def test_the_browser_recipe_revalidates_and_retries_a_412_with_its_etag(transactional_db, tmp_path):
    make_server_user()
    article = published()
    script = tmp_path / "recipe.mjs"
    script.write_text(javascript_recipe() + HARNESS)
    header = "Basic " + base64.b64encode(b"demo:demo").decode()
    with gunicorn_server(workers=1, environment=CORS) as base:  # one process: /metrics counts every answer
        before = refusals(httpx.get(f"{base}/metrics").text)
        result = subprocess.run(
            [NODE, str(script), f"{base}/api/articles/{article.pk}/", header],
            capture_output=True,
            text=True,
            timeout=60,
        )
        after = refusals(httpx.get(f"{base}/metrics").text)
    assert result.returncode == 0, result.stderr
    outcome = json.loads(result.stdout)
    assert outcome["first"] == outcome["second"] == "Kept"
    assert outcome["same"]  # the second read was a 304: the stored body itself
    assert outcome["other"] == 200
    assert (outcome["written"], outcome["title"], outcome["body"]) == (200, "From the browser", "their body")
    assert after - before == 1  # the first PATCH was refused, the retry took the ETag the 412 carried


def test_a_browser_on_another_origin_may_read_the_etag_and_send_it_back(transactional_db):
    article = published()
    with gunicorn_server(environment=CORS) as base, httpx.Client(timeout=15) as client:
        url = f"{base}/api/articles/{article.pk}/"
        read = client.get(url, headers={"Origin": ORIGIN})
        exposed = {name.strip().lower() for name in read.headers["Access-Control-Expose-Headers"].split(",")}
        assert read.headers["Access-Control-Allow-Origin"] == ORIGIN
        assert {"etag", "last-modified"} <= exposed
        preflight = client.options(
            url,
            headers={
                "Origin": ORIGIN,
                "Access-Control-Request-Method": "PATCH",
                "Access-Control-Request-Headers": "authorization, content-type, if-match",
            },
        )
        allowed = {name.strip().lower() for name in preflight.headers["Access-Control-Allow-Headers"].split(",")}
        assert preflight.status_code == 200
        assert {"authorization", "content-type", "if-match", "if-none-match"} <= allowed
        assert "PATCH" in preflight.headers["Access-Control-Allow-Methods"]
        stranger = client.get(url, headers={"Origin": "http://evil.example"})
        assert "Access-Control-Allow-Origin" not in stranger.headers
