"""The article and author endpoints through django-ninja, mounted at /ninja/: the same JSON and rules as /api/.

The URL names are DRF's too, in the ``ninja`` namespace, so
``CONDITIONAL_API['VIEWS']['article-detail']`` configures both routes and
``'ninja:article-detail'`` this one alone. Writes are validated and saved by
the DRF serializer, so both routes accept and refuse the same bodies.
"""

from __future__ import annotations

from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404
from django.urls import reverse
from ninja import Router
from ninja.pagination import paginate
from ninja.responses import Status

from conditional_api.ninja import conditional

from .filters import boolean_param, key_param, text_param
from .models import Article, Author
from .ninja_parts import READERS, WRITERS, ArticleChanges, ArticleIn, ArticleOut, AuthorOut, Pages, api, ordered
from .serializers import ArticleSerializer

router = Router()


def visible_articles(request: HttpRequest) -> QuerySet[Article]:
    """Staff see every article, everyone else the published ones (``request.auth``: who ninja authenticated)."""
    queryset = Article.objects.select_related("author").prefetch_related("tags").order_by("id")
    if not getattr(request.auth, "is_staff", False):  # type: ignore[attr-defined]
        queryset = queryset.filter(published=True)
    return queryset


@router.get("/articles/", response=list[ArticleOut], auth=READERS, url_name="article-list")
@paginate(Pages)
@conditional()
def article_list(
    request: HttpRequest,
    published: str | None = None,
    author: str | None = None,
    tag: str | None = None,
    ordering: str | None = None,
) -> QuerySet[Article]:
    articles = visible_articles(request)
    if published is not None:
        articles = articles.filter(published=boolean_param("published", published))
    if author is not None:
        articles = articles.filter(author_id=key_param(Article, "author", "author", author))
    if tag is not None:
        articles = articles.filter(tags__name=text_param("tag", tag, "a tag name"))
    return ordered(articles, ordering, ("id", "title", "updated_at"))


@router.post("/articles/", response={201: ArticleOut}, auth=WRITERS)
@conditional()
def create_article(request: HttpRequest, payload: ArticleIn, response: HttpResponse) -> Status:
    serializer = ArticleSerializer(data=payload.dict(exclude_unset=True))
    serializer.is_valid(raise_exception=True)
    article = serializer.save()
    response["Location"] = request.build_absolute_uri(reverse("ninja:article-detail", args=[article.pk]))
    return Status(201, article)


@router.get("/articles/{int:pk}/", response=ArticleOut, auth=READERS, url_name="article-detail")
@conditional(visible_articles)
def article_detail(request: HttpRequest, pk: int) -> Article:
    return get_object_or_404(visible_articles(request), pk=pk)


def _save(request: HttpRequest, pk: int, changes: dict[str, object], partial: bool) -> Article:
    serializer = ArticleSerializer(get_object_or_404(visible_articles(request), pk=pk), data=changes, partial=partial)
    serializer.is_valid(raise_exception=True)
    return serializer.save()


@router.put("/articles/{int:pk}/", response=ArticleOut, auth=WRITERS)
@conditional(visible_articles)
def replace_article(request: HttpRequest, pk: int, payload: ArticleIn) -> Article:
    return _save(request, pk, payload.dict(exclude_unset=True), partial=False)


@router.patch("/articles/{int:pk}/", response=ArticleOut, auth=WRITERS)
@conditional(visible_articles)
def update_article(request: HttpRequest, pk: int, payload: ArticleChanges) -> Article:
    return _save(request, pk, payload.dict(exclude_unset=True), partial=True)


@router.delete("/articles/{int:pk}/", response={204: None}, auth=WRITERS)
@conditional(visible_articles)
def delete_article(request: HttpRequest, pk: int) -> Status:
    get_object_or_404(visible_articles(request), pk=pk).delete()
    return Status(204, None)


@router.get("/authors/", response=list[AuthorOut], url_name="author-list")
@paginate(Pages)
@conditional()
def author_list(request: HttpRequest, ordering: str | None = None) -> QuerySet[Author]:
    return ordered(Author.objects.all(), ordering, ("id", "name"))


@router.get("/authors/{int:pk}/", response=AuthorOut, url_name="author-detail")
@conditional(Author)
def author_detail(request: HttpRequest, pk: int) -> Author:
    return get_object_or_404(Author, pk=pk)


api.add_router("/", router)
