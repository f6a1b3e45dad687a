"""Validators (ETag, Last-Modified) and the strategies that derive them.

An ETag here is a digest of everything that can change the bytes of a
representation: the model, the primary key, the row's state columns, the
variant (negotiated media type, the query parameters and request headers that
shape the response) and the release salt. It is computed with BLAKE2b over a
canonical encoding, never ``hash()``, so every process and replica agrees.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any, ClassVar

from django.core.exceptions import EmptyResultSet, FieldDoesNotExist
from django.db import models
from django.http import HttpRequest

__all__ = [
    "Validator",
    "Variant",
    "ValidatorStrategy",
    "ModelStrategy",
    "VersionStrategy",
    "UpdatedAtStrategy",
    "ContentStrategy",
    "CollectionStrategy",
    "query_fingerprint",
    "make_etag",
    "EXISTS_WITHOUT_VALIDATOR",
]


def whole_seconds(moment: datetime | None) -> datetime | None:
    """``moment`` truncated to the second, in UTC, as Last-Modified can carry it."""
    if moment is None:
        return None
    if moment.tzinfo is not None:
        moment = moment.astimezone(timezone.utc)
    else:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.replace(microsecond=0)


@dataclass(frozen=True)
class Validator:
    """The validators of one representation, and the row state they were derived from."""

    etag: str | None = None
    #: Whole seconds, UTC: what an HTTP date can say (RFC 9110 §5.6.7).
    #: A naive datetime is taken as UTC; a fraction of a second is dropped.
    last_modified: datetime | None = None
    #: Column values that identify the state, for the compare-and-set of writes.
    state: Mapping[str, Any] = field(default_factory=dict, compare=False)

    def __post_init__(self) -> None:
        # The header and the comparisons must use the same value.
        object.__setattr__(self, "last_modified", whole_seconds(self.last_modified))


#: A resource that exists but has no validator to compare, such as a collection
#: that is written to with POST: If-Match ``*`` holds, a listed tag cannot match.
EXISTS_WITHOUT_VALIDATOR = Validator()


@dataclass(frozen=True)
class Variant:
    """What, besides the resource's state, decides the bytes of a response."""

    media_type: str = ""
    query: tuple[tuple[str, str], ...] = ()
    headers: tuple[tuple[str, str], ...] = ()

    @classmethod
    def from_request(
        cls,
        request: HttpRequest,
        *,
        media_type: str = "",
        query_params: frozenset[str] | None = None,
        vary: Iterable[str] = (),
    ) -> Variant:
        """The request's variant; ``query_params=None`` means every query parameter counts."""
        query = tuple(
            sorted(
                (key, value)
                for key, values in request.GET.lists()
                if query_params is None or key in query_params
                for value in values
            )
        )
        headers = tuple((name.lower(), request.headers.get(name, "")) for name in vary)
        return cls(media_type=media_type, query=query, headers=headers)

    def canonical(self) -> list[Any]:
        return [self.media_type, [list(pair) for pair in self.query], [list(pair) for pair in self.headers]]


