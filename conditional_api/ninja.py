"""django-ninja integration: ``@conditional`` below an operation's route decorator.

The only module of the package that imports ninja (``pip install
conditional-api[ninja]``)::

    @router.get("/articles/{int:pk}/", response=ArticleOut, url_name="article-detail")
    @conditional(visible_articles)
    def article_detail(request, pk: int): ...

Ninja authenticates and throttles inside the operation (``Operation.run``),
after any view decorator has run, so the decision cannot sit in one: it
would answer a 304 to a request that authentication refuses. Instead
``conditional`` hands ninja an operation class of its own, through the
callback ninja offers to code that contributes to an operation
(``ninja.utils.contribute_operation_callback``). Its ``run()`` runs ninja's
authentication and throttles, reads the validator, decides
(``conditional_api.flow``), and only then runs the rest of ninja's own
``run()``: parameters, the function, the response schema, the renderer.

* A detail (the URL names the row at ``lookup_url_kwarg``): the row is read
  through ``queryset`` (a model, a queryset, or a callable taking the
  request, to scope rows per user), with only its validator columns; a 304,
  412, 428 or 400 is answered before ninja parses the body or calls the
  function. A write runs inside a transaction that first claims the row in
  the state the decision saw (compare-and-set).
* A list (no ``queryset``): the validator is read from the ``QuerySet`` the
  function returns, before ``@paginate`` (placed above ``@conditional``)
  runs its COUNT and cuts a page; a 304 runs neither. A function that
  returns anything else is validated by its rendered bytes. A POST to the
  list is decided before it runs and its 201 carries the validator of the
  detail at its ``Location``.

A GET operation answers HEAD too (RFC 9110 §9.3.2), and ninja's OpenAPI
schema documents the conditional headers and the 304, 400, 412 and 428
answers of each operation.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar, cast
from urllib.parse import urlsplit

try:
    from ninja.operation import AsyncOperation, Operation
    from ninja.responses import Status
    from ninja.utils import contribute_operation_callback
except ImportError as error:  # pragma: no cover - exercised without django-ninja installed
    raise ImportError("conditional_api.ninja needs django-ninja: pip install 'conditional-api[ninja]'.") from error

from asgiref.sync import async_to_sync, sync_to_async
from django.core.exceptions import ImproperlyConfigured
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import DEFAULT_DB_ALIAS, models, router, transaction
from django.http import HttpRequest, HttpResponse, HttpResponseBase
from django.urls import Resolver404, resolve

from .conf import ViewOptions, view_options
from .decorators import QuerySetSource, _Conditional, marked
from .flow import Flow, Written, is_success
from .preconditions import Decision, Outcome
from .responses import mark_audience, not_modified, stamp_current, stamp_validators
from .strategies import ModelStrategy
from .validators import EXISTS_WITHOUT_VALIDATOR, UNKNOWN_UNTIL_RENDERED, Current, RowLookup, Validator, Variant

__all__ = ["AsyncConditionalOperation", "ConditionalOperation", "conditional"]

Function = TypeVar("Function", bound=Callable[..., Any])

#: Where a request keeps its exchange with a conditional operation.
_EXCHANGE = "_conditional_exchange"


class _Answered(BaseException):
    """A list's decision, taken inside the operation function, that ``run()`` answers.

    Not an ``Exception``: ninja's ``run()`` hands those to the API's
    exception handlers, and a catch-all handler would turn a 304 into an error.
    """

    def __init__(self, response: HttpResponseBase) -> None:
        super().__init__()
        self.response = response


@dataclass
class _Exchange:
    """One request through a conditional operation: what its steps share."""

    operation: Operation
    flow: Flow
    names_row: bool
    #: Set once ninja's authentication and throttles passed: its ``run()`` does not run them again.
    checked: bool = False
    #: What was read of the QuerySet a list's function returned, and a 304 whose 200 is built to verify it.
    listed: Current | None = None
    verifying: HttpResponseBase | None = None
    #: What the function returned, as ninja serializes it.
    result: Any = None


def _variant(operation: Operation, request: HttpRequest, options: ViewOptions) -> Variant:
    """One renderer, no negotiation: its media type is the variant's."""
    media_type = operation.api.renderer.media_type or ""
    return Variant.from_request(request, media_type=media_type, query_params=options.query_params, vary=options.vary)


