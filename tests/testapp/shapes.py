"""Lists over the example's models in the shapes projects write: joins, subqueries, ordering over a relation, a scope.

The stateful property test reads them through both adapters while it
writes through every path: none of these lists shows only its own table.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.db.models import Count, Exists, OuterRef, QuerySet
from django.http import HttpRequest, JsonResponse
from django.urls import path
from rest_framework import generics, serializers

from conditional_api import conditional
from conditional_api.drf import ConditionalListMixin
from example_project.blog.models import Article, Author, Tag

from .models import PinnedNote

#: Whose articles a signed-in user's scoped list shows.
AUTHOR_OF = {"reader": "Ada", "staff": "Grace"}


@dataclass(frozen=True)
class Shape:
    rows: Callable[[HttpRequest, str], QuerySet[Any]]
    show: Callable[[Any], Any]
    #: The values ``?q=`` takes in the property test.
    values: tuple[str, ...] = ("",)


def _scope(request: HttpRequest) -> str:
    return AUTHOR_OF.get(request.user.get_username(), "")


SHAPES: dict[str, Shape] = {
    "authors-by-article-title": Shape(
        rows=lambda request, q: Author.objects.filter(articles__title=q).distinct().order_by("pk"),
        show=lambda author: author.name,
        values=("Hello", "World", "Draft"),
    ),
    "articles-by-tag-name": Shape(
        rows=lambda request, q: Article.objects.filter(tags__name=q).order_by("pk"),
        show=lambda article: article.title,
        values=("news", "http", "django"),
    ),
    "authors-with-published-articles": Shape(
        rows=lambda request, q: Author.objects.filter(
            Exists(Article.objects.filter(author=OuterRef("pk"), published=True))
        ).order_by("pk"),
        show=lambda author: author.name,
    ),
    "tags-by-article-count": Shape(
        rows=lambda request, q: Tag.objects.annotate(uses=Count("articles")).order_by("-uses", "pk"),
        show=lambda tag: [tag.name, tag.uses],
    ),
    "articles-by-author-name": Shape(
        rows=lambda request, q: Article.objects.order_by("author__name", "pk"),
        show=lambda article: article.pk,
    ),
    "authors-with-their-titles": Shape(
        rows=lambda request, q: Author.objects.prefetch_related("articles").order_by("pk"),
        show=lambda author: [author.name, sorted(article.title for article in author.articles.all())],
    ),
    "pinned-notes": Shape(
        # Multi-table inheritance: the text and the version live in the parent's table.
        rows=lambda request, q: PinnedNote.objects.order_by("pk"),
        show=lambda note: [note.key, note.text, note.pinned_by],
    ),
    "my-authors-tags": Shape(
        rows=lambda request, q: Tag.objects.filter(articles__author__name=_scope(request)).distinct().order_by("pk"),
        show=lambda tag: tag.name,
    ),
}


def _rows(request: HttpRequest) -> QuerySet[Any]:
    return SHAPES[request.GET["shape"]].rows(request, request.GET.get("q", ""))


@conditional(_rows, strategy="collection", query_params=["shape", "q"])
def plain_shaped_list(request: HttpRequest) -> JsonResponse:
    shape = SHAPES[request.GET["shape"]]
    return JsonResponse({"results": [shape.show(row) for row in _rows(request)]})


class _Shown(serializers.BaseSerializer[Any]):
    def to_representation(self, instance: Any) -> Any:
        return SHAPES[self.context["request"].GET["shape"]].show(instance)


class ShapedList(ConditionalListMixin, generics.GenericAPIView[Any]):
    serializer_class = _Shown
    pagination_class = None
    conditional_options = {"strategy": "collection", "query_params": ["shape", "q"]}

    def get_queryset(self) -> QuerySet[Any]:
        return _rows(self.request)

    def get(self, request: Any, *args: Any, **kwargs: Any) -> Any:
        return self.list(request, *args, **kwargs)


urlpatterns = [
    path("plain/", plain_shaped_list, name="plain-shaped-list"),
    path("drf/", ShapedList.as_view(), name="drf-shaped-list"),
]
