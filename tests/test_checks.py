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
from django.contrib.sessions.models import Session
from django.core import checks
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.urls import include, path
from rest_framework import generics, serializers
from rest_framework.routers import SimpleRouter

from conditional_api import conditional, drf
from conditional_api.drf import ConditionalModelViewSet, ConditionalRetrieveMixin
from tests.testapp.api import NoteSerializer, PostViewSet, WriterViewSet
from tests.testapp.models import Book, Note, Post, Publisher, Shelf, Stamped

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


# -- strategies the view's model can serve ------------------------------------------


class PublisherSerializer(serializers.ModelSerializer):
    class Meta:
        model = Publisher
        fields = ["id", "name"]


class PublisherViewSet(ConditionalModelViewSet):
    """A model that is not versioned: no version, no updated_at, no change counter."""

    queryset = Publisher.objects.all()
    serializer_class = PublisherSerializer


class ScopedPublisherViewSet(ConditionalModelViewSet):
    """The model is known only from a request."""

    serializer_class = PublisherSerializer

    def get_queryset(self) -> QuerySet[Publisher]:
        return Publisher.objects.all()


class PublisherDetailView(ConditionalRetrieveMixin, generics.GenericAPIView[Publisher]):
    """A generic view, its strategy set in code."""

    queryset = Publisher.objects.all()
    serializer_class = PublisherSerializer
    conditional_options = {"strategy": "updated_at"}

    def get(self, request: Any, *args: Any, **kwargs: Any) -> Any:
        return self.retrieve(request, *args, **kwargs)


@conditional(Publisher)
def publisher_page(request: HttpRequest, pk: int) -> HttpResponse:
    return HttpResponse(Publisher.objects.get(pk=pk).name)


@conditional(Publisher.objects.order_by("name"))
def publisher_index(request: HttpRequest) -> HttpResponse:
    return HttpResponse(", ".join(Publisher.objects.values_list("name", flat=True)))


@conditional(lambda request: Publisher.objects.all())
def publisher_by_request(request: HttpRequest, pk: int) -> HttpResponse:
    return HttpResponse(Publisher.objects.get(pk=pk).name)


@conditional(Stamped)
def stamped_page(request: HttpRequest, pk: int) -> HttpResponse:
    return HttpResponse(Stamped.objects.get(pk=pk).text)


@conditional(Stamped, strategy="version")
def stamped_by_version(request: HttpRequest, pk: int) -> HttpResponse:
    return HttpResponse(Stamped.objects.get(pk=pk).text)


class SessionSerializer(serializers.ModelSerializer):
    class Meta:
        model = Session
        fields = ["session_key"]


class SessionViewSet(ConditionalModelViewSet):
    """Django's sessions: a table whose writes are not counted (conditional_api.counting)."""

    queryset = Session.objects.all()
    serializer_class = SessionSerializer


@conditional(Session.objects.order_by("session_key"))
def session_index(request: HttpRequest) -> HttpResponse:
    return HttpResponse(", ".join(Session.objects.values_list("session_key", flat=True)))


def _session_routes() -> list[Any]:
    router = SimpleRouter()
    router.register("sessions", SessionViewSet, basename="session")
    return [path("api/", include(router.urls)), path("sessions/", session_index, name="session-index")]


def _publisher_routes() -> list[Any]:
    router = SimpleRouter()
    router.register("publishers", PublisherViewSet, basename="publisher")
    router.register("scoped-publishers", ScopedPublisherViewSet, basename="scoped-publisher")
    return [
        path("api/", include(router.urls)),
        path("publishers/<int:pk>/", publisher_page, name="publisher-page"),
        path("publishers/", publisher_index, name="publisher-index"),
        path("by-request/<int:pk>/", publisher_by_request, name="publisher-by-request"),
        path("stamped/<int:pk>/", stamped_page, name="stamped-page"),
    ]


#: Every publisher view serves the content strategy unless a case says otherwise.
CONTENT_EVERYWHERE = {
    "publisher": {"strategy": "content"},
    "publisher-page": {"strategy": "content"},
    "publisher-index": {"strategy": "content"},
    "stamped-page": {"strategy": "updated_at"},
}


