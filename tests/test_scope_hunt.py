"""Attempts to make two scopes share a key, kept as the checks that they cannot.

Three reads skip compiling SQL on the strength of ``scope_key``: a detail's
validator cache entry is keyed by the digest remembered under it, the
validator query reuses the statement remembered under it (``rows``; the
statement's own checks are in tests/test_rows.py), and a list's fingerprint
is remembered under the key of its row selection. Equal keys must mean one
statement: the truth here is ``query_fingerprint``, the SQL and parameters
that compiling writes. Then, through HTTP, per-user scopes with the
validator cache: no user is answered with another's row or list.
"""

from __future__ import annotations

import datetime
import random
import uuid
from collections.abc import Callable, Iterator
from decimal import Decimal
from typing import Any
from unittest import mock
from zoneinfo import ZoneInfo

import pytest
from django.conf import settings as live_settings
from django.contrib.auth.models import Permission, User
from django.core.cache import caches
from django.db.models import CharField, FilteredRelation, IntegerField, Lookup, Q, QuerySet, TextChoices
from django.db.models.expressions import RawSQL
from django.db.models.functions import Lower
from django.db.models.sql.where import WhereNode
from django.http import HttpRequest, JsonResponse
from django.shortcuts import get_object_or_404
from django.test import Client, override_settings
from django.urls import path
from django.utils import timezone
from model_bakery import baker

from conditional_api import rows, scopes
from conditional_api.decorators import conditional
from conditional_api.rows import find_state_row, query_fingerprint, row_selection, state_queryset
from conditional_api.strategies import CollectionStrategy
from conditional_api.validators import Variant
from tests.conftest import write_behind_the_orm
from tests.testapp.models import (
    Badge,
    Book,
    BookProxy,
    FeaturedPost,
    GoldMedal,
    Medal,
    Note,
    PinnedNote,
    Post,
    Ticket,
    Writer,
)

Build = Callable[[], QuerySet[Any]]
STATE = ("version", "updated_at", "last_modified")
PARIS = ZoneInfo("Europe/Paris")
#: 02:30 in Paris happens twice on 2026-10-25: at 00:30 UTC (fold 0, CEST) and 01:30 UTC (fold 1, CET).
FIRST_0230 = datetime.datetime(2026, 10, 25, 2, 30, tzinfo=PARIS)
SECOND_0230 = datetime.datetime(2026, 10, 25, 2, 30, fold=1, tzinfo=PARIS)
PLUS_TWO = datetime.timezone(datetime.timedelta(hours=2))


@pytest.fixture(autouse=True)
def forget_remembered(monkeypatch):
    """Each test starts with nothing remembered, so that the first queryset of a shape is the test's own."""
    monkeypatch.setattr(scopes, "_remembered", {})


class Colour(TextChoices):
    RED = "red"


class NotEqual(Lookup):
    """A lookup registered on a field by an application."""

    lookup_name = "hunt_ne"

    def as_sql(self, compiler: Any, connection: Any) -> tuple[str, list[Any]]:
        lhs, lhs_params = self.process_lhs(compiler, connection)
        rhs, rhs_params = self.process_rhs(compiler, connection)
        return f"{lhs} <> {rhs}", [*lhs_params, *rhs_params]


@pytest.fixture
def registered_lookup() -> Iterator[None]:
    """``hunt_ne``, a lookup, and ``hunt_lower``, a transform, on every text field while the test runs."""
    CharField.register_lookup(NotEqual)
    CharField.register_lookup(Lower, "hunt_lower")
    try:
        yield
    finally:
        CharField._unregister_lookup(NotEqual)  # type: ignore[attr-defined]
        CharField._unregister_lookup(Lower, "hunt_lower")  # type: ignore[attr-defined]


class KeptWhere(WhereNode):
    """A where node of an application's own class: its SQL is its own business."""


def _with_where_subclass() -> QuerySet[Any]:
    queryset = Post.objects.filter(title="a")
    node = queryset.query.where
    queryset.query.where = KeptWhere(node.children, node.connector, node.negated)
    return queryset


