"""One request's conditional path, written once for every adapter: RFC 9110 §13.2 in the order it runs.

::

    the framework: authentication, permissions, throttles, content negotiation
      1. read     the strategy reads the current validator: one small query,
                  the validator cache, or nothing until the view has rendered
      2. decide   §13.2.2 in order: 304 or 412 when a precondition does not
                  hold, 428 when a write must be conditional, 400 when a
                  field is malformed; otherwise proceed
      3. proceed  a read runs the view; a write runs inside a transaction
                  that first claims the state the decision saw
                  (compare-and-set), then reads the validator it left
      4. stamp    the response carries the validator of its bytes; the
                  content strategy decides only now
      5. report   the ``decision_made`` signal and the ``conditional_api``
                  logger say what was answered and why; a sampled 304
                  builds its 200 to verify the validator still holds

The adapters (``decorators`` for function views, ``drf`` for DRF views) are
translations: they build a :class:`Flow` for the request, say which resource
it names, call the view where the flow says, and turn its decisions into
their framework's responses. Django's ``condition()`` (pre-helper, view,
post-helper) is the model.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Final, Generic, TypeVar

from django.db import models, transaction
from django.http import HttpRequest

from . import verification
from .cache import reads_cached
from .conf import ViewOptions, api_settings
from .preconditions import SAFE_METHODS, WRITE_GUARDS, Decision, Outcome, evaluate, has_preconditions
from .signals import decision_made, stale_validator
from .validators import EXISTS_WITHOUT_VALIDATOR, Current, RowLookup, Validator, ValidatorStrategy, Variant

__all__ = ["Flow", "Written", "is_success"]

R = TypeVar("R")

#: Nothing to decide: the view answers as it would without preconditions.
_UNCONDITIONAL: Final = Decision(Outcome.PROCEED)

logger = logging.getLogger("conditional_api")

#: Answers that tell the client its copy is not the current one: they carry the current validators.
_REFUSALS: Final = frozenset({Outcome.PRECONDITION_FAILED, Outcome.PRECONDITION_REQUIRED})

#: The level each answer of the package is logged at; the view's own answers are not logged.
_LOG_LEVELS: Final = {
    Outcome.NOT_MODIFIED: logging.DEBUG,
    Outcome.BAD_REQUEST: logging.INFO,
    Outcome.PRECONDITION_FAILED: logging.INFO,
    Outcome.PRECONDITION_REQUIRED: logging.INFO,
}


def is_success(status_code: int) -> bool:
    """Validators describe 2xx representations only (RFC 9110 §8.8.3, §13.2.1)."""
    return 200 <= status_code < 300


@dataclass(frozen=True)
class Written(Generic[R]):
    """What a write answered, and the validator to stamp on it (``stamp`` False: leave it unstamped)."""

    response: R
    validator: Validator | None = None
    stamp: bool = False


class Flow:
    """The conditional handling of one request: read, decide, proceed, stamp."""

    def __init__(
        self,
        request: HttpRequest,
        options: ViewOptions,
        variant: Variant,
        strategy: ValidatorStrategy | None = None,
        view: str = "",
    ) -> None:
        self.request = request
        self.options = options
        self.variant = variant
        self.strategy = strategy or options.strategy
        self.release = api_settings.release
        self.safe = request.method in SAFE_METHODS
        #: What step 5 reports: the view's name, when the flow started, what was decided and how soon.
        self.view = view
        self.started = time.perf_counter()
        self.decision: Decision | None = None
        self.seconds: float | None = None
        self.cached: bool | None = None
        #: The resource's current validator, for a 412 or 428 to carry (read after the access checks).
        self.refusal: Validator | None = None
        self._reported = False

    # -- 1. read ---------------------------------------------------------------

    def read(
        self, queryset: models.QuerySet[Any] | None, lookup: RowLookup | None, extra: Iterable[Any] = ()
    ) -> Current:
        """What the resource is now, as the strategy picks: the row ``lookup`` names, or the collection."""
        with reads_cached(self.safe and self.options.cache_validators):
            return self.strategy.read(queryset, lookup, self.variant, self.release, extra)

    def read_row(self, lookup: RowLookup) -> Current:
        with reads_cached(self.safe and self.options.cache_validators):
            return self.strategy.read_row(lookup, self.variant, self.release)

    def read_collection(self, queryset: models.QuerySet[Any], extra: Iterable[Any] = ()) -> Current:
        with reads_cached(self.safe and self.options.cache_validators):
            return self.strategy.read_collection(queryset, self.variant, self.release, extra)

    def needs_read(self) -> bool:
        """Whether anything can be decided before the view runs.

        A GET with no precondition field cannot be answered early: an
        adapter that can derive validators from what the view rendered may
        skip the read, the validator cache included (the client's first
        revalidation fills it).
        """
        return not self.safe or has_preconditions(self.request)

    # -- 2. decide -------------------------------------------------------------

    def decide(self, current: Current) -> Decision:
        """§13.2.2 against what was read; a decision that does not proceed is the whole answer."""
        self.cached = current.cached
        decision = self._decided(self._decide(current))
        if decision.outcome in _REFUSALS:
            self.refusal = current.validator
        return decision

    def _decided(self, decision: Decision) -> Decision:
        self.decision = decision
        self.seconds = time.perf_counter() - self.started
        return decision

    def _decide(self, current: Current) -> Decision:
        validator = current.validator
        if current.known and validator is None and (self.safe or not has_preconditions(self.request, WRITE_GUARDS)):
            # §13.2.1: preconditions apply to an answer that would be 2xx.
            # With no representation the view answers (usually 404); a
            # write that carries a guard is still evaluated, so a PUT that
            # would create cannot slip past If-Match.
            return _UNCONDITIONAL
        if self.safe and not current.known:
            return _UNCONDITIONAL  # the rendered bytes decide (step 4)
        if not self.safe and current.claim is None and (validator is not None or not current.known):
            # Nothing can hold the state between this check and the write:
            # the resource exists, with no ETag to compare; only If-Match "*"
            # holds, and a date the GET advertised cannot be held to either.
            if (
                validator is not None
                and validator.last_modified is not None
                and "HTTP_IF_MATCH" not in self.request.META
                and self.request.META.get("HTTP_IF_UNMODIFIED_SINCE")
            ):
                return Decision(
                    Outcome.PRECONDITION_FAILED, "This resource cannot guard a write by date; send If-Match: *."
                )
            validator = EXISTS_WITHOUT_VALIDATOR
        decision = evaluate(self.request, validator, require_precondition=self.options.require_precondition)
        if current.known and validator is None and decision.outcome is Outcome.PRECONDITION_FAILED:
            # §13.2.1: a guard fails on a resource the read did not find, but
            # the request without it may not have been a 2xx (the view's own
            # 404 for a row outside its scope): the view's answer tells.
            return Decision(Outcome.PROCEED, decision.reason, refuse_if_served=True)
        return decision

    # -- 3. proceed: a write ---------------------------------------------------

    def write(
        self, current: Current, decision: Decision, call: Callable[[], R], refuse: Callable[[Decision], R]
    ) -> Written[R]:
        """Run the write inside a transaction that first claims the state the decision saw.

        Two writers holding one ETag cannot both win: the second one's claim
        finds the state moved on and gets ``refuse`` (412). A successful
        write is stamped with the validator read before the transaction
        ends, so no later writer's version lands on this body.
        """
        if decision.refuse_if_served:
            with transaction.atomic(using=current.using):
                response = call()
                if is_success(getattr(response, "status_code", 0)):
                    transaction.set_rollback(True, using=current.using)
                    return Written(refuse(self._decided(Decision(Outcome.PRECONDITION_FAILED, decision.reason))))
            return Written(response)
        if current.claim is None:
            return Written(call())
        with transaction.atomic(using=current.using):
            if decision.conditional and not current.claim():
                changed = Decision(Outcome.PRECONDITION_FAILED, "The resource changed while this request was checked.")
                # What the other writer left: the client merges with it and retries without another GET.
                self.refusal = current.reread() if current.reread is not None else None
                return Written(refuse(self._decided(changed)))
            response = call()
            status = getattr(response, "status_code", 0)
            if is_success(status) and self.request.method != "DELETE" and current.reread is not None:
                return Written(response, current.reread(), stamp=True)
        return Written(response)

    # -- 4. stamp: what describes a read's bytes ------------------------------------

    def rendered(
        self,
        current: Current,
        status_code: int,
        content: Callable[[], bytes | None],
        *,
        one_statement: bool = False,
    ) -> tuple[Validator | None, Decision] | None:
        """The validator of a read's response and the decision it leads to now; None: leave the response as it is.

        An answer that is not 2xx, or that the read found no representation
        for (a row outside the view's queryset that the view serves anyway),
        gets no validators and no caching headers. Known validators were
        decided on before the view ran, and are confirmed now (see
        :meth:`confirmed`) unless ``one_statement`` says the bytes came from
        the very statement the validator was read in. A strategy that knows
        nothing until the bytes exist decides here: a 304 saves bandwidth,
        not work. ``content`` returns None for a stream.
        """
        if not is_success(status_code) or (current.known and current.validator is None):
            return None
        if current.known:
            return (current.validator if one_statement else self.confirmed(current)), _UNCONDITIONAL
        body = content()
        if body is None:
            return None, _UNCONDITIONAL
        validator = self.strategy.read_content(body, self.variant, self.release)
        return validator, self._decided(evaluate(self.request, validator))

    def confirmed(self, current: Current) -> Validator | None:
        """The validator read before the view, if it still holds now that the bytes are built; else None.

        The view reads its rows in statements of its own, after the validator
        was read: a write committing in between would put new bytes under
        the old ETag (one ETag, two bodies: RFC 9110 §8.8.3), which a cache
        would then serve to the next client that holds it. Validators only
        move forward (a version, a count), so reading the same one again
        after the view proves that every statement in between saw one state.
        When it moved, the 200 goes out without validators: a client simply
        cannot revalidate that one answer.
        """
        if current.reread is None:
            return current.validator
        return current.validator if current.reread() == current.validator else None

    # -- 5. report -----------------------------------------------------------------

    def served(self, validator: Validator | None, content: Callable[[], bytes | None]) -> None:
        """A read's 200 goes out under ``validator``: while 304s are verified, its digest is recorded."""
        if self.safe and validator is not None and validator.etag and verification.recording():
            body = content()
            if body is not None:
                verification.record(self.request, validator.etag, body)

    def verifies(self, current: Current, decision: Decision) -> bool:
        """Whether this 304 is one the sample verifies: the adapter then builds its 200 and asks :meth:`stands`.

        Only a validator read before the view can be wrong about the bytes;
        one derived from them (the content strategy) cannot.
        """
        return decision.outcome is Outcome.NOT_MODIFIED and current.known and verification.sampled()

    def stands(self, current: Current, content: bytes | None) -> bool:
        """Whether the 304 stands, given the 200 the view built for it; False: answer that 200, without validators.

        A 200 other than the one once served under the ETag is a stale
        validator: reported, and answered with the 200 where
        ``VERIFY_SERVE_200`` says so. A write that committed while the 200
        was built moved the validator: nothing is compared then.
        """
        validator = current.validator
        if content is None or validator is None or not validator.etag or self.confirmed(current) is None:
            return True
        incident = verification.compare(self.request, validator.etag, content)
        if incident is None:
            return True
        logger.error(
            "Stale validator: %s answered 304 for %s under ETag %s, but its 200 is now %s, not the %s served "
            "under that ETag. A write path changes this representation without changing its validator: "
            "check the model's depends_on and the writes that bypass the ORM.",
            self.view,
            incident.url,
            incident.etag,
            incident.current_digest,
            incident.served_digest,
        )
        stale_validator.send(
            type(self.strategy),
            request=self.request,
            view=self.view,
            url=incident.url,
            etag=incident.etag,
            served_digest=incident.served_digest,
            current_digest=incident.current_digest,
        )
        if not api_settings.VERIFY_SERVE_200:
            return True
        self.decision = _UNCONDITIONAL
        return False

    def current_for(self, status_code: int) -> Validator | None:
        """The validator a 412 or 428 carries: the resource's current one, so a client can merge and retry.

        Only a row the read found, through the view's own scoping and access
        checks, has one; a write refused because the resource changed
        carries what the other writer left.
        """
        return self.refusal if status_code in _REFUSALS else None

    def answered(self, status_code: int) -> None:
        """Say once what was answered and why: ``decision_made``, and the log for the package's own answers."""
        if self._reported:
            return
        self._reported = True
        decision = self.decision or _UNCONDITIONAL
        reason = "" if decision.proceed else decision.reason
        level = _LOG_LEVELS.get(decision.outcome) if status_code == decision.outcome else None
        if level is not None and logger.isEnabledFor(level):
            logger.log(
                level,
                "%s %s %s (%s): %s %s",
                self.request.method,
                self.request.get_full_path(),
                status_code,
                self.view,
                reason,
                _source(self.strategy.name, self.cached),
            )
        if decision_made.receivers:
            decision_made.send(
                type(self.strategy),
                request=self.request,
                view=self.view,
                method=self.request.method,
                outcome=status_code,
                strategy=self.strategy.name,
                reason=reason,
                cached=self.cached,
                seconds=self.seconds,
            )


def _source(strategy: str, cached: bool | None) -> str:
    if cached is None:
        return f"[{strategy} strategy]"
    return f"[{strategy} strategy, validator cache {'hit' if cached else 'miss'}]"