@pytest.mark.parametrize(
    "entries, view, where, fix",
    [
        pytest.param(
            {"publisher-detail": {"strategy": "version"}},
            "tests.test_checks.PublisherViewSet",
            "CONDITIONAL_API['VIEWS']['publisher-detail']['strategy']",
            "Set CONDITIONAL_API['VIEWS']['publisher-detail']['strategy'] to 'content'",
            id="DRF detail, version",
        ),
        pytest.param(
            {"publisher.update": {"strategy": "updated_at"}},
            "tests.test_checks.PublisherViewSet",
            "CONDITIONAL_API['VIEWS']['publisher.update']['strategy']",
            "Set CONDITIONAL_API['VIEWS']['publisher.update']['strategy'] to 'content'",
            id="DRF write, updated_at",
        ),
        pytest.param(
            {"publisher-page": {}},
            "tests.test_checks.publisher_page",
            "the default strategy",
            "Set CONDITIONAL_API['VIEWS']['publisher-page']['strategy'] to 'content'",
            id="decorator, default",
        ),
        pytest.param(
            {"stamped-page": {"strategy": "version"}},
            "tests.test_checks.stamped_page",
            "CONDITIONAL_API['VIEWS']['stamped-page']['strategy']",
            "Set CONDITIONAL_API['VIEWS']['stamped-page']['strategy'] to 'updated_at'",
            id="a model with updated_at but no version",
        ),
    ],
)
def test_a_row_strategy_whose_field_the_model_lacks_is_an_error(mount, views, entries, view, where, fix):
    mount(*_publisher_routes())
    views({**CONTENT_EVERYWHERE, **entries})
    errors = reported("conditional_api.E004")
    assert len(errors) == 1, [e.msg for e in errors]
    assert errors[0].level == checks.ERROR
    assert view in errors[0].msg and where in errors[0].msg and "has no field" in errors[0].msg
    assert (errors[0].hint or "").startswith(fix)


@pytest.mark.parametrize(
    "view, where, fix",
    [
        pytest.param(
            stamped_by_version,
            "(strategy= of @conditional), but testapp.Stamped has no field 'version'",
            "Pass strategy='updated_at' to @conditional, or make testapp.Stamped a VersionedModel.",
            id="decorator",
        ),
        pytest.param(
            PublisherDetailView.as_view(),
            "(tests.test_checks.PublisherDetailView.conditional_options['strategy']), "
            "but testapp.Publisher has no field 'updated_at'",
            "Set tests.test_checks.PublisherDetailView.conditional_options['strategy'] to 'content', "
            "or make testapp.Publisher a VersionedModel.",
            id="generic DRF view",
        ),
    ],
)
def test_a_strategy_set_in_code_is_named_as_such(mount, views, view, where, fix):
    mount(path("things/<int:pk>/", view, name="thing"))
    views({})
    [error] = reported("conditional_api.E004")
    assert where in error.msg
    assert error.hint == fix


@pytest.mark.parametrize(
    "entries, view",
    [
        pytest.param({"session-list": {"strategy": "collection"}}, "SessionViewSet", id="DRF list, collection"),
        pytest.param({"session.list": {"strategy": "version"}}, "SessionViewSet", id="DRF list, version"),
        pytest.param({"session-index": {"strategy": "collection"}}, "session_index", id="decorator list"),
    ],
)
def test_a_list_whose_table_has_no_change_counter_is_a_warning(mount, views, entries, view):
    mount(*_session_routes())
    views({"session": {"strategy": "content"}, "session-index": {"strategy": "content"}, **entries})
    warnings = reported("conditional_api.W002")
    assert [w.level for w in warnings] == [checks.WARNING], [w.msg for w in warnings]
    assert view in warnings[0].msg and "sessions.Session" in warnings[0].msg
    assert "full query" in warnings[0].msg and "VersionedModel" in (warnings[0].hint or "")


class NotesWithRawSQLViewSet(ConditionalModelViewSet):
    """A counted model whose list also reads a table no model has, in raw SQL."""

    queryset = Note.objects.extra(where=["id NOT IN (SELECT 1 FROM not_a_model_table)"])
    serializer_class = NoteSerializer


@conditional(Note.objects.filter(text__in=Session.objects.values("session_key")).order_by("id"))
def notes_beside_sessions(request: HttpRequest) -> HttpResponse:
    return HttpResponse("")


@pytest.mark.parametrize(
    "routes, entries, view, named",
    [
        pytest.param(
            lambda: [path("notes/", notes_beside_sessions, name="notes-beside-sessions")],
            {"notes-beside-sessions": {"strategy": "collection"}},
            "notes_beside_sessions",
            "sessions.Session",
            id="decorator list joining sessions",
        ),
        pytest.param(
            lambda: _router_routes("raw-notes", NotesWithRawSQLViewSet),
            {"raw-notes-list": {"strategy": "collection"}, "raw-notes": {"strategy": "content"}},
            "NotesWithRawSQLViewSet",
            "raw SQL",
            id="DRF list with raw SQL",
        ),
    ],
)
def test_a_list_reading_a_table_whose_writes_are_not_counted_names_it(mount, views, routes, entries, view, named):
    mount(*routes())
    views(entries)
    warnings = reported("conditional_api.W002")
    assert len(warnings) == 1 and view in warnings[0].msg and named in warnings[0].msg, [w.msg for w in warnings]


