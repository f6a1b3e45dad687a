"""The request flow on its own: what it decides from what was read, how it guards a write, what it stamps.

No view and no framework: a request from ``RequestFactory``, options and a
``Current`` built by hand, so each rule of ``flow.py`` is seen alone.
"""

from __future__ import annotations

from datetime import UTC, datetime
from types import SimpleNamespace

import pytest
from django.db import transaction
from django.http import HttpResponse
from django.test import RequestFactory

from conditional_api.conf import api_settings, view_options
from conditional_api.flow import Flow
from conditional_api.preconditions import Decision, Outcome
from conditional_api.validators import UNKNOWN_UNTIL_RENDERED, Current, Validator, Variant, content_etag

DATE = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
HELD = Validator(etag='"v1"', last_modified=DATE)
LATER = "Fri, 01 Jan 2100 00:00:00 GMT"

factory = RequestFactory()


def flow_for(method: str = "GET", *, strategy: str = "version", require: bool = False, cache: bool = False, **headers):
    request = factory.generic(method, "/thing/", **headers)
    options = view_options([], {"strategy": strategy, "require_precondition": require, "cache_validators": cache})
    return Flow(request, options, Variant())


def claimable(validator: Validator = HELD, *, claimed: bool = True, after: Validator | None = None) -> Current:
    return Current(validator, claim=lambda: claimed, reread=lambda: after)


class TestDecide:
    @pytest.mark.parametrize("method", ["GET", "HEAD"])
    @pytest.mark.parametrize(
        "headers, outcome",
        [
            ({"HTTP_IF_NONE_MATCH": '"v1"'}, Outcome.NOT_MODIFIED),
            ({"HTTP_IF_NONE_MATCH": 'W/"v1"'}, Outcome.NOT_MODIFIED),
            ({"HTTP_IF_NONE_MATCH": '"v0"'}, Outcome.PROCEED),
            ({"HTTP_IF_MODIFIED_SINCE": LATER}, Outcome.NOT_MODIFIED),
            ({"HTTP_IF_MATCH": '"v0"'}, Outcome.PRECONDITION_FAILED),
            ({}, Outcome.PROCEED),
        ],
    )
    def test_a_read_of_a_known_validator(self, method, headers, outcome):
        assert flow_for(method, **headers).decide(claimable()).outcome is outcome

    @pytest.mark.parametrize("method", ["GET", "PUT", "DELETE"])
    def test_no_representation_and_no_guard_lets_the_view_answer(self, method):
        decision = flow_for(method, HTTP_IF_NONE_MATCH='"v1"' if method == "GET" else None).decide(Current(None))
        assert decision.proceed and not decision.conditional

    @pytest.mark.parametrize(
        "headers, refused",
        [
            ({"HTTP_IF_MATCH": "*"}, True),  # §13.1.1: no current representation
            ({"HTTP_IF_MATCH": '"v1"'}, True),
            ({"HTTP_IF_NONE_MATCH": "*"}, False),  # a PUT that creates
        ],
    )
    def test_a_guarded_write_to_no_representation_is_refused_only_if_the_view_would_serve_it(self, headers, refused):
        # §13.2.1: the view's own answer (a 404 for a row outside its scope) wins over the failed guard.
        decision = flow_for("PUT", **headers).decide(Current(None))
        assert decision.proceed and decision.refuse_if_served is refused

    @pytest.mark.django_db
    @pytest.mark.parametrize("status, answered", [(201, 412), (404, 404)])
    def test_a_refused_write_runs_the_view_and_keeps_only_an_answer_that_is_not_a_success(self, status, answered):
        flow = flow_for("PUT", HTTP_IF_MATCH="*")
        decision = flow.decide(Current(None))
        written = flow.write(Current(None), decision, lambda: SimpleNamespace(status_code=status), _refused)
        assert written.response.status_code == answered

    def test_a_read_known_only_after_rendering_is_decided_later(self):
        decision = flow_for("GET", HTTP_IF_MATCH='"anything"').decide(UNKNOWN_UNTIL_RENDERED)
        assert decision.proceed and not decision.conditional

    @pytest.mark.parametrize("current", [UNKNOWN_UNTIL_RENDERED, Current(HELD)], ids=["unknown", "unclaimable"])
    @pytest.mark.parametrize(
        "headers, outcome",
        [
            ({"HTTP_IF_MATCH": "*"}, Outcome.PROCEED),
            ({"HTTP_IF_MATCH": '"v1"'}, Outcome.PRECONDITION_FAILED),  # no ETag to compare before this write
            ({"HTTP_IF_NONE_MATCH": "*"}, Outcome.PRECONDITION_FAILED),
            ({"HTTP_IF_MATCH": "garbage"}, Outcome.BAD_REQUEST),
        ],
    )
    def test_a_write_that_cannot_be_claimed_sees_a_resource_without_etag(self, current, headers, outcome):
        assert flow_for("PATCH", **headers).decide(current).outcome is outcome

    def test_an_unclaimable_write_cannot_be_held_to_a_date(self):
        decision = flow_for("PUT", HTTP_IF_UNMODIFIED_SINCE=LATER).decide(Current(HELD))
        assert decision.outcome is Outcome.PRECONDITION_FAILED and "If-Match: *" in decision.reason

    def test_a_claimable_write_is_held_to_its_date(self):
        decision = flow_for("PUT", HTTP_IF_UNMODIFIED_SINCE=LATER).decide(claimable())
        assert decision.proceed and decision.conditional

    @pytest.mark.parametrize(
        "headers, outcome",
        [
            ({}, Outcome.PRECONDITION_REQUIRED),
            ({"HTTP_IF_MATCH": '"v1"'}, Outcome.PROCEED),
            ({"HTTP_IF_UNMODIFIED_SINCE": LATER}, Outcome.PROCEED),
        ],
    )
    def test_a_required_precondition(self, headers, outcome):
        assert flow_for("PATCH", require=True, **headers).decide(claimable()).outcome is outcome


