"""``@conditional`` for plain Django function views, sync and async.

Put it closest to the view function, below ``login_required`` and other
access checks, so that it runs after them: a precondition is evaluated only
for a request that would otherwise succeed (RFC 9110 §13.2.1)::

    @require_http_methods(["GET", "HEAD", "PUT"])
    @conditional(Article.objects.filter(published=True))
    def article_detail(request, pk): ...

An adapter over ``conditional_api.flow``: it says which resource the request
names (the row at the URL's lookup keyword, else the collection; or what
``validator=`` returns), calls the view where the flow says, and answers in
plain Django responses. A GET/HEAD that matches answers 304 without running
the view; a write whose precondition fails answers 412 and writes nothing; a
write whose precondition holds runs inside a transaction that first claims
the row in the state the precondition was evaluated against
(compare-and-set), so two writers holding one ETag cannot both win.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Sequence
from typing import Any, TypeAlias, TypeVar, cast

from asgiref.sync import async_to_sync, sync_to_async
from django.core.exceptions import ImproperlyConfigured
from django.db import models
from django.http import HttpRequest, HttpResponseBase

from .cache import find_row
from .conf import ViewOptions, view_options
from .flow import Flow, Written, is_success
from .preconditions import Decision, Outcome
from .responses import decision_response, mark_audience, not_modified, stamp_current, stamp_validators
from .rows import state_queryset
from .validators import Columns, Current, RowLookup, Validator, Variant

__all__ = ["conditional"]

View = TypeVar("View", bound=Callable[..., Any])
QuerySetSource: TypeAlias = type[models.Model] | models.QuerySet[Any] | Callable[[HttpRequest], models.QuerySet[Any]]
ValidatorFunc: TypeAlias = Callable[..., Validator | None]
ClaimFunc: TypeAlias = Callable[..., bool]


def _answer(decision: Decision, validator: Validator | None, options: ViewOptions) -> HttpResponseBase:
    """A decision that does not proceed, as a plain Django response."""
    if decision.outcome is Outcome.NOT_MODIFIED:
        return not_modified(cast(Validator, validator), options)
    return decision_response(decision)


def _content(response: HttpResponseBase) -> bytes | None:
    return None if response.streaming else cast(Any, response).content


class _Conditional:
    """What one decorated view tells the flow: its options, its resource, and how to answer."""

    def __init__(
        self,
        view: Callable[..., Any],
        queryset: QuerySetSource | None,
        validator: ValidatorFunc | None,
        claim: ClaimFunc | None,
        lookup_field: str,
        lookup_url_kwarg: str | None,
        explicit: dict[str, Any],
    ) -> None:
        if queryset is not None and validator is not None:
            raise ImproperlyConfigured("@conditional takes a model or queryset, or validator=, not both.")
        if claim is not None and validator is None:
            raise ImproperlyConfigured(
                "@conditional(claim=...) goes with validator=; a model or queryset claims its row itself."
            )
        self.queryset = queryset
        self.validator_func = validator
        self.claim_func = claim
        self.lookup_field = lookup_field
        self.lookup_url_kwarg = lookup_url_kwarg or lookup_field
        self.explicit = explicit
        self.view_path = f"{view.__module__}.{view.__qualname__}"

    def flow(self, request: HttpRequest) -> Flow:
        match = getattr(request, "resolver_match", None)
        url_name = match.url_name if match else None
        options = self.options(url_name)
        variant = Variant.from_request(request, query_params=options.query_params, vary=options.vary)
        return Flow(request, options, variant, view=url_name or self.view_path)

    def options(self, url_name: str | None) -> ViewOptions:
        """The view's options when it is routed as ``url_name``."""
        return view_options([self.view_path, url_name], self.explicit)

    def get_queryset(self, request: HttpRequest) -> models.QuerySet[Any]:
        source = self.queryset
        if isinstance(source, type) and issubclass(source, models.Model):
            return source._default_manager.all()
        if isinstance(source, models.QuerySet):
            return source.all()
        return cast(Callable[[HttpRequest], models.QuerySet[Any]], source)(request)

    def read(self, flow: Flow, request: HttpRequest, kwargs: dict[str, Any]) -> Current:
        """The resource's current state: from ``validator=``, or as the strategy reads the queryset."""
        if self.validator_func is not None:
            return self.read_by_function(request, kwargs)
        # The body may hold absolute links (pagination): a collection's ETag
        # names the host. Lazily: only a collection reads it.
        origin = (request.build_absolute_uri("/") for _ in range(1))
        if self.queryset is None:
            return flow.read(None, None, origin)
        queryset = self.get_queryset(request)
        lookup = None
        if self.lookup_url_kwarg in kwargs:
            value = kwargs[self.lookup_url_kwarg]
            cached = flow.safe and flow.options.cache_validators

            def find(columns: Columns) -> models.Model | None:
                rows = state_queryset(queryset, columns(queryset.model))
                try:
                    return find_row(rows, self.lookup_field, value, cached=cached)
                except queryset.model.MultipleObjectsReturned:
                    return None  # not one resource: the view answers

            lookup = RowLookup(find)
        return flow.read(queryset, lookup, origin)

    def read_by_function(self, request: HttpRequest, kwargs: dict[str, Any]) -> Current:
        """``validator=`` reads the state, and again after the view to confirm it; only ``claim=`` can hold it."""
        read = functools.partial(cast(ValidatorFunc, self.validator_func), request, **kwargs)
        validator = read()
        claim = self.claim_func
        if validator is None or claim is None:
            return Current(validator, reread=read)
        return Current(validator, claim=lambda: claim(request, validator, **kwargs), reread=read)

    def before(self, flow: Flow, current: Current) -> tuple[Decision, HttpResponseBase | None]:
        decision = flow.decide(current)
        if decision.proceed:
            return decision, None
        return decision, mark_audience(_answer(decision, current.validator, flow.options), flow.request, flow.options)

    def after_read(self, flow: Flow, current: Current, response: HttpResponseBase) -> HttpResponseBase:
        rendered = flow.rendered(current, response.status_code, lambda: _content(response))
        if rendered is not None:
            validator, decision = rendered
            if decision.proceed:
                response = stamp_validators(response, validator, flow.options)
                flow.served(validator, lambda: _content(response))
            else:
                response = _answer(decision, validator, flow.options)
        return self.answered(flow, mark_audience(response, flow.request, flow.options))

    def after_check(
        self, flow: Flow, current: Current, not_modified: HttpResponseBase, response: HttpResponseBase
    ) -> HttpResponseBase:
        """A sampled 304 and the 200 the view built for it: the 304, unless that 200 shows the validator stale."""
        content = _content(response) if is_success(response.status_code) else None
        if flow.stands(current, content):
            return self.answered(flow, not_modified)
        return self.answered(flow, mark_audience(response, flow.request, flow.options))

    def after_write(self, flow: Flow, written: Written[HttpResponseBase]) -> HttpResponseBase:
        response = written.response
        if written.stamp:
            stamp_validators(response, written.validator, flow.options)
        return self.answered(flow, mark_audience(response, flow.request, flow.options))

    def answered(self, flow: Flow, response: HttpResponseBase) -> HttpResponseBase:
        """Every answer leaves here: a refusal with the current validators, then reported."""
        stamp_current(response, flow.current_for(response.status_code))
        flow.answered(response.status_code)
        return response