def _router_routes(basename: str, viewset: Any) -> list[Any]:
    router = SimpleRouter()
    router.register(basename, viewset, basename=basename)
    return [path("api/", include(router.urls))]


def test_a_list_of_a_model_that_is_not_versioned_but_counted_is_no_warning(mount, views):
    mount(*_publisher_routes())
    views({**CONTENT_EVERYWHERE, "publisher-list": {"strategy": "collection"}})
    assert reported("conditional_api.W002") == []


def test_a_model_known_only_from_a_request_is_not_guessed(mount, views):
    mount(*_publisher_routes())
    views({**CONTENT_EVERYWHERE, "scoped-publisher": {"strategy": "version"}, "publisher-by-request": {}})
    assert reported("conditional_api.E004") == reported("conditional_api.W002") == []


def test_the_test_settings_strategies_fit_their_models():
    assert reported("conditional_api.E004") == reported("conditional_api.W002") == []


@pytest.mark.django_db
def test_drf_views_are_checked_by_the_names_their_requests_look_them_up_by(monkeypatch, staff_client, post):
    """Each conditional DRF request asks the settings by names the check anticipated for its route."""
    asked: set[tuple[str | None, ...]] = set()
    view_options = drf.view_options

    def recording(keys: Any, explicit: Any = None) -> Any:
        asked.add(tuple(keys))
        return view_options(keys, explicit)

    monkeypatch.setattr(drf, "view_options", recording)
    Note.objects.create(key="k", text="t")
    staff_client.get(f"/test/posts/{post.pk}/")
    staff_client.patch(f"/test/posts/{post.pk}/", {"title": "New"}, format="json", HTTP_IF_MATCH="*")
    staff_client.get("/test/posts/")
    staff_client.post("/test/posts/", {"title": "T", "body": "B", "writer": post.writer.pk}, format="json")
    staff_client.get("/test/generic-notes/k/")
    anticipated = {
        tuple(drf.option_keys(view, route, action))
        for view, route in drf._conditional_views()
        for action in [*drf.route_actions(view, route).values(), *(action for _, action in drf._reads(view, route))]
    }
    assert len(asked) >= 5 and asked <= anticipated, asked - anticipated


# -- cache_validators needs a cache that keeps them -----------------------------------

DUMMY = {"BACKEND": "django.core.cache.backends.dummy.DummyCache"}
LOCMEM = {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}


@pytest.mark.parametrize(
    "config, why",
    [
        pytest.param(
            {"CACHE": None, "DEFAULTS": {"cache_validators": True}},
            "CONDITIONAL_API['DEFAULTS']['cache_validators'] is True, but CONDITIONAL_API['CACHE'] is None",
            id="no cache",
        ),
        pytest.param(
            {"CACHE": "validators", "VIEWS": {"post-detail": {"cache_validators": True}}},
            "CONDITIONAL_API['VIEWS']['post-detail']['cache_validators'] is True, but CONDITIONAL_API['CACHE'] "
            "is 'validators', which is not in CACHES",
            id="an alias CACHES lacks",
        ),
        pytest.param(
            {"CACHE": "dummy", "VIEWS": {"post": {"cache_validators": True}}},
            "CONDITIONAL_API['VIEWS']['post']['cache_validators'] is True, but CONDITIONAL_API['CACHE'] is "
            "'dummy', a DummyCache",
            id="a cache that keeps nothing",
        ),
    ],
)
def test_cache_validators_without_a_cache_that_keeps_them_is_an_error(settings, config, why):
    settings.CACHES = {"default": LOCMEM, "dummy": DUMMY}
    settings.CONDITIONAL_API = {"DEFAULTS": {}, **config}
    errors = reported("conditional_api.E005")
    assert len(errors) == 1, [e.msg for e in errors]
    assert why in errors[0].msg and "caches nothing" in errors[0].msg
    assert "CONDITIONAL_API['CACHE']" in (errors[0].hint or "") and "'default'" in (errors[0].hint or "")


