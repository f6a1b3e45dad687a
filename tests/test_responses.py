"""Validators on responses: the same headers on a 200 and its 304, and no Last-Modified ahead of the clock."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pytest
from django.contrib.auth.models import User
from django.db.models import F
from django.http import HttpResponse
from django.utils.http import http_date
from rest_framework.test import APIClient

from conditional_api.conf import view_options
from conditional_api.responses import mark_audience
from tests.conftest import write_behind_the_orm
from tests.testapp.models import Note, Post

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


# -- who may reuse an answer: RFC 9111 §3.5 ------------------------------------------

#: A view's Cache-Control for anonymous answers that a shared cache may keep for ten minutes.
SHARED_FOR_TEN_MINUTES = "public, max-age=0, s-maxage=600"

#: Readable by anyone, one per adapter and kind: the test app's and the example's.
READ_URLS = [
    "/test/posts/{post}/",  # DRF, detail
    "/test/posts/",  # DRF, list
    "/test/plain-posts/{post}/",  # decorator, detail
    "/test/plain-posts/",  # decorator, list
    "/api/articles/{article}/",
    "/api/articles/",
    "/api/authors/{author}/",
    "/plain/articles/{article}/",
]


def login_basic(client: APIClient, user: User) -> None:
    client.credentials(HTTP_AUTHORIZATION="Basic ZGVtbzpkZW1v")  # demo:demo, the staff fixture


def login_session(client: APIClient, user: User) -> None:
    client.force_login(user)


#: How a request is authenticated: credentials in Authorization, or a Django session.
CREDENTIALS = {"basic": login_basic, "session": login_session}


@pytest.fixture
def shared_when_anonymous(settings):
    """Every view lets a shared cache keep its anonymous answers (the example's contract says no-cache)."""
    settings.CONDITIONAL_API = {
        **settings.CONDITIONAL_API,
        "DEFAULTS": {**settings.CONDITIONAL_API["DEFAULTS"], "cache_control": SHARED_FOR_TEN_MINUTES},
    }


def directives(response) -> set[str]:
    return {item.strip() for item in response.headers.get("Cache-Control", "").split(",") if item.strip()}


def varies_on(response) -> set[str]:
    return {item.strip().lower() for item in response.headers.get("Vary", "").split(",") if item.strip()}


def read_and_revalidate(client: APIClient, url: str):
    ok = client.get(url)
    assert ok.status_code == 200, (url, ok.status_code)
    not_modified = client.get(url, HTTP_IF_NONE_MATCH=ok.headers["ETag"])
    assert not_modified.status_code == 304, (url, not_modified.status_code)
    return ok, not_modified


@pytest.mark.parametrize("url", READ_URLS)
def test_an_anonymous_answer_keeps_the_views_cache_control_and_varies_on_credentials(
    api_client, post, article, shared_when_anonymous, url
):
    url = url.format(post=post.pk, article=article.pk, author=article.author_id)
    for response in read_and_revalidate(api_client, url):
        assert response.headers["Cache-Control"] == SHARED_FOR_TEN_MINUTES
        # RFC 9110 §12.5.5: a shared cache must not hand this answer to a request with credentials.
        assert {"authorization", "cookie"} <= varies_on(response)


@pytest.mark.parametrize("credentials", CREDENTIALS)
@pytest.mark.parametrize("url", READ_URLS)
def test_an_authenticated_answer_is_private_whatever_the_view_lets_shared_caches_do(
    staff, post, article, shared_when_anonymous, url, credentials
):
    client = APIClient()
    CREDENTIALS[credentials](client, staff)
    url = url.format(post=post.pk, article=article.pk, author=article.author_id)
    ok, not_modified = read_and_revalidate(client, url)
    # RFC 9111 §3.5: public or s-maxage would let a shared cache reuse it for anyone.
    assert directives(ok) == {"max-age=0", "private"}
    assert {"authorization", "cookie"} <= varies_on(ok)
    # RFC 9110 §15.4.5: the 304 says what the 200 said.
    for header in ("Cache-Control", "Vary"):
        assert not_modified.headers[header] == ok.headers[header], header


#: A CDN policy: anonymous answers kept a minute, and served half a minute past that while revalidated (RFC 5861).
SHARED_WITH_STALE = "public, max-age=0, s-maxage=60, stale-while-revalidate=30"


@pytest.mark.parametrize("credentials", [None, *CREDENTIALS])
@pytest.mark.parametrize("url", READ_URLS)
def test_a_304_carries_exactly_the_200s_cache_policy(settings, staff, post, article, url, credentials):
    settings.CONDITIONAL_API = {
        **settings.CONDITIONAL_API,
        "DEFAULTS": {**settings.CONDITIONAL_API["DEFAULTS"], "cache_control": SHARED_WITH_STALE},
    }
    client = APIClient()
    if credentials:
        CREDENTIALS[credentials](client, staff)
    ok, not_modified = read_and_revalidate(
        client, url.format(post=post.pk, article=article.pk, author=article.author_id)
    )
    assert not_modified.headers["Cache-Control"] == ok.headers["Cache-Control"]
    if credentials:
        # Only what a shared cache reads is taken out: the client's own cache may still serve it stale.
        assert directives(ok) == {"max-age=0", "stale-while-revalidate=30", "private"}
    else:
        assert ok.headers["Cache-Control"] == SHARED_WITH_STALE


@pytest.mark.parametrize("url", ["/test/posts/{post}/", "/test/posts/", "/api/articles/{article}/"])
def test_drfs_own_authentication_makes_an_answer_private(staff, post, article, shared_when_anonymous, url):
    client = APIClient()
    client.force_authenticate(staff)  # no header, no cookie: only request.user says who asks
    ok, not_modified = read_and_revalidate(client, url.format(post=post.pk, article=article.pk))
    assert directives(ok) == directives(not_modified) == {"max-age=0", "private"}


@pytest.mark.parametrize("credentials", CREDENTIALS)
@pytest.mark.parametrize(
    "method, url, headers, status",
    [
        ("patch", "/test/posts/{post}/", {"HTTP_IF_MATCH": '"stale"'}, 412),  # DRF
        ("patch", "/test/posts/{post}/", {}, 428),
        ("put", "/test/notes/{note}/", {"HTTP_IF_MATCH": '"stale"'}, 412),  # decorator, sync
        ("put", "/test/async-notes/{note}/", {}, 428),  # decorator, async
    ],
)
def test_a_refused_authenticated_write_is_private(
    staff, post, shared_when_anonymous, method, url, headers, status, credentials
):
    note = Note.objects.create(key="k", text="one")
    client = APIClient()
    CREDENTIALS[credentials](client, staff)
    url = url.format(post=post.pk, note=note.pk)
    response = getattr(client, method)(url, {"text": "two", "title": "two"}, format="json", **headers)
    assert response.status_code == status
    assert "private" in directives(response) and not {"public", "s-maxage=600"} & directives(response)
    assert {"authorization", "cookie"} <= varies_on(response)


def test_an_anonymous_404_varies_on_credentials(api_client, draft_post, shared_when_anonymous):
    # A shared cache that keeps 404s must not hand this one to the staff, who can see the draft.
    response = api_client.get(f"/test/posts/{draft_post.pk}/")
    assert response.status_code == 404
    assert {"authorization", "cookie"} <= varies_on(response)


@pytest.mark.parametrize("url", ["/test/posts/{post}/", "/test/plain-posts/{post}/"])
def test_a_view_shared_by_every_user_keeps_its_cache_control_for_authenticated_requests(settings, staff, post, url):
    views = settings.CONDITIONAL_API["VIEWS"]
    settings.CONDITIONAL_API = {
        **settings.CONDITIONAL_API,
        "VIEWS": {
            **views,
            "post-detail": {**views["post-detail"], "cache_control": SHARED_FOR_TEN_MINUTES, "shared": True},
            "plain-post-detail": {
                **views["plain-post-detail"],
                "cache_control": SHARED_FOR_TEN_MINUTES,
                "shared": True,
            },
        },
    }
    client = APIClient()
    login_session(client, staff)
    for response in read_and_revalidate(client, url.format(post=post.pk)):
        assert response.headers["Cache-Control"] == SHARED_FOR_TEN_MINUTES
        # Django's SessionMiddleware adds Cookie itself once the session is read.
        assert "authorization" not in varies_on(response)


@pytest.mark.parametrize(
    "view_cache_control, expected",
    [
        ("public, max-age=0, s-maxage=600", {"max-age=0", "private"}),
        ("s-maxage=60", {"private"}),
        ("no-cache", {"no-cache", "private"}),
        ("private, no-cache", {"private", "no-cache"}),
        ("no-store", {"no-store", "private"}),
        (None, {"private"}),
    ],
)
def test_private_replaces_what_only_shared_caches_read(rf, view_cache_control, expected):
    request = rf.get("/", HTTP_AUTHORIZATION="Bearer token")
    options = view_options([], {"cache_control": view_cache_control} if view_cache_control else {})
    response = HttpResponse()
    if view_cache_control:
        response.headers["Cache-Control"] = view_cache_control
    mark_audience(response, request, options)
    assert directives(response) == expected


def test_a_session_304_costs_no_query_to_learn_who_asks(client, staff, post, django_assert_num_queries):
    # The session cookie is enough to answer privately: loading the user would be two more queries.
    client.force_login(staff)
    etag = client.get(f"/test/plain-posts/{post.pk}/").headers["ETag"]
    with django_assert_num_queries(1):
        response = client.get(f"/test/plain-posts/{post.pk}/", HTTP_IF_NONE_MATCH=etag)
    assert response.status_code == 304 and "private" in directives(response)


@pytest.mark.parametrize("credentials", CREDENTIALS)
def test_the_browsable_apis_page_for_a_user_is_private_though_it_has_no_validators(
    staff, writer, shared_when_anonymous, credentials
):
    # Its HTML shows the user's name and a form for what the user may do: no shared cache may keep it.
    client = APIClient()
    CREDENTIALS[credentials](client, staff)
    response = client.get(f"/test/writers/{writer.pk}/?format=api")
    assert response.status_code == 200 and b"demo" in response.content and "ETag" not in response.headers
    assert directives(response) == {"private"}
    assert {"authorization", "cookie"} <= varies_on(response)


def test_a_refused_authentication_varies_on_credentials(staff, post, shared_when_anonymous):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION="Basic d3Jvbmc6d3Jvbmc=")  # wrong:wrong
    response = client.get(f"/test/posts/{post.pk}/")
    assert response.status_code == 401
    assert directives(response) == {"private"} and {"authorization", "cookie"} <= varies_on(response)
