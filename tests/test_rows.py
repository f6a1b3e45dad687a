"""The cheap reads: a detail's validator query, and what a list's ETag fingerprints."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any
from unittest import mock

import pytest
from django.db import transaction
from django.db.models import Count, Q, QuerySet
from django.db.models.sql.compiler import SQLCompiler
from model_bakery import baker

from conditional_api import rows, scopes
from conditional_api.rows import find_state_row, query_fingerprint, row_selection, state_queryset
from tests.testapp.models import Badge, GoldMedal, Medal, Note, PinnedNote, Post, Ticket, Writer

pytestmark = pytest.mark.django_db

FIELDS = ("version", "last_modified")

QUERYSETS = {
    "plain": lambda: Post.objects.all(),
    "the post view's": lambda: Post.objects.select_related("writer").prefetch_related("labels").order_by("id"),
    "scoped": lambda: Post.objects.filter(published=True, writer__name__startswith="G").order_by("-title"),
    "annotated": lambda: Post.objects.annotate(label_count=Count("labels")).filter(label_count__gte=0),
    "distinct": lambda: Post.objects.filter(labels__name__in=["a", "b"]).distinct(),
}


def sql(queryset) -> tuple[str, tuple]:
    return queryset.query.get_compiler(using=queryset.db).as_sql()


@pytest.mark.parametrize("make", QUERYSETS.values(), ids=QUERYSETS.keys())
def test_state_queryset_is_the_public_chain_in_one_clone(make):
    public = make().select_related(None).prefetch_related(None).order_by().only(*FIELDS)
    assert sql(state_queryset(make(), FIELDS)) == sql(public)
    assert state_queryset(make(), FIELDS)._prefetch_related_lookups == ()


def test_state_queryset_leaves_the_views_queryset_alone():
    queryset = QUERYSETS["the post view's"]()
    before = sql(queryset)
    state_queryset(queryset, FIELDS)
    assert sql(queryset) == before and queryset._prefetch_related_lookups == ("labels",)


def test_find_state_row_loads_only_the_state_columns_and_keeps_the_scope():
    writer = baker.make(Writer, name="Grace")
    shown = baker.make(Post, writer=writer, published=True)
    hidden = baker.make(Post, writer=writer, published=False)
    rows = state_queryset(Post.objects.filter(published=True), FIELDS)
    row = find_state_row(rows, "pk", shown.pk)
    assert (row.pk, row.version, row.last_modified) == (shown.pk, shown.version, shown.last_modified)
    assert row.get_deferred_fields() == {f.attname for f in Post._meta.concrete_fields} - {"id", *FIELDS}
    assert find_state_row(rows, "pk", hidden.pk) is None


@pytest.mark.parametrize("value", ["abc", None, "", "1.5", [1]])
def test_a_value_the_field_cannot_hold_finds_nothing(value):
    baker.make(Post)
    assert find_state_row(state_queryset(Post.objects.all(), FIELDS), "pk", value) is None


# -- a statement compiled once per shape, run again with each value -------------------

SHAPES = {
    **QUERYSETS,
    "inherited": lambda: PinnedNote.objects.all(),
    "inherited, filtered on the parent's column": lambda: PinnedNote.objects.filter(text="t").exclude(key="k0"),
}
INHERITED_FIELDS = ("version", "updated_at", "last_modified")
STATE_COLUMNS = INHERITED_FIELDS
Build = Callable[[], QuerySet[Any]]


def slow(queryset, lookup_field, value):
    """What the whole compile finds: the reference the reused statement must agree with."""
    try:
        return list(rows._selecting(queryset, lookup_field, value))
    except (ValueError, TypeError, OverflowError):
        return []


def loaded(row):
    return None if row is None else (type(row), row.pk, {n: row.__dict__[n] for n in row.__dict__ if n != "_state"})


@pytest.mark.parametrize("make", SHAPES.values(), ids=SHAPES.keys())
def test_the_reused_statement_finds_what_the_whole_compile_finds(make):
    writer = baker.make(Writer, name="Grace")
    posts = [baker.make(Post, writer=writer, published=n % 2 == 0, title=f"t{n}") for n in range(4)]
    notes = [baker.make(PinnedNote, key=f"k{n}", text="t") for n in range(3)]
    fields = INHERITED_FIELDS if make().model is PinnedNote else FIELDS
    values = [*(p.pk for p in posts), *(n.pk for n in notes), str(posts[1].pk), 10**6, 2**70, -(2**70)]
    values += ["abc", "", "1.5"]
    for value in values:
        queryset = state_queryset(make(), fields)
        expected = slow(queryset, "pk", value)
        found = find_state_row(queryset, "pk", value)
        assert loaded(found) == loaded(expected[0] if expected else None), value


def test_a_shape_seen_before_is_not_compiled_again(django_assert_num_queries):
    shown, other = baker.make(Post, published=True, _quantity=2)
    hidden = baker.make(Post, published=False)
    find_state_row(state_queryset(Post.objects.filter(published=True), FIELDS), "pk", shown.pk)
    with mock.patch.object(SQLCompiler, "as_sql", autospec=True, side_effect=SQLCompiler.as_sql) as compiled:
        with django_assert_num_queries(1):
            found = find_state_row(state_queryset(Post.objects.filter(published=True), FIELDS), "pk", other.pk)
        assert find_state_row(state_queryset(Post.objects.filter(published=True), FIELDS), "pk", hidden.pk) is None
    assert compiled.call_count == 0
    assert (found.pk, found.version) == (other.pk, other.version)


def test_a_value_first_seen_out_of_range_does_not_stop_the_reuse():
    post = baker.make(Post)
    queryset = state_queryset(Post.objects.filter(title__startswith=""), FIELDS)
    assert find_state_row(queryset, "pk", 2**70) is None
    find_state_row(queryset, "pk", post.pk)
    with mock.patch.object(SQLCompiler, "as_sql", autospec=True, side_effect=SQLCompiler.as_sql) as compiled:
        assert find_state_row(queryset, "pk", post.pk).pk == post.pk
    assert compiled.call_count == 0


def test_several_rows_raise_from_the_reused_statement_too():
    baker.make(Post, title="same", _quantity=2)
    queryset = state_queryset(Post.objects.all(), FIELDS)
    for _ in range(2):
        with pytest.raises(Post.MultipleObjectsReturned):
            find_state_row(queryset, "title", "same")


def test_several_rows_raise_as_get_does():
    writer = baker.make(Writer)
    baker.make(Post, writer=writer, _quantity=2)
    with pytest.raises(Post.MultipleObjectsReturned):
        find_state_row(state_queryset(Post.objects.all(), FIELDS), "writer", writer.pk)


# -- the reused statement against the whole compile: keys, spellings, fields, managers ----


def _whole_compile(queryset: QuerySet[Any], lookup_field: str, value: Any) -> Any:
    """What compiling the validator query for this value finds: the reference."""
    try:
        found = list(rows._selecting(queryset, lookup_field, value))
    except Exception as error:  # a value the field refuses is no row to find_state_row; any other error is raised
        return type(error).__name__
    if len(found) > 1:
        return "several"
    return loaded(found[0]) if found else None


def _reused(queryset: QuerySet[Any], lookup_field: str, value: Any) -> Any:
    try:
        return loaded(find_state_row(queryset, lookup_field, value))
    except queryset.model.MultipleObjectsReturned:
        return "several"
    except Exception as error:
        return type(error).__name__


@pytest.fixture
def own_memo(monkeypatch):
    """What is remembered, for this test alone: ``_disagreements`` forgets it between first values."""
    monkeypatch.setattr(scopes, "_remembered", {})


def _disagreements(make: Build, fields: tuple[str, ...], lookup_field: str, values: list[Any]) -> list[Any]:
    """Each value looked up after each value was seen first: where the reused statement and the whole compile differ."""
    found = []
    refused = {"ValueError", "TypeError", "OverflowError", "ValidationError"}
    for first in values:
        scopes._remembered.clear()
        _reused(state_queryset(make(), fields), lookup_field, first)
        for value in values:
            queryset = state_queryset(make(), fields)
            expected, reused = _whole_compile(queryset, lookup_field, value), _reused(queryset, lookup_field, value)
            if expected != reused and not (isinstance(expected, str) and expected in refused and reused is None):
                found.append((first, value, expected, reused))
    return found


@pytest.fixture
def tickets(own_memo) -> list[Ticket]:
    return [
        baker.make(Ticket, slug="open", reference="R1", amount=Decimal("1.50"), data={"a": [1, 2]}),
        baker.make(Ticket, slug="unreferenced", reference=None, amount=Decimal("-2"), data=[]),
        baker.make(Ticket, slug="closed", reference="R3", closed=True, data="text"),
    ]


def _ticket_values(tickets: list[Ticket]) -> dict[str, list[Any]]:
    ids = [ticket.pk for ticket in tickets]
    return {
        "pk": [*ids, str(ids[0]), ids[0].hex, str(ids[0]).upper(), "{" + str(ids[0]) + "}", "nope", "", 7],
        "slug": ["open", "unreferenced", "closed", "OPEN", " open", "open ", "", 7],
        "reference": ["R1", "R3", "", "r1", "R1 ", None],
    }


@pytest.mark.parametrize("lookup_field", ["pk", "slug"])
@pytest.mark.parametrize(
    "make",
    [lambda: Ticket.objects.all(), lambda: Ticket.every.filter(Q(amount__gt=0) | Q(closed=True))],
    ids=["a filtering default manager", "an or at the top"],
)
def test_uuid_keys_slugs_decimal_and_json_columns_are_found_as_the_whole_compile_finds_them(
    tickets, make, lookup_field
):
    fields = ("version", "amount", "data", "updated_at")
    assert _disagreements(make, fields, lookup_field, _ticket_values(tickets)[lookup_field]) == []


def test_a_value_that_prepares_to_null_is_looked_up_as_the_whole_compile_does(tickets):
    """A field that stores "" as NULL: compiling writes ``IS NULL`` for it, never ``= NULL``."""
    assert (
        _disagreements(lambda: Ticket.every.all(), STATE_COLUMNS, "reference", _ticket_values(tickets)["reference"])
        == []
    )


@pytest.mark.usefixtures("own_memo")
def test_text_primary_keys_are_found_as_the_whole_compile_finds_them():
    for code in ("7", "007", " 7", "True", "x"):
        baker.make(Badge, code=code)
    values = ["7", "007", 7, " 7", "7 ", True, "True", "true", "", "X", "x", 10**30]
    for make in (lambda: Badge.objects.all(), lambda: Badge.objects.exclude(code="x")):
        assert _disagreements(make, STATE_COLUMNS, "pk", values) == []


@pytest.mark.usefixtures("own_memo")
def test_integer_keys_however_spelled_are_found_as_the_whole_compile_finds_them():
    notes = [baker.make(Note, key=f"k{n}", text="a" if n % 2 else "b") for n in range(3)]
    pk = notes[1].pk
    values = [pk, str(pk), f"00{pk}", f" {pk}", f"{pk} ", f"+{pk}", float(pk), True, -pk, 0, 2**63 - 1, 2**63]
    values += [-(2**63), -(2**63) - 1, "", "1e0", "x"]
    shapes: list[Build] = [
        lambda: Note.objects.filter(Q(text="a") | Q(key="k0")),
        lambda: Note.objects.exclude(text="b"),
        lambda: Note.objects.all(),
        lambda: Note.objects.filter(text="a") | Note.objects.filter(key="k0"),
    ]
    for make in shapes:
        assert _disagreements(make, STATE_COLUMNS, "pk", values) == []
        assert _disagreements(make, STATE_COLUMNS, "key", ["k0", "k1", " k1", "K1", 1, ""]) == []


@pytest.mark.usefixtures("own_memo")
def test_a_chain_of_three_tables_on_a_text_key_is_found_as_the_whole_compile_finds_it():
    gold = [baker.make(GoldMedal, code=code, metal="gold", carats=n) for n, code in enumerate(["7", "007", "g"])]
    baker.make(Medal, code="silver", metal="silver")
    values = [*(medal.pk for medal in gold), 7, " 7", "silver", "", 10**20]
    for make in (lambda: GoldMedal.objects.all(), lambda: GoldMedal.objects.filter(Q(carats=1) | Q(metal="x"))):
        assert _disagreements(make, (*STATE_COLUMNS, "carats", "metal"), "pk", values) == []
        assert _disagreements(make, STATE_COLUMNS, "code", values) == []


@pytest.mark.usefixtures("own_memo")
def test_several_rows_on_a_field_that_is_not_unique_raise_after_reuse_too():
    writer = baker.make(Writer)
    baker.make(Post, writer=writer, title="same", _quantity=2)
    baker.make(Post, writer=writer, title="alone")
    assert _disagreements(lambda: Post.objects.all(), STATE_COLUMNS, "title", ["alone", "same", "none"]) == []


@pytest.mark.usefixtures("own_memo")
@pytest.mark.django_db(transaction=True)
def test_a_locking_read_outside_a_transaction_is_refused_after_reuse_too():
    """Django refuses ``select_for_update()`` in autocommit where the database locks; so must a reused statement."""
    note = baker.make(Note)
    locking = state_queryset(Note.objects.select_for_update(), STATE_COLUMNS)
    with transaction.atomic():
        assert find_state_row(locking, "pk", note.pk).pk == note.pk
    # Outside: an error where the database has SELECT ... FOR UPDATE (PostgreSQL), the row on SQLite.
    assert _reused(locking, "pk", note.pk) == _whole_compile(locking, "pk", note.pk)


# -- the list's selection: what the collection ETag fingerprints --------------------

BASE_LIST = Post.objects.filter(published=True).order_by("id")

#: Each of these selects other rows, or other values, than BASE_LIST: its ETag must differ.
DIFFERENT = {
    "filter value": lambda: Post.objects.filter(published=False).order_by("id"),
    "more filters": lambda: BASE_LIST.filter(writer__name="Grace"),
    "ordering": lambda: Post.objects.filter(published=True).order_by("-id"),
    "slice": lambda: BASE_LIST[5:10],
    "distinct": lambda: BASE_LIST.distinct(),
    "an annotation the body may show": lambda: BASE_LIST.annotate(label_count=Count("labels")),
    "a per-user annotation": lambda: BASE_LIST.annotate(mine=Count("labels", filter=Q(labels__name="user-7"))),
    "an extra select": lambda: BASE_LIST.extra(select={"one": "1"}),
}
#: These change neither the rows nor their values: the same ETag.
SAME = {
    "select_related": lambda: BASE_LIST.select_related("writer"),
    "prefetch_related": lambda: BASE_LIST.prefetch_related("labels"),
    "only": lambda: BASE_LIST.only("title"),
    "defer": lambda: BASE_LIST.defer("body"),
}


def selection_sql(queryset) -> tuple[str, ...]:
    return query_fingerprint(row_selection(queryset))


@pytest.mark.parametrize("make", DIFFERENT.values(), ids=DIFFERENT.keys())
def test_what_changes_the_rows_changes_the_fingerprint(make):
    assert selection_sql(make()) != selection_sql(BASE_LIST)


def test_users_whose_annotations_differ_get_different_fingerprints():
    def mine(user: str):
        return BASE_LIST.annotate(mine=Count("labels", filter=Q(labels__name=user)))

    assert selection_sql(mine("user-7")) != selection_sql(mine("user-8"))


@pytest.mark.parametrize("make", SAME.values(), ids=SAME.keys())
def test_what_only_loads_differently_keeps_the_fingerprint(make):
    assert selection_sql(make()) == selection_sql(BASE_LIST)


def test_values_querysets_keep_their_columns():
    assert selection_sql(BASE_LIST.values("title")) != selection_sql(BASE_LIST.values("body"))
