"""The contenders: each serves the article detail and the article list its own way.

Every DRF contender uses the example ArticleViewSet's serializer, queryset,
filters, pagination, authentication and permission classes; every plain
Django contender uses the example's ``plain_article_detail`` body and
``article_representation``. So the differences measured are the validators
and nothing else.

Adding a contender is one entry in ``CONTENDERS``: for a viewset,
``Contender.from_viewset(...)``; for function views, ``Contender(...)`` with
the two views. ``bench.urls`` mounts each under ``/<key>/articles/``.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from django.core.paginator import InvalidPage, Paginator
from django.db.models import Count, Max
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseNotModified, JsonResponse
from django.middleware.http import ConditionalGetMiddleware
from django.urls import URLPattern, path
from django.utils.decorators import decorator_from_middleware
from django.views.decorators.http import condition, require_http_methods
from rest_framework import status, viewsets
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView
from rest_framework_extensions.etag.mixins import APIETAGMixin, ETAGMixin

from conditional_api import conditional
from example_project.blog.models import Article
from example_project.blog.pagination import PageNumberPagination
from example_project.blog.representations import article_representation
from example_project.blog.views import ArticleViewSet, plain_article_detail, shown_articles

__all__ = ["CONTENDERS", "Contender"]

View = Callable[..., Any]
Kind = Literal["drf", "plain"]
#: The row the one-query floors read, on list URLs too (they have no pk).
FLOOR_ARTICLE = 1


@dataclass(frozen=True)
class Contender:
    """One way of serving the article detail and list."""

    key: str  #: URL prefix and the name in results
    label: str  #: the name in tables
    kind: Kind  #: which floor it is compared with
    about: str  #: one sentence for docs/benchmarks.md
    detail_view: View
    list_view: View
    answers_304: bool = True
    floor: bool = False  #: answers 304 to anything; not probed for freshness
    lists: bool = True  #: measured on the list cases too (False: what it changes is details only)
    detail_name: str | None = None  #: URL names: conditional_api finds its per-view settings by them
    list_name: str | None = None

    @classmethod
    def from_viewset(
        cls,
        key: str,
        label: str,
        viewset: type[viewsets.GenericViewSet],
        *,
        about: str,
        basename: str | None = None,
        wrap: Callable[[View], View] | None = None,
        answers_304: bool = True,
        lists: bool = True,
    ) -> Contender:
        """A DRF contender, routed as DefaultRouter routes the example's viewsets.

        ``basename`` names the URLs (conditional_api reads its per-view
        settings by it); ``wrap`` decorates both views.
        """
        basename = basename or key
        wrap = wrap or (lambda view: view)
        detail = viewset.as_view(
            {"get": "retrieve", "put": "update", "patch": "partial_update", "delete": "destroy"},
            basename=basename,
            detail=True,
        )
        list_ = viewset.as_view({"get": "list", "post": "create"}, basename=basename, detail=False)
        return cls(
            key,
            label,
            "drf",
            about,
            detail_view=wrap(detail),
            list_view=wrap(list_),
            answers_304=answers_304,
            lists=lists,
            detail_name=f"{basename}-detail",
            list_name=f"{basename}-list",
        )

    def describe(self) -> dict[str, Any]:
        """What the report needs to know of the contender (it runs without Django)."""
        return {
            "key": self.key,
            "label": self.label,
            "kind": self.kind,
            "about": self.about,
            "answers_304": self.answers_304,
            "floor": self.floor,
            "lists": self.lists,
        }

    def urls(self) -> list[URLPattern]:
        return [
            path(f"{self.key}/articles/", self.list_view, name=self.list_name or f"{self.key}-list"),
            path(f"{self.key}/articles/<int:pk>/", self.detail_view, name=self.detail_name or f"{self.key}-detail"),
        ]


# -- DRF -----------------------------------------------------------------------


class DrfArticleViewSet(viewsets.ModelViewSet):
    """The example's ArticleViewSet with DRF's own mixins: no validators."""

    serializer_class = ArticleViewSet.serializer_class
    filter_backends = ArticleViewSet.filter_backends
    filterset_class = ArticleViewSet.filterset_class
    ordering_fields = ArticleViewSet.ordering_fields
    ordering = ArticleViewSet.ordering
    authentication_classes = ArticleViewSet.authentication_classes
    permission_classes = ArticleViewSet.permission_classes
    pagination_class = ArticleViewSet.pagination_class
    queryset = ArticleViewSet.queryset
    published = ArticleViewSet.published
    get_queryset = ArticleViewSet.get_queryset


class ExtensionsETagViewSet(ETAGMixin, DrfArticleViewSet):
    """drf-extensions' ETAGMixin with its default key constructors (view, format, language, SQL text)."""


