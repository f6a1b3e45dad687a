"""RFC 9110 §13.2.2: evaluate a request's preconditions against a validator.

:func:`evaluate` reads like the RFC's numbered algorithm and answers one of
proceed, 304, 412, 428 (RFC 6585 §3) or 400. It knows nothing of views,
models or DRF: the decorator and the DRF mixins give it the request and the
validator they read, and act on the decision.

Where Django's helpers (``django.utils.cache.get_conditional_response``) fall
short of the RFC, this module does not use them:

* ``parse_etags`` splits on commas, which are legal inside an opaque-tag, and
  silently drops malformed members, so ``If-Match: garbage`` reads as no
  If-Match at all and lets a write through. Here a malformed list is a 400.
* ``condition`` answers 412 to If-Unmodified-Since when the resource has no
  Last-Modified; §13.1.4 says to ignore the field then.

Django's ``parse_http_date_safe`` is used as is: it returns None for anything
that is not one of the three HTTP-date forms, as §13.1.3 and §13.1.4 want.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Final

from django.http import HttpRequest
from django.utils.http import parse_http_date_safe

from .validators import Validator

__all__ = [
    "ANY",
    "CODING_SUFFIXES",
    "Decision",
    "MalformedField",
    "Outcome",
    "evaluate",
    "has_preconditions",
    "parse_entity_tags",
]

SAFE_METHODS: Final = frozenset({"GET", "HEAD"})
#: §13.2.1: these methods do not select or modify a representation.
IGNORED_METHODS: Final = frozenset({"OPTIONS", "CONNECT", "TRACE"})
ANY: Final = "*"

# entity-tag = [ "W/" ] DQUOTE *etagc DQUOTE ; etagc = %x21 / %x23-7E / obs-text
# One member of a list, with the optional whitespace around it and the comma
# after it. Every match consumes at least two characters, so a field of any
# length is parsed in linear time.
_MEMBER = re.compile(r'[ \t]*(?:(W/)?"([\x21\x23-\x7e\x80-\xff]*)"[ \t]*)?(?:,|\Z)')


#: Content-codings whose representation gets the state's tag plus a suffix
#: (see conditional_api.middleware): ``"x-gzip"`` is ``"x"``, compressed.
CODING_SUFFIXES: Final = {"gzip": "-gzip"}


class MalformedField(ValueError):
    """A precondition field whose value does not follow its grammar."""


class Outcome(enum.IntEnum):
    """What the server does next; the value is the status code it answers with."""

    PROCEED = 0
    NOT_MODIFIED = 304
    BAD_REQUEST = 400
    PRECONDITION_FAILED = 412
    PRECONDITION_REQUIRED = 428


@dataclass(frozen=True)
class Decision:
    outcome: Outcome
    #: Why, in words a client developer can act on.
    reason: str = ""
    #: A precondition was evaluated and held: the write must compare-and-set.
    conditional: bool = False
    #: The precondition failed against no representation, which only the view
    #: can confirm (a scope the read does not know): run it, and refuse with
    #: this decision's reason, rolled back, if it would have succeeded.
    refuse_if_served: bool = False

    @property
    def proceed(self) -> bool:
        return self.outcome is Outcome.PROCEED


@dataclass(frozen=True)
class EntityTag:
    opaque: str
    weak: bool


def parse_entity_tags(value: str) -> str | tuple[EntityTag, ...]:
    """Parse If-Match or If-None-Match: ``ANY`` or the listed tags (§13.1.1, §5.6.1).

    Raises :class:`MalformedField` when the value is not ``*`` or a
    comma-separated list of quoted entity-tags; empty members are allowed.
    """
    if value.strip(" \t") == ANY:
        return ANY
    tags: list[EntityTag] = []
    position, end = 0, len(value)
    while position < end:
        match = _MEMBER.match(value, position)
        if match is None or match.end() == position:
            raise MalformedField(value)
        if match.group(2) is not None:
            tags.append(EntityTag(opaque=match.group(2), weak=match.group(1) is not None))
        position = match.end()
    return tuple(tags)


def _same_state(tag: EntityTag, opaque: str) -> bool:
    """The tag names the current representation, or its content-coded twin."""
    return tag.opaque == opaque or any(tag.opaque == opaque + suffix for suffix in CODING_SUFFIXES.values())


def _strong_match(current: str | None, tags: tuple[EntityTag, ...]) -> bool:
    """§8.8.3.2 strong comparison: both tags strong, opaque-tags identical."""
    if current is None or current.startswith("W/"):
        return False
    opaque = current[1:-1]
    return any(not tag.weak and _same_state(tag, opaque) for tag in tags)


def _weak_match(current: str | None, tags: tuple[EntityTag, ...]) -> bool:
    """§8.8.3.2 weak comparison: opaque-tags identical, weakness ignored."""
    if current is None:
        return False
    opaque = current.removeprefix("W/")[1:-1]
    return any(_same_state(tag, opaque) for tag in tags)


def _http_date(request: HttpRequest, meta_key: str) -> datetime | None:
    raw = request.META.get(meta_key)
    seconds = parse_http_date_safe(raw) if raw else None
    return None if seconds is None else datetime.fromtimestamp(seconds, tz=UTC)


def _field(request: HttpRequest, meta_key: str) -> str | None:
    """A field's value, None when absent.

    Present but empty is an empty list (§5.6.1): no tag in it can match, so
    an empty If-Match fails and an empty If-None-Match holds.
    """
    return request.META.get(meta_key)


def if_match_passes(field_value: str, validator: Validator | None) -> bool:
    """§13.1.1: true for ``*`` when a current representation exists, or a strong match."""
    tags = parse_entity_tags(field_value)
    if isinstance(tags, str):  # ANY, the one string parse_entity_tags() returns
        return validator is not None
    return validator is not None and _strong_match(validator.etag, tags)


def if_none_match_passes(field_value: str, validator: Validator | None) -> bool:
    """§13.1.2: false for ``*`` when a current representation exists, or on a weak match."""
    tags = parse_entity_tags(field_value)
    if isinstance(tags, str):  # ANY, the one string parse_entity_tags() returns
        return validator is None
    return validator is None or not _weak_match(validator.etag, tags)


#: The request header fields of RFC 9110 §13.1, as Django names them in ``META``.
PRECONDITION_FIELDS: Final = (
    "HTTP_IF_MATCH",
    "HTTP_IF_NONE_MATCH",
    "HTTP_IF_MODIFIED_SINCE",
    "HTTP_IF_UNMODIFIED_SINCE",
)


#: The fields that can guard a write (§13.1.1, §13.1.2, §13.1.4); If-Modified-Since cannot.
WRITE_GUARDS: Final = tuple(field for field in PRECONDITION_FIELDS if field != "HTTP_IF_MODIFIED_SINCE")


def has_preconditions(request: HttpRequest, fields: tuple[str, ...] = PRECONDITION_FIELDS) -> bool:
    """Whether the request sends any of ``fields``; without a precondition field, nothing can be decided early."""
    return any(field in request.META for field in fields)


def evaluate(request: HttpRequest, validator: Validator | None, *, require_precondition: bool = False) -> Decision:
    """Decide what to do with ``request`` given the current ``validator`` (None: no representation).

    Call it only where the request, without its preconditions, would succeed
    (§13.2.1): after authentication, permissions and the 404 check.
    """
    method = request.method or "GET"
    if method in IGNORED_METHODS:
        return Decision(Outcome.PROCEED)
    safe = method in SAFE_METHODS
    if_match = _field(request, "HTTP_IF_MATCH")
    if_none_match = _field(request, "HTTP_IF_NONE_MATCH")
    # §13.1.4: an invalid date is ignored, and so is the field when If-Match
    # is present or the resource has no modification date.
    if_unmodified_since = _http_date(request, "HTTP_IF_UNMODIFIED_SINCE")
    last_modified = validator.last_modified if validator else None

    # If-Unmodified-Since counts as a precondition only where there is a
    # date to compare it with; otherwise it is ignored (§13.1.4).
    if (
        require_precondition
        and not safe
        and if_match is None
        and (if_unmodified_since is None or last_modified is None)
    ):
        return Decision(
            Outcome.PRECONDITION_REQUIRED,
            "This request must be conditional: send If-Match with the ETag of the representation you are changing.",
        )

    # Step 1: If-Match.
    if if_match is not None:
        try:
            passed = if_match_passes(if_match, validator)
        except MalformedField:
            return Decision(Outcome.BAD_REQUEST, 'If-Match must be "*" or a list of quoted entity-tags, such as "abc".')
        if not passed:
            return Decision(Outcome.PRECONDITION_FAILED, "If-Match does not match the current ETag.")
    # Step 2: If-Unmodified-Since, only without If-Match.
    elif if_unmodified_since is not None and last_modified is not None:
        if last_modified > if_unmodified_since:
            return Decision(Outcome.PRECONDITION_FAILED, "The resource was modified after If-Unmodified-Since.")

    # Step 3: If-None-Match.
    if if_none_match is not None:
        try:
            passed = if_none_match_passes(if_none_match, validator)
        except MalformedField:
            if not safe:
                return Decision(
                    Outcome.BAD_REQUEST, 'If-None-Match must be "*" or a list of quoted entity-tags, such as "abc".'
                )
            # On GET and HEAD the worst an ignored field costs is a full 200.
            passed = True
        if not passed:
            if safe:
                return Decision(Outcome.NOT_MODIFIED, "If-None-Match matches the current ETag.")
            return Decision(Outcome.PRECONDITION_FAILED, "If-None-Match matches the current ETag.")
    # Step 4: If-Modified-Since, only on GET and HEAD and without If-None-Match
    # (§13.1.3), and only when the resource has a modification date.
    elif safe and last_modified is not None:
        if_modified_since = _http_date(request, "HTTP_IF_MODIFIED_SINCE")
        if if_modified_since is not None and last_modified <= if_modified_since:
            return Decision(Outcome.NOT_MODIFIED, "Not modified since If-Modified-Since.")

    conditional = (
        if_match is not None
        or if_none_match is not None
        or (if_unmodified_since is not None and last_modified is not None)
    )
    return Decision(Outcome.PROCEED, conditional=conditional)
