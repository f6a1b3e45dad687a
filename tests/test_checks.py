"""System checks: settings that name nothing, strategies a model cannot serve, caches that keep nothing.

Each case mounts its own URLconf (a module object as ``ROOT_URLCONF``) and
runs Django's check framework, as ``manage.py check`` does.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from importlib.util import find_spec
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from django.core import checks
from django.urls import include, path
from rest_framework.routers import SimpleRouter

from tests.testapp.api import PostViewSet, WriterViewSet

ROOT = Path(__file__).resolve().parent.parent


def reported(check_id: str) -> list[checks.CheckMessage]:
    """What the system check framework reports under ``check_id``."""
    return [message for message in checks.run_checks() if message.id == check_id]


@pytest.fixture
def mount(settings) -> Callable[..., None]:
    """Make ``patterns`` the root URLconf."""

    def mount_patterns(*patterns: Any) -> None:
        urlconf = ModuleType("mounted_urls")
        urlconf.urlpatterns = list(patterns)  # type: ignore[attr-defined]
        settings.ROOT_URLCONF = urlconf

    return mount_patterns


@pytest.fixture
def views(settings) -> Callable[[dict[str, Any]], None]:
    """Replace ``CONDITIONAL_API['VIEWS']``, keeping the other keys."""

    def set_views(entries: dict[str, Any]) -> None:
        settings.CONDITIONAL_API = {**settings.CONDITIONAL_API, "VIEWS": entries}

    return set_views


def _product_routes() -> list[Any]:
    """Writers as "products", two includes deep, the inner one namespaced; and a viewset mounted without a router."""
    router = SimpleRouter()
    router.register("products", WriterViewSet, basename="product")
    cached = PostViewSet.as_view({"get": "retrieve"}, basename="cached-post")
    return [
        path("api/", include([path("v1/", include((router.urls, "shop"), namespace="v1"))])),
        path("cached-posts/<int:pk>/", cached, name="cached-post-detail"),
    ]


# -- CONDITIONAL_API["VIEWS"] keys name views ---------------------------------------


@pytest.mark.parametrize(
    "key",
    [
        pytest.param("product-detail", id="URL name in a namespaced include"),
        pytest.param("product", id="router basename"),
        pytest.param("product.partial_update", id="basename.action"),
        pytest.param("tests.testapp.api.WriterViewSet", id="view class path"),
        pytest.param("cached-post", id="basename of a viewset mounted without a router"),
        pytest.param("cached-post.retrieve", id="its action"),
        pytest.param("tests.testapp.api.PostViewSet", id="its class path"),
    ],
)
def test_a_views_key_may_name_a_view_by_any_of_its_names(mount, views, key):
    mount(*_product_routes())
    views({key: {"strategy": "version"}})
    assert reported("conditional_api.E003") == []


@pytest.mark.parametrize(
    "key, suggestion",
    [
        ("products-detail", "product-detail"),
        ("v1:product-detail", "product-detail"),
        ("prodcut", "product"),
        ("cached-post.update", "cached-post.retrieve"),
        ("tests.testapp.api.WriterViewset", "tests.testapp.api.WriterViewSet"),
    ],
)
def test_a_views_key_that_names_no_view_is_an_error_that_suggests_the_close_names(mount, views, key, suggestion):
    mount(*_product_routes())
    views({"product-list": {"strategy": "collection"}, key: {"strategy": "version"}})
    errors = reported("conditional_api.E003")
    assert len(errors) == 1, [e.msg for e in errors]
    assert errors[0].level == checks.ERROR
    assert f"CONDITIONAL_API['VIEWS'][{key!r}]" in errors[0].msg
    assert "names no view" in errors[0].msg
    guess, _, how = (errors[0].hint or "").partition("? ")
    assert guess.startswith("Did you mean ") and repr(suggestion) in guess
    assert "URL name" in how


def test_a_function_view_is_named_by_its_url_name_and_its_path(views):
    views({"note-detail": {}, "tests.testapp.views.note_detail": {}, "tests.testapp.views.note_detal": {}})
    errors = reported("conditional_api.E003")
    assert len(errors) == 1 and "['tests.testapp.views.note_detal']" in errors[0].msg
    assert (errors[0].hint or "").startswith("Did you mean 'tests.testapp.views.note_detail'")


def test_the_names_come_from_the_urlconf_in_use_now(mount, views):
    views({"product-detail": {}})
    mount(*_product_routes())
    assert reported("conditional_api.E003") == []
    mount(path("notes/", WriterViewSet.as_view({"get": "list"}, basename="writer"), name="writer-list"))
    assert [e.id for e in reported("conditional_api.E003")] == ["conditional_api.E003"]


def test_the_test_settings_name_only_views_of_the_test_urlconf():
    assert reported("conditional_api.E003") == []


# -- manage.py check on each settings module of the repository ----------------------

#: What each settings module's check may report of ours: the test app's
#: PlainManaged has the manager W001 is about, on purpose.
SETTINGS_MODULES = [
    pytest.param("example_project.settings", set(), id="example"),
    pytest.param("tests.settings", {"conditional_api.W001"}, id="tests"),
    pytest.param(
        "bench.settings",
        set(),
        id="bench",
        marks=pytest.mark.skipif(
            find_spec("rest_framework_extensions") is None, reason="the benchmark's peers are not installed"
        ),
    ),
]


@pytest.mark.parametrize("settings_module, expected", SETTINGS_MODULES)
def test_manage_py_check_reports_nothing_new_for_the_repositorys_settings(settings_module, expected):
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": settings_module}
    result = subprocess.run(
        [sys.executable, "manage.py", "check"], capture_output=True, text=True, cwd=ROOT, env=env, timeout=120
    )
    assert result.returncode == 0, result.stderr
    output = result.stdout + result.stderr
    ours = {word.strip("()") for word in output.split() if word.startswith("(conditional_api.")}
    assert ours == expected, output