class ExtensionsAPIETagViewSet(APIETAGMixin, DrfArticleViewSet):
    """drf-extensions' APIETAGMixin: keys from the rows' column values."""


class DrfFloor(APIView):
    """The least a DRF view does before answering 304: authentication, permissions, negotiation."""

    authentication_classes = ArticleViewSet.authentication_classes
    permission_classes = ArticleViewSet.permission_classes
    read_version = False

    def get(self, request: Request, pk: int = FLOOR_ARTICLE) -> Response:
        if self.read_version:
            read_version(pk)
        return Response(status=status.HTTP_304_NOT_MODIFIED)


# -- plain Django ----------------------------------------------------------------


#: The example's plain detail view without its decorators: the body every plain contender runs.
plain_detail_body = inspect.unwrap(plain_article_detail)
#: What ``plain_article_list`` decorates: the published articles in id order.
PLAIN_LIST_ROWS = Article.objects.filter(published=True).order_by("id")


def plain_list_body(request: HttpRequest) -> JsonResponse:
    """``plain_article_list``'s query and JSON, paginated like the DRF list.

    The example's plain list always answers the first 100 articles with no
    count; the benchmark pages it as DRF does (``count``, ``next``,
    ``previous``, ``results``; ``page`` and ``page_size`` up to 100), so the
    plain contenders do the same work as the DRF ones.
    """
    articles = shown_articles().filter(published=True).order_by("id")
    try:
        size = min(
            int(request.GET.get("page_size", PageNumberPagination.page_size)), PageNumberPagination.max_page_size
        )
        page = Paginator(articles, size).page(request.GET.get("page", 1))
    except (ValueError, InvalidPage) as error:
        raise Http404(str(error)) from error

    def link(number: int) -> str:
        query = request.GET.copy()
        query["page"] = str(number)
        return request.build_absolute_uri(f"{request.path}?{query.urlencode()}")

    return JsonResponse(
        {
            "count": page.paginator.count,
            "next": link(page.next_page_number()) if page.has_next() else None,
            "previous": link(page.previous_page_number()) if page.has_previous() else None,
            "results": [article_representation(article) for article in page],
        }
    )


def read_version(pk: int) -> int | None:
    """One indexed query for one column: the cheapest validator read there is."""
    return Article.objects.filter(pk=pk).values_list("version", flat=True).first()


def version_etag(request: HttpRequest, pk: int) -> str | None:
    """The best hand-written detail ``etag_func``: the version column alone, by primary key."""
    version = Article.objects.filter(pk=pk, published=True).values_list("version", flat=True).first()
    return None if version is None else f"{pk}-{version}"


def count_max_etag(request: HttpRequest) -> str:
    """The best hand-written list ``etag_func``: count and newest ``updated_at`` of the listed rows.

    One query, but it scans the filtered rows, and it is not exact: see docs/benchmarks.md.
    """
    state = PLAIN_LIST_ROWS.aggregate(count=Count("id"), newest=Max("updated_at"))
    newest = state["newest"].timestamp() if state["newest"] else 0
    return f"{state['count']}-{newest}-{request.GET.urlencode()}"


def plain_floor(request: HttpRequest, pk: int = FLOOR_ARTICLE) -> HttpResponse:
    """The least a Django view does before answering 304: nothing."""
    return HttpResponseNotModified()


def plain_floor_query(request: HttpRequest, pk: int = FLOOR_ARTICLE) -> HttpResponse:
    """One indexed query, then 304."""
    read_version(pk)
    return HttpResponseNotModified()


def plain(view: View) -> View:
    """The example's plain views accept GET and HEAD only; so do the benchmark's."""
    return require_http_methods(["GET", "HEAD"])(view)