# -- equal keys compile to equal statements -------------------------------------------
#
# Each queryset below is keyed three ways (as a detail's state queryset, as a
# list's row selection, as it is); wherever two keys are equal, the SQL and
# parameters must be too.

CATALOGUE: dict[str, Build] = {
    "all": lambda: Post.objects.all(),
    "across a join": lambda: Post.objects.filter(writer__name="Ada"),
    "exclude across a join": lambda: Post.objects.exclude(writer__name="Ada"),
    "~Q across a join": lambda: Post.objects.filter(~Q(writer__name="Ada")),
    "m2m, one filter": lambda: Post.objects.filter(Q(labels__name="a"), Q(labels__name="b")),
    "m2m, two filters": lambda: Post.objects.filter(labels__name="a").filter(labels__name="b"),
    "m2m, Q and": lambda: Post.objects.filter(Q(labels__name="a") & Q(labels__name="b")),
    "m2m, exclude": lambda: Post.objects.exclude(labels__name="a"),
    "m2m isnull": lambda: Post.objects.filter(labels__isnull=True),
    "m2m not isnull": lambda: Post.objects.filter(labels__isnull=False),
    "fk isnull": lambda: Note.objects.filter(owner__isnull=True),
    "fk is None": lambda: Note.objects.filter(owner=None),
    "fk exclude None": lambda: Note.objects.exclude(owner=None),
    "fk's column isnull": lambda: Note.objects.filter(owner__username__isnull=True),
    "in a list": lambda: Post.objects.filter(writer__in=[1, 2]),
    "in a tuple": lambda: Post.objects.filter(writer__in=(1, 2)),
    "in a set": lambda: Post.objects.filter(pk__in={1, 9}),
    "in the other set": lambda: Post.objects.filter(pk__in={9, 1}),
    "in a queryset": lambda: Post.objects.filter(writer__in=Writer.objects.filter(name="Ada")),
    "Q or": lambda: Post.objects.filter(Q(title="a") | Q(body="b")),
    "Q or, swapped": lambda: Post.objects.filter(Q(body="b") | Q(title="a")),
    "Q xor": lambda: Post.objects.filter(Q(title="a") ^ Q(body="b")),
    "int": lambda: Post.objects.filter(version=1),
    "float on an int": lambda: Post.objects.filter(version=1.0),
    "bool on an int": lambda: Post.objects.filter(version=True),
    "decimal on an int": lambda: Post.objects.filter(version=Decimal("1.0")),
    "int on text": lambda: Post.objects.filter(title=1),
    "str on text": lambda: Post.objects.filter(title="1"),
    "choices member": lambda: Post.objects.filter(title=Colour.RED),
    "choices value": lambda: Post.objects.filter(title="red"),
    # Lookups that do not prepare their value (iexact, contains, ...) write str(value) in the parameter.
    "contains 1": lambda: Note.objects.filter(text__contains=1),
    "contains True": lambda: Note.objects.filter(text__contains=True),
    "contains 1.0": lambda: Note.objects.filter(text__contains=1.0),
    "contains Decimal 1": lambda: Note.objects.filter(text__contains=Decimal("1")),
    "contains Decimal 1.0": lambda: Note.objects.filter(text__contains=Decimal("1.0")),
    "iexact Decimal 1": lambda: Note.objects.filter(text__iexact=Decimal("1")),
    "iexact Decimal 1.0": lambda: Note.objects.filter(text__iexact=Decimal("1.0")),
    "contains Decimal 0": lambda: Note.objects.filter(text__contains=Decimal("0")),
    "contains Decimal -0": lambda: Note.objects.filter(text__contains=Decimal("-0")),
    "contains 0.0": lambda: Note.objects.filter(text__contains=0.0),
    "contains -0.0": lambda: Note.objects.filter(text__contains=-0.0),
    "contains nan": lambda: Note.objects.filter(text__contains=float("nan")),
    "contains a signaling nan": lambda: Note.objects.filter(text__contains=Decimal("sNaN")),
    "contains a quiet nan": lambda: Note.objects.filter(text__contains=Decimal("NaN")),
    "contains a set": lambda: Note.objects.filter(text__contains={1, 9}),
    "contains the set built the other way": lambda: Note.objects.filter(text__contains={9, 1}),
    "contains a frozenset": lambda: Note.objects.filter(text__contains=frozenset({1, 9})),
    "contains a list": lambda: Note.objects.filter(text__contains=[1, 9]),
    "contains a UTC time": lambda: Note.objects.filter(text__contains=datetime.time(12, tzinfo=datetime.UTC)),
    "contains that time at +02": lambda: Note.objects.filter(text__contains=datetime.time(14, tzinfo=PLUS_TWO)),
    "contains a naive time": lambda: Note.objects.filter(text__contains=datetime.time(12)),
    "contains a naive 02:30": lambda: Note.objects.filter(text__contains=FIRST_0230.replace(tzinfo=None)),
    "contains the other naive 02:30": lambda: Note.objects.filter(text__contains=SECOND_0230.replace(tzinfo=None)),
    "contains the first 02:30": lambda: Note.objects.filter(text__contains=FIRST_0230),
    "contains the second 02:30": lambda: Note.objects.filter(text__contains=SECOND_0230),
    "since the first 02:30": lambda: Note.objects.filter(updated_at__gte=FIRST_0230),
    "since the second 02:30": lambda: Note.objects.filter(updated_at__gte=SECOND_0230),
    "since 00:30 UTC": lambda: Note.objects.filter(updated_at__gte=FIRST_0230.astimezone(datetime.UTC)),
    "since 00:30 UTC at +02": lambda: Note.objects.filter(updated_at__gte=FIRST_0230.astimezone(PLUS_TWO)),
    "a date": lambda: Note.objects.filter(updated_at__date=datetime.date(2026, 1, 1)),
    "a uuid": lambda: Ticket.every.filter(pk=uuid.UUID(int=1)),
    "a uuid's text": lambda: Ticket.every.filter(pk=str(uuid.UUID(int=1))),
    "the manager's filter": lambda: Ticket.objects.all(),
    "another manager": lambda: Ticket.every.all(),
    "a missing reference": lambda: Ticket.every.filter(reference=""),
    "no reference": lambda: Ticket.every.filter(reference=None),
    "a huge int": lambda: Post.objects.filter(pk=2**70),
    "another huge int": lambda: Post.objects.filter(pk=2**71),
    "an int too long to print": lambda: Post.objects.filter(pk=10**5000),
    "none()": lambda: Post.objects.none(),
    "in nothing": lambda: Post.objects.filter(pk__in=[]),
    "distinct": lambda: Post.objects.distinct(),
    "ordered": lambda: Post.objects.order_by("title"),
    "ordered, reversed": lambda: Post.objects.order_by("title").reverse(),
    "ordered at random": lambda: Post.objects.order_by("?"),
    "ordered by a relation": lambda: Post.objects.order_by("writer"),
    "ordered across a join": lambda: Post.objects.order_by("-writer__name"),
    "Meta.ordering": lambda: Permission.objects.all(),
    "Meta.ordering, reversed": lambda: Permission.objects.reverse(),
    "Meta.ordering cleared": lambda: Permission.objects.order_by(),
    "only": lambda: Post.objects.only("title"),
    "defer": lambda: Post.objects.defer("title"),
    "values": lambda: Post.objects.values("title"),
    "values, other": lambda: Post.objects.values("body"),
    "values_list": lambda: Post.objects.values_list("title"),
    "values_list flat": lambda: Post.objects.values_list("title", flat=True),
    "values across a join": lambda: Post.objects.values("writer__name"),
    "select_for_update": lambda: Post.objects.select_for_update(),
    "select_for_update nowait": lambda: Post.objects.select_for_update(nowait=True),
    "select_for_update of self": lambda: Post.objects.select_for_update(of=("self",)),
    "select_for_update no key": lambda: Post.objects.select_for_update(no_key=True),
    "proxy": lambda: BookProxy.objects.all(),
    "proxied": lambda: Book.objects.all(),
    "child": lambda: FeaturedPost.objects.filter(title="a"),
    "parent": lambda: Post.objects.filter(title="a"),
    "grandchild on the grandparent's column": lambda: GoldMedal.objects.filter(code="k"),
    "child on the parent's column": lambda: Medal.objects.filter(code="k"),
    "parent on its column": lambda: Badge.objects.filter(code="k"),
    "another child on its parent's column": lambda: PinnedNote.objects.filter(key="k"),
    "a filtered relation": lambda: Post.objects.alias(
        mine=FilteredRelation("labels", condition=Q(labels__name="a"))
    ).filter(mine__isnull=False),
    "alias": lambda: Post.objects.alias(n=RawSQL("1", (), output_field=IntegerField())).filter(n=1),
    "extra": lambda: Post.objects.extra(where=["1 = 1"]),
    "RawSQL": lambda: Post.objects.filter(pk__in=RawSQL("SELECT 1", [])),
    "using": lambda: Post.objects.using("default").filter(title="a"),
    "a where node subclass": _with_where_subclass,
    "a text char pk": lambda: Badge.objects.filter(pk="007"),
    "an int char pk": lambda: Badge.objects.filter(pk=7),
}
REGISTERED: dict[str, Build] = {
    "a registered lookup": lambda: Post.objects.filter(title__hunt_ne="a"),
    "the same, by value": lambda: Post.objects.filter(title__hunt_ne=Decimal("1.0")),
    "the same, by another spelling": lambda: Post.objects.filter(title__hunt_ne=Decimal("1")),
}