class TestNeedsRead:
    @pytest.mark.parametrize(
        "method, headers, cache, needed",
        [
            ("GET", {}, False, False),
            ("HEAD", {}, False, False),
            ("GET", {"HTTP_IF_NONE_MATCH": '"v1"'}, False, True),
            ("GET", {"HTTP_IF_MODIFIED_SINCE": LATER}, False, True),
            ("GET", {}, True, False),  # a 200 cannot use the validator cache: its first revalidation fills it
            ("PATCH", {}, False, True),
        ],
    )
    def test_only_what_can_be_decided_is_read(self, method, headers, cache, needed):
        assert flow_for(method, cache=cache, **headers).needs_read() is needed


def _ok() -> HttpResponse:
    return HttpResponse("written")


def _refuse(decision: Decision) -> HttpResponse:
    return HttpResponse(decision.reason, status=int(decision.outcome))


@pytest.mark.django_db(transaction=True)
class TestWrite:
    def test_a_conditional_write_claims_then_runs_then_rereads(self):
        after = Validator(etag='"v2"')
        written = flow_for("PUT").write(
            claimable(after=after), Decision(Outcome.PROCEED, conditional=True), _ok, _refuse
        )
        assert written.response.content == b"written" and written.validator == after and written.stamp

    def test_a_lost_claim_refuses_and_never_runs_the_write(self):
        ran = []
        written = flow_for("PUT").write(
            claimable(claimed=False),
            Decision(Outcome.PROCEED, conditional=True),
            lambda: ran.append(1) or _ok(),
            _refuse,
        )
        assert written.response.status_code == 412 and not ran and not written.stamp

    def test_an_unconditional_write_does_not_claim(self):
        claims = []
        current = Current(HELD, claim=lambda: claims.append(1) or False, reread=lambda: HELD)
        written = flow_for("PUT").write(current, Decision(Outcome.PROCEED), _ok, _refuse)
        assert written.response.status_code == 200 and not claims

    def test_without_a_claim_the_write_runs_as_is_and_is_not_stamped(self):
        written = flow_for("PUT").write(Current(HELD), Decision(Outcome.PROCEED, conditional=True), _ok, _refuse)
        assert written.response.status_code == 200 and not written.stamp

    @pytest.mark.parametrize("method, status", [("DELETE", 204), ("PUT", 400)])
    def test_no_validator_for_a_delete_or_a_failed_write(self, method, status):
        rereads = []
        current = Current(HELD, claim=lambda: True, reread=lambda: rereads.append(1) or HELD)
        written = flow_for(method).write(
            current, Decision(Outcome.PROCEED, conditional=True), lambda: HttpResponse(status=status), _refuse
        )
        assert not written.stamp and not rereads

    def test_the_claim_the_write_and_the_reread_share_one_transaction(self):
        seen = []

        def in_transaction() -> bool:
            seen.append(transaction.get_connection().in_atomic_block)
            return True

        current = Current(HELD, claim=in_transaction, reread=lambda: in_transaction() and HELD)
        flow_for("PUT").write(
            current, Decision(Outcome.PROCEED, conditional=True), lambda: in_transaction() and _ok(), _refuse
        )
        assert seen == [True, True, True]


