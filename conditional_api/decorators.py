"""``@conditional`` for plain Django function views, sync and async.

Put it closest to the view function, below ``login_required`` and other
access checks, so that it runs after them: a precondition is evaluated only
for a request that would otherwise succeed (RFC 9110 §13.2.1)::

    @require_http_methods(["GET", "HEAD", "PUT"])
    @conditional(Article.objects.filter(published=True))
    def article_detail(request, pk): ...

The flow: read the validator with one small query, evaluate the
preconditions, and only then call the view. A GET/HEAD that matches answers
304 without running it; a write whose precondition fails answers 412 and
writes nothing; a write whose precondition holds runs inside a transaction
that first claims the row in the state the precondition was evaluated
against (compare-and-set), so two writers holding one ETag cannot both win.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Sequence
from typing import Any, TypeAlias, TypeVar, cast

from asgiref.sync import async_to_sync, sync_to_async
from django.core.exceptions import ImproperlyConfigured, ObjectDoesNotExist
from django.db import models, router, transaction
from django.http import HttpRequest, HttpResponseBase

from . import cache as validator_cache
from .conf import ViewOptions, api_settings, view_options
from .models import claim_state
from .preconditions import SAFE_METHODS, Decision, Outcome, evaluate
from .responses import decision_response, not_modified, stamp_validators
from .rows import find_state_row, state_queryset
from .validators import EXISTS_WITHOUT_VALIDATOR, CollectionStrategy, ContentStrategy, ModelStrategy, Validator, Variant

__all__ = ["conditional"]

View = TypeVar("View", bound=Callable[..., Any])
QuerySetSource: TypeAlias = type[models.Model] | models.QuerySet | Callable[[HttpRequest], models.QuerySet]
ValidatorFunc: TypeAlias = Callable[..., Validator | None]
ClaimFunc: TypeAlias = Callable[..., bool]


def _is_success(response: HttpResponseBase) -> bool:
    return 200 <= response.status_code < 300


class _Conditional:
    """The decision logic of one decorated view, shared by its sync and async wrappers."""

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
        self.view = view
        self.queryset = queryset
        self.validator_func = validator
        self.claim_func = claim
        self.lookup_field = lookup_field
        self.lookup_url_kwarg = lookup_url_kwarg or lookup_field
        self.explicit = explicit
        self.view_path = f"{view.__module__}.{view.__qualname__}"

    def options(self, request: HttpRequest) -> ViewOptions:
        match = getattr(request, "resolver_match", None)
        return view_options([self.view_path, match.url_name if match else None], self.explicit)

    def variant(self, request: HttpRequest, options: ViewOptions) -> Variant:
        return Variant.from_request(request, query_params=options.query_params, vary=options.vary)

    def get_queryset(self, request: HttpRequest) -> models.QuerySet:
        source = self.queryset
        if isinstance(source, type) and issubclass(source, models.Model):
            return source._default_manager.all()  # type: ignore[attr-defined]  # set by ModelBase
        if isinstance(source, models.QuerySet):
            return source.all()
        return cast(Callable[[HttpRequest], models.QuerySet], source)(request)

    def read_validator(
        self, request: HttpRequest, options: ViewOptions, kwargs: dict[str, Any]
    ) -> tuple[Validator | None, models.Model | None]:
        """The current validator with one query, and the (deferred) row it came from."""
        if self.validator_func is not None:
            return self.validator_func(request, **kwargs), None
        strategy = options.strategy
        if isinstance(strategy, CollectionStrategy) and self.queryset is not None:
            queryset = self.get_queryset(request)
            if strategy.applies_to(queryset.model):
                # The body may hold absolute links (pagination): they name the host.
                origin = request.build_absolute_uri("/")
                return strategy.validator_for_queryset(
                    queryset, self.variant(request, options), api_settings.release, (origin,)
                ), None
            return None, None
        if not isinstance(strategy, ModelStrategy):
            return None, None
        if self.queryset is None:
            raise ImproperlyConfigured(
                f"@conditional on {self.view_path} uses the {strategy.name!r} strategy, which needs a model or queryset."
            )
        queryset = self.get_queryset(request)
        queryset = state_queryset(queryset, strategy.state_fields(queryset.model))
        value = kwargs[self.lookup_url_kwarg]
        cached = None
        if options.cache_validators and request.method in SAFE_METHODS:
            cached = validator_cache.lookup(queryset, self.lookup_field, value)
            if cached.row is not None:
                return strategy.validator(cached.row, self.variant(request, options), api_settings.release), cached.row
        try:
            row = find_state_row(queryset, self.lookup_field, value)
        except queryset.model.MultipleObjectsReturned:
            row = None  # not one resource: the view answers
        if row is None:
            return None, None
        if cached is not None:
            cached.fill(row)
        return strategy.validator(row, self.variant(request, options), api_settings.release), row

    def reread_validator(self, request: HttpRequest, options: ViewOptions, row: models.Model) -> Validator | None:
        strategy = cast(ModelStrategy, options.strategy)
        try:
            row.refresh_from_db(fields=strategy.state_fields(type(row)))
        except ObjectDoesNotExist:
            return None
        return strategy.validator(row, self.variant(request, options), api_settings.release)

    def no_representation(self, request: HttpRequest, options: ViewOptions, validator: Validator | None) -> bool:
        """A row that is not there, and nothing to decide: the view answers (usually 404).

        Preconditions do not apply to an answer that would not be 2xx
        (§13.2.1), and a required precondition cannot be met for a row that
        is not there. A write that does carry a precondition is still
        evaluated, so a PUT that would create cannot slip past If-Match.
        """
        if validator is not None or not options.strategy.reads_state:
            return False
        return request.method in SAFE_METHODS or not any(
            key in request.META for key in ("HTTP_IF_MATCH", "HTTP_IF_NONE_MATCH", "HTTP_IF_UNMODIFIED_SINCE")
        )

    def can_claim(self) -> bool:
        """Whether a write can be made a compare-and-set on the state its precondition saw."""
        return self.validator_func is None or self.claim_func is not None

    def decide(self, request: HttpRequest, options: ViewOptions, validator: Validator | None) -> Decision:
        if request.method not in SAFE_METHODS:
            if not options.strategy.reads_state or isinstance(options.strategy, CollectionStrategy):
                # A content hash is only known after the view ran, and a
                # collection's count cannot be claimed: before a write, the
                # resource exists but has no ETag to compare.
                validator = EXISTS_WITHOUT_VALIDATOR
            elif validator is not None and not self.can_claim():
                # Without claim= nothing stops another write between this
                # check and the view's: only If-Match "*" may hold, and a
                # date the GET advertised cannot be held to either.
                if (
                    validator.last_modified is not None
                    and "HTTP_IF_MATCH" not in request.META
                    and request.META.get("HTTP_IF_UNMODIFIED_SINCE")
                ):
                    return Decision(
                        Outcome.PRECONDITION_FAILED, "This resource cannot guard a write by date; send If-Match: *."
                    )
                validator = EXISTS_WITHOUT_VALIDATOR
        return evaluate(request, validator, require_precondition=options.require_precondition)

    def short_circuit(
        self, decision: Decision, validator: Validator | None, options: ViewOptions
    ) -> HttpResponseBase | None:
        if decision.outcome is Outcome.NOT_MODIFIED:
            return not_modified(cast(Validator, validator), options)
        if not decision.proceed:
            return decision_response(decision)
        return None

    def finish_read(
        self, request: HttpRequest, response: HttpResponseBase, validator: Validator | None, options: ViewOptions
    ) -> HttpResponseBase:
        """Stamp a GET/HEAD response; the content strategy decides only now."""
        if not _is_success(response):
            return response
        if not options.strategy.reads_state and not response.streaming:
            strategy = cast(ContentStrategy, options.strategy)
            validator = strategy.validator_for_content(
                response.content, self.variant(request, options), api_settings.release
            )
            decision = evaluate(request, validator)
            if decision.outcome is Outcome.NOT_MODIFIED:
                return not_modified(validator, options)
        return stamp_validators(response, validator, options)

    def claim(
        self, request: HttpRequest, row: models.Model | None, validator: Validator, kwargs: dict[str, Any]
    ) -> bool:
        if self.claim_func is not None:
            return self.claim_func(request, validator, **kwargs)
        assert row is not None
        return claim_state(type(row), row.pk, validator.state, router.db_for_write(type(row)))

    def write_wrapper(
        self,
        request: HttpRequest,
        options: ViewOptions,
        row: models.Model | None,
        validator: Validator | None,
        decision: Decision,
        kwargs: dict[str, Any],
    ) -> Callable[[Callable[[], HttpResponseBase]], HttpResponseBase]:
        """Run a write inside a transaction that first claims the state (compare-and-set).

        A successful write answers with the new validators, read before the
        transaction ends so that no later writer's version lands on this body.
        """

        def run(call: Callable[[], HttpResponseBase]) -> HttpResponseBase:
            if (row is None and self.claim_func is None) or validator is None or validator is EXISTS_WITHOUT_VALIDATOR:
                return call()
            using = router.db_for_write(type(row)) if row is not None else None
            with transaction.atomic(using=using):
                if decision.conditional and not self.claim(request, row, validator, kwargs):
                    return decision_response(
                        Decision(Outcome.PRECONDITION_FAILED, "The resource changed while this request was checked.")
                    )
                response = call()
                if _is_success(response) and request.method != "DELETE":
                    if row is not None:
                        stamp_validators(response, self.reread_validator(request, options, row), options)
                    else:
                        stamp_validators(response, cast(ValidatorFunc, self.validator_func)(request, **kwargs), options)
                return response

        return run


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
    }

    def decorator(view: View) -> View:
        core = _Conditional(view, queryset, validator, claim, lookup_field, lookup_url_kwarg, explicit)

        if inspect.iscoroutinefunction(view):

            @functools.wraps(view)
            async def async_inner(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
                options = core.options(request)
                validator_, row = await sync_to_async(core.read_validator)(request, options, kwargs)
                if core.no_representation(request, options, validator_):
                    return await view(request, *args, **kwargs)
                decision = core.decide(request, options, validator_)
                if (early := core.short_circuit(decision, validator_, options)) is not None:
                    return early
                if request.method in SAFE_METHODS:
                    return core.finish_read(request, await view(request, *args, **kwargs), validator_, options)
                # The claim and the view's own queries share one transaction:
                # the view runs on this thread's connection via async_to_sync.
                run = core.write_wrapper(request, options, row, validator_, decision, kwargs)
                return await sync_to_async(run)(async_to_sync(functools.partial(view, request, *args, **kwargs)))

            return cast(View, async_inner)

        @functools.wraps(view)
        def inner(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
            options = core.options(request)
            validator_, row = core.read_validator(request, options, kwargs)
            if core.no_representation(request, options, validator_):
                return view(request, *args, **kwargs)
            decision = core.decide(request, options, validator_)
            if (early := core.short_circuit(decision, validator_, options)) is not None:
                return early
            if request.method in SAFE_METHODS:
                return core.finish_read(request, view(request, *args, **kwargs), validator_, options)
            return core.write_wrapper(request, options, row, validator_, decision, kwargs)(
                lambda: view(request, *args, **kwargs)
            )

        return cast(View, inner)

    return decorator
