"""Deployment checks (W020-W024): each warns where its pitfall is real, and the middleware does what the warning says.

The checks run through Django's framework, as ``manage.py check`` does; the
behaviour behind each middleware warning is shown with a real request
through a stack that holds that middleware.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable
from types import ModuleType

import pytest
from asgiref.sync import async_to_sync
from django.core import checks
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.middleware.gzip import GZipMiddleware
from django.test import AsyncClient
from django.urls import include, path
from django.views.decorators.csrf import csrf_exempt
from model_bakery import baker

import example_project.settings as example
from conditional_api import pitfalls
from tests.testapp import views as testapp_views
from tests.testapp.models import Note, Post, Stamped

DJANGO_GZIP = "django.middleware.gzip.GZipMiddleware"
STRONG_GZIP = "conditional_api.middleware.GZipMiddleware"
CONDITIONAL_GET = "django.middleware.http.ConditionalGetMiddleware"
COMMON = "django.middleware.common.CommonMiddleware"
CORS = "corsheaders.middleware.CorsMiddleware"
PITFALLS = {f"conditional_api.W02{digit}" for digit in range(5)}

pytestmark = pytest.mark.django_db


class QuietGZipMiddleware(GZipMiddleware):
    """A project's own subclass of Django's GZip: it weakens ETags all the same."""


def reported() -> dict[str, checks.CheckMessage]:
    """What the check framework reports of this module's ids, by id."""
    return {message.id: message for message in checks.run_checks() if message.id in PITFALLS}


@pytest.fixture
def middleware(settings) -> Callable[..., None]:
    """Make ``MIDDLEWARE`` the example's, with ``above`` listed first and ``below`` last."""

    def set_middleware(above: tuple[str, ...] = (), below: tuple[str, ...] = ()) -> None:
        settings.MIDDLEWARE = [*above, *example.MIDDLEWARE, *below]

    return set_middleware


# -- the checks ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "above, below, expected, named",
    [
        pytest.param((DJANGO_GZIP,), (), {"conditional_api.W020"}, DJANGO_GZIP, id="Django's gzip"),
        pytest.param(
            (f"{__name__}.QuietGZipMiddleware",), (), {"conditional_api.W020"}, "QuietGZipMiddleware", id="subclass"
        ),
        pytest.param((CONDITIONAL_GET,), (), {"conditional_api.W021"}, CONDITIONAL_GET, id="conditional GET above"),
        pytest.param(
            (),
            (CONDITIONAL_GET,),
            {"conditional_api.W021", "conditional_api.W022"},
            CONDITIONAL_GET,
            id="conditional GET below common",
        ),
    ],
)
def test_middleware_that_undoes_conditional_requests_is_named_with_its_fix(middleware, above, below, expected, named):
    middleware(above=above, below=below)
    found = reported()
    assert set(found) == expected
    for message in found.values():
        assert "MIDDLEWARE" in message.msg and named in message.msg
    fixes = {
        "conditional_api.W020": STRONG_GZIP,
        "conditional_api.W021": "Remove it from MIDDLEWARE",
        "conditional_api.W022": f"list it above {COMMON!r}",
    }
    for check_id, message in found.items():
        assert fixes[check_id] in (message.hint or "")


@pytest.mark.parametrize(
    "above",
    [
        pytest.param((), id="the example's"),
        pytest.param((STRONG_GZIP,), id="the package's gzip"),
        pytest.param(("no.such.Middleware", "notadottedpath"), id="paths Django itself reports"),
    ],
)
def test_the_examples_middleware_and_the_packages_gzip_are_fine(middleware, above):
    middleware(above=above)
    assert reported() == {}


@pytest.mark.parametrize(
    "value", [None, DJANGO_GZIP, [DJANGO_GZIP.encode()], [".GZipMiddleware", "gzip.", "no.such.Middleware"]]
)
def test_middleware_that_is_no_list_of_importable_paths_is_left_to_django(settings, value):
    """Django's own checks and startup report these (some by raising); the pitfalls report nothing."""
    settings.MIDDLEWARE = value
    assert pitfalls.check_middleware() == [] and pitfalls.check_cors() == []


@pytest.fixture
def cors(settings, middleware) -> Callable[..., None]:
    """django-cors-headers in front of the example's stack, with ``values`` as its settings.

    Its middleware works without ``corsheaders`` in INSTALLED_APPS (the app
    only adds its own checks), and the checks here read MIDDLEWARE alone; an
    overridden INSTALLED_APPS would re-run every app's ``ready()`` mid-suite.
    """

    def set_cors(**values: object) -> None:
        middleware(above=(CORS,))
        settings.CORS_ALLOWED_ORIGINS = ["https://app.example.com"]
        for name, value in values.items():
            setattr(settings, name, value)

    return set_cors


