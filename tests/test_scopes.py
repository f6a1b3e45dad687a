"""The scope key: equal exactly when two querysets find the same rows, and built without compiling them."""

from __future__ import annotations

import datetime
from collections.abc import Callable
from decimal import Decimal
from typing import Any
from unittest import mock

import pytest
from django.db.models import Exists, F, OuterRef, Q, QuerySet, Value
from django.db.models.expressions import RawSQL
from django.db.models.functions import Lower
from django.db.models.sql.compiler import SQLCompiler
from django.test import Client
from model_bakery import baker

from conditional_api import scopes
from conditional_api.rows import query_fingerprint, row_selection, state_queryset
from tests.testapp.models import Label, Note, Post

Build = Callable[[], QuerySet[Any]]
STATE = ("version", "updated_at", "last_modified")


def state(queryset: QuerySet[Any]) -> QuerySet[Any]:
    """What the cache keys: the view's queryset as the adapters cut it down."""
    return state_queryset(queryset, STATE)


DIFFERENT: list[tuple[str, Build, Build]] = [
    ("filter value", lambda: Post.objects.filter(published=True), lambda: Post.objects.filter(published=False)),
    ("filter or none", lambda: Post.objects.filter(published=True), lambda: Post.objects.all()),
    ("foreign key", lambda: Post.objects.filter(writer_id=1), lambda: Post.objects.filter(writer_id=2)),
    ("filter or exclude", lambda: Post.objects.filter(writer_id=1), lambda: Post.objects.exclude(writer_id=1)),
    ("list", lambda: Post.objects.filter(title__in=["a"]), lambda: Post.objects.filter(title__in=["a", "b"])),
    ("lookup", lambda: Post.objects.filter(title="a"), lambda: Post.objects.filter(title__iexact="a")),
    ("field", lambda: Post.objects.filter(title="a"), lambda: Post.objects.filter(body="a")),
    (
        "connector",
        lambda: Post.objects.filter(Q(title="a") | Q(body="b")),
        lambda: Post.objects.filter(Q(title="a") & Q(body="b")),
    ),
    ("model", lambda: Post.objects.filter(pk__gt=0), lambda: Note.objects.filter(pk__gt=0)),
    (
        "join type",
        lambda: Post.objects.filter(writer__name="Ada"),
        lambda: Post.objects.exclude(writer__name="Ada"),
    ),
    (
        "date",
        lambda: Post.objects.filter(updated_at__gte=datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC)),
        lambda: Post.objects.filter(updated_at__gte=datetime.datetime(2026, 1, 2, tzinfo=datetime.UTC)),
    ),
    ("decimal", lambda: Post.objects.filter(version=Decimal(1)), lambda: Post.objects.filter(version=Decimal(2))),
]


@pytest.mark.parametrize("name, first, second", DIFFERENT, ids=[case[0] for case in DIFFERENT])
def test_querysets_that_compile_differently_have_different_keys(db, name, first, second):
    one, other = state(first()), state(second())
    assert query_fingerprint(one) != query_fingerprint(other)  # the case is a real difference
    assert scopes.scope_key(one) is not None and scopes.scope_key(other) is not None
    assert scopes.scope_key(one) != scopes.scope_key(other)


ORDERED: list[tuple[str, Build, Build]] = [
    ("direction", lambda: Post.objects.order_by("id"), lambda: Post.objects.order_by("-id")),
    ("field", lambda: Post.objects.order_by("id"), lambda: Post.objects.order_by("title", "id")),
    ("reversed", lambda: Post.objects.order_by("id"), lambda: Post.objects.order_by("id").reverse()),
    ("distinct", lambda: Post.objects.order_by("id"), lambda: Post.objects.order_by("id").distinct()),
    ("across a join", lambda: Post.objects.order_by("id"), lambda: Post.objects.order_by("writer__name", "id")),
]


@pytest.mark.parametrize("name, first, second", ORDERED, ids=[case[0] for case in ORDERED])
def test_a_lists_selection_keeps_its_order_in_its_key(db, name, first, second):
    one, other = row_selection(first()), row_selection(second())
    assert query_fingerprint(one) != query_fingerprint(other)
    assert scopes.scope_key(one, ordered=True) is not None and scopes.scope_key(other, ordered=True) is not None
    assert scopes.scope_key(one, ordered=True) != scopes.scope_key(other, ordered=True)


def test_an_ordering_it_cannot_read_has_no_key(db):
    assert scopes.scope_key(row_selection(Post.objects.order_by(F("title").desc())), ordered=True) is None
    assert scopes.scope_key(row_selection(Post.objects.order_by("id"))) is None  # a detail is never ordered