class TestRendered:
    def test_a_known_validator_describes_the_response_once_read_again(self):
        current = Current(HELD, reread=lambda: HELD)
        validator, decision = flow_for("GET").rendered(current, 200, lambda: pytest.fail("rendered for nothing"))
        assert validator == HELD and decision.proceed

    def test_a_validator_that_moved_while_the_view_ran_is_withheld(self):
        moved = Current(HELD, reread=lambda: Validator(etag='"v2"'))
        validator, decision = flow_for("GET").rendered(moved, 200, lambda: b"")
        assert validator is None and decision.proceed

    def test_bytes_from_the_statement_the_validator_came_from_need_no_second_read(self):
        current = Current(HELD, reread=lambda: pytest.fail("read again"))
        validator, _ = flow_for("GET").rendered(current, 200, lambda: b"", one_statement=True)
        assert validator == HELD

    def test_the_content_decides_when_nothing_was_known(self):
        body = b'{"a": 1}'
        etag = content_etag(body, Variant(), api_settings.release).etag
        validator, decision = flow_for("GET", HTTP_IF_NONE_MATCH=etag, strategy="content").rendered(
            UNKNOWN_UNTIL_RENDERED, 200, lambda: body
        )
        assert validator.etag == etag and decision.outcome is Outcome.NOT_MODIFIED

    def test_an_if_match_on_content_compares_with_the_bytes(self):
        flow = flow_for("GET", HTTP_IF_MATCH='"not-these-bytes"', strategy="content")
        _, decision = flow.rendered(UNKNOWN_UNTIL_RENDERED, 200, lambda: b"x")
        assert decision.outcome is Outcome.PRECONDITION_FAILED

    def test_no_content_validator_for_a_stream(self):
        validator, decision = flow_for("GET", strategy="content").rendered(UNKNOWN_UNTIL_RENDERED, 200, lambda: None)
        assert validator is None and decision.proceed

    @pytest.mark.parametrize(
        "current, status",
        [(UNKNOWN_UNTIL_RENDERED, 404), (claimable(), 500), (Current(None), 200)],
        ids=["not 2xx", "an error", "no representation served anyway"],
    )
    def test_an_answer_without_a_representation_is_left_as_it_is(self, current, status):
        assert flow_for("GET").rendered(current, status, lambda: pytest.fail("rendered for nothing")) is None


def _refused(decision: Decision) -> SimpleNamespace:
    return SimpleNamespace(status_code=int(decision.outcome))
