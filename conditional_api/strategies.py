"""The built-in strategies: how each reads its validator, what a write can claim, what it needs loaded.

* ``version`` and ``updated_at`` (:class:`ModelStrategy`): a few columns of
  the row, read before the full query; a write claims the row in the state
  its precondition saw (compare-and-set). On a list they validate the
  collection as ``collection`` does.
* ``collection``: a list's table change count and the query that selects
  it, in one query; nothing to claim before a write.
* ``content``: the rendered bytes; nothing is known before the view runs.

Adding a strategy is one subclass of :class:`~conditional_api.validators.ValidatorStrategy`,
named in ``CONDITIONAL_API`` by its dotted path.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any, ClassVar

from django.core.exceptions import FieldDoesNotExist, ImproperlyConfigured
from django.db import models, router
from django.db.models.functions import Now, Random
from django.db.models.sql import Query

from .cache import caching, find_row, table_state
from .changes import TableState, forget_inserted
from .conf import api_settings
from .counting import is_counted
from .fields import LastModifiedField
from .models import claim_state
from .rows import from_validator_cache, query_fingerprint, row_selection, state_queryset
from .scopes import remembered, scope_key
from .surrogates import row_keys, table_keys
from .tables import tables_read
from .validators import (
    UNKNOWN_UNTIL_RENDERED,
    Current,
    RowLookup,
    Validator,
    ValidatorStrategy,
    Variant,
    make_etag,
    whole_seconds,
)

__all__ = [
    "CollectionStrategy",
    "ContentStrategy",
    "ModelStrategy",
    "UpdatedAtStrategy",
    "ValidatorStrategy",
    "VersionStrategy",
    "after_release",
]


def after_release(last_modified: datetime) -> datetime:
    """Last-Modified with ``RELEASED_AT`` as its floor, keeping distinct seconds distinct.

    A release that changes representations changes them for If-Modified-Since
    clients too, so every date it serves must be later than every date the
    previous release served. ``RELEASED_AT`` says the previous release
    answers nothing from then on; it may still have answered within
    ``RELEASED_AT``'s own second, so the floor F is the first whole second at
    or after it. Every earlier date becomes F, and a date from F on moves one
    second later: a write within F must not share F with the states before
    it. F may lie ahead (the end of a rollout still under way): until then no
    Last-Modified is sent, since none may be later than the response's Date
    (RFC 9110 §8.8.2.1).
    """
    released_at = api_settings.released_at
    second = whole_seconds(released_at)
    if released_at is None or second is None:
        return last_modified
    floor = second if second == released_at else second + timedelta(seconds=1)
    return floor if last_modified < floor else last_modified + timedelta(seconds=1)


class ModelStrategy(ValidatorStrategy):
    """Validators from a few columns of the row, read before the full query.

    Last-Modified comes only from a :class:`~conditional_api.fields.LastModifiedField`,
    whose writes move it to a new whole second: a plain timestamp (``auto_now``)
    can change twice within the second an HTTP date names, so a model without
    one gets an ETag and no Last-Modified.
    """

    last_modified_field: ClassVar[str] = "last_modified"

    def own_fields(self, model: type[models.Model]) -> tuple[str, ...]:
        """The columns that identify the row's state for this strategy."""
        raise NotImplementedError

    def last_modified_column(self, model: type[models.Model]) -> str | None:
        try:
            field = model._meta.get_field(self.last_modified_field)
        except FieldDoesNotExist:
            return None
        return field.attname if isinstance(field, LastModifiedField) else None

    def state_fields(self, model: type[models.Model]) -> tuple[str, ...]:
        """The columns the validator query reads, besides the primary key."""
        column = self.last_modified_column(model)
        return (*self.own_fields(model), *((column,) if column else ()))

    def validator(self, obj: models.Model, variant: Variant, release: str) -> Validator:
        """The validator of a row whose state columns are loaded."""
        model = type(obj)
        # It may be served: a later write in this transaction must move the date it carries.
        forget_inserted(model, obj.pk, obj._state.db or router.db_for_read(model))
        state = {name: getattr(obj, name) for name in self.state_fields(model)}
        etag = make_etag(obj._meta.label_lower, obj.pk, *state.values(), variant=variant, release=release)
        column = self.last_modified_column(model)
        last_modified = whole_seconds(state[column]) if column else None
        if last_modified is not None:
            last_modified = after_release(last_modified)
        keys = row_keys(model, obj.pk) if api_settings.SURROGATE_KEYS else ()
        return Validator(etag=etag, last_modified=last_modified, state=state, surrogate_keys=keys)

    def current(self, row: models.Model, variant: Variant, release: str) -> Current:
        """What a row in hand says, and how a write claims it in that state."""
        validator = self.validator(row, variant, release)
        model = type(row)
        using = router.db_for_write(model, instance=row)
        # A read that may come from the validator cache is confirmed through it (outside transactions).
        cached = caching()

        def reread() -> Validator | None:
            # A fresh instance: the row in hand may be the one a serializer rendered.
            rows = state_queryset(
                model._base_manager.db_manager(row._state.db or using).all(), self.state_fields(model)
            )
            fresh = find_row(rows, "pk", row.pk, cached=cached)
            return None if fresh is None else self.validator(fresh, variant, release)

        return Current(
            validator,
            claim=lambda: claim_state(model, row.pk, validator.state, using),
            reread=reread,
            using=using,
            row=row,
            cached=from_validator_cache(row),
        )

    def validator_of(self, row: models.Model, variant: Variant, release: str) -> Validator | None:
        return self.validator(row, variant, release)

    def read_row(self, lookup: RowLookup, variant: Variant, release: str) -> Current:
        row = lookup.find(self.state_fields)
        return Current(None) if row is None else self.current(row, variant, release)

    def read_collection(
        self, queryset: models.QuerySet[Any] | None, variant: Variant, release: str, extra: Iterable[Any] = ()
    ) -> Current:
        # A list of versioned rows is validated as a collection.
        if queryset is None:
            raise ImproperlyConfigured(f"The {self.name!r} strategy needs a model or queryset to read.")
        return CollectionStrategy().read_collection(queryset, variant, release, extra)