def _canonical_value(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.astimezone(timezone.utc).isoformat() if value.tzinfo else value.isoformat()
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    return str(value)


def make_etag(*parts: Any, variant: Variant, release: str) -> str:
    """A strong ETag over ``parts``, the variant and the release salt."""
    payload = json.dumps(
        [release, variant.canonical(), [_canonical_value(part) for part in parts]],
        separators=(",", ":"),
        ensure_ascii=True,
    ).encode()
    digest = hashlib.blake2b(payload, digest_size=16).digest()
    return '"' + base64.urlsafe_b64encode(digest).rstrip(b"=").decode() + '"'


def after_release(last_modified: datetime) -> datetime:
    """Last-Modified with ``RELEASED_AT`` as its floor, keeping distinct seconds distinct.

    A release that changes representations changes them for If-Modified-Since
    clients too. Every earlier date becomes the release second R, so a date
    from R on moves one second later: a write within R must not share R with
    the states before the release.
    """
    from .conf import api_settings

    released_at = whole_seconds(api_settings.released_at)
    if released_at is None:
        return last_modified
    return released_at if last_modified < released_at else last_modified + timedelta(seconds=1)


class ValidatorStrategy:
    """How a view's validators are derived. Subclass one of the built-ins to customise."""

    name: ClassVar[str] = ""
    #: True when the validator comes from the row before the view runs; False
    #: when it needs the rendered response (no short-circuit, no compare-and-set).
    reads_state: ClassVar[bool] = True


class ModelStrategy(ValidatorStrategy):
    """Validators from a few columns of the row, read before the full query.

    Last-Modified comes only from a :class:`~conditional_api.models.LastModifiedField`,
    whose writes move it to a new whole second: a plain timestamp (``auto_now``)
    can change twice within the second an HTTP date names, so a model without
    one gets an ETag and no Last-Modified.
    """

    last_modified_field: ClassVar[str] = "last_modified"

    def own_fields(self, model: type[models.Model]) -> tuple[str, ...]:
        """The columns that identify the row's state for this strategy."""
        raise NotImplementedError

    def last_modified_column(self, model: type[models.Model]) -> str | None:
        from .models import LastModifiedField

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
        model = type(obj)
        state = {name: getattr(obj, name) for name in self.state_fields(model)}
        etag = make_etag(obj._meta.label_lower, obj.pk, *state.values(), variant=variant, release=release)
        column = self.last_modified_column(model)
        last_modified = whole_seconds(state[column]) if column else None
        if last_modified is not None:
            last_modified = after_release(last_modified)
        return Validator(etag=etag, last_modified=last_modified, state=state)


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

    It saves bandwidth, not work: the view runs in full before the decision.
    """

    name = "content"
    reads_state = False

    def validator_for_content(self, content: bytes, variant: Variant, release: str) -> Validator:
        return Validator(
            etag=make_etag(hashlib.blake2b(content, digest_size=32).hexdigest(), variant=variant, release=release)
        )


class CollectionStrategy(ValidatorStrategy):
    """A strong ETag for a list, from its table's change count and the query that selects it.

    One query (the count, see ``conditional_api.changes``), whatever the
    table size, filters, ordering and page: a 304 never runs the list's own
    query or COUNT. The ETag covers the compiled SQL of the filtered, ordered
    queryset (so users who see different rows get different ETags), the
    variant (page and page size are query parameters) and any ``extra``
    parts the caller adds, such as the absolute URL that ``next`` links
    copy. Any committed write to the table changes it, including writes to
    rows on no page the client holds: the price of a flat cost.

    Lists get no Last-Modified: one date for many rows cannot keep distinct
    seconds distinct (see ``clock.py``).
    """

    name = "collection"

    def applies_to(self, model: type[models.Model]) -> bool:
        """Only tables whose writes are counted: anything else would never change its ETag."""
        from .models import VersionedModel

        return issubclass(model, VersionedModel)

    def validator_for_queryset(
        self, queryset: models.QuerySet, variant: Variant, release: str, extra: Iterable[Any] = ()
    ) -> Validator:
        from .changes import read_state
        from .rows import row_selection

        table = read_state(queryset.model, queryset.db)
        etag = make_etag(
            "collection",
            queryset.model._meta.label_lower,
            table.changes,
            table.changed_at,
            *query_fingerprint(row_selection(queryset)),
            *extra,
            variant=variant,
            release=release,
        )
        return Validator(etag=etag, state={"changes": table.changes})


def query_fingerprint(queryset: models.QuerySet) -> tuple[str, ...]:
    """The SQL and parameters the queryset compiles to on its database (no query runs)."""
    try:
        sql, params = queryset.query.get_compiler(using=queryset.db).as_sql()
    except EmptyResultSet:
        return ("<empty>",)
    return (sql, *(repr(param) for param in params))
