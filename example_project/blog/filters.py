"""The list filters of the contract: ?published=, ?author=, ?tag=."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from rest_framework import filters
from rest_framework.exceptions import ValidationError
from rest_framework.request import Request

_BOOLEANS = {"true": True, "1": True, "false": False, "0": False}


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
            if not params["author"].isdigit():
                raise ValidationError({"author": ["Expected an author id."]})
            queryset = queryset.filter(author_id=int(params["author"]))
        if "tag" in params:
            queryset = queryset.filter(tags__name=params["tag"])
        return queryset


class ListOrderingFilter(filters.OrderingFilter):
    """OrderingFilter on the list action only."""

    def filter_queryset(self, request: Request, queryset: QuerySet, view: Any) -> QuerySet:
        if getattr(view, "action", None) != "list":
            return queryset
        return super().filter_queryset(request, queryset, view)