class VersionStrategy(ModelStrategy):
    """A strong ETag from the version counter (and ``last_modified``, so a re-created pk differs)."""

    name = "version"
    version_field: ClassVar[str] = "version"

    def own_fields(self, model: type[models.Model]) -> tuple[str, ...]:
        return (self.version_field,)


class UpdatedAtStrategy(ModelStrategy):
    """An ETag from the ``updated_at`` timestamp, for models with or without a version."""

    name = "updated_at"
    updated_field: ClassVar[str] = "updated_at"

    def own_fields(self, model: type[models.Model]) -> tuple[str, ...]:
        return (self.updated_field,)


class ContentStrategy(ValidatorStrategy):
    """A strong ETag from the rendered bytes: for views with no model behind them.

    It saves bandwidth, not work: the view runs in full before the decision,
    and a write has no ETag to compare before it runs.
    """

    name = "content"


def _fingerprint(queryset: models.QuerySet[Any]) -> tuple[tuple[str, ...], bool]:
    """What the list's rows are: its row selection's SQL, then each filtered prefetch's; and whether they move alone.

    A ``Prefetch(queryset=...)`` chooses which related rows the body shows,
    so its filters are part of what the ETag names (the selection's SQL
    comes first: ``tables_read()`` reads it). "Move alone": some part reads
    the clock or chance (``Now()``, ``order_by("?")``), so the rows change
    with no write any count could see.
    """
    selection = row_selection(queryset)
    key = scope_key(selection, ordered=True)
    fingerprint, moves_alone = remembered(
        None if key is None else (key, "selection"),
        lambda: (query_fingerprint(selection), _moves_alone(selection.query)),
    )
    for lookup in queryset._prefetch_related_lookups:  # type: ignore[attr-defined]  # no public reader
        inner = getattr(lookup, "queryset", None)
        if inner is not None:
            shown, moves = _fingerprint(inner)
            fingerprint = (*fingerprint, f"prefetch {lookup.prefetch_to}", *shown)
            moves_alone = moves_alone or moves
    return fingerprint, moves_alone