@pytest.mark.parametrize(
    "config",
    [
        pytest.param({"CACHE": "default", "DEFAULTS": {"cache_validators": True}}, id="a cache in local memory"),
        pytest.param({"CACHE": None, "VIEWS": {"post-detail": {"cache_validators": False}}}, id="not asked for"),
        pytest.param({"CACHE": "dummy"}, id="a DummyCache no view uses"),
    ],
)
def test_a_validator_cache_that_keeps_them_or_is_not_used_is_fine(settings, config):
    settings.CACHES = {"default": LOCMEM, "dummy": DUMMY}
    settings.CONDITIONAL_API = {"DEFAULTS": {}, **config}
    assert reported("conditional_api.E005") == []


def test_metrics_without_prometheus_client_is_an_error(settings, monkeypatch):
    monkeypatch.setitem(sys.modules, "prometheus_client", None)  # as if the extra were not installed
    settings.CONDITIONAL_API = {"METRICS": True}
    [error] = reported("conditional_api.E006")
    assert "METRICS" in error.msg and "pip install 'conditional-api[metrics]'" in (error.hint or "")
    settings.CONDITIONAL_API = {"METRICS": False}
    assert reported("conditional_api.E006") == []


@pytest.mark.parametrize(
    "caches, config, fine",
    [
        pytest.param({"default": DUMMY}, {"VERIFY_RATE": 0.01}, False, id="the default cache keeps nothing"),
        pytest.param({"default": LOCMEM, "dummy": DUMMY}, {"VERIFY_RATE": 0.01, "CACHE": "dummy"}, False, id="CACHE"),
        pytest.param({"default": LOCMEM}, {"VERIFY_RATE": 0.01}, True, id="local memory"),
        pytest.param({"default": DUMMY}, {"VERIFY_RATE": 0}, True, id="not verifying"),
    ],
)
def test_verifying_without_a_cache_that_keeps_digests_is_an_error(settings, caches, config, fine):
    settings.CACHES = caches
    settings.CONDITIONAL_API = config
    errors = reported("conditional_api.E007")
    assert (errors == []) is fine, [e.msg for e in errors]
    if not fine:
        assert "VERIFY_RATE" in errors[0].msg and "no 304 is ever verified" in errors[0].msg


# -- what the representation shows, the model declares --------------------------------


class ShelfNameSerializer(serializers.ModelSerializer):
    class Meta:
        model = Shelf
        fields = ["id", "name"]


class BookTitleSerializer(serializers.ModelSerializer):
    class Meta:
        model = Book
        fields = ["id", "title"]


class WriterPostsSerializer(serializers.Serializer):
    name = serializers.CharField()
    posts = serializers.PrimaryKeyRelatedField(many=True, read_only=True)


def _viewset(
    model: type[Any], fields: dict[str, Any], queryset: QuerySet[Any] | None = None, **meta: Any
) -> type[ConditionalModelViewSet]:
    """A viewset over ``model`` whose serializer declares ``fields``.

    ``meta`` adds to the serializer's ``Meta``, ``also_fields`` to its ``Meta.fields``.
    """
    shown = ["id", *fields, *meta.pop("also_fields", ())]
    serializer = type(
        f"{model.__name__}Serializer",
        (serializers.ModelSerializer,),
        {"Meta": type("Meta", (), {"model": model, "fields": shown, **meta}), **fields},
    )
    attributes = {
        "__module__": __name__,
        "__qualname__": f"{model.__name__}ViewSet",
        "queryset": model.objects.all() if queryset is None else queryset,
        "serializer_class": serializer,
    }
    return type(f"{model.__name__}ViewSet", (ConditionalModelViewSet,), attributes)


def _mount_viewset(mount: Callable[..., None], viewset: type[ConditionalModelViewSet]) -> None:
    router = SimpleRouter()
    router.register("things", viewset, basename="thing")
    mount(path("", include(router.urls)))


def _read_only(field_class: type[Any], **kwargs: Any) -> Any:
    return field_class(read_only=True, **kwargs)


