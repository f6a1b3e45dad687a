"""The value types every layer passes around: validators, variants, the ETag digest, and the strategy interface.

An ETag here is a digest of everything that can change the bytes of a
representation: the model, the primary key, the row's state columns, the
variant (negotiated media type, the query parameters and request headers that
shape the response) and the release salt. It is computed with BLAKE2b over a
canonical encoding, never ``hash()``, so every process and replica agrees.

This module imports nothing of the package: the strategies that read state
(``conditional_api.strategies``), the settings and the request flow all
build on it.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, ClassVar

from django.db import models
from django.http import HttpRequest

__all__ = [
    "EXISTS_WITHOUT_VALIDATOR",
    "UNKNOWN_UNTIL_RENDERED",
    "Columns",
    "Current",
    "RowLookup",
    "Validator",
    "ValidatorStrategy",
    "Variant",
    "content_etag",
    "make_etag",
    "whole_seconds",
]


def whole_seconds(moment: datetime | None) -> datetime | None:
    """``moment`` truncated to the second, in UTC, as Last-Modified can carry it."""
    if moment is None:
        return None
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC)
    else:
        moment = moment.replace(tzinfo=UTC)
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
    #: What the representation shows, as purge keys for shared caches
    #: (``conditional_api.surrogates``); empty when the strategy cannot name it.
    surrogate_keys: tuple[str, ...] = field(default=(), compare=False)

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
        # Sorted by name only: the values of a repeated parameter keep their
        # order, which ``getlist()`` hands to the view.
        query = tuple(
            (key, value)
            for key, values in sorted(request.GET.lists(), key=lambda item: item[0])
            if query_params is None or key in query_params
            for value in values
        )
        headers = tuple((name.lower(), request.headers.get(name, "")) for name in vary)
        return cls(media_type=media_type, query=query, headers=headers)

    def canonical(self) -> list[Any]:
        return [self.media_type, [list(pair) for pair in self.query], [list(pair) for pair in self.headers]]


def _canonical_value(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat() if value.tzinfo else value.isoformat()
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


def content_etag(content: bytes, variant: Variant, release: str) -> Validator:
    """A strong ETag over rendered bytes: what any strategy falls back to once the view has run."""
    return Validator(
        etag=make_etag(hashlib.blake2b(content, digest_size=32).hexdigest(), variant=variant, release=release)
    )


@dataclass(frozen=True)
class Current:
    """What a strategy knows of the resource before the view runs.

    ``validator`` is None when there is no such resource. A write can be a
    compare-and-set only when ``claim`` is given: it runs first in the
    write's transaction and answers False when the state moved on since it
    was read; ``reread`` then reads the validator the write left, before
    the transaction ends.
    """

    validator: Validator | None
    #: False when only the rendered bytes tell (the content strategy): the
    #: decision waits for the view.
    known: bool = True
    claim: Callable[[], bool] | None = None
    reread: Callable[[], Validator | None] | None = None
    #: The database alias the claim runs on.
    using: str | None = None
    #: The row the validator was read from (only its state columns may be loaded).
    row: models.Model | None = None
    #: True: the validator cache served the validator; False: it missed; None: it was not asked.
    cached: bool | None = None


#: Nothing is known before the view runs: the rendered bytes decide.
UNKNOWN_UNTIL_RENDERED = Current(validator=None, known=False)


#: The columns a strategy reads of a model's rows, besides the primary key.
Columns = Callable[[type[models.Model]], tuple[str, ...]]


@dataclass(frozen=True)
class RowLookup:
    """One row, as the adapter finds it: ``find(columns)`` loads its primary key and ``columns(model)``.

    The adapter builds the view's queryset once and asks ``columns`` about
    its model. ``find`` returns None when there is no such row (or raises the
    framework's 404); it applies the view's own scoping and access checks.
    """

    find: Callable[[Columns], models.Model | None]


class ValidatorStrategy:
    """How a view's validators are derived: the hook that adapters ask, never test.

    A strategy reads the current validator of one row (``read_row``) or of
    a collection (``read_collection``), before the view runs, with the
    cheapest query it can. Either may answer ``UNKNOWN_UNTIL_RENDERED``:
    the rendered bytes are then hashed (``read_content``). Subclass one of
    ``conditional_api.strategies``' built-ins to customise.
    """

    name: ClassVar[str] = ""

    def read(
        self,
        queryset: models.QuerySet[Any] | None,
        lookup: RowLookup | None,
        variant: Variant,
        release: str,
        extra: Iterable[Any] = (),
    ) -> Current:
        """The current state of what a view shows: the row if one is named, else the collection."""
        if lookup is not None:
            return self.read_row(lookup, variant, release)
        return self.read_collection(queryset, variant, release, extra)

    def read_row(self, lookup: RowLookup, variant: Variant, release: str) -> Current:
        """The current validator of one row, before the view runs."""
        return UNKNOWN_UNTIL_RENDERED

    def read_collection(
        self, queryset: models.QuerySet[Any] | None, variant: Variant, release: str, extra: Iterable[Any] = ()
    ) -> Current:
        """The current validator of a collection, before the view runs; ``extra`` parts join its ETag."""
        return UNKNOWN_UNTIL_RENDERED

    def validator_of(self, row: models.Model, variant: Variant, release: str) -> Validator | None:
        """The validator of a row already in hand: what its detail would carry (a list item's ETag)."""
        return self.read_row(RowLookup(lambda columns: row), variant, release).validator

    def read_content(self, content: bytes, variant: Variant, release: str) -> Validator:
        """The validator of rendered bytes."""
        return content_etag(content, variant, release)