def _content(response: HttpResponseBase) -> bytes | None:
    return None if response.streaming else cast(HttpResponse, response).content


def _exchange(request: HttpRequest) -> _Exchange | None:
    return cast(_Exchange | None, getattr(request, _EXCHANGE, None))


class _Conditions:
    """What one decorated operation function tells the flow: its options, its resource, and how to answer."""

    def __init__(
        self,
        function: Callable[..., Any],
        queryset: QuerySetSource | None,
        lookup_field: str,
        lookup_url_kwarg: str | None,
        explicit: dict[str, Any],
    ) -> None:
        # The decorator's resource lookup: the row at the URL's keyword, through the view's queryset.
        self.resource = _Conditional(function, queryset, None, None, lookup_field, lookup_url_kwarg, explicit)
        self.explicit = explicit
        self.view_path = f"{function.__module__}.{function.__qualname__}"

    # -- options and the flow ------------------------------------------------------

    def option_keys(self, url_name: str | None, namespace: str | None) -> list[str | None]:
        """The names the operation goes by, least specific first: its function, URL name, namespaced URL name."""
        return [self.view_path, url_name, f"{namespace}:{url_name}" if namespace and url_name else None]

    def options(self, url_name: str | None, namespace: str | None) -> ViewOptions:
        return view_options(self.option_keys(url_name, namespace), self.explicit)

    def exchange(self, operation: Operation, request: HttpRequest, kwargs: dict[str, Any]) -> _Exchange:
        match = getattr(request, "resolver_match", None)
        url_name = match.url_name if match else None
        options = self.options(url_name, match.namespace if match else None)
        variant = _variant(operation, request, options)
        flow = Flow(request, options, variant, view=(match.view_name if match else None) or self.view_path)
        names_row = self.resource.queryset is not None and self.resource.lookup_url_kwarg in kwargs
        exchange = _Exchange(operation, flow, names_row)
        setattr(request, _EXCHANGE, exchange)
        return exchange

    # -- 1. read, 2. decide ------------------------------------------------------------

    def read(self, exchange: _Exchange, kwargs: dict[str, Any]) -> Current:
        """The row's current state, through the operation's queryset; the API's exception handlers answer its errors."""
        flow = exchange.flow
        try:
            return self.resource.read(flow, flow.request, kwargs)
        except (ValueError, DjangoValidationError):
            return Current(None)  # no row has such a key: the function answers, as it would without preconditions
        except Exception as error:  # a queryset callable's Http404 or HttpError, say
            raise _Answered(exchange.operation.api.on_exception(flow.request, error)) from error

    def answer(self, exchange: _Exchange, decision: Decision, validator: Validator | None) -> HttpResponseBase:
        """A decision that does not proceed, as ninja answers: a 304, or ``{"detail": ...}`` through its renderer."""
        if decision.outcome is Outcome.NOT_MODIFIED:
            return not_modified(cast(Validator, validator), exchange.flow.options)
        request = exchange.flow.request
        return exchange.operation.api.create_response(
            request, {"detail": decision.reason}, status=int(decision.outcome)
        )

    def before(self, exchange: _Exchange, current: Current) -> tuple[Decision, HttpResponseBase | None]:
        decision = exchange.flow.decide(current)
        return decision, None if decision.proceed else self.answer(exchange, decision, current.validator)

    def collection(self, request: HttpRequest, result: Any) -> HttpResponseBase | None:
        """A list function returned ``result``: a 304 or 412 to answer, read from its QuerySet; None to go on.

        One QuerySet for the ETag and the body, read before ``@paginate``
        runs its COUNT and page query; the page's absolute URL joins the ETag,
        since ``next`` and ``previous`` links copy it.
        """
        exchange = _exchange(request)
        queryset = result.value if isinstance(result, Status) else result
        if (
            exchange is None
            or exchange.names_row
            or not exchange.flow.safe
            or not isinstance(queryset, models.QuerySet)
        ):
            return None
        flow = exchange.flow
        exchange.listed = flow.read_collection(queryset, (request.build_absolute_uri(),))
        decision, early = self.before(exchange, exchange.listed)
        if early is not None and flow.verifies(exchange.listed, decision):
            exchange.verifying = early  # the 200 is built, then kept or the 304 answered
            return None
        return early

    # -- 3. proceed ----------------------------------------------------------------------

    def atomically(self, exchange: _Exchange, respond: Callable[[], HttpResponseBase]) -> HttpResponseBase:
        """Run ninja's answer to a write as one transaction, undone when it is not a success.

        Ninja turns the function's exceptions into error responses, so
        nothing else would undo what the function wrote before it failed.
        """
        queryset = self.resource.queryset
        model = queryset if isinstance(queryset, type) else getattr(queryset, "model", None)
        using = router.db_for_write(model) if model is not None else DEFAULT_DB_ALIAS
        with transaction.atomic(using=using):
            response = respond()
            if not is_success(response.status_code):
                transaction.set_rollback(True, using=using)
        return response

    def write(
        self, exchange: _Exchange, current: Current, decision: Decision, respond: Callable[[], Any]
    ) -> Written[Any]:
        return exchange.flow.write(
            current,
            decision,
            lambda: self.atomically(exchange, respond),
            lambda refused: self.answer(exchange, refused, None),
        )

    def create(self, exchange: _Exchange, respond: Callable[[], HttpResponseBase]) -> HttpResponseBase:
        """A POST to a list: decided before it runs (the list exists, with no ETag to compare), then one transaction."""
        _, early = self.before(exchange, Current(EXISTS_WITHOUT_VALIDATOR))
        if early is not None:
            return self.answered(exchange, early)
        response = self.atomically(exchange, respond)
        if is_success(response.status_code):
            self.stamp_created(exchange, response)
        return self.answered(exchange, response)

    def stamp_created(self, exchange: _Exchange, response: HttpResponseBase) -> None:
        """A 201 carries the validator a GET of its ``Location`` would: the detail's options, the new row's state."""
        created, location = exchange.result, response.get("Location")
        if not isinstance(created, models.Model) or not location:
            return
        try:
            match = resolve(urlsplit(location).path)
        except Resolver404:
            return
        options = view_options([match.url_name, match.view_name], None)
        if not isinstance(options.strategy, ModelStrategy):
            return
        variant = _variant(exchange.operation, exchange.flow.request, options)
        current = options.strategy.read_row(RowLookup(lambda columns: created), variant, exchange.flow.release)
        stamp_validators(response, current.validator, options)

    # -- 4. stamp, 5. report --------------------------------------------------------------

    def after_read(self, exchange: _Exchange, current: Current, response: HttpResponseBase) -> HttpResponseBase:
        flow = exchange.flow
        rendered = flow.rendered(current, response.status_code, lambda: _content(response))
        if rendered is not None:
            validator, decision = rendered
            if decision.proceed:
                stamp_validators(response, validator, flow.options)
                flow.served(validator, lambda: _content(response))
            else:
                response = self.answer(exchange, decision, validator)
        return self.answered(exchange, response)

    def after_list(self, exchange: _Exchange, response: HttpResponseBase) -> HttpResponseBase:
        listed = exchange.listed or UNKNOWN_UNTIL_RENDERED  # no QuerySet: the bytes decide
        if exchange.verifying is not None:
            return self.after_check(exchange, listed, exchange.verifying, response)
        return self.after_read(exchange, listed, response)

    def after_check(
        self, exchange: _Exchange, current: Current, not_modified: HttpResponseBase, response: HttpResponseBase
    ) -> HttpResponseBase:
        """A sampled 304 and the 200 ninja built for it: the 304, unless that 200 shows the validator stale."""
        content = _content(response) if is_success(response.status_code) else None
        return self.answered(exchange, not_modified if exchange.flow.stands(current, content) else response)

    def after_write(self, exchange: _Exchange, written: Written[HttpResponseBase]) -> HttpResponseBase:
        if written.stamp:
            stamp_validators(written.response, written.validator, exchange.flow.options)
        return self.answered(exchange, written.response)

    def answered(self, exchange: _Exchange, response: HttpResponseBase) -> HttpResponseBase:
        """Every answer leaves here: who may reuse it, a refusal's current validators, then reported."""
        flow = exchange.flow
        mark_audience(response, flow.request, flow.options)
        stamp_current(response, flow.current_for(response.status_code))
        flow.answered(response.status_code)
        return response

    # -- the whole exchange, sync and async -----------------------------------------------

    def run(
        self, exchange: _Exchange, kwargs: dict[str, Any], respond: Callable[[], HttpResponseBase]
    ) -> HttpResponseBase:
        flow = exchange.flow
        if not exchange.names_row:
            if not flow.safe:
                return self.create(exchange, respond)
            try:
                response = respond()
            except _Answered as answered:
                return self.answered(exchange, answered.response)
            return self.after_list(exchange, response)
        try:
            current = self.read(exchange, kwargs)
        except _Answered as answered:
            return self.answered(exchange, answered.response)
        decision, early = self.before(exchange, current)
        if early is not None:
            if flow.verifies(current, decision):
                return self.after_check(exchange, current, early, respond())
            return self.answered(exchange, early)
        if flow.safe:
            return self.after_read(exchange, current, respond())
        return self.after_write(exchange, self.write(exchange, current, decision, respond))

    async def arun(self, exchange: _Exchange, kwargs: dict[str, Any], respond: Callable[[], Any]) -> HttpResponseBase:
        """``run()`` for an async function: the database steps run in the sync thread, as Django's ORM asks."""
        flow = exchange.flow
        if not exchange.names_row:
            if not flow.safe:
                # The function's own queries share the transaction: it runs on this thread's connection.
                return await sync_to_async(self.create)(exchange, async_to_sync(respond))
            try:
                response = await respond()
            except _Answered as answered:
                return self.answered(exchange, answered.response)
            return await sync_to_async(self.after_list)(exchange, response)
        try:
            current = await sync_to_async(self.read)(exchange, kwargs)
        except _Answered as answered:
            return self.answered(exchange, answered.response)
        decision, early = self.before(exchange, current)
        if early is not None:
            if flow.verifies(current, decision):
                response = await respond()
                return await sync_to_async(self.after_check)(exchange, current, early, response)
            return self.answered(exchange, early)
        if flow.safe:
            response = await respond()
            return await sync_to_async(self.after_read)(exchange, current, response)
        written = await sync_to_async(self.write)(exchange, current, decision, async_to_sync(respond))
        return self.after_write(exchange, written)

    # -- the OpenAPI schema ---------------------------------------------------------------

    def openapi(self, operation: Operation) -> dict[str, Any]:
        """The conditional headers and answers of ``operation``, as ninja's ``openapi_extra`` merges them."""
        api = operation.api
        options = self.options(_url_name(operation), getattr(api, "urls_namespace", None))
        methods = set(operation.methods)
        names_row = self.resource.queryset is not None
        safe = bool(methods & {"GET", "HEAD"})
        parameters, answers = _documented(safe, names_row, options.require_precondition and not safe)
        declared = {status for status in operation.response_models if isinstance(status, int)} or {200}
        validators = {"ETag": _header("The strong validator of this representation.")}
        if names_row and isinstance(options.strategy, ModelStrategy):
            validators["Last-Modified"] = _header("When the row last changed, in whole seconds.")
        responses: dict[int, Any] = {}
        if "DELETE" not in methods:
            for status in sorted(declared):
                if is_success(status):
                    responses[status] = {"headers": dict(validators)}
        if safe:
            answers[304] = {"description": answers[304]["description"], "headers": dict(validators)}
        for status, answer in answers.items():
            if status not in declared:
                responses[status] = answer
        return {"parameters": parameters, "responses": responses}