UNDECLARED = [
    pytest.param(
        Book,
        {"shelf_name": _read_only(serializers.CharField, source="shelf.name")},
        {},
        "shelf_name",
        "shelf",
        id="dotted source",
    ),
    pytest.param(Book, {"shelf": ShelfNameSerializer(read_only=True)}, {}, "shelf", "shelf", id="nested serializer"),
    pytest.param(
        Book,
        {"shelf": _read_only(serializers.SlugRelatedField, slug_field="name")},
        {},
        "shelf",
        "shelf",
        id="slug of a foreign key",
    ),
    pytest.param(Book, {}, {"depth": 1, "also_fields": ["shelf"]}, "shelf", "shelf", id="ModelSerializer depth"),
    pytest.param(
        Shelf,
        {"books": _read_only(serializers.PrimaryKeyRelatedField, many=True)},
        {},
        "books",
        "books",
        id="primary keys of a reverse foreign key",
    ),
    pytest.param(
        Shelf, {"books": BookTitleSerializer(many=True, read_only=True)}, {}, "books", "books", id="nested many=True"
    ),
    pytest.param(
        Shelf,
        {"titles": _read_only(serializers.SlugRelatedField, source="books", many=True, slug_field="title")},
        {},
        "titles",
        "books",
        id="many slugs",
    ),
    pytest.param(
        Shelf,
        {"books": _read_only(serializers.HyperlinkedRelatedField, many=True, view_name="thing-detail")},
        {},
        "books",
        "books",
        id="many links",
    ),
    pytest.param(
        Post,
        {"writer_posts": _read_only(serializers.IntegerField, source="writer.posts.count")},
        {},
        "writer_posts",
        "writer__posts",
        id="two hops in a source",
    ),
    pytest.param(
        Post,
        {"writer": WriterPostsSerializer(read_only=True)},
        {},
        "writer.posts",
        "writer__posts",
        id="two hops through a nested serializer",
    ),
]


@pytest.fixture
def undeclared(monkeypatch) -> None:
    """Shelf shows its books without declaring them."""
    monkeypatch.setattr(Shelf, "depends_on", ())


@pytest.mark.parametrize("model, fields, meta, field, entry", UNDECLARED)
def test_a_relation_the_serializer_shows_but_the_model_does_not_declare_is_a_warning(
    mount, views, undeclared, model, fields, meta, field, entry
):
    _mount_viewset(mount, _viewset(model, fields, **meta))
    views({})
    warnings = reported("conditional_api.W003")
    assert [w.level for w in warnings] == [checks.WARNING], [w.msg for w in warnings]
    label = model._meta.label
    message, hint = warnings[0].msg, warnings[0].hint
    assert f"tests.test_checks.{model.__name__}ViewSet" in message
    assert f"field {model.__name__}Serializer.{field}" in message and repr(entry) in message
    declared = tuple(model.depends_on)
    assert hint == f"Add {entry!r} to {label}.depends_on: depends_on = {(*declared, entry)!r}."


@pytest.mark.parametrize(
    "model, queryset, entry, loads",
    [
        (Book, Book.objects.select_related("shelf"), "shelf", "select_related('shelf')"),
        (Shelf, Shelf.objects.prefetch_related("books"), "books", "prefetch_related('books')"),
    ],
)
def test_a_relation_the_queryset_loads_but_the_model_does_not_declare_is_a_warning(
    mount, views, undeclared, model, queryset, entry, loads
):
    _mount_viewset(mount, _viewset(model, {}, queryset=queryset))
    views({})
    [warning] = reported("conditional_api.W003")
    assert loads in warning.msg and repr(entry) in warning.msg
    assert (warning.hint or "").startswith(f"Add {entry!r} to {model._meta.label}.depends_on")


@pytest.mark.parametrize(
    "model, fields",
    [
        pytest.param(Book, {"shelf": _read_only(serializers.PrimaryKeyRelatedField)}, id="the key of a foreign key"),
        pytest.param(
            Book,
            {"shelf": _read_only(serializers.HyperlinkedRelatedField, view_name="thing-detail")},
            id="a link by primary key",
        ),
        pytest.param(Book, {"shelf_name": serializers.SerializerMethodField()}, id="a method: unknowable"),
        pytest.param(
            Book, {"shelf_name": serializers.CharField(source="shelf.name", write_only=True)}, id="written, not shown"
        ),
        pytest.param(Post, {"writer_name": _read_only(serializers.CharField, source="writer.name")}, id="declared"),
    ],
)
def test_what_the_representation_does_not_show_or_declares_is_fine(mount, views, model, fields):
    _mount_viewset(mount, _viewset(model, fields))
    views({})
    assert reported("conditional_api.W003") == []


def test_a_view_validated_by_its_bytes_needs_no_declaration(mount, views):
    _mount_viewset(mount, _viewset(Book, {"shelf_name": _read_only(serializers.CharField, source="shelf.name")}))
    views({"thing": {"strategy": "content"}})
    assert reported("conditional_api.W003") == []


def test_a_view_with_get_queryset_is_checked_through_its_serializers_model(monkeypatch):
    monkeypatch.setattr(Post, "depends_on", ("writer",))
    [warning] = reported("conditional_api.W003")
    assert "tests.testapp.api.PostViewSet" in warning.msg and "'labels'" in warning.msg
    assert warning.hint == "Add 'labels' to testapp.Post.depends_on: depends_on = ('writer', 'labels')."


def test_the_example_and_test_views_declare_what_they_show():
    assert reported("conditional_api.W003") == []
