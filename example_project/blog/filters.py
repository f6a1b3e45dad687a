"""The list filters of the contract, ``?published=``, ``?author=``, ``?tag=``, as a django-filter FilterSet.

A value no column can hold is a 400 naming the parameter (DRF's field error
shape, ``{"author": ["Expected an author id."]}``), never a 500 and never a
filter silently dropped. The parsers also serve hand-written filter backends
(the test app's), through ``key_param``, ``text_param`` and ``boolean_param``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import django_filters
from django import forms
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db.models import Model, QuerySet
from django_filters.rest_framework import DjangoFilterBackend
from rest_framework import filters
from rest_framework.exceptions import ValidationError
from rest_framework.request import Request

from .models import Article

_BOOLEANS = {"true": True, "1": True, "false": False, "0": False}


def parse_key(model: type[Model], field: str, value: str) -> int | None:
    """A value ``model.field`` (a foreign key) can hold, from ASCII digits only; None for anything else.

    ``str.isdigit()`` admits ``²`` and ``①``, which ``int()`` refuses, and
    ``int()`` admits other scripts' digits such as ``٣``: neither is an id a
    client writes. A number beyond the column's range is no id either (and
    SQLite cannot even bind it).
    """
    if not (value.isascii() and value.isdigit()):
        return None
    number = int(value)
    try:
        model._meta.get_field(field).target_field.run_validators(number)  # type: ignore[union-attr]
    except DjangoValidationError:
        return None
    return number


def parse_text(value: str) -> str | None:
    """A text a column can hold; None for one with NUL, which PostgreSQL text cannot hold."""
    return None if "\x00" in value else value


def parse_boolean(value: str) -> bool | None:
    """``true``/``1`` or ``false``/``0``, in any case; None for anything else."""
    return _BOOLEANS.get(value.lower())


def _refused(param: str, expected: str) -> ValidationError:
    return ValidationError({param: [f"Expected {expected}."]})


def key_param(model: type[Model], field: str, param: str, value: str) -> int:
    """``parse_key()``, or a 400 naming ``param``."""
    number = parse_key(model, field, value)
    if number is None:
        raise _refused(param, f"{'an' if field[0] in 'aeiou' else 'a'} {field} id")
    return number


def text_param(param: str, value: str, expected: str) -> str:
    """``parse_text()``, or a 400 naming ``param``."""
    text = parse_text(value)
    if text is None:
        raise _refused(param, expected)
    return text


def boolean_param(param: str, value: str) -> bool:
    """``parse_boolean()``, or a 400 naming ``param``."""
    found = parse_boolean(value)
    if found is None:
        raise _refused(param, "true or false")
    return found


class ParsedField(forms.Field):
    """A form field that cleans with a parser: absent is None, anything the parser refuses is invalid.

    Present but empty is a value like any other, so ``?author=`` is a 400
    rather than no filter.
    """

    def __init__(self, *, parse: Callable[[str], Any], expected: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.parse = parse
        self.expected = expected

    def to_python(self, value: Any) -> Any:
        if value is None:
            return None
        parsed = self.parse(str(value))
        if parsed is None:
            raise forms.ValidationError(f"Expected {self.expected}.", code="invalid")
        return parsed


class ParsedFilter(django_filters.Filter):
    """Filters by whatever its ``ParsedField`` cleaned, the empty text included: ``?tag=`` names no tag."""

    field_class = ParsedField

    def filter(self, qs: QuerySet[Any], value: Any) -> QuerySet[Any]:
        if value is None:
            return qs
        return self.get_method(qs)(**{f"{self.field_name}__{self.lookup_expr}": value})


def parse_author_id(value: str) -> int | None:
    """``?author=``: an id ``Article.author`` can hold."""
    return parse_key(Article, "author", value)


class ArticleFilter(django_filters.FilterSet):
    """``?published=true|false``, ``?author=<id>`` and ``?tag=<name>`` (through the tags join)."""

    # Labels given, not derived from the model on every request.
    published = ParsedFilter(label="published", parse=parse_boolean, expected="true or false")
    author = ParsedFilter(label="author", field_name="author_id", parse=parse_author_id, expected="an author id")
    tag = ParsedFilter(label="tag", field_name="tags__name", parse=parse_text, expected="a tag name")

    class Meta:
        model = Article
        fields = ["published", "author", "tag"]


class ListFilterBackend(DjangoFilterBackend):
    """DjangoFilterBackend on the list action only: a detail URL names one article whatever the query string."""

    def filter_queryset(self, request: Request, queryset: QuerySet[Any], view: Any) -> QuerySet[Any]:
        if getattr(view, "action", None) != "list":
            return queryset
        return super().filter_queryset(request, queryset, view)


class ListOrderingFilter(filters.OrderingFilter):
    """OrderingFilter on the list action only."""

    def filter_queryset(self, request: Request, queryset: QuerySet, view: Any) -> QuerySet:
        if getattr(view, "action", None) != "list":
            return queryset
        return super().filter_queryset(request, queryset, view)
