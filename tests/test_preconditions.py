"""RFC 9110 §13.1 and §13.2.2, one rule a row, against conditional_api.preconditions.evaluate."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pytest
from django.test import RequestFactory
from django.utils.http import http_date

from conditional_api.preconditions import ANY, MalformedField, Outcome, evaluate, parse_entity_tags
from conditional_api.validators import Validator

PROCEED, NOT_MODIFIED, BAD = Outcome.PROCEED, Outcome.NOT_MODIFIED, Outcome.BAD_REQUEST
FAILED, REQUIRED = Outcome.PRECONDITION_FAILED, Outcome.PRECONDITION_REQUIRED

MODIFIED = datetime(2026, 11, 22, 10, 0, 0, tzinfo=UTC)
CURRENT = Validator(etag='"v2"', last_modified=MODIFIED)
AT = http_date(MODIFIED.timestamp())
BEFORE = http_date((MODIFIED - timedelta(seconds=1)).timestamp())
AFTER = http_date((MODIFIED + timedelta(seconds=1)).timestamp())


def decide(method: str, validator: Validator | None = CURRENT, require: bool = False, **headers: str) -> Outcome:
    request = RequestFactory().generic(method, "/", headers={k.replace("_", "-"): v for k, v in headers.items()})
    return evaluate(request, validator, require_precondition=require).outcome


@pytest.mark.parametrize(
    "header, expected",
    [
        ('"v2"', NOT_MODIFIED),
        ('W/"v2"', NOT_MODIFIED),  # §13.1.2: weak comparison
        ('"v1"', PROCEED),
        ('"v1", "v2"', NOT_MODIFIED),
        ('"v1",,  "v2" ,', NOT_MODIFIED),  # §5.6.1.2: empty list members are allowed
        ("*", NOT_MODIFIED),
        ('"V2"', PROCEED),  # opaque-tags compare case-sensitively
        ("v2", PROCEED),  # malformed: ignored on GET, a full 200 is safe
        ('"v2" "v1"', PROCEED),
        ("", PROCEED),
    ],
)
@pytest.mark.parametrize("method", ["GET", "HEAD"])
def test_if_none_match_on_reads(method, header, expected):
    assert decide(method, If_None_Match=header) is expected


@pytest.mark.parametrize(
    "header, expected",
    [
        ('"v2"', PROCEED),
        ('"v1", "v2"', PROCEED),
        ("*", PROCEED),
        ('W/"v2"', FAILED),  # §13.1.1: strong comparison, a weak tag never matches
        ('"v1"', FAILED),
        ('"v2-gzip"', PROCEED),  # the gzip twin of "v2" (conditional_api.middleware)
        ('W/"v2-gzip"', FAILED),
        ('"v2-br"', FAILED),
        ("v2", BAD),  # malformed: never let a write through
        ('"v2', BAD),
        ('*, "v2"', BAD),
        ('w/"v2"', BAD),
        ('"v2" "v1"', BAD),
        ("", FAILED),  # an empty list: no tag can match (§5.6.1)
        (" ", FAILED),
    ],
)
@pytest.mark.parametrize("method", ["PUT", "PATCH", "DELETE", "POST"])
def test_if_match_on_writes(method, header, expected):
    assert decide(method, If_Match=header) is expected


@pytest.mark.parametrize("method", ["PUT", "PATCH", "DELETE"])
def test_if_match_star_fails_without_a_current_representation(method):
    assert decide(method, validator=None, If_Match="*") is FAILED


@pytest.mark.parametrize("method", ["PUT", "POST"])
def test_if_none_match_star_lets_a_create_through_only_when_absent(method):
    assert decide(method, validator=None, If_None_Match="*") is PROCEED
    assert decide(method, If_None_Match="*") is FAILED


@pytest.mark.parametrize(
    "header, expected", [('"v2"', FAILED), ('W/"v2"', FAILED), ('"v1"', PROCEED), ("garbage", BAD)]
)
def test_if_none_match_on_writes_fails_with_412_not_304(header, expected):
    assert decide("PUT", If_None_Match=header) is expected


@pytest.mark.parametrize(
    "date, expected",
    [
        (AT, NOT_MODIFIED),
        (AFTER, NOT_MODIFIED),
        (BEFORE, PROCEED),
        ("Sunday, 22-Nov-26 10:00:00 GMT", NOT_MODIFIED),  # RFC 850 form
        ("Sun Nov 22 10:00:00 2026", NOT_MODIFIED),  # asctime form
        ("yesterday", PROCEED),  # invalid: ignored
        (f"{AT}, {AT}", PROCEED),  # §13.1.3: more than one member is invalid
    ],
)
def test_if_modified_since(date, expected):
    assert decide("GET", If_Modified_Since=date) is expected


def test_if_modified_since_is_ignored_when_if_none_match_is_present():
    # §13.1.3: If-None-Match is the more accurate validator.
    assert decide("GET", If_None_Match='"v1"', If_Modified_Since=AFTER) is PROCEED


@pytest.mark.parametrize("method", ["POST", "PUT", "PATCH", "DELETE"])
def test_if_modified_since_is_ignored_on_writes(method):
    assert decide(method, If_Modified_Since=AFTER) is PROCEED


def test_if_modified_since_is_ignored_without_last_modified():
    assert decide("GET", validator=Validator(etag='"v2"'), If_Modified_Since=AFTER) is PROCEED


@pytest.mark.parametrize(
    "date, expected",
    [(AT, PROCEED), (AFTER, PROCEED), (BEFORE, FAILED), ("not a date", PROCEED), (f"{AT}, {AT}", PROCEED)],
)
@pytest.mark.parametrize("method", ["PUT", "PATCH", "DELETE", "GET"])
def test_if_unmodified_since(method, date, expected):
    assert decide(method, If_Unmodified_Since=date) is expected


def test_if_unmodified_since_is_ignored_without_last_modified():
    # §13.1.4; Django's condition decorator answers 412 here.
    assert decide("PUT", validator=Validator(etag='"v2"'), If_Unmodified_Since=BEFORE) is PROCEED


def test_if_unmodified_since_is_ignored_when_if_match_is_present():
    assert decide("PUT", If_Match='"v2"', If_Unmodified_Since=BEFORE) is PROCEED
    assert decide("PUT", If_Match='"v1"', If_Unmodified_Since=AFTER) is FAILED


def test_if_match_is_evaluated_before_if_none_match():
    # §13.2.2 step 1 fails first: 412, not 304.
    assert decide("GET", If_Match='"v1"', If_None_Match='"v2"') is FAILED


def test_if_unmodified_since_is_evaluated_before_if_none_match():
    assert decide("GET", If_Unmodified_Since=BEFORE, If_None_Match='"v2"') is FAILED


@pytest.mark.parametrize("method", ["OPTIONS", "TRACE"])
def test_methods_without_a_representation_ignore_preconditions(method):
    assert decide(method, If_Match='"v1"', If_None_Match='"v2"') is PROCEED


@pytest.mark.parametrize(
    "headers, expected",
    [
        ({}, REQUIRED),
        ({"If_None_Match": '"v1"'}, REQUIRED),
        ({"If_Unmodified_Since": "not a date"}, REQUIRED),  # ignored, so absent
        ({"If_Match": '"v2"'}, PROCEED),
        ({"If_Match": '"v1"'}, FAILED),
        ({"If_Match": "garbage"}, BAD),
        ({"If_Unmodified_Since": AT}, PROCEED),
    ],
)
@pytest.mark.parametrize("method", ["PUT", "PATCH", "DELETE"])
def test_required_precondition(method, headers, expected):
    assert decide(method, require=True, **headers) is expected


def test_required_precondition_does_not_apply_to_reads():
    assert decide("GET", require=True) is PROCEED


@pytest.mark.parametrize(
    "headers, conditional",
    [
        ({}, False),
        ({"If_Match": '"v2"'}, True),
        ({"If_None_Match": '"v1"'}, True),
        ({"If_Unmodified_Since": AT}, True),
        ({"If_Unmodified_Since": "nonsense"}, False),
    ],
)
def test_a_write_that_passed_a_precondition_is_marked_for_compare_and_set(headers, conditional):
    request = RequestFactory().generic("PUT", "/", headers={k.replace("_", "-"): v for k, v in headers.items()})
    decision = evaluate(request, CURRENT)
    assert decision.proceed and decision.conditional is conditional


@pytest.mark.parametrize(
    "value, tags",
    [
        ("*", ANY),
        (" \t* ", ANY),
        ('"a,b", W/"c"', (("a,b", False), ("c", True))),  # a comma is legal inside an opaque-tag
        ('""', (("", False),)),
        (",", ()),
        ('"\x80\xff"', (("\x80\xff", False),)),  # obs-text
    ],
)
def test_parse_entity_tags(value, tags):
    parsed = parse_entity_tags(value)
    assert parsed == tags if tags == ANY else [(t.opaque, t.weak) for t in parsed] == list(tags)


@pytest.mark.parametrize("value", ['"a" "b"', '"a"b', 'W/ "a"', '"a\x7f"', "**", '"a", *'])
def test_parse_entity_tags_rejects_malformed_lists(value):
    with pytest.raises(MalformedField):
        parse_entity_tags(value)


@pytest.mark.parametrize(
    "value",
    [
        '"a", ' * 50_000,
        " " * 200_000 + "x",
        'W/"' + "a" * 200_000,
        '"' + "," * 200_000,
        ", " * 100_000 + "garbage",
    ],
    ids=["many-tags", "spaces", "unterminated", "commas-in-quote", "empty-members"],
)
def test_huge_headers_are_parsed_in_linear_time(value):
    # Not a wall-clock assertion about speed: a bound that only a
    # super-linear (backtracking) parser could exceed by orders of magnitude.
    started = time.process_time()
    for header in ("If_Match", "If_None_Match"):
        decide("PUT", **{header: value})
        decide("GET", **{header: value})
    assert time.process_time() - started < 5


@pytest.mark.parametrize("date", [AT, BEFORE])
def test_if_unmodified_since_does_not_satisfy_a_requirement_without_a_date_to_compare(date):
    assert decide("PUT", validator=Validator(etag='"v2"'), require=True, If_Unmodified_Since=date) is REQUIRED


def test_a_validator_keeps_whole_seconds_in_utc():
    from datetime import datetime as naive_datetime

    validator = Validator(last_modified=naive_datetime(2026, 11, 22, 10, 0, 0, 999999))
    assert validator.last_modified == MODIFIED
    request = RequestFactory().get("/", headers={"If-Modified-Since": AT})
    assert evaluate(request, validator).outcome is NOT_MODIFIED
