"""Behind compression, ETags stay strong and conditional writes keep working."""

from __future__ import annotations

import gzip

import pytest
from django.test import override_settings
from model_bakery import baker

from tests.testapp.models import Post

pytestmark = pytest.mark.django_db

GZIP = {"HTTP_ACCEPT_ENCODING": "gzip, deflate"}


def with_gzip(middleware: str):
    from django.conf import settings

    return override_settings(MIDDLEWARE=[middleware, *settings.MIDDLEWARE])


@pytest.fixture
def long_post(writer) -> Post:
    return baker.make(Post, title="Long", body="words " * 200, published=True, writer=writer)


def test_djangos_gzip_middleware_weakens_the_etag_and_if_match_fails(staff_client, long_post):
    """The problem this middleware exists for: a weak tag never passes If-Match."""
    url = f"/test/posts/{long_post.pk}/"
    with with_gzip("django.middleware.gzip.GZipMiddleware"):
        etag = staff_client.get(url, **GZIP).headers["ETag"]
        assert etag.startswith('W/"')
        assert staff_client.patch(url, {"title": "x"}, format="json", HTTP_IF_MATCH=etag, **GZIP).status_code == 412


@pytest.fixture
def strong_gzip():
    with with_gzip("conditional_api.middleware.GZipMiddleware"):
        yield


@pytest.mark.usefixtures("strong_gzip")
class TestStrongGZip:
    def test_compressed_bytes_get_their_own_strong_tag(self, api_client, long_post):
        url = f"/test/posts/{long_post.pk}/"
        identity = api_client.get(url)
        compressed = api_client.get(url, **GZIP)
        assert compressed.headers["Content-Encoding"] == "gzip"
        assert gzip.decompress(compressed.content) == identity.content
        assert compressed.headers["ETag"] == identity.headers["ETag"][:-1] + '-gzip"'
        assert "Accept-Encoding" in compressed.headers["Vary"] and "Accept-Encoding" in identity.headers["Vary"]

    @pytest.mark.parametrize(
        "accept_encoding, compressed",
        [
            ("gzip", True),
            ("br, gzip;q=0.5", True),
            ("x-gzip", True),
            ("*", True),
            ("gzip;q=0", False),
            ("gzip;q=0.000, br", False),
            ("*;q=0", False),
            ("br, *;q=0", False),
            ("gzip;q=0, *", False),  # gzip named: its own weight counts, not the wildcard's
            ("identity", False),
            ("gzip;q=x", False),  # not a qvalue: the member is ignored
        ],
    )
    def test_compression_follows_the_weights_of_accept_encoding(
        self, api_client, long_post, accept_encoding, compressed
    ):
        response = api_client.get(f"/test/posts/{long_post.pk}/", HTTP_ACCEPT_ENCODING=accept_encoding)
        assert (response.get("Content-Encoding") == "gzip") is compressed
        assert response.headers["ETag"].endswith('-gzip"') is compressed

    def test_one_state_compresses_to_the_same_bytes(self, api_client, long_post):
        url = f"/test/posts/{long_post.pk}/"
        assert api_client.get(url, **GZIP).content == api_client.get(url, **GZIP).content

    def test_a_304_repeats_the_tag_the_client_holds(self, api_client, long_post):
        url = f"/test/posts/{long_post.pk}/"
        held = api_client.get(url, **GZIP).headers["ETag"]
        not_modified = api_client.get(url, HTTP_IF_NONE_MATCH=held, **GZIP)
        assert not_modified.status_code == 304 and not_modified.headers["ETag"] == held
        last_modified = api_client.get(url, **GZIP).headers["Last-Modified"]
        by_date = api_client.get(url, HTTP_IF_MODIFIED_SINCE=last_modified, **GZIP)
        assert by_date.status_code == 304 and by_date.headers["ETag"] == held
        plain = api_client.get(url).headers["ETag"]
        assert api_client.get(url, HTTP_IF_NONE_MATCH=plain).headers["ETag"] == plain

    def test_small_responses_are_compressed_too(self, api_client, writer):
        # Otherwise a 304 could not know whether its 200 was compressed.
        response = api_client.get(f"/test/writers/{writer.pk}/", **GZIP)
        assert response.headers["Content-Encoding"] == "gzip" and response.headers["ETag"].endswith('-gzip"')

    def test_if_match_with_the_gzip_tag_writes_and_stays_safe(self, staff_client, long_post):
        url = f"/test/posts/{long_post.pk}/"
        held = staff_client.get(url, **GZIP).headers["ETag"]
        assert staff_client.patch(url, {"title": "one"}, format="json", HTTP_IF_MATCH=held, **GZIP).status_code == 200
        assert staff_client.patch(url, {"title": "two"}, format="json", HTTP_IF_MATCH=held, **GZIP).status_code == 412
        assert Post.objects.get(pk=long_post.pk).title == "one"

    def test_a_refused_gzip_is_not_sent_without_a_strong_etag_either(self, api_client, long_post):
        url = f"/test/posts/{long_post.pk}/"
        response = api_client.get(url, HTTP_ACCEPT="text/html", HTTP_ACCEPT_ENCODING="gzip;q=0")
        assert "ETag" not in response.headers and "Content-Encoding" not in response.headers
        assert "Accept-Encoding" in response.headers["Vary"]

    def test_responses_without_a_strong_etag_keep_djangos_behaviour(self, api_client, long_post):
        response = api_client.get(f"/test/posts/{long_post.pk}/", HTTP_ACCEPT="text/html", **GZIP)
        assert response.headers["Content-Encoding"] == "gzip" and "ETag" not in response.headers

    def test_a_streamed_response_keeps_a_strong_tag_and_its_304_names_it(self, client):
        from tests.testapp.models import Note

        note = Note.objects.create(key="streamed", text="words " * 50)
        url = f"/test/streamed-notes/{note.pk}/"
        first = client.get(url, **GZIP)
        assert first.headers["Content-Encoding"] == "gzip" and first.headers["ETag"].endswith('-gzip"')
        body = b"".join(first.streaming_content)
        assert gzip.decompress(body) == f"streamed {note.text}".encode()
        assert b"".join(client.get(url, **GZIP).streaming_content) == body
        not_modified = client.get(url, HTTP_IF_MODIFIED_SINCE=first.headers["Last-Modified"], **GZIP)
        assert not_modified.status_code == 304 and not_modified.headers["ETag"] == first.headers["ETag"]