def _keyed(build: Build) -> Iterator[tuple[str, Any, tuple[str, ...]]]:
    """The keys a queryset is remembered under, with the statement each stands for."""
    queryset = build()
    names = {field.name for field in queryset.model._meta.concrete_fields}
    state = state_queryset(queryset, tuple(name for name in STATE if name in names))
    yield "state", scopes.scope_key(state), query_fingerprint(state)
    selection = row_selection(queryset)
    yield "selection", scopes.scope_key(selection, ordered=True), query_fingerprint(selection)
    yield "as it is", scopes.scope_key(queryset, ordered=True), query_fingerprint(queryset)


def _collisions(catalogue: dict[str, Build]) -> list[tuple[str, str, str]]:
    seen: dict[Any, tuple[str, tuple[str, ...]]] = {}
    found = []
    for name, build in catalogue.items():
        for how, key, fingerprint in _keyed(build):
            if key is None:
                continue
            first = seen.setdefault(key, (name, fingerprint))
            if first[1] != fingerprint:
                found.append((how, first[0], name))
    return found


@pytest.mark.django_db
def test_querysets_with_equal_keys_compile_to_equal_statements():
    assert _collisions(CATALOGUE) == []


@pytest.mark.django_db
def test_a_registered_lookup_is_keyed_by_its_value_as_written(registered_lookup):
    assert _collisions(REGISTERED) == []
    assert scopes.scope_key(REGISTERED["a registered lookup"]()) is not None
    assert scopes.scope_key(Post.objects.filter(title__hunt_lower="a")) is None  # a transform: not a column


