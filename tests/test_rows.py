"""The validator query: the view's queryset in one clone, the same SQL as the public chain."""

from __future__ import annotations

import pytest
from django.db.models import Count
from model_bakery import baker

from conditional_api.rows import find_state_row, state_queryset
from example_project.blog.models import Article, Author

pytestmark = pytest.mark.django_db

FIELDS = ("version", "last_modified")

QUERYSETS = {
    "plain": lambda: Article.objects.all(),
    "the example's": lambda: Article.objects.select_related("author").prefetch_related("tags").order_by("id"),
    "scoped": lambda: Article.objects.filter(published=True, author__name__startswith="G").order_by("-title"),
    "annotated": lambda: Article.objects.annotate(tag_count=Count("tags")).filter(tag_count__gte=0),
    "distinct": lambda: Article.objects.filter(tags__name__in=["a", "b"]).distinct(),
}


def sql(queryset) -> tuple[str, tuple]:
    return queryset.query.get_compiler(using=queryset.db).as_sql()


@pytest.mark.parametrize("make", QUERYSETS.values(), ids=QUERYSETS.keys())
def test_state_queryset_is_the_public_chain_in_one_clone(make):
    public = make().select_related(None).prefetch_related(None).order_by().only(*FIELDS)
    assert sql(state_queryset(make(), FIELDS)) == sql(public)
    assert state_queryset(make(), FIELDS)._prefetch_related_lookups == ()


def test_state_queryset_leaves_the_views_queryset_alone():
    queryset = QUERYSETS["the example's"]()
    before = sql(queryset)
    state_queryset(queryset, FIELDS)
    assert sql(queryset) == before and queryset._prefetch_related_lookups == ("tags",)


def test_find_state_row_loads_only_the_state_columns_and_keeps_the_scope():
    author = baker.make(Author, name="Grace")
    shown = baker.make(Article, author=author, published=True)
    hidden = baker.make(Article, author=author, published=False)
    rows = state_queryset(Article.objects.filter(published=True), FIELDS)
    row = find_state_row(rows, "pk", shown.pk)
    assert (row.pk, row.version, row.last_modified) == (shown.pk, shown.version, shown.last_modified)
    assert row.get_deferred_fields() == {f.attname for f in Article._meta.concrete_fields} - {"id", *FIELDS}
    assert find_state_row(rows, "pk", hidden.pk) is None


@pytest.mark.parametrize("value", ["abc", None, "", "1.5", [1]])
def test_a_value_the_field_cannot_hold_finds_nothing(value):
    baker.make(Article)
    assert find_state_row(state_queryset(Article.objects.all(), FIELDS), "pk", value) is None


def test_several_rows_raise_as_get_does():
    author = baker.make(Author)
    baker.make(Article, author=author, _quantity=2)
    with pytest.raises(Article.MultipleObjectsReturned):
        find_state_row(state_queryset(Article.objects.all(), FIELDS), "author", author.pk)