def _url_name(operation: Operation) -> str:
    """The URL name a request to the operation resolves to: the first operation's at its path, as Django tries them."""
    api = operation.api
    for bound in getattr(api, "_get_bound_routers", list)():
        for path_view in bound.path_operations.values():
            if operation in path_view.operations:
                first = path_view.operations[0]
                return getattr(first, "url_name", None) or api.get_operation_url_name(first, router=bound.template)
    return getattr(operation, "url_name", None) or api.get_operation_url_name(operation, router=None)  # type: ignore[arg-type]


def _header(description: str) -> dict[str, Any]:
    return {"description": description, "schema": {"type": "string"}}


def _field(name: str, description: str, required: bool = False) -> dict[str, Any]:
    return {
        "in": "header",
        "name": name,
        "required": required,
        "description": description,
        "schema": {"type": "string"},
    }


def _problem(description: str) -> dict[str, Any]:
    schema = {"type": "object", "properties": {"detail": {"type": "string"}}, "required": ["detail"]}
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _documented(safe: bool, names_row: bool, required: bool) -> tuple[list[dict[str, Any]], dict[int, Any]]:
    """The precondition fields an operation reads and the answers they lead to (RFC 9110 §13.1, §15.4.5, §15.5.13)."""
    malformed = _problem("A precondition header is malformed.")
    failed = _problem("A precondition failed: the representation the client holds is not the current one.")
    if safe:
        parameters = [
            _field("If-None-Match", "The ETags of the copies the client holds: 304 when one is current."),
            _field("If-Modified-Since", "The Last-Modified of the client's copy; ignored with If-None-Match."),
        ]
        return parameters, {304: {"description": "Not Modified: the client's copy is current."}, 400: malformed}
    if not names_row:
        parameters = [
            _field("If-Match", "'*': the list exists; a listed ETag cannot match."),
            _field("If-None-Match", "'*' fails: the list exists."),
        ]
        return parameters, {400: malformed, 412: failed}
    parameters = [
        _field(
            "If-Match",
            "The ETag of the representation this write is based on"
            + (" (or send If-Unmodified-Since): required." if required else "."),
            required,
        ),
        _field("If-Unmodified-Since", "The Last-Modified of the representation this write is based on."),
    ]
    answers = {400: malformed, 412: failed}
    if required:
        answers[428] = _problem("Precondition Required: send If-Match (or If-Unmodified-Since).")
    return parameters, answers