with_conditional_get = decorator_from_middleware(ConditionalGetMiddleware)


CONTENDERS: list[Contender] = [
    Contender.from_viewset(
        "drf",
        "DRF",
        DrfArticleViewSet,
        answers_304=False,
        about="DRF's ModelViewSet with the example's serializer, queryset, filters and pagination; no validators.",
    ),
    Contender.from_viewset(
        "drf-cgm",
        "DRF + ConditionalGetMiddleware",
        DrfArticleViewSet,
        wrap=with_conditional_get,
        about="The same viewset wrapped in Django's ConditionalGetMiddleware, which hashes the rendered body.",
    ),
    Contender.from_viewset(
        "drf-ext",
        "drf-extensions ETAGMixin",
        ExtensionsETagViewSet,
        about="drf-extensions' ETAGMixin with its default key constructors: view, format, language, query SQL.",
    ),
    Contender.from_viewset(
        "drf-ext-api",
        "drf-extensions APIETAGMixin",
        ExtensionsAPIETagViewSet,
        about="drf-extensions' APIETAGMixin, whose default keys are built from the rows' column values.",
    ),
    Contender.from_viewset(
        "conditional-drf",
        "conditional_api (DRF mixins)",
        ArticleViewSet,
        basename="article",
        about="The example's ArticleViewSet: conditional_api's DRF mixins, configured in the example's settings.",
    ),
    Contender.from_viewset(
        "conditional-drf-cache",
        "conditional_api (DRF mixins) + validator cache",
        ArticleViewSet,
        basename="article-cached",
        about="The same viewset with cache_validators on (bench/settings.py), in local memory: a detail or list "
        "304 with no query.",
    ),
    Contender(
        "drf-floor",
        "DRF floor, no query",
        "drf",
        detail_view=DrfFloor.as_view(),
        list_view=DrfFloor.as_view(),
        floor=True,
        about="An APIView with the same authentication and permission classes that answers 304 at once.",
    ),
    Contender(
        "drf-floor-query",
        "DRF floor, 1 query",
        "drf",
        detail_view=DrfFloor.as_view(read_version=True),
        list_view=DrfFloor.as_view(read_version=True),
        floor=True,
        about="The same APIView reading one article's version by primary key, then answering 304.",
    ),
    Contender(
        "plain",
        "Django view",
        "plain",
        detail_view=plain(plain_detail_body),
        list_view=plain(plain_list_body),
        answers_304=False,
        about="The example's plain views without validators (the list paginated like DRF's).",
    ),
    Contender(
        "django-condition",
        "Django condition()",
        "plain",
        detail_view=plain(condition(etag_func=version_etag)(plain_detail_body)),
        list_view=plain(condition(etag_func=count_max_etag)(plain_list_body)),
        about="Django's condition decorator with hand-written etag_funcs: the version by pk; count and newest "
        "updated_at for lists.",
    ),
    Contender(
        "conditional-plain",
        "conditional_api @conditional",
        "plain",
        detail_view=plain_article_detail,
        list_view=plain(conditional(PLAIN_LIST_ROWS, strategy="collection")(plain_list_body)),
        detail_name="plain-article-detail",
        list_name="plain-article-list",
        about="The example's plain_article_detail as is; the list body under plain_article_list's decorator.",
    ),
    Contender(
        "conditional-plain-cache",
        "conditional_api @conditional + validator cache",
        "plain",
        detail_view=plain_article_detail,
        list_view=plain(conditional(PLAIN_LIST_ROWS, strategy="collection")(plain_list_body)),
        detail_name="plain-article-cached-detail",
        list_name="plain-article-cached-list",
        about="The same decorated views with cache_validators on (bench/settings.py), in local memory.",
    ),
    Contender(
        "plain-floor",
        "plain floor, no query",
        "plain",
        detail_view=plain_floor,
        list_view=plain_floor,
        floor=True,
        about="A function view that answers 304 at once.",
    ),
    Contender(
        "plain-floor-query",
        "plain floor, 1 query",
        "plain",
        detail_view=plain_floor_query,
        list_view=plain_floor_query,
        floor=True,
        about="A function view that reads one article's version by primary key, then answers 304.",
    ),
]