@pytest.mark.django_db
@pytest.mark.parametrize("name", CATALOGUE)
def test_each_queryset_built_twice_has_one_key(name):
    assert [key for _, key, _ in _keyed(CATALOGUE[name])] == [key for _, key, _ in _keyed(CATALOGUE[name])]


@pytest.mark.django_db
@pytest.mark.parametrize(
    "name", ["a filtered relation", "alias", "extra", "RawSQL", "a where node subclass", "in a queryset", "a date"]
)
def test_what_the_key_cannot_describe_has_none(name):
    assert {key for _, key, _ in _keyed(CATALOGUE[name])} == {None}


#: What the sweep below draws from: filterable paths per model, lookups, values equal and unequal in Python.
SWEEP_PATHS: dict[type[Any], tuple[str, ...]] = {
    Post: ("title", "body", "version", "published", "updated_at", "writer", "writer__name", "labels__name", "id"),
    Note: ("key", "text", "owner", "owner__username", "owner__groups__name", "updated_at", "pinnednote__pinned_by"),
    PinnedNote: ("key", "text", "pinned_by", "owner__username", "note_ptr", "reminders__text"),
    Ticket: ("slug", "reference", "amount", "data", "closed", "id"),
    GoldMedal: ("code", "metal", "carats", "medal_ptr"),
}
SWEEP_LOOKUPS = ("", "__iexact", "__contains", "__in", "__gt", "__isnull", "__range", "__startswith", "__regex")
SWEEP_VALUES: tuple[Any, ...] = (
    *(1, 1.0, True, False, 0, 0.0, -0.0, Decimal("1"), Decimal("1.0"), Decimal("1E+1"), Decimal("10")),
    *("1", "a", "A", " a", "", b"a", None, 2**63, -(2**63) - 1, uuid.UUID(int=1)),
    *(FIRST_0230, SECOND_0230, FIRST_0230.astimezone(datetime.UTC), FIRST_0230.astimezone(PLUS_TWO)),
    *(datetime.date(2026, 1, 1), datetime.time(1), datetime.timedelta(1), datetime.timedelta(hours=24)),
    *([1, 2], (1, 2), [2, 1], {1, 9}, {9, 1}, frozenset({1, 9}), [1, 1], [True, 1], [1.0]),
)


