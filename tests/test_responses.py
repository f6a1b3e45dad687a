"""Validators on responses: the same headers on a 200 and its 304, and no Last-Modified ahead of the clock."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pytest
from django.db.models import F
from django.utils.http import http_date

from tests.conftest import write_behind_the_orm
from tests.testapp.models import Post

pytestmark = pytest.mark.django_db


def detail(post: Post) -> str:
    return f"/test/posts/{post.pk}/"


def test_304_repeats_the_200s_validators_and_caching_headers(api_client, post):
    ok = api_client.get(detail(post))
    not_modified = api_client.get(detail(post), HTTP_IF_NONE_MATCH=ok.headers["ETag"])
    for header in ("ETag", "Last-Modified", "Cache-Control", "Vary"):
        assert not_modified.headers[header] == ok.headers[header], header
    assert "Content-Type" not in not_modified.headers
    # RFC 9110 §8.6: no Content-Length unless it is the 200's (CommonMiddleware would add 0).
    assert "Content-Length" not in not_modified.headers


class TestLastModified:
    def test_omitted_while_ahead_of_the_clock(self, api_client, post):
        ahead = datetime.now(tz=UTC) + timedelta(seconds=30)
        write_behind_the_orm(Post, post.pk, version=F("version") + 1, last_modified=ahead)
        response = api_client.get(detail(post))
        assert response.status_code == 200 and "Last-Modified" not in response.headers
        assert api_client.get(detail(post), HTTP_IF_MODIFIED_SINCE=http_date(time.time())).status_code == 200
