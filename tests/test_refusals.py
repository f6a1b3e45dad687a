"""A 412 or 428 carries the row's current ETag and Last-Modified, so a client merges and retries without a GET.

Only for a row the request may see: the validator is read through the
view's scoping and access checks, and a row outside them answers as the
view does (404), with nothing about it.
"""

from __future__ import annotations

import json

import pytest
from django.test import Client
from model_bakery import baker

from conditional_api.flow import Flow
from example_project.blog.models import Article
from tests.testapp.models import Note

pytestmark = pytest.mark.django_db

#: Writable conditional views: (URL template, the JSON a write sends, whether a precondition is required).
ADAPTERS = {
    "drf": ("/api/articles/{article}/", {"title": "mine"}, True),
    "ninja": ("/ninja/articles/{article}/", {"title": "mine"}, True),
    "decorator": ("/test/notes/{note}/", {"text": "mine"}, False),
    "async-decorator": ("/test/async-notes/{note}/", {"text": "mine"}, True),
}


@pytest.fixture
def client(staff) -> Client:
    client = Client()
    client.force_login(staff)
    return client


@pytest.fixture
def url(request, article) -> str:
    template = ADAPTERS[request.param][0]
    return template.format(article=article.pk, note=baker.make(Note, key="n", text="t").pk)


def write(client: Client, url: str, **headers: str):
    body = next(payload for template, payload, _ in ADAPTERS.values() if url.startswith(template.split("{")[0]))
    method = client.patch if url.startswith(("/api/", "/ninja/")) else client.put
    return method(url, json.dumps(body), content_type="application/json", **headers)


@pytest.mark.parametrize("url", ADAPTERS, indirect=True)
def test_a_412_carries_the_current_etag_and_last_modified(client, url):
    current = client.get(url)
    response = write(client, url, HTTP_IF_MATCH='"stale"')
    assert response.status_code == 412
    assert response["ETag"] == current["ETag"]
    assert response["Last-Modified"] == current["Last-Modified"]


@pytest.mark.parametrize("url", [name for name, (_, _, required) in ADAPTERS.items() if required], indirect=True)
def test_a_428_carries_the_current_etag_and_last_modified(client, url):
    current = client.get(url)
    response = write(client, url)
    assert response.status_code == 428
    assert response["ETag"] == current["ETag"]
    assert response["Last-Modified"] == current["Last-Modified"]


@pytest.mark.parametrize("url", ADAPTERS, indirect=True)
def test_the_write_loop_merges_with_the_412_and_retries_without_a_get(client, url):
    stale = client.get(url)["ETag"]
    write(client, url, HTTP_IF_MATCH=stale)  # someone else's write: this client's copy is now stale
    refused = write(client, url, HTTP_IF_MATCH=stale)
    assert refused.status_code == 412
    retried = write(client, url, HTTP_IF_MATCH=refused["ETag"])
    assert retried.status_code == 200
    assert retried["ETag"] != refused["ETag"]


@pytest.mark.parametrize("prefix", ["/api/", "/ninja/"])
def test_a_write_refused_because_another_landed_carries_what_it_left(client, article, monkeypatch, prefix):
    url = f"{prefix}articles/{article.pk}/"
    etag = client.get(url)["ETag"]

    def then_another_writer(read):
        def reading(self, *args):
            current = read(self, *args)
            if self.request.method == "PATCH":
                Article.objects.filter(pk=article.pk).update(title="the other writer")
            return current

        return reading

    # DRF reads the row through Flow.read_row, the ninja adapter through Flow.read.
    monkeypatch.setattr(Flow, "read_row", then_another_writer(Flow.read_row))
    monkeypatch.setattr(Flow, "read", then_another_writer(Flow.read))
    response = client.patch(url, {"title": "mine"}, content_type="application/json", HTTP_IF_MATCH=etag)
    monkeypatch.undo()
    assert response.status_code == 412
    now = client.get(url)
    assert now.json()["title"] == "the other writer"
    assert response["ETag"] == now["ETag"] != etag


@pytest.mark.parametrize("prefix", ["/api/", "/ninja/"])
def test_a_row_the_user_may_not_see_answers_404_with_nothing_about_it(reader, author, prefix):
    draft = baker.make(Article, published=False, author=author)
    client = Client()
    client.force_login(reader)
    for headers in ({"HTTP_IF_MATCH": '"stale"'}, {}):
        response = client.patch(f"{prefix}articles/{draft.pk}/", "{}", content_type="application/json", **headers)
        assert response.status_code == 404
        assert "ETag" not in response and "Last-Modified" not in response


@pytest.mark.parametrize("prefix", ["/api/", "/ninja/"])
def test_a_malformed_precondition_is_400_without_validators(client, article, prefix):
    response = client.patch(f"{prefix}articles/{article.pk}/", "{}", content_type="application/json", HTTP_IF_MATCH="x")
    assert response.status_code == 400
    assert "ETag" not in response