def _drawn(rng: random.Random) -> QuerySet[Any]:
    """A queryset of filters, negations, ORs, ordering and the like, drawn from the sweep's parts."""
    model = rng.choice(list(SWEEP_PATHS))
    paths = SWEEP_PATHS[model]
    queryset = model._default_manager.all()
    for _ in range(rng.randint(1, 2)):
        lookup = rng.choice(paths) + rng.choice(SWEEP_LOOKUPS)
        value = rng.choice(SWEEP_VALUES)
        if lookup.endswith("__isnull"):
            value = rng.choice([True, False])
        elif lookup.endswith("__range"):
            value = (rng.choice(SWEEP_VALUES), rng.choice(SWEEP_VALUES))
        condition = Q(**{lookup: value})
        how = rng.randrange(4)
        if how == 1:
            condition = ~condition
        elif how == 2:
            condition |= Q(**{rng.choice(paths): rng.choice(SWEEP_VALUES[:16])})
        queryset = queryset.exclude(condition) if how == 3 else queryset.filter(condition)
    steps = [
        lambda q: q.distinct(),
        lambda q: q.order_by(rng.choice(paths), rng.choice(["-pk", "updated_at__hour", "pk", "?"])),
        lambda q: q.reverse(),
        lambda q: q.none(),
        lambda q: q.values(rng.choice(paths)),
        lambda q: q.select_for_update(),
    ]
    for step in steps:
        if rng.random() < 0.1:
            queryset = step(queryset)
    return queryset


def _fingerprint(queryset: QuerySet[Any]) -> tuple[str, ...]:
    try:
        return query_fingerprint(queryset)
    except Exception as error:  # a statement the compiler refuses is one answer too
        return ("raises", type(error).__name__)


@pytest.mark.django_db
def test_querysets_drawn_at_random_with_equal_keys_compile_alike():
    """Seeded: the same draws on every run, many more combinations than the catalogue names."""
    rng = random.Random(20261025)
    seen: dict[Any, tuple[tuple[str, ...], str]] = {}
    found = []
    for _ in range(3000):
        zone = rng.choice([datetime.UTC, PARIS])
        with timezone.override(zone):
            try:
                queryset = _drawn(rng)
                names = {field.name for field in queryset.model._meta.concrete_fields}
                state = state_queryset(queryset, tuple(name for name in STATE if name in names))
                keyed = [
                    (scopes.scope_key(state), state),
                    (scopes.scope_key(row_selection(queryset), ordered=True), row_selection(queryset)),
                ]
            except Exception:  # FieldError, ValueError, ValidationError: a draw Django refuses to build
                continue
            for key, built in keyed:
                if key is not None:
                    fingerprint = _fingerprint(built)
                    first = seen.setdefault(key, (fingerprint, str(built.query.where)))
                    if first[0] != fingerprint:
                        found.append((first, fingerprint))
    assert len(seen) > 1000  # the draws are varied enough to be worth it
    assert found == []