def _merged(documented: dict[str, Any], own: dict[str, Any] | None) -> dict[str, Any]:
    """The documented additions with the operation's own ``openapi_extra`` over them; merging twice changes nothing."""
    if not own:
        return documented
    merged = {**documented, **{k: v for k, v in own.items() if k not in ("parameters", "responses")}}
    seen = {(p.get("in"), p.get("name")) for p in own.get("parameters", []) if isinstance(p, dict)}
    parameters = [p for p in documented["parameters"] if (p["in"], p["name"]) not in seen]
    merged["parameters"] = [*parameters, *own.get("parameters", [])]
    responses = dict(documented["responses"])
    for status, answer in (own.get("responses") or {}).items():
        ours = responses.get(status)
        responses[status] = {**ours, **answer} if isinstance(ours, dict) and isinstance(answer, dict) else answer
    merged["responses"] = responses
    return merged


class _AnswersHead(list[str]):
    """An operation's methods, HEAD among them wherever GET is (RFC 9110 §9.3.2), yet listed once in the schema."""

    def __contains__(self, method: object) -> bool:
        return super().__contains__(method) or (method == "HEAD" and super().__contains__("GET"))


def _conditions(operation: Operation) -> _Conditions:
    found = marked(operation.view_func, _Conditions)
    if found is not None:
        return found
    raise ImproperlyConfigured(f"{operation.view_func!r} runs as a conditional operation without @conditional.")