BOTH = ["if-match", "if-none-match"]


@pytest.mark.parametrize(
    "values, expected, refused",
    [
        pytest.param({}, {"conditional_api.W023", "conditional_api.W024"}, "If-Match and If-None-Match", id="defaults"),
        pytest.param(
            {"CORS_EXPOSE_HEADERS": ["Last-Modified"], "CORS_ALLOW_HEADERS": BOTH},
            {"conditional_api.W023"},
            None,
            id="only Last-Modified exposed",
        ),
        pytest.param(
            {"CORS_EXPOSE_HEADERS": ["etag"], "CORS_ALLOW_HEADERS": ["If-Match"]},
            {"conditional_api.W024"},
            "If-None-Match",
            id="one field allowed",
        ),
        pytest.param(
            {"CORS_EXPOSE_HEADERS": ["*"], "CORS_ALLOW_HEADERS": ["*"], "CORS_ALLOW_CREDENTIALS": True},
            {"conditional_api.W023", "conditional_api.W024"},
            "If-Match and If-None-Match",
            id="a wildcard with credentials is a name",
        ),
    ],
)
def test_cors_that_hides_the_etag_or_refuses_preconditions_is_named_with_its_fix(cors, values, expected, refused):
    cors(**values)
    found = reported()
    assert set(found) == expected
    if hidden := found.get("conditional_api.W023"):
        assert "CORS_EXPOSE_HEADERS does not list ETag" in hidden.msg
        assert 'CORS_EXPOSE_HEADERS = [..., "ETag"]' in (hidden.hint or "")
    if refusing := found.get("conditional_api.W024"):
        assert f"CORS_ALLOW_HEADERS does not list {refused}," in refusing.msg
        assert "CORS_ALLOW_HEADERS = [*corsheaders.defaults.default_headers" in (refusing.hint or "")


@pytest.mark.parametrize(
    "values",
    [
        pytest.param({"CORS_EXPOSE_HEADERS": ("ETAG", "Last-Modified"), "CORS_ALLOW_HEADERS": BOTH}, id="listed"),
        pytest.param({"CORS_EXPOSE_HEADERS": ["*"], "CORS_ALLOW_HEADERS": ["*"]}, id="wildcards without credentials"),
        pytest.param({"CORS_EXPOSE_HEADERS": "ETag", "CORS_ALLOW_HEADERS": 3}, id="no lists: corsheaders' checks"),
    ],
)
def test_cors_that_shows_the_etag_and_admits_preconditions_is_fine(cors, values):
    cors(**values)
    assert reported() == {}


def test_cors_settings_without_its_middleware_are_not_read(settings, middleware):
    middleware()
    settings.CORS_ALLOWED_ORIGINS = ["https://app.example.com"]
    assert reported() == {}


def test_the_example_and_test_settings_report_no_pitfall(settings):
    """The example's own ``manage.py check``, whole, is in tests/test_checks.py."""
    assert reported() == {}
    settings.MIDDLEWARE = example.MIDDLEWARE
    assert reported() == {}


@pytest.mark.parametrize(
    "values, exposed, allowed",
    [
        pytest.param({}, "", "accept, authorization", id="defaults"),
        pytest.param(
            {"CORS_EXPOSE_HEADERS": ["ETag"], "CORS_ALLOW_HEADERS": BOTH}, "ETag", "if-match, if-none-match", id="fixed"
        ),
    ],
)
def test_cors_middleware_shows_and_admits_what_its_settings_list(cors, client, article, values, exposed, allowed):
    """W023, W024: the browser reads only the exposed fields, and sends only the allowed ones after a preflight."""
    cors(**values)
    origin = {"Origin": "https://app.example.com"}
    read = client.get(f"/api/articles/{article.pk}/", headers=origin)
    assert read.headers["ETag"] and read.headers.get("Access-Control-Expose-Headers", "") == exposed
    preflight = client.options(
        f"/api/articles/{article.pk}/",
        headers={**origin, "Access-Control-Request-Method": "PUT", "Access-Control-Request-Headers": "if-match"},
    )
    assert preflight.headers["Access-Control-Allow-Headers"].startswith(allowed)


# -- what the warnings say the middleware does -----------------------------------------

GZIP = {"HTTP_ACCEPT_ENCODING": "gzip"}