#: Pairs whose values are equal in Python but are written differently in the statement.
EQUAL_IN_PYTHON = [
    ("contains Decimal 1", "contains Decimal 1.0"),
    ("iexact Decimal 1", "iexact Decimal 1.0"),
    ("contains Decimal 0", "contains Decimal -0"),
    ("contains 0.0", "contains -0.0"),
    ("contains a UTC time", "contains that time at +02"),
    ("contains the first 02:30", "contains the second 02:30"),
    ("since the first 02:30", "since the second 02:30"),
    ("contains a set", "contains the set built the other way"),
    ("contains a set", "contains a frozenset"),
]


@pytest.mark.django_db
@pytest.mark.parametrize("first, second", EQUAL_IN_PYTHON, ids=[" vs ".join(pair) for pair in EQUAL_IN_PYTHON])
def test_values_equal_in_python_but_written_differently_have_different_keys(first, second):
    one, other = state_queryset(CATALOGUE[first](), STATE), state_queryset(CATALOGUE[second](), STATE)
    assert query_fingerprint(one) != query_fingerprint(other)  # a real difference
    assert scopes.scope_key(one) != scopes.scope_key(other)


#: Querysets whose SQL names the active time zone: date transforms in an ordering or in values().
ZONED: dict[str, Build] = {
    "ordered by an hour": lambda: Post.objects.order_by("updated_at__hour", "id"),
    "values of a date": lambda: Post.objects.values("updated_at__date"),
}


@pytest.mark.django_db
@pytest.mark.parametrize("name", ZONED)
def test_the_active_time_zone_is_in_the_key_of_a_statement_that_names_it(name):
    """Per-user time zones (``timezone.activate()``) change what a date transform compiles to."""
    keyed = {}
    for zone in (datetime.UTC, PARIS):
        with timezone.override(zone):
            keyed[zone] = list(_keyed(ZONED[name]))
    for (how, utc_key, utc_sql), (_, paris_key, paris_sql) in zip(keyed[datetime.UTC], keyed[PARIS], strict=True):
        assert utc_key is not None, how
        assert utc_key != paris_key or utc_sql == paris_sql, how


# -- what a collision would cost: a scope answering for another -----------------------


@pytest.mark.django_db
@pytest.mark.parametrize(
    "seen_first, asked",
    [
        (Decimal("1"), Decimal("1.0")),
        (Decimal("1.0"), Decimal("1")),
        (-0.0, 0.0),
        (0.0, -0.0),
    ],
)
def test_a_scope_never_finds_a_row_with_another_scopes_statement(seen_first, asked):
    """The validator query of one scope, compiled first, must not answer for a scope that finds other rows."""
    notes = [baker.make(Note, key=text, text=text) for text in ("a 1.0", "b 1", "c 0.0", "d -0.0")]
    for note in notes:
        find_state_row(state_queryset(Note.objects.filter(text__contains=seen_first), STATE), "pk", note.pk)
    for note in notes:
        scope = state_queryset(Note.objects.filter(text__contains=asked), STATE)
        expected = list(rows._selecting(scope, "pk", note.pk))
        found = find_state_row(scope, "pk", note.pk)
        assert (None if found is None else found.pk) == (expected[0].pk if expected else None), note.text


@pytest.mark.django_db
def test_lists_whose_values_are_equal_in_python_keep_their_own_fingerprints():
    def etag(since: datetime.datetime) -> str | None:
        current = CollectionStrategy().read_collection(
            Note.objects.filter(updated_at__gte=since).order_by("key"), Variant(), "r1"
        )
        return current.validator.etag if current.validator else None

    assert etag(FIRST_0230) != etag(SECOND_0230)