class _ConditionalParts:
    """What the sync and async conditional operations share: their schema, their methods, what the function returned.

    ``methods`` and ``openapi_extra`` are properties over the values ninja
    sets on the instance, which its ``clone()`` copies too.
    """

    __dict__: dict[str, Any]

    @property
    def methods(self) -> list[str]:
        return _AnswersHead(self.__dict__.get("methods", ()))

    @methods.setter
    def methods(self, value: list[str]) -> None:
        self.__dict__["methods"] = list(value)

    @property
    def openapi_extra(self) -> dict[str, Any] | None:
        own = self.__dict__.get("openapi_extra")
        if getattr(self, "api", None) is None:
            return cast(dict[str, Any] | None, own)  # not bound yet: no URL name to read options by
        operation = cast(Operation, self)
        return _merged(_conditions(operation).openapi(operation), own)

    @openapi_extra.setter
    def openapi_extra(self, value: dict[str, Any] | None) -> None:
        self.__dict__["openapi_extra"] = value

    def _result_to_response(
        self, request: HttpRequest, result: Any, temporal_response: HttpResponse
    ) -> HttpResponseBase:
        exchange = _exchange(request)
        if exchange is not None:
            exchange.result = result.value if isinstance(result, Status) else result
        return cast(HttpResponseBase, super()._result_to_response(request, result, temporal_response))  # type: ignore[misc]


