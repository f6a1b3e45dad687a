"""What the example's ninja operations are made of: the API, its schemas, pages, authentication and errors.

The same users see the same rows as on /api/ (HTTP Basic, then the
session), the same pages (DRF's page-number paginator, so the links and the
404 for a page that is not one are DRF's), the same errors (DRF's shape) and
the same bytes (a compact JSON renderer, as DRF's).
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth import authenticate
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from ninja import NinjaAPI, Schema
from ninja.errors import AuthenticationError
from ninja.errors import ValidationError as SchemaError
from ninja.pagination import PaginationBase
from ninja.renderers import JSONRenderer
from ninja.security import HttpBasicAuth, SessionAuth
from rest_framework.exceptions import APIException
from rest_framework.request import Request

from .models import Article, Author
from .pagination import PageNumberPagination
from .representations import timestamp


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


api = NinjaAPI(
    title="conditional_api example (django-ninja)",
    urls_namespace="ninja",
    renderer=CompactJSONRenderer(),
)


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