@pytest.mark.django_db
def test_the_zone_is_read_only_for_a_statement_that_may_name_it():
    """Reading it costs more than the rest of a key: plain columns skip it, paths and relations do not."""
    skipping = [
        state_queryset(Post.objects.filter(published=True, writer__name="Ada"), STATE),
        Post.objects.order_by("-id", "title", "?"),
        Post.objects.values("title", "pk"),
    ]
    reading = [
        Post.objects.order_by("writer"),  # ordered by the writer's own ordering
        Post.objects.order_by("updated_at__hour"),
        Post.objects.values("updated_at__date"),
        Permission.objects.all(),  # Meta.ordering across a relation
    ]
    with mock.patch.object(timezone, "get_current_timezone_name", wraps=timezone.get_current_timezone_name) as read:
        for queryset in skipping:
            assert scopes.scope_key(queryset, ordered=True) is not None
        assert read.call_count == 0
        for queryset in reading:
            assert scopes.scope_key(queryset, ordered=True) is not None
        assert read.call_count == len(reading)


@pytest.mark.django_db
def test_a_list_of_dates_in_the_users_time_zone_has_an_etag_per_zone():
    baker.make(Post, writer=baker.make(Writer))
    dates = Post.objects.order_by("id").values("id", "updated_at__date")
    etags = set()
    for zone in (datetime.UTC, PARIS):
        with timezone.override(zone):
            etags.add(CollectionStrategy().read_collection(dates, Variant(), "r1").validator.etag)
    assert len(etags) == 2


# -- through HTTP: per-user scopes with the validator cache ---------------------------


def _note_body(note: Note) -> JsonResponse:
    return JsonResponse({"key": note.key, "text": note.text, "version": note.version})


def _mine(request: HttpRequest) -> QuerySet[Note]:
    if not request.user.is_authenticated:
        return Note.objects.none()
    return Note.objects.filter(owner=request.user)


@conditional(_mine)
def mine(request: HttpRequest, pk: int) -> JsonResponse:
    return _note_body(get_object_or_404(_mine(request), pk=pk))


@conditional(_mine, strategy="collection")
def my_list(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"keys": [note.key for note in _mine(request).order_by("key")]})


def _shown(request: HttpRequest) -> QuerySet[Note]:
    """Staff see the private notes too: one shape of query for both, with other values."""
    return Note.objects.filter(text__in=["public", "private"] if request.user.is_staff else ["public"])


@conditional(_shown)
def shown(request: HttpRequest, pk: int) -> JsonResponse:
    return _note_body(get_object_or_404(_shown(request), pk=pk))


def _since_joining(request: HttpRequest) -> QuerySet[Note]:
    """The notes written since the user joined, on the user's clock (Paris)."""
    return Note.objects.filter(updated_at__gte=timezone.localtime(request.user.date_joined, PARIS))


@conditional(_since_joining)
def since_joining(request: HttpRequest, pk: int) -> JsonResponse:
    return _note_body(get_object_or_404(_since_joining(request), pk=pk))


@conditional(_since_joining, strategy="collection")
def since_joining_list(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"keys": [note.key for note in _since_joining(request).order_by("key")]})


urlpatterns = [
    path("mine/<int:pk>/", mine, name="hunt-mine"),
    path("mine/", my_list, name="hunt-my-list"),
    path("shown/<int:pk>/", shown, name="hunt-shown"),
    path("since-joining/<int:pk>/", since_joining, name="hunt-since-joining"),
    path("since-joining/", since_joining_list, name="hunt-since-joining-list"),
]
CACHED = {"strategy": "version", "query_params": [], "cache_validators": True}
CACHED_LIST = {"strategy": "collection", "query_params": [], "cache_validators": True}


@pytest.fixture
def cached_views() -> Iterator[None]:
    views = {
        **live_settings.CONDITIONAL_API["VIEWS"],
        "hunt-mine": CACHED,
        "hunt-shown": CACHED,
        "hunt-since-joining": CACHED,
        "hunt-my-list": CACHED_LIST,
        "hunt-since-joining-list": CACHED_LIST,
    }
    with override_settings(
        ROOT_URLCONF=__name__,
        CACHES={**live_settings.CACHES, "hunt": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}},
        CONDITIONAL_API={**live_settings.CONDITIONAL_API, "CACHE": "hunt", "VIEWS": views},
    ):
        caches["hunt"].clear()
        yield


