"""The article and author endpoints through django-ninja, mounted at /ninja/: the same JSON and rules as /api/.

The same users see the same rows (HTTP Basic, then the session; staff see
drafts), the same filters, ordering and pages (DRF's page-number paginator,
so the links and the 404 for a page that is not one are DRF's), the same
write validation (the DRF serializer saves), and the same bytes: a compact
JSON renderer, as DRF's. The URL names are DRF's too, in the ``ninja``
namespace, so ``CONDITIONAL_API['VIEWS']['article-detail']`` configures both
routes and ``'ninja:article-detail'`` this one alone.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth import authenticate
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404
from django.urls import reverse
from ninja import NinjaAPI, Router, Schema
from ninja.errors import AuthenticationError
from ninja.errors import ValidationError as SchemaError
from ninja.pagination import PaginationBase, paginate
from ninja.renderers import JSONRenderer
from ninja.responses import Status
from ninja.security import HttpBasicAuth, SessionAuth
from rest_framework.exceptions import APIException
from rest_framework.request import Request

from conditional_api.ninja import conditional

from .filters import boolean_param, key_param, text_param
from .models import Article, Author
from .pagination import PageNumberPagination
from .representations import timestamp
from .serializers import ArticleSerializer


class CompactJSONRenderer(JSONRenderer):
    """DRF's JSON: compact, and UTF-8 as it is, so that both routes serve the same bytes."""

    json_dumps_params = {"separators": (",", ":"), "ensure_ascii": False}


class BasicAuth(HttpBasicAuth):
    """HTTP Basic, as DRF checks it: wrong credentials are a 401, not an anonymous request."""

    def authenticate(self, request: HttpRequest, username: str, password: str) -> Any:
        user = authenticate(request, username=username, password=password)
        if user is None or not user.is_active:
            raise AuthenticationError
        return user


def anonymous(request: HttpRequest) -> Any:
    """Reads are public: a request without credentials reads as Django's anonymous user."""
    return request.user


#: Basic first, so that an anonymous write is challenged for Basic credentials.
WRITERS = [BasicAuth(), SessionAuth()]
READERS = [*WRITERS, anonymous]


def visible_articles(request: HttpRequest) -> QuerySet[Article]:
    """Staff see every article, everyone else the published ones."""
    queryset = Article.objects.select_related("author").prefetch_related("tags").order_by("id")
    if not getattr(request.auth, "is_staff", False):  # type: ignore[attr-defined]
        queryset = queryset.filter(published=True)
    return queryset


def ordered(queryset: QuerySet[Any], ordering: str | None, fields: tuple[str, ...]) -> QuerySet[Any]:
    """``?ordering=`` as DRF's OrderingFilter reads it: terms it does not know are dropped, none left: by id."""
    terms = [term.strip() for term in (ordering or "").split(",")]
    known = [term for term in terms if term.lstrip("-") in fields]
    return queryset.order_by(*(known or ["id"]))


class AuthorReference(Schema):
    id: int
    name: str


class ArticleOut(Schema):
    id: int
    title: str
    body: str
    published: bool
    author: AuthorReference
    tags: list[str]
    version: int
    updated_at: str

    @staticmethod
    def resolve_tags(article: Article) -> list[str]:
        return sorted(tag.name for tag in article.tags.all())

    @staticmethod
    def resolve_updated_at(article: Article) -> str:
        return timestamp(article.updated_at)


class ArticleIn(Schema):
    title: str
    body: str
    published: bool = False
    author: int
    tags: list[str] | None = None


class ArticleChanges(Schema):
    title: str | None = None
    body: str | None = None
    published: bool | None = None
    author: int | None = None
    tags: list[str] | None = None


class AuthorOut(Schema):
    id: int
    name: str
    email: str
    version: int
    updated_at: str

    @staticmethod
    def resolve_updated_at(author: Author) -> str:
        return timestamp(author.updated_at)


class Pages(PaginationBase):
    """The example's DRF page-number pagination: ``?page=``, ``?page_size=`` (max 100), absolute links."""

    class Input(Schema):
        page: str | None = None
        page_size: str | None = None

    class Output(Schema):
        count: int
        next: str | None
        previous: str | None
        results: list[Any]

    items_attribute = "results"

    def paginate_queryset(self, queryset: QuerySet[Any], pagination: Any, request: HttpRequest, **params: Any) -> Any:
        paginator = PageNumberPagination()
        page = paginator.paginate_queryset(queryset, Request(request))
        return {
            "count": paginator.page.paginator.count,
            "next": paginator.get_next_link(),
            "previous": paginator.get_previous_link(),
            "results": page,
        }


router = Router()


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


def _save(request: HttpRequest, pk: int, changes: dict[str, Any], partial: bool) -> Article:
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


api = NinjaAPI(
    title="conditional_api example (django-ninja)",
    urls_namespace="ninja",
    renderer=CompactJSONRenderer(),
)
api.add_router("/", router)


@api.exception_handler(APIException)
def drf_error(request: HttpRequest, error: APIException) -> HttpResponse:
    """The filters, the paginator and the serializer raise DRF's errors: answered in DRF's shape."""
    detail = error.detail if isinstance(error.detail, dict | list) else {"detail": error.detail}
    return api.create_response(request, detail, status=error.status_code)


@api.exception_handler(SchemaError)
def invalid_body(request: HttpRequest, error: SchemaError) -> HttpResponse:
    """A body ninja's schema refuses: 400, each field with its messages, as DRF answers."""
    fields: dict[str, list[str]] = {}
    for problem in error.errors:
        fields.setdefault(str(problem["loc"][-1]), []).append(problem["msg"])
    return api.create_response(request, fields, status=400)


@api.exception_handler(AuthenticationError)
def unauthorized(request: HttpRequest, error: AuthenticationError) -> HttpResponse:
    response = api.create_response(request, {"detail": "Authentication credentials were not provided."}, status=401)
    response["WWW-Authenticate"] = 'Basic realm="api"'
    return response
