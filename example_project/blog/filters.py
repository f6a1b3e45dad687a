"""The list filters of the contract: ?published=, ?author=, ?tag=."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db.models import QuerySet
from rest_framework import filters
from rest_framework.exceptions import ValidationError
from rest_framework.request import Request

from .models import Article

_BOOLEANS = {"true": True, "1": True, "false": False, "0": False}


def _author_id(value: str) -> int:
    """An id the author column can hold, from ASCII digits only.

    ``str.isdigit()`` admits ``²`` and ``①``, which ``int()`` refuses, and
    ``int()`` admits other scripts' digits such as ``٣``: neither is an id a
    client writes. A number beyond the column's range is no id either (and
    SQLite cannot even bind it).
    """
    if not (value.isascii() and value.isdigit()):
        raise ValidationError({"author": ["Expected an author id."]})
    number = int(value)
    try:
        Article._meta.get_field("author").target_field.run_validators(number)
    except DjangoValidationError:
        raise ValidationError({"author": ["Expected an author id."]}) from None
    return number


def _tag_name(value: str) -> str:
    """A name a tag can have: PostgreSQL text cannot hold NUL, so no tag is named with one."""
    if "\x00" in value:
        raise ValidationError({"tag": ["Expected a tag name."]})
    return value


class ArticleFilter(filters.BaseFilterBackend):
    """Filters for the list only: a detail URL names one article whatever the query string."""

    def filter_queryset(self, request: Request, queryset: QuerySet, view: Any) -> QuerySet:
        if getattr(view, "action", None) != "list":
            return queryset
        params = request.query_params
        if "published" in params:
            value = _BOOLEANS.get(params["published"].lower())
            if value is None:
                raise ValidationError({"published": ["Expected true or false."]})
            queryset = queryset.filter(published=value)
        if "author" in params:
            queryset = queryset.filter(author_id=_author_id(params["author"]))
        if "tag" in params:
            queryset = queryset.filter(tags__name=_tag_name(params["tag"]))
        return queryset


class ListOrderingFilter(filters.OrderingFilter):
    """OrderingFilter on the list action only."""

    def filter_queryset(self, request: Request, queryset: QuerySet, view: Any) -> QuerySet:
        if getattr(view, "action", None) != "list":
            return queryset
        return super().filter_queryset(request, queryset, view)
