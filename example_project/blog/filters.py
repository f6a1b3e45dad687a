"""The list filters of the contract: ?published=, ?author=, ?tag=."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db.models import Model, QuerySet
from rest_framework import filters
from rest_framework.exceptions import ValidationError
from rest_framework.request import Request

from .models import Article

_BOOLEANS = {"true": True, "1": True, "false": False, "0": False}


def key_param(model: type[Model], field: str, param: str, value: str) -> int:
    """A value ``model.field`` (a foreign key) can hold, from ASCII digits only, or a 400 naming ``param``.

    ``str.isdigit()`` admits ``²`` and ``①``, which ``int()`` refuses, and
    ``int()`` admits other scripts' digits such as ``٣``: neither is an id a
    client writes. A number beyond the column's range is no id either (and
    SQLite cannot even bind it).
    """
    refused = ValidationError({param: [f"Expected {'an' if field[0] in 'aeiou' else 'a'} {field} id."]})
    if not (value.isascii() and value.isdigit()):
        raise refused
    number = int(value)
    try:
        model._meta.get_field(field).target_field.run_validators(number)  # type: ignore[union-attr]
    except DjangoValidationError:
        raise refused from None
    return number


def text_param(param: str, value: str, expected: str) -> str:
    """A text a column can hold, or a 400 naming ``param``: PostgreSQL text cannot hold NUL."""
    if "\x00" in value:
        raise ValidationError({param: [f"Expected {expected}."]})
    return value


def boolean_param(param: str, value: str) -> bool:
    """``true``/``1`` or ``false``/``0``, in any case, or a 400 naming ``param``."""
    found = _BOOLEANS.get(value.lower())
    if found is None:
        raise ValidationError({param: ["Expected true or false."]})
    return found


class ArticleFilter(filters.BaseFilterBackend):
    """Filters for the list only: a detail URL names one article whatever the query string."""

    def filter_queryset(self, request: Request, queryset: QuerySet, view: Any) -> QuerySet:
        if getattr(view, "action", None) != "list":
            return queryset
        params = request.query_params
        if "published" in params:
            queryset = queryset.filter(published=boolean_param("published", params["published"]))
        if "author" in params:
            queryset = queryset.filter(author_id=key_param(Article, "author", "author", params["author"]))
        if "tag" in params:
            queryset = queryset.filter(tags__name=text_param("tag", params["tag"], "a tag name"))
        return queryset


class ListOrderingFilter(filters.OrderingFilter):
    """OrderingFilter on the list action only."""

    def filter_queryset(self, request: Request, queryset: QuerySet, view: Any) -> QuerySet:
        if getattr(view, "action", None) != "list":
            return queryset
        return super().filter_queryset(request, queryset, view)