class ConditionalOperation(_ConditionalParts, Operation):
    """A sync ninja operation that decides after ninja's authentication and throttles, before its parameters."""

    def run(self, request: HttpRequest, **kw: Any) -> HttpResponseBase:
        conditions = _conditions(self)
        exchange = conditions.exchange(self, request, kw)
        error = super()._run_checks(request)
        if error is not None:
            return mark_audience(error, request, exchange.flow.options)
        exchange.checked = True
        return conditions.run(exchange, kw, functools.partial(Operation.run, self, request, **kw))

    def _run_checks(self, request: HttpRequest) -> HttpResponse | None:
        exchange = _exchange(request)
        return None if exchange is not None and exchange.checked else super()._run_checks(request)


class AsyncConditionalOperation(_ConditionalParts, AsyncOperation):
    """``ConditionalOperation`` for an async function."""

    async def run(self, request: HttpRequest, **kw: Any) -> HttpResponseBase:  # type: ignore[override]
        conditions = _conditions(self)
        exchange = conditions.exchange(self, request, kw)
        error = await super()._run_checks(request)
        if error is not None:
            return mark_audience(error, request, exchange.flow.options)
        exchange.checked = True
        return await conditions.arun(exchange, kw, functools.partial(AsyncOperation.run, self, request, **kw))

    async def _run_checks(self, request: HttpRequest) -> HttpResponse | None:  # type: ignore[override]
        exchange = _exchange(request)
        return None if exchange is not None and exchange.checked else await super()._run_checks(request)


def _resolved_signature(function: Callable[..., Any]) -> inspect.Signature:
    """The function's signature with its annotations evaluated where it was written."""
    try:
        return inspect.signature(function, eval_str=True)
    except NameError:  # a name only the type checker sees: ninja resolves what it can
        return inspect.signature(function)


def _make_conditional(operation: Operation) -> None:
    """Ninja built the operation: from now on it runs as a conditional one (an instance of the same layout)."""
    conditional_class = AsyncConditionalOperation if isinstance(operation, AsyncOperation) else ConditionalOperation
    operation.__class__ = conditional_class


def conditional(
    queryset: QuerySetSource | None = None,
    *,
    lookup_field: str = "pk",
    lookup_url_kwarg: str | None = None,
    strategy: str | None = None,
    require_precondition: bool | None = None,
    cache_control: str | None = None,
    query_params: str | Sequence[str] | None = None,
    vary: Sequence[str] | None = None,
    shared: bool | None = None,
) -> Callable[[Function], Function]:
    """Make a ninja operation answer 304, 412 and 428 after ninja's authentication, before its function runs.

    Put it below the route decorator (``@router.get(...)``) and below
    ``@paginate``. ``queryset`` (a model, a queryset, or a callable taking
    the request) names the rows a detail operation may show; the row is
    looked up by ``lookup_field`` from the path parameter
    ``lookup_url_kwarg`` (default: the same name). Without ``queryset`` the
    operation is a list, validated by the QuerySet its function returns.
    The other arguments override ``CONDITIONAL_API``, whose ``VIEWS`` name
    the operation by its function's dotted path, its URL name or
    ``namespace:url_name``.
    """
    explicit = {
        "strategy": strategy,
        "require_precondition": require_precondition,
        "cache_control": cache_control,
        "query_params": query_params,
        "vary": vary,
        "shared": shared,
    }

    def decorator(function: Function) -> Function:
        if hasattr(function, "_ninja_operation"):
            raise ImproperlyConfigured(
                f"@conditional is above the route decorator of {function.__qualname__}: put it below "
                "@router.get(...) (and below @paginate), so that ninja builds a conditional operation."
            )
        conditions = _Conditions(function, queryset, lookup_field, lookup_url_kwarg, explicit)
        wrapper: Any
        if inspect.iscoroutinefunction(function):

            @functools.wraps(function)
            async def async_wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> Any:
                result = await function(request, *args, **kwargs)
                early = await sync_to_async(conditions.collection)(request, result)
                if early is not None:
                    raise _Answered(early)
                return result

            wrapper = async_wrapper
        else:

            @functools.wraps(function)
            def sync_wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> Any:
                result = function(request, *args, **kwargs)
                early = conditions.collection(request, result)
                if early is not None:
                    raise _Answered(early)
                return result

            wrapper = sync_wrapper
        wrapper.conditional = conditions  # found again through @paginate's wraps
        # Ninja resolves string annotations in the globals of the function it is given: this module's.
        wrapper.__signature__ = _resolved_signature(function)
        contribute_operation_callback(wrapper, _make_conditional)
        return cast(Function, wrapper)

    return decorator