Mark = TypeVar("Mark")


def marked(view: Any, kind: type[Mark]) -> Mark | None:
    """The ``conditional`` mark of ``kind`` a view carries, found through any decorators wrapped around it."""
    layer = view
    while layer is not None:
        found = getattr(layer, "conditional", None)
        if isinstance(found, kind):
            return found
        layer = getattr(layer, "__wrapped__", None)
    return None


def conditional(
    queryset: QuerySetSource | None = None,
    *,
    validator: ValidatorFunc | None = None,
    claim: ClaimFunc | None = None,
    lookup_field: str = "pk",
    lookup_url_kwarg: str | None = None,
    strategy: str | None = None,
    require_precondition: bool | None = None,
    cache_control: str | None = None,
    query_params: str | Sequence[str] | None = None,
    vary: Sequence[str] | None = None,
    shared: bool | None = None,
) -> Callable[[View], View]:
    """Make a function view answer 304, 412 and 428 before its body runs.

    ``queryset`` is a model, a queryset, or a callable taking the request and
    returning a queryset (to scope rows per user); the row is looked up by
    ``lookup_field`` from the URL kwarg ``lookup_url_kwarg`` (default: the
    same name). Alternatively ``validator`` is a callable taking the request
    and the URL kwargs and returning a :class:`Validator`, or None when there
    is no such resource. With ``validator=``, writes are conditional only
    when ``claim`` is given too: a callable taking the request, the validator
    the precondition held against and the URL kwargs, run in the write's
    transaction before the view, that returns False when the state moved on
    (a compare-and-set such as ``UPDATE ... WHERE revision = %s``); without
    it only ``If-Match: *`` can hold. The other arguments override
    ``CONDITIONAL_API`` for this view.
    """
    explicit = {
        "strategy": strategy,
        "require_precondition": require_precondition,
        "cache_control": cache_control,
        "query_params": query_params,
        "vary": vary,
        "shared": shared,
    }

    def decorator(view: View) -> View:
        core = _Conditional(view, queryset, validator, claim, lookup_field, lookup_url_kwarg, explicit)

        if inspect.iscoroutinefunction(view):

            @functools.wraps(view)
            async def async_inner(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
                flow = core.flow(request)
                current = await sync_to_async(core.read)(flow, request, kwargs)
                decision, early = core.before(flow, current)
                if early is not None:
                    if flow.verifies(current, decision):
                        response = await view(request, *args, **kwargs)
                        return await sync_to_async(core.after_check)(flow, current, early, response)
                    return core.answered(flow, early)
                if flow.safe:
                    response = await view(request, *args, **kwargs)
                    return await sync_to_async(core.after_read)(flow, current, response)
                # The claim and the view's own queries share one transaction:
                # the view runs on this thread's connection via async_to_sync.
                call = async_to_sync(functools.partial(view, request, *args, **kwargs))
                written = await sync_to_async(flow.write)(current, decision, call, decision_response)
                return core.after_write(flow, written)

            async_inner.conditional = core  # type: ignore[attr-defined]  # read by conditional_api.checks
            return cast(View, async_inner)

        @functools.wraps(view)
        def inner(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
            flow = core.flow(request)
            current = core.read(flow, request, kwargs)
            decision, early = core.before(flow, current)
            if early is not None:
                if flow.verifies(current, decision):
                    return core.after_check(flow, current, early, view(request, *args, **kwargs))
                return core.answered(flow, early)
            if flow.safe:
                return core.after_read(flow, current, view(request, *args, **kwargs))
            written = flow.write(current, decision, lambda: view(request, *args, **kwargs), decision_response)
            return core.after_write(flow, written)

        inner.conditional = core  # type: ignore[attr-defined]  # read by conditional_api.checks
        return cast(View, inner)

    return decorator
