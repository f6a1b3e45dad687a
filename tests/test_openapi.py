"""The OpenAPI schema (drf-spectacular) says what each conditional operation does: headers, 304, 412, 428.

The example serves it at /api/schema/; it is validated as OpenAPI 3, its
entries are checked per endpoint, and each write's documented 428 is checked
against what the server answers.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from dataclasses import replace
from importlib.util import find_spec
from pathlib import Path
from typing import Any

import pytest
from django.urls import include, path
from rest_framework.routers import SimpleRouter

from conditional_api.conf import ViewOptions
from conditional_api.drf import ConditionalModelViewSet
from example_project.blog.models import Author
from example_project.blog.serializers import AuthorSerializer

pytestmark = pytest.mark.skipif(
    find_spec("drf_spectacular") is None or find_spec("openapi_spec_validator") is None,
    reason="needs the openapi extra and openapi-spec-validator (the test extra installs both)",
)

ROOT = Path(__file__).resolve().parent.parent
ARTICLE, AUTHOR = "/api/articles/{id}/", "/api/authors/{id}/"
LISTS = ["/api/articles/", "/api/authors/", "/api/tags/"]
WRITES = ["put", "patch", "delete"]


@pytest.fixture(scope="module")
def schema(django_db_blocker) -> dict[str, Any]:
    from rest_framework.test import APIClient

    with django_db_blocker.unblock():
        response = APIClient().get("/api/schema/", {"format": "json"})
    assert response.status_code == 200, response.content[:300]
    return response.json()


def _parameters(operation: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {p["name"]: p for p in operation.get("parameters", []) if p["in"] == "header"}


def _resolve(schema: dict[str, Any], ref: dict[str, Any]) -> dict[str, Any]:
    name = ref["$ref"].rpartition("/")[2]
    return schema["components"]["schemas"][name]


def test_the_schema_is_valid_openapi(schema):
    from openapi_spec_validator import validate

    validate(schema)


@pytest.mark.parametrize("url, last_modified", [(ARTICLE, True), (AUTHOR, True)])
def test_a_detail_read_documents_its_validators_and_304(schema, url, last_modified):
    get = schema["paths"][url]["get"]
    assert {"If-None-Match", "If-Modified-Since"} <= set(_parameters(get))
    for status in ("200", "304"):
        assert set(get["responses"][status]["headers"]) == {"ETag", "Last-Modified"}
    assert "content" not in get["responses"]["304"]


@pytest.mark.parametrize("url", LISTS)
def test_a_list_documents_its_etag_and_304_and_no_last_modified(schema, url):
    get = schema["paths"][url]["get"]
    parameters = _parameters(get)
    assert "If-None-Match" in parameters and "If-Modified-Since" not in parameters
    for status in ("200", "304"):
        assert set(get["responses"][status]["headers"]) == {"ETag"}


@pytest.mark.parametrize("method", WRITES)
@pytest.mark.parametrize("url, required", [(ARTICLE, True), (AUTHOR, False)])
def test_a_write_documents_its_preconditions_and_refusals(schema, url, required, method):
    operation = schema["paths"][url][method]
    parameters = _parameters(operation)
    assert parameters["If-Match"].get("required", False) is required
    assert "If-Unmodified-Since" in parameters and not parameters["If-Unmodified-Since"].get("required", False)
    responses = operation["responses"]
    assert ("428" in responses) is required
    refusals = ["400", "412", *(["428"] if required else [])]
    for status in refusals:
        body = _resolve(schema, responses[status]["content"]["application/json"]["schema"])
        assert set(body["properties"]) == {"detail"} and body["properties"]["detail"]["type"] == "string"
        assert body["required"] == ["detail"]
    for status in ("412", *(["428"] if required else [])):
        assert set(responses[status]["headers"]) == {"ETag", "Last-Modified"}
    if method != "delete":
        assert set(responses["200"]["headers"]) == {"ETag", "Last-Modified"}
    else:
        assert "headers" not in responses["204"]


@pytest.mark.parametrize("url", ["/api/articles/", "/api/authors/"])
def test_a_create_documents_the_validators_of_what_it_made(schema, url):
    post = schema["paths"][url]["post"]
    assert set(post["responses"]["201"]["headers"]) == {"ETag", "Last-Modified"}
    # Creates are not required to be conditional here: nothing to send, nothing to refuse.
    assert not {"412", "428"} & set(post["responses"]) and "If-Match" not in _parameters(post)


@pytest.mark.django_db
@pytest.mark.parametrize("method", WRITES)
@pytest.mark.parametrize("url, fixture", [(ARTICLE, "article"), (AUTHOR, "author")])
def test_a_documented_428_is_what_a_write_without_precondition_gets(
    request, schema, staff_client, url, fixture, method
):
    row = request.getfixturevalue(fixture)
    documented = "428" in schema["paths"][url][method]["responses"]
    data = {"name": "Renamed"} if fixture == "author" else {"title": "Renamed"}
    response = getattr(staff_client, method)(url.format(id=row.pk), data, format="json")
    assert (response.status_code == 428) is documented, response.status_code


def test_the_docs_page_serves_swagger_ui_from_local_static_files(client):
    page = client.get("/api/docs/").content.decode()
    script = "/static/drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js"
    assert script in page
    # Every script and stylesheet the page loads is the example's own (a CSRF token may spell "cdn" by chance).
    loaded = re.findall(r'(?:src|href)="([^"]+)"', page)
    assert loaded and all(url.startswith("/") and not url.startswith("//") for url in loaded), loaded
    # Served by the example itself, DEBUG off as under gunicorn.
    assert client.get(script).status_code == 200


def test_manage_py_spectacular_validates_the_example_without_warnings(tmp_path):
    result = subprocess.run(
        [sys.executable, "manage.py", "spectacular", "--validate", "--fail-on-warn", "--file", str(tmp_path / "s")],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**os.environ, "DJANGO_SETTINGS_MODULE": "example_project.settings"},
        timeout=120,
    )
    assert result.returncode == 0 and not result.stderr.strip(), result.stderr[-2000:]
    assert "If-None-Match" in (tmp_path / "s").read_text()


WITHOUT_SPECTACULAR = """
import sys
sys.modules["drf_spectacular"] = sys.modules["drf_spectacular_sidecar"] = None  # not installed
import django
django.setup()
from django.core.management import call_command
from django.test import Client
call_command("check", fail_level="WARNING")
call_command("migrate", verbosity=0)
client = Client(HTTP_HOST="localhost")
print(client.get("/api/articles/").status_code, client.get("/api/schema/").status_code)
print("conditional_api.openapi" in sys.modules)
"""


def test_the_example_runs_without_the_openapi_extra_and_registers_nothing(tmp_path):
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "example_project.settings",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
    }
    result = subprocess.run(
        [sys.executable, "-c", WITHOUT_SPECTACULAR], capture_output=True, text=True, cwd=ROOT, env=env, timeout=120
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.splitlines()[-2:] == ["200 404", "False"], result.stdout


# -- views annotated with @extend_schema, or choosing their options in code -------------------------


def _annotated_viewset() -> type[Any]:
    from drf_spectacular.utils import extend_schema

    @extend_schema(tags=["annotated authors"])
    class AnnotatedAuthorViewSet(ConditionalModelViewSet):
        serializer_class = AuthorSerializer
        queryset = Author.objects.order_by("id")
        conditional_options = {"strategy": "updated_at", "require_precondition": True}

        @extend_schema(summary="One author")
        def retrieve(self, request: Any, *args: Any, **kwargs: Any) -> Any:
            return super().retrieve(request, *args, **kwargs)

        @extend_schema(summary="Change an author")
        def partial_update(self, request: Any, *args: Any, **kwargs: Any) -> Any:
            return super().partial_update(request, *args, **kwargs)

    return AnnotatedAuthorViewSet


class HookedAuthorViewSet(ConditionalModelViewSet):
    """Options chosen in code, per action: only the view can say them."""

    serializer_class = AuthorSerializer
    queryset = Author.objects.order_by("id")

    def get_conditional_options(self, action: str | None = None) -> ViewOptions:
        options = super().get_conditional_options(action)
        return replace(options, require_precondition=(action or self.action) == "destroy")


def _urlpatterns() -> list[Any]:
    if find_spec("drf_spectacular") is None:
        return []
    router = SimpleRouter()
    router.register("annotated", _annotated_viewset(), basename="annotated")
    router.register("hooked", HookedAuthorViewSet, basename="hooked")
    return [path("", include(router.urls))]


urlpatterns = _urlpatterns()


@pytest.mark.urls(__name__)
def test_extend_schema_on_the_view_or_an_action_keeps_the_conditional_entries():
    from drf_spectacular.generators import SchemaGenerator

    paths = SchemaGenerator().get_schema(public=True)["paths"]
    retrieve, patch = paths["/annotated/{id}/"]["get"], paths["/annotated/{id}/"]["patch"]
    assert retrieve["summary"] == "One author" and retrieve["tags"] == ["annotated authors"]
    assert "304" in retrieve["responses"]
    listed = paths["/annotated/"]["get"]
    assert listed["tags"] == ["annotated authors"] and "304" in listed["responses"]
    assert "If-None-Match" in _parameters(retrieve)
    assert patch["summary"] == "Change an author" and "428" in patch["responses"]
    assert _parameters(patch)["If-Match"]["required"] is True


@pytest.mark.urls(__name__)
def test_a_view_that_chooses_its_options_in_code_is_asked():
    from drf_spectacular.generators import SchemaGenerator

    detail = SchemaGenerator().get_schema(public=True)["paths"]["/hooked/{id}/"]
    assert "428" in detail["delete"]["responses"] and "428" not in detail["patch"]["responses"]