def _moves_alone(node: Any) -> bool:
    """Whether a query or expression reads the clock or chance: a result that changes with no write."""
    if isinstance(node, (Now, Random)):
        return True
    if isinstance(node, Query):
        parts = [node.where, *node.annotations.values(), *node.order_by]
        return "?" in node.order_by or any(_moves_alone(part) for part in parts if not isinstance(part, str))
    if not hasattr(node, "get_source_expressions"):
        return False
    return any(_moves_alone(child) for child in node.get_source_expressions() if child is not None)


class CollectionStrategy(ValidatorStrategy):
    """A strong ETag for a list, from the change counts of every table its query reads.

    One query (the counts, see ``conditional_api.changes``), whatever the
    table sizes, filters, ordering and page: a 304 never runs the list's own
    query or COUNT. The tables are what the query reads (``conditional_api.tables``):
    its own, the ones its filters, ordering, annotations and subqueries join,
    and the ones ``select_related`` and prefetches load; models that are not
    versioned are counted too (``conditional_api.counting``). A list that reads
    a table whose writes are not counted, or one that cannot be named, is
    validated by its content instead: never by a count that misses a write.

    The ETag also covers the compiled SQL of the filtered, ordered queryset
    (so users who see different rows get different ETags), the variant (page
    and page size are query parameters) and any ``extra`` parts the caller
    adds, such as the absolute URL that ``next`` links copy. Any committed
    write to one of the tables changes it, including writes to rows on no
    page the client holds: the price of a flat cost.

    Lists get no Last-Modified: one date for many rows cannot keep distinct
    seconds distinct (see ``clock.py``). A count cannot be claimed, so a
    write sees a resource that exists with no ETag to compare.
    """

    name = "collection"

    def applies_to(self, model: type[models.Model]) -> bool:
        """Only tables whose writes are counted: anything else would never change its ETag."""
        return is_counted(model)

    def read(
        self,
        queryset: models.QuerySet[Any] | None,
        lookup: RowLookup | None,
        variant: Variant,
        release: str,
        extra: Iterable[Any] = (),
    ) -> Current:
        return self.read_collection(queryset, variant, release, extra)

    def read_collection(
        self, queryset: models.QuerySet[Any] | None, variant: Variant, release: str, extra: Iterable[Any] = ()
    ) -> Current:
        if queryset is None:
            raise ImproperlyConfigured(f"The {self.name!r} strategy needs a model or queryset to read.")
        fingerprint, moves_alone = _fingerprint(queryset)
        if moves_alone:
            return UNKNOWN_UNTIL_RENDERED  # no count follows the clock or chance: the bytes decide
        tables = tables_read(queryset, fingerprint[0])
        if tables is None or not all(self.applies_to(model) for model in tables):
            return UNKNOWN_UNTIL_RENDERED
        extra = tuple(extra)
        cached = caching()
        hits: list[bool | None] = []

        def read() -> Validator:
            return self.validator_for_tables(queryset, tables, fingerprint, variant, release, extra, cached, hits)

        return Current(read(), reread=read, cached=hits[0])

    def validator_for_tables(
        self,
        queryset: models.QuerySet[Any],
        tables: Iterable[type[models.Model]],
        fingerprint: tuple[str, ...],
        variant: Variant,
        release: str,
        extra: tuple[Any, ...],
        cached: bool = False,
        hits: list[bool | None] | None = None,
    ) -> Validator:
        """The validator from the tables' counts now, the query's ``fingerprint`` and the variant.

        ``cached``: the counts may come from the validator cache; whether it
        served them is appended to ``hits``.
        """
        # The labels name the set of tables the counts are summed over.
        labels = sorted(model._meta.label for model in tables)
        state, hit = table_state(tables, queryset.db, cached=cached) if tables else (TableState(0, None), None)
        if hits is not None:
            hits.append(hit)
        etag = make_etag(
            "collection",
            queryset.model._meta.label_lower,
            labels,
            state.changes,
            state.changed_at,
            *fingerprint,
            *extra,
            variant=variant,
            release=release,
        )
        keys = table_keys(tables) if api_settings.SURROGATE_KEYS else ()
        return Validator(etag=etag, state={"changes": state.changes}, surrogate_keys=keys)
