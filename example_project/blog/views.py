from __future__ import annotations

from django.db.models import Prefetch, QuerySet
from django.http import HttpRequest, JsonResponse
from django.shortcuts import get_object_or_404
from django.views.decorators.http import require_http_methods
from rest_framework import viewsets

from conditional_api import conditional
from conditional_api.drf import ConditionalListMixin, ConditionalModelViewSet

from .filters import ArticleFilter, ListFilterBackend, ListOrderingFilter
from .models import Article, Author, Tag
from .representations import article_representation
from .serializers import ArticleSerializer, AuthorSerializer, TagSerializer

#: The columns every write of a versioned row bumps: the articles' own make their validators, the
#: author's and tags' are shown nowhere, so they stay in the database.
BOOKKEEPING = ("version", "updated_at", "last_modified")


def shown_articles() -> QuerySet[Article]:
    """The articles with what their representation shows of their author and tags, and nothing more."""
    return (
        Article.objects.select_related("author")
        .defer(*(f"author__{column}" for column in BOOKKEEPING))
        .prefetch_related(Prefetch("tags", queryset=Tag.objects.defer(*BOOKKEEPING)))
    )


class ArticleViewSet(ConditionalModelViewSet):
    """Articles: staff see all of them, everyone else the published ones."""

    queryset = shown_articles().order_by("id")
    #: What everyone but staff may read, built once: each request copies it, as DRF copies ``queryset``.
    published = queryset.filter(published=True)
    serializer_class = ArticleSerializer
    filter_backends = [ListFilterBackend, ListOrderingFilter]
    filterset_class = ArticleFilter
    ordering_fields = ["id", "title", "updated_at"]
    ordering = ["id"]

    def get_queryset(self) -> QuerySet[Article]:
        # A copy of a queryset built once, as DRF's own get_queryset() makes: never evaluated at class level.
        return (self.queryset if self.request.user.is_staff else self.published).all()


class AuthorViewSet(ConditionalModelViewSet):
    serializer_class = AuthorSerializer
    queryset = Author.objects.order_by("id")
    filter_backends = [ListOrderingFilter]
    ordering_fields = ["id", "name"]
    ordering = ["id"]


class TagViewSet(ConditionalListMixin, viewsets.GenericViewSet):
    serializer_class = TagSerializer
    queryset = Tag.objects.order_by("name")


@require_http_methods(["GET", "HEAD"])
@conditional(Article.objects.filter(published=True))
def plain_article_detail(request: HttpRequest, pk: int) -> JsonResponse:
    """The article detail without DRF: same JSON, validators from the decorator."""
    article = get_object_or_404(shown_articles(), pk=pk, published=True)
    return JsonResponse(article_representation(article))


@require_http_methods(["GET", "HEAD"])
@conditional(Article.objects.filter(published=True).order_by("id"), strategy="collection")
def plain_article_list(request: HttpRequest) -> JsonResponse:
    """The published articles without DRF: a list validated by the decorator's collection strategy."""
    articles = shown_articles().filter(published=True).order_by("id")
    return JsonResponse({"results": [article_representation(article) for article in articles[:100]]})