def test_djangos_gzip_weakens_the_etag_so_writes_fail_and_revalidations_pass(middleware, staff_client, writer):
    """W020: If-Match with the weak tag is 412; If-None-Match with it is a 304 that names the strong tag."""
    middleware(above=(DJANGO_GZIP,))
    post = baker.make(Post, title="Long", body="words " * 200, published=True, writer=writer)
    url = f"/test/posts/{post.pk}/"
    given = staff_client.get(url, **GZIP)
    assert given.headers["Content-Encoding"] == "gzip" and given.headers["ETag"].startswith('W/"')
    revalidated = staff_client.get(url, HTTP_IF_NONE_MATCH=given.headers["ETag"], **GZIP)
    assert revalidated.status_code == 304
    assert revalidated.headers["ETag"] == given.headers["ETag"].removeprefix("W/")
    written = staff_client.patch(url, {"title": "x"}, format="json", HTTP_IF_MATCH=given.headers["ETag"], **GZIP)
    assert written.status_code == 412
    assert Post.objects.get(pk=post.pk).title == "Long"


CALLS: Counter[str] = Counter()


@csrf_exempt
def stamped_without_validators(request: HttpRequest, pk: int) -> HttpResponse:
    """A view conditional_api does not validate: GET shows the row, PUT writes it."""
    CALLS[request.method or ""] += 1
    row = Stamped.objects.get(pk=pk)
    if request.method == "PUT":
        row.text = json.loads(request.body)["text"]
        row.save()
    return JsonResponse({"text": row.text})


@pytest.fixture
def routes(settings) -> None:
    urlconf = ModuleType("pitfall_urls")
    urlconf.urlpatterns = [  # type: ignore[attr-defined]
        path("unvalidated/<int:pk>/", stamped_without_validators),
        path("", include("tests.urls")),
    ]
    settings.ROOT_URLCONF = urlconf
    CALLS.clear()


@pytest.mark.usefixtures("routes")
def test_conditional_get_invents_an_etag_that_costs_the_view_and_guards_no_write(middleware, client):
    """W021: a hashed ETag, a 304 after the view ran, and a PUT with a stale If-Match carried out."""
    middleware(above=(CONDITIONAL_GET,))
    row = baker.make(Stamped, text="first")
    url = f"/unvalidated/{row.pk}/"
    etag = client.get(url).headers["ETag"]
    assert client.get(url, HTTP_IF_NONE_MATCH=etag).status_code == 304
    assert CALLS["GET"] == 2
    client.put(url, json.dumps({"text": "second"}), content_type="application/json")
    stale = client.put(url, json.dumps({"text": "lost"}), content_type="application/json", HTTP_IF_MATCH=etag)
    assert stale.status_code == 200 and Stamped.objects.get(pk=row.pk).text == "lost"


def test_conditional_get_keeps_the_packages_etag_and_its_304_without_the_view(middleware, client):
    middleware()
    url = f"/test/notes/{baker.make(Note, key='n').pk}/"
    etag = client.get(url).headers["ETag"]
    middleware(above=(CONDITIONAL_GET,))
    assert client.get(url).headers["ETag"] == etag
    testapp_views.CALLS.clear()
    assert client.get(url, HTTP_IF_NONE_MATCH=etag).status_code == 304
    assert testapp_views.CALLS["note_detail"] == 0


@pytest.mark.usefixtures("routes")
@pytest.mark.parametrize(
    "above, below, length",
    [
        pytest.param((), (CONDITIONAL_GET,), "0", id="below CommonMiddleware"),
        pytest.param((CONDITIONAL_GET,), (), None, id="above CommonMiddleware"),
    ],
)
def test_conditional_gets_304_gets_a_length_from_common_middleware_only_below_it(
    middleware, client, above, below, length
):
    """W022: CommonMiddleware adds Content-Length: 0 to the 304s made below it."""
    middleware(above=above, below=below)
    url = f"/unvalidated/{baker.make(Stamped, text='x' * 50).pk}/"
    etag = client.get(url).headers["ETag"]
    not_modified = client.get(url, HTTP_IF_NONE_MATCH=etag)
    assert not_modified.status_code == 304
    assert not_modified.headers.get("Content-Length") == length


@pytest.mark.parametrize("view", ["posts", "notes", "async-notes"], ids=["DRF", "decorator", "async decorator"])
@pytest.mark.parametrize("handler", ["wsgi", "asgi"])
def test_the_packages_304_through_common_middleware_has_no_content_length(middleware, client, writer, view, handler):
    """Why CommonMiddleware gets no warning: the package's 304s say they have the header, so it adds none."""
    middleware()
    row = (
        baker.make(Post, published=True, writer=writer)
        if view == "posts"
        else baker.make(Note, key="k", text="some text")
    )
    url = f"/test/{view}/{row.pk}/"
    get = client.get if handler == "wsgi" else async_to_sync(AsyncClient().get)
    given = get(url)
    assert given.status_code == 200 and given.headers["Content-Length"] == str(len(given.content))
    not_modified = get(url, headers={"If-None-Match": given.headers["ETag"]})
    assert not_modified.status_code == 304 and not_modified.headers["ETag"] == given.headers["ETag"]
    assert "Content-Length" not in not_modified.headers
