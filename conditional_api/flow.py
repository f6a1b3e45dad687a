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

The adapters (``decorators`` for function views, ``drf`` for DRF views) are
translations: they build a :class:`Flow` for the request, say which resource
it names, call the view where the flow says, and turn its decisions into
their framework's responses. Django's ``condition()`` (pre-helper, view,
post-helper) is the model.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Final, Generic, TypeVar

from django.db import models, transaction
from django.http import HttpRequest

from .conf import ViewOptions, api_settings
from .preconditions import SAFE_METHODS, WRITE_GUARDS, Decision, Outcome, evaluate, has_preconditions
from .validators import EXISTS_WITHOUT_VALIDATOR, Current, RowLookup, Validator, ValidatorStrategy, Variant

__all__ = ["Flow", "Written", "is_success"]

R = TypeVar("R")

#: Nothing to decide: the view answers as it would without preconditions.
_UNCONDITIONAL: Final = Decision(Outcome.PROCEED)


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
        self, request: HttpRequest, options: ViewOptions, variant: Variant, strategy: ValidatorStrategy | None = None
    ) -> None:
        self.request = request
        self.options = options
        self.variant = variant
        self.strategy = strategy or options.strategy
        self.release = api_settings.release
        self.safe = request.method in SAFE_METHODS

    # -- 1. read ---------------------------------------------------------------

    def read(
        self, queryset: models.QuerySet[Any] | None, lookup: RowLookup | None, extra: Iterable[Any] = ()
    ) -> Current:
        """What the resource is now, as the strategy picks: the row ``lookup`` names, or the collection."""
        return self.strategy.read(queryset, lookup, self.variant, self.release, extra)

    def read_row(self, lookup: RowLookup) -> Current:
        return self.strategy.read_row(lookup, self.variant, self.release)

    def read_collection(self, queryset: models.QuerySet[Any], extra: Iterable[Any] = ()) -> Current:
        return self.strategy.read_collection(queryset, self.variant, self.release, extra)

    def needs_read(self) -> bool:
        """Whether anything can be decided, or cached, before the view runs.

        A GET with no precondition field cannot be answered early: an
        adapter that can derive validators from what the view rendered may
        skip the read.
        """
        return not self.safe or self.options.cache_validators or has_preconditions(self.request)

    # -- 2. decide -------------------------------------------------------------

    def decide(self, current: Current) -> Decision:
        """§13.2.2 against what was read; a decision that does not proceed is the whole answer."""
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
                    return Written(refuse(Decision(Outcome.PRECONDITION_FAILED, decision.reason)))
            return Written(response)
        if current.claim is None:
            return Written(call())
        with transaction.atomic(using=current.using):
            if decision.conditional and not current.claim():
                return Written(
                    refuse(
                        Decision(Outcome.PRECONDITION_FAILED, "The resource changed while this request was checked.")
                    )
                )
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
        return validator, evaluate(self.request, validator)

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