def _client(user: User | None) -> Client:
    client = Client()
    if user is not None:
        client.force_login(user)
    return client


def _revalidated(client: Client, url: str) -> str:
    """The ETag of ``url``, revalidated twice: the first fills the cache, the second is served from it."""
    etag = client.get(url).headers["ETag"]
    assert client.get(url, HTTP_IF_NONE_MATCH=etag).status_code == 304
    assert client.get(url, HTTP_IF_NONE_MATCH=etag).status_code == 304
    return etag


@pytest.mark.django_db(transaction=True)
def test_a_row_another_user_filled_the_cache_with_is_never_answered(cached_views):
    ada, bob = baker.make(User, _quantity=2)
    note = baker.make(Note, owner=ada, key="ada's")
    url = f"/mine/{note.pk}/"
    etag = _revalidated(_client(ada), url)
    for other in (_client(bob), _client(None)):
        assert other.get(url, HTTP_IF_NONE_MATCH=etag).status_code == 404
        assert other.get(url).status_code == 404
    # Given to Bob: Ada's ETag is answered for no one, Bob gets the row.
    note.owner = bob
    note.save()
    assert _client(ada).get(url, HTTP_IF_NONE_MATCH=etag).status_code == 404
    answer = _client(bob).get(url, HTTP_IF_NONE_MATCH=etag)
    assert answer.status_code == 200 and answer.headers["ETag"] != etag


@pytest.mark.django_db(transaction=True)
def test_what_staff_filled_the_cache_with_is_not_shown_to_others(cached_views):
    staff = baker.make(User, is_staff=True)
    private, public = baker.make(Note, text="private"), baker.make(Note, text="public")
    etags = {note.pk: _revalidated(_client(staff), f"/shown/{note.pk}/") for note in (private, public)}
    for other in (_client(baker.make(User)), _client(None)):
        assert other.get(f"/shown/{private.pk}/", HTTP_IF_NONE_MATCH=etags[private.pk]).status_code == 404
        assert other.get(f"/shown/{public.pk}/", HTTP_IF_NONE_MATCH=etags[public.pk]).status_code == 304


@pytest.mark.django_db(transaction=True)
def test_lists_filtered_by_user_keep_one_etag_per_body(cached_views):
    ada, bob = baker.make(User, _quantity=2)
    baker.make(Note, owner=ada, key="ada's")
    ada_etag = _revalidated(_client(ada), "/mine/")
    answer = _client(bob).get("/mine/", HTTP_IF_NONE_MATCH=ada_etag)
    assert answer.status_code == 200 and answer.json() == {"keys": []}
    assert answer.headers["ETag"] != ada_etag
    assert _client(None).get("/mine/", HTTP_IF_NONE_MATCH=ada_etag).status_code == 200


@pytest.fixture
def joined_at_02_30_twice(db) -> tuple[User, User, Note]:
    """Two users who joined at 02:30 in Paris an hour apart, and a note written between the two."""
    first = baker.make(User, date_joined=FIRST_0230.astimezone(datetime.UTC))
    second = baker.make(User, date_joined=SECOND_0230.astimezone(datetime.UTC))
    note = baker.make(Note, key="between")
    write_behind_the_orm(Note, note.pk, updated_at=datetime.datetime(2026, 10, 25, 1, tzinfo=datetime.UTC))
    return first, second, note


@pytest.mark.django_db(transaction=True)
def test_users_whose_scopes_differ_by_an_hour_of_a_repeated_local_time_get_their_own_answers(
    cached_views, joined_at_02_30_twice
):
    first, second, note = joined_at_02_30_twice
    url = f"/since-joining/{note.pk}/"
    etag = _revalidated(_client(first), url)
    assert _client(second).get(url, HTTP_IF_NONE_MATCH=etag).status_code == 404
    list_etag = _revalidated(_client(first), "/since-joining/")
    answer = _client(second).get("/since-joining/", HTTP_IF_NONE_MATCH=list_etag)
    assert answer.status_code == 200 and answer.json() == {"keys": []}