SAME: list[tuple[str, Build]] = [
    ("no filter", lambda: Post.objects.all()),
    ("a scope", lambda: Post.objects.select_related("writer").prefetch_related("labels").filter(published=True)),
    ("a join", lambda: Post.objects.filter(writer__name="Ada", labels__name__in=["x", "y"])),
    ("empty", lambda: Post.objects.filter(pk__in=[])),
    ("ordered", lambda: Post.objects.order_by("-title").filter(Q(title="a") | ~Q(body="b"))),
]


@pytest.mark.parametrize("name, build", SAME, ids=[case[0] for case in SAME])
def test_the_same_queryset_built_twice_has_one_key(db, name, build):
    one, other = state(build()), state(build())
    assert scopes.scope_key(one) is not None
    assert scopes.scope_key(one) == scopes.scope_key(other)
    assert hash(scopes.scope_key(one)) == hash(scopes.scope_key(other))
    assert query_fingerprint(one) == query_fingerprint(other)


UNKNOWN: list[tuple[str, Build]] = [
    ("annotation", lambda: Post.objects.annotate(n=Value(1))),
    ("expression value", lambda: Post.objects.filter(title=F("body"))),
    ("transform", lambda: Post.objects.filter(updated_at__year=2026)),
    ("function", lambda: Post.objects.alias(t=Lower("title")).filter(t="a")),
    ("subquery", lambda: Post.objects.filter(Exists(Label.objects.filter(posts=OuterRef("pk"))))),
    ("queryset value", lambda: Post.objects.filter(writer__in=Post.objects.values("writer"))),
    ("raw SQL", lambda: Post.objects.filter(pk__in=RawSQL("SELECT 1", []))),
    ("extra", lambda: Post.objects.extra(where=["1 = 1"])),
    ("a value it cannot name", lambda: Post.objects.filter(writer__name__in=[Value("Ada")])),
]


@pytest.mark.parametrize("name, build", UNKNOWN, ids=[case[0] for case in UNKNOWN])
def test_a_shape_it_does_not_know_has_no_key(db, name, build):
    assert scopes.scope_key(state(build())) is None


def test_types_that_compare_equal_in_python_keep_their_own_keys():
    assert scopes._value_key(1) != scopes._value_key(True)
    assert scopes._value_key(1) != scopes._value_key(1.0)
    utc = datetime.datetime(2026, 1, 1, 12, tzinfo=datetime.UTC)
    elsewhere = utc.astimezone(datetime.timezone(datetime.timedelta(hours=2)))
    assert utc == elsewhere and scopes._value_key(utc) != scopes._value_key(elsewhere)


def test_remembered_computes_once_per_key_and_always_without_one():
    calls: list[int] = []

    def compute() -> int:
        calls.append(1)
        return len(calls)

    key = ("test_remembered", object())
    assert scopes.remembered(key, compute) == 1
    assert scopes.remembered(key, compute) == 1
    assert scopes.remembered(None, compute) == 2
    assert scopes.remembered(None, compute) == 3


def test_what_is_remembered_is_bounded(monkeypatch):
    monkeypatch.setattr(scopes, "_remembered", {})
    monkeypatch.setattr(scopes, "MAX_REMEMBERED", 3)
    for n in range(10):
        scopes.remembered(("bounded", n), lambda n=n: n)
    assert len(scopes._remembered) <= 3


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("url", ["/test/posts/{pk}/", "/test/plain-posts/{pk}/"])
def test_a_cache_hit_compiles_nothing(url, settings, django_assert_num_queries):
    from django.conf import settings as live

    views = {**live.CONDITIONAL_API["VIEWS"]}
    views["post-detail"] = {**views["post-detail"], "cache_validators": True}
    views["plain-post-detail"] = {**views["plain-post-detail"], "cache_validators": True}
    settings.CACHES = {**live.CACHES, "scopes": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    settings.CONDITIONAL_API = {**live.CONDITIONAL_API, "CACHE": "scopes", "VIEWS": views}
    post = baker.make(Post, published=True)
    client = Client()
    url = url.format(pk=post.pk)
    etag = client.get(url).headers["ETag"]
    assert client.get(url, HTTP_IF_NONE_MATCH=etag).status_code == 304  # fills the entry
    with mock.patch.object(SQLCompiler, "as_sql", autospec=True, side_effect=SQLCompiler.as_sql) as compiled:
        with django_assert_num_queries(0):
            assert client.get(url, HTTP_IF_NONE_MATCH=etag).status_code == 304
    assert compiled.call_count == 0
