"""Django REST framework integration: one mixin per action, each deciding and then calling DRF's own action.

The only module of the package that imports DRF (``pip install
conditional-api[drf]``). Use the ready viewset::

    class ArticleViewSet(ConditionalModelViewSet):
        queryset = Article.objects.all()
        serializer_class = ArticleSerializer

or mix ``ConditionalRetrieveMixin``, ``ConditionalUpdateMixin``, ... into
your own generic views. Each action runs after DRF's ``initial()``
(authentication, permissions, throttles, content negotiation); it reads the
validator through the view's own ``get_object()`` (so a scoped queryset,
object permissions and access rules in an overridden ``get_object()`` hold),
decides (``conditional_api.flow``), and only then runs DRF's action with its
full query and serializer. ``finalize_response()`` stamps the validators.

Hooks, each overridable: ``get_conditional_options()``,
``get_validator_strategy()``, ``get_variant()``, ``get_validator_object()``
(the row with only the validator columns loaded) and, for lists,
``get_collection_extra()``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import ExitStack
from typing import TYPE_CHECKING, Any, NoReturn, cast

try:
    from rest_framework import mixins, serializers, status, viewsets
except ImportError as error:  # pragma: no cover - exercised without DRF installed
    raise ImportError("conditional_api.drf needs Django REST framework: pip install 'conditional-api[drf]'.") from error

from django.core.checks import CheckMessage, Tags, register
from django.core.checks import Warning as CheckWarning
from django.core.exceptions import ImproperlyConfigured
from django.db import connections, models, router, transaction
from django.http import Http404, HttpRequest
from django.urls import NoReverseMatch
from rest_framework.exceptions import APIException
from rest_framework.generics import GenericAPIView
from rest_framework.relations import RelatedField
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.reverse import reverse

from .cache import find_row
from .checks import Route, StrategyUse, routes, strategy_messages, strategy_source
from .conf import ViewOptions, api_settings, validate_settings, view_options
from .flow import Flow, is_success
from .models import VersionedModel
from .preconditions import SAFE_METHODS, Decision, Outcome
from .responses import WithoutContentLength, mark_audience, stamp_current, stamp_validators
from .rows import state_queryset
from .strategies import ContentStrategy
from .validators import EXISTS_WITHOUT_VALIDATOR, Columns, Current, RowLookup, Validator, ValidatorStrategy, Variant

__all__ = [
    "ConditionalCreateMixin",
    "ConditionalDestroyMixin",
    "ConditionalListMixin",
    "ConditionalMixin",
    "ConditionalModelViewSet",
    "ConditionalReadOnlyModelViewSet",
    "ConditionalRetrieveMixin",
    "ConditionalUpdateMixin",
    "MalformedPrecondition",
    "PreconditionFailed",
    "PreconditionRequired",
]


class PreconditionFailed(APIException):
    status_code = status.HTTP_412_PRECONDITION_FAILED
    default_detail = "A precondition of this request failed."
    default_code = "precondition_failed"


class PreconditionRequired(APIException):
    status_code = status.HTTP_428_PRECONDITION_REQUIRED
    default_detail = "This request must be conditional."
    default_code = "precondition_required"


class MalformedPrecondition(APIException):
    status_code = status.HTTP_400_BAD_REQUEST
    default_detail = "A precondition header is malformed."
    default_code = "malformed_precondition"


_ERRORS: dict[Outcome, type[APIException]] = {
    Outcome.BAD_REQUEST: MalformedPrecondition,
    Outcome.PRECONDITION_FAILED: PreconditionFailed,
    Outcome.PRECONDITION_REQUIRED: PreconditionRequired,
}


if TYPE_CHECKING:
    _GenericView = GenericAPIView[Any]
else:
    _GenericView = object


class NotModifiedResponse(WithoutContentLength, Response):
    """DRF's 304: finalized like the 200 (same Vary and Allow), without Content-Length."""


class _Answered(Exception):
    """A decision taken inside one of DRF's own steps: ``handle_exception()`` returns its response."""

    def __init__(self, response: Response) -> None:
        super().__init__()
        self.response = response


class _Statements:
    """Counts the statements run on every database while it is open."""

    def __init__(self) -> None:
        self.count = 0
        self._stack = ExitStack()

    def __call__(self, execute: Callable[..., Any], *args: Any) -> Any:
        self.count += 1
        return execute(*args)

    def __enter__(self) -> _Statements:
        for connection in connections.all():
            self._stack.enter_context(connection.execute_wrapper(self))
        return self

    def __exit__(self, *exc: object) -> None:
        self._stack.close()


def _refuse(decision: Decision) -> NoReturn:
    raise _ERRORS[decision.outcome](decision.reason)


class ConditionalMixin(_GenericView):
    """What every conditional action shares; use it on a ``GenericAPIView``."""

    #: Options set in code; they win over ``CONDITIONAL_API`` (as DRF class attributes do).
    conditional_options: dict[str, Any] = {}
    #: Columns your object permissions read, loaded with the validator columns
    #: so that checking them costs no extra query.
    permission_fields: tuple[str, ...] = ()

    #: Set while ``get_validator_object()`` runs: the columns ``get_object()`` loads.
    _state_columns: Columns | None = None
    #: The latest serializer ``get_serializer()`` built: its instance is what the response shows.
    _serializer: Any = None
    #: The request's flows, by action.
    _flows: dict[str | None, Flow | None] | None = None
    #: What ``finalize_response()`` stamps: the validator and the options it goes with.
    _stamp: tuple[Validator | None, ViewOptions] | None = None

    # -- options, once per request ------------------------------------------------

    def get_conditional_options(self, action: str | None = None) -> ViewOptions:
        """This view's options, looked up by view path, basename, URL name and ``basename.action``."""
        basename = getattr(self, "basename", None)
        action = action or getattr(self, "action", None) or (self.request.method or "get").lower()
        match = getattr(self.request, "resolver_match", None)
        url_name = match.url_name if match else None
        if action == "retrieve" and basename and url_name in (None, f"{basename}-list"):
            url_name = f"{basename}-detail"
        keys = [
            f"{type(self).__module__}.{type(self).__qualname__}",
            basename,
            url_name,
            f"{basename}.{action}" if basename else None,
        ]
        return view_options(keys, self.conditional_options)

    def get_validator_strategy(self, options: ViewOptions) -> ValidatorStrategy:
        return options.strategy

    def get_variant(self, options: ViewOptions) -> Variant:
        """The negotiated media type (with its parameters) and the shaping query parameters."""
        return Variant.from_request(
            cast(HttpRequest, self.request),
            media_type=getattr(self.request, "accepted_media_type", "") or "",
            query_params=options.query_params,
            vary=options.vary,
        )

    def conditional_flow(self, action: str | None = None) -> Flow | None:
        """The request's flow, built once per action (None for a format no validator describes: the browsable API)."""
        if self._flows is None:
            self._flows = {}
        flows = self._flows
        if action not in flows:
            renderer = getattr(self.request, "accepted_renderer", None)
            if self.request.method in SAFE_METHODS and getattr(renderer, "format", None) in api_settings.SKIP_FORMATS:
                flows[action] = None
            else:
                options = self.get_conditional_options(action)
                match = getattr(self.request, "resolver_match", None)
                flows[action] = Flow(
                    cast(HttpRequest, self.request),
                    options,
                    self.get_variant(options),
                    self.get_validator_strategy(options),
                    view=(match.url_name if match else None) or f"{type(self).__module__}.{type(self).__qualname__}",
                )
        return flows[action]

    # -- the validator: one small query ---------------------------------------------

    def get_object(self) -> Any:
        """DRF's ``get_object()``; while the validator is read, with only its columns loaded.

        The same queryset, filters, lookup and object permission checks, so
        a scoped queryset is a 404 whatever the headers say, and an override
        that calls ``super().get_object()`` keeps its access rules for
        conditional requests too. With ``cache_validators`` on a primary key
        lookup the row may come from the validator cache, with no query.
        """
        columns = self._state_columns
        if columns is None:
            return super().get_object()
        queryset = self.filter_queryset(self.get_queryset())
        queryset = state_queryset(queryset, (*columns(queryset.model), *self.permission_fields))
        value = self.kwargs[self.lookup_url_kwarg or self.lookup_field]
        flow = self.conditional_flow()
        cached = flow is not None and flow.safe and flow.options.cache_validators
        obj = find_row(queryset, self.lookup_field, value, cached=cached)
        if obj is None:
            raise Http404(f"No {queryset.model._meta.object_name} matches the given query.")
        self.check_object_permissions(self.request, obj)
        return obj

    def get_validator_object(self, columns: Columns) -> models.Model:
        """The row ``get_object()`` finds, loading the primary key, ``columns(model)`` and ``permission_fields``."""
        self._state_columns = columns
        try:
            return cast(models.Model, self.get_object())
        finally:
            self._state_columns = None

    def get_serializer(self, *args: Any, **kwargs: Any) -> Any:
        """DRF's; the latest one is remembered, since its instance is the row the response shows."""
        serializer = super().get_serializer(*args, **kwargs)
        self._serializer = serializer
        return serializer

    def handle_exception(self, exc: Exception) -> Response:
        """DRF's; a decision taken inside one of DRF's own steps (a list's 304) is answered as is."""
        if isinstance(exc, _Answered):
            return exc.response
        return super().handle_exception(exc)

    def _shown_instance(self, flow: Flow) -> Current:
        """What the row the serializer rendered says: the ETag describes those bytes, whatever was read before."""
        instance = getattr(self._serializer, "instance", None)
        if not isinstance(instance, models.Model):
            return Current(None)
        return flow.read_row(RowLookup(lambda columns: instance))

    def _validator_lookup(self) -> RowLookup:
        return RowLookup(self.get_validator_object)

    def _decide(self, flow: Flow, current: Current) -> Response | None:
        """A 304 to return, or None to proceed; 400, 412 and 428 are raised as DRF errors."""
        return self._settle(flow.decide(current), current.validator, flow.options)

    def _settle(self, decision: Decision, validator: Validator | None, options: ViewOptions) -> Response | None:
        if decision.outcome is Outcome.NOT_MODIFIED:
            self._stamp = (validator, options)
            return NotModifiedResponse(status=status.HTTP_304_NOT_MODIFIED)
        if not decision.proceed:
            _refuse(decision)
        return None

    def _shown(self, flow: Flow, current: Current, response: Response, one_statement: bool = False) -> Response:
        """A read's answer: stamped with the validator of its bytes, which may still make it a 304."""
        rendered = flow.rendered(
            current, response.status_code, lambda: self._render_now(response), one_statement=one_statement
        )
        if rendered is None:
            return response
        validator, decision = rendered
        self._stamp = (validator, flow.options)
        return self._settle(decision, validator, flow.options) or response

    def _render_now(self, response: Response) -> bytes:
        """The bytes the response will carry, rendered as ``finalize_response()`` would."""
        response.accepted_renderer = self.request.accepted_renderer
        response.accepted_media_type = self.request.accepted_media_type
        response.renderer_context = self.get_renderer_context()  # type: ignore[attr-defined]  # read by render()
        return cast(bytes, response.render().content)

    def finalize_response(self, request: Request, response: Any, *args: Any, **kwargs: Any) -> Any:
        """Stamp the validators on a 2xx or 304, the one place they are set; say who may reuse any answer."""
        response = super().finalize_response(request, response, *args, **kwargs)
        flow = (self._flows or {}).get(None)
        if self._stamp is not None and (is_success(response.status_code) or isinstance(response, NotModifiedResponse)):
            validator, options = self._stamp
            stamp_validators(response, validator, options)
            if flow is not None and is_success(response.status_code):
                flow.served(validator, lambda: response.render().content)
        # Every answer, validated or not: a 401, or the browsable API's page, depends on who asks too.
        mark_audience(response, cast(HttpRequest, request), flow.options if flow else self.get_conditional_options())
        if flow is not None:
            stamp_current(response, flow.current_for(response.status_code))
            flow.answered(response.status_code)
        return response

    def _checked(self, flow: Flow, current: Current, not_modified: Response, response: Response) -> Response:
        """A sampled 304 and the 200 DRF built for it: the 304, unless that 200 shows the validator stale."""
        content = self._render_now(response) if is_success(response.status_code) else None
        if flow.stands(current, content):
            return not_modified
        self._stamp = None
        return response

    def conditional_write(
        self, action: Callable[..., Response], request: Request, *args: Any, **kwargs: Any
    ) -> Response:
        """Decide, then run DRF's write action inside a transaction that first claims the row."""
        flow = cast(Flow, self.conditional_flow())
        current = flow.read_row(self._validator_lookup())
        if not current.known:
            # Nothing read: the row must still be there, as without preconditions (§13.2.1).
            self.get_object()
        decision = flow.decide(current)
        self._settle(decision, None, flow.options)
        written = flow.write(current, decision, lambda: action(request, *args, **kwargs), _refuse)
        if written.stamp and written.validator is not None:
            self._stamp = (written.validator, flow.options)
        return written.response


class ConditionalRetrieveMixin(ConditionalMixin, mixins.RetrieveModelMixin):
    """GET/HEAD of one object: 304 from the validator query, before the full query and serializer."""

    def retrieve(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        flow = self.conditional_flow()
        if flow is None:
            return super().retrieve(request, *args, **kwargs)
        # Without a precondition nothing can be decided early, so no validator
        # query: a first fetch costs what DRF's does.
        if flow.needs_read():
            current = flow.read_row(self._validator_lookup())
            if (not_modified := self._decide(flow, current)) is not None:
                if flow.verifies(current, cast(Decision, flow.decision)):
                    return self._checked(flow, current, not_modified, super().retrieve(request, *args, **kwargs))
                return not_modified
        with _Statements() as statements:
            response = super().retrieve(request, *args, **kwargs)
        # The instance's own columns say which version it is: when its one
        # statement built the whole body, nothing else needs confirming.
        return self._shown(flow, self._shown_instance(flow), response, one_statement=statements.count <= 1)


class ConditionalListMixin(ConditionalMixin, mixins.ListModelMixin):
    """GET/HEAD of a list: 304 from the change counts of the tables it reads, before the list query and serializer.

    A list whose strategy is a row strategy (``version``, ``updated_at``)
    uses the collection strategy; ``content`` hashes the rendered page instead.
    """

    def get_collection_extra(self) -> tuple[Any, ...]:
        """What the list's bytes depend on besides its rows: pagination links copy the absolute URL."""
        return (self.request.build_absolute_uri(),) if self.paginator is not None else ()

    #: While ``list()`` runs: its flow, what was read of the collection, and a 304 whose 200 is built to verify it.
    _listing: Flow | None = None
    _listed: Current | None = None
    _verifying: Response | None = None

    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        self._listing = self.conditional_flow()
        response = super().list(request, *args, **kwargs)
        if self._listing is None or self._listed is None:
            return response
        if self._verifying is not None:
            return self._checked(self._listing, self._listed, self._verifying, response)
        return self._shown(self._listing, self._listed, response)

    def paginate_queryset(self, queryset: Any) -> Any:
        """DRF's ``list()`` hands its filtered queryset here before cutting a page: the validator is read from it.

        One queryset for the ETag and the body, and a 304 (or 412) answered
        before the page query, its COUNT or the serializer run.
        """
        flow = self._listing
        if flow is not None and self._listed is None:
            self._listed = flow.read_collection(queryset, self.get_collection_extra())
            if (not_modified := self._decide(flow, self._listed)) is not None:
                if not flow.verifies(self._listed, cast(Decision, flow.decision)):
                    raise _Answered(not_modified)
                self._verifying = not_modified  # list() builds the page, then keeps the 304 or answers the 200
        return super().paginate_queryset(queryset)


class ConditionalCreateMixin(ConditionalMixin, mixins.CreateModelMixin):
    """POST: 201 with the new object's validators and a Location."""

    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        flow = cast(Flow, self.conditional_flow())
        # The list exists but its ETag is not read before a write: If-Match
        # "*" holds, a listed tag or If-None-Match "*" fails, malformed is 400.
        self._settle(flow.decide(Current(EXISTS_WITHOUT_VALIDATOR)), None, flow.options)
        model = self.get_queryset().model
        # The row and its M2M links are one state, committed together: one
        # version step and one Last-Modified second, not one per statement.
        with transaction.atomic(using=router.db_for_write(model)):
            response = super().create(request, *args, **kwargs)
        detail = self.conditional_flow(action="retrieve")
        if detail is not None:
            current = self._shown_instance(detail)
            if current.validator is not None:
                self._stamp = (current.validator, detail.options)
        return response

    def get_success_headers(self, data: Any) -> dict[str, str]:
        headers: dict[str, str] = super().get_success_headers(data)
        created = getattr(self._serializer, "instance", None)
        location = self.get_created_location(created) if isinstance(created, models.Model) else None
        if location:
            headers["Location"] = location
        return headers

    def get_created_location(self, instance: models.Model) -> str | None:
        """The URL of the new object's detail route, when the view has one."""
        basename = getattr(self, "basename", None)
        if not basename:
            return None
        lookup_url_kwarg = self.lookup_url_kwarg or self.lookup_field
        try:
            return reverse(
                f"{basename}-detail",
                kwargs={lookup_url_kwarg: getattr(instance, self.lookup_field)},
                request=self.request,
            )
        except NoReverseMatch:
            return None


class ConditionalUpdateMixin(ConditionalMixin, mixins.UpdateModelMixin):
    """PUT and PATCH: 412 or 428 before the serializer runs; compare-and-set when conditional."""

    def update(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return self.conditional_write(super().update, request, *args, **kwargs)


class ConditionalDestroyMixin(ConditionalMixin, mixins.DestroyModelMixin):
    """DELETE: 412 or 428 before anything is deleted; compare-and-set when conditional."""

    def destroy(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return self.conditional_write(super().destroy, request, *args, **kwargs)


class ConditionalModelViewSet(
    ConditionalCreateMixin,
    ConditionalRetrieveMixin,
    ConditionalUpdateMixin,
    ConditionalDestroyMixin,
    ConditionalListMixin,
    viewsets.GenericViewSet[Any],
):
    """``ModelViewSet`` with validators, 304, 412 and 428 on every action."""


class ConditionalReadOnlyModelViewSet(ConditionalRetrieveMixin, ConditionalListMixin, viewsets.GenericViewSet[Any]):
    """``ReadOnlyModelViewSet`` with validators and 304."""


# -- system checks ---------------------------------------------------------------

#: What each conditional action reads before or after DRF's own: the mixin
#: that makes it conditional, whether it reads one row, and the action whose
#: options it reads with (a create's 201 carries the detail's validator).
ACTION_READS: dict[str, tuple[type[ConditionalMixin], bool, str | None]] = {
    "list": (ConditionalListMixin, False, None),
    "retrieve": (ConditionalRetrieveMixin, True, None),
    "update": (ConditionalUpdateMixin, True, None),
    "partial_update": (ConditionalUpdateMixin, True, None),
    "destroy": (ConditionalDestroyMixin, True, None),
    "create": (ConditionalCreateMixin, True, "retrieve"),
}

#: Without a router, an HTTP method names the action of a generic view.
_METHOD_ACTIONS = {"put": "update", "patch": "partial_update", "delete": "destroy", "post": "create"}


def _url_name(route: Route, action: str) -> str | None:
    """The URL name ``get_conditional_options()`` looks an action up by: a create's detail is the detail's."""
    basename = route.basename
    if action == "retrieve" and basename and route.name in (None, f"{basename}-list"):
        return f"{basename}-detail"
    return route.name


def option_keys(view: type[ConditionalMixin], route: Route, action: str) -> list[str | None]:
    """The names ``get_conditional_options()`` looks the view up by, for one action on one route."""
    basename = route.basename
    return [
        f"{view.__module__}.{view.__qualname__}",
        basename,
        _url_name(route, action),
        f"{basename}.{action}" if basename else None,
    ]


def route_options(view: type[ConditionalMixin], route: Route, action: str) -> ViewOptions:
    """The options an action of the view reads on this route, as ``get_conditional_options()`` resolves them."""
    return view_options(option_keys(view, route, action), view.conditional_options)


def route_actions(view: type[ConditionalMixin], route: Route) -> dict[str, str]:
    """The route's HTTP methods and the actions they run: a viewset's from its router, a generic view's by method."""
    if route.actions:
        return route.actions
    actions = {method: action for method, action in _METHOD_ACTIONS.items() if hasattr(view, method)}
    # A generic view's GET is a list or a retrieve, as its mixins say; both: only its code knows.
    gets = [name for name in ("list", "retrieve") if issubclass(view, ACTION_READS[name][0])]
    if hasattr(view, "get") and len(gets) == 1:
        actions["get"] = gets[0]
    return actions


def _reads(view: type[ConditionalMixin], route: Route) -> Iterator[tuple[bool, str]]:
    """Each read the view's conditional actions make on this route: of a row or not, and the action it reads as."""
    for method, action in route_actions(view, route).items():
        if action not in ACTION_READS:
            continue  # an extra action reads as its own code says
        mixin, of_row, options_action = ACTION_READS[action]
        if issubclass(view, mixin):
            # A generic view has no action: get_conditional_options() names it by its method.
            yield of_row, options_action or (action if route.actions else method)


def _static_model(view: type[ConditionalMixin]) -> type[models.Model] | None:
    """The model of the view's ``queryset`` attribute; None when only ``get_queryset()`` (a request) tells."""
    queryset = getattr(view, "queryset", None)
    return queryset.model if isinstance(queryset, (models.QuerySet, models.Manager)) else None


def _conditional_views() -> Iterator[tuple[type[ConditionalMixin], Route]]:
    for route in routes():
        view = route.view_class
        if view is not None and issubclass(view, ConditionalMixin):
            yield view, route


def _options(view: type[ConditionalMixin], route: Route) -> Iterator[tuple[bool, str, list[str | None], ViewOptions]]:
    """Each read of the view on this route: of a row or not, its action, option keys and options.

    Nothing where an overridden hook may choose them per request.
    """
    explicit = view.conditional_options
    hooks = ("get_conditional_options", "get_validator_strategy")
    if not isinstance(explicit, Mapping) or any(getattr(view, h) is not getattr(ConditionalMixin, h) for h in hooks):
        return
    for of_row, action in _reads(view, route):
        keys = option_keys(view, route, action)
        try:
            options = view_options(keys, explicit)
        except ImproperlyConfigured:
            continue  # the view's first request says it, naming the option
        yield of_row, action, keys, options


def _strategy_uses(view: type[ConditionalMixin], route: Route) -> Iterator[StrategyUse]:
    model = _static_model(view)
    if model is None:
        return
    path = f"{view.__module__}.{view.__qualname__}"
    code = f"{path}.conditional_options['strategy']"
    for of_row, action, keys, options in _options(view, route):
        new_key = _url_name(route, action) or path
        where, fix = strategy_source(keys, view.conditional_options, new_key, (code, f"Set {code} to {{strategy}}"))
        queryset = getattr(view, "queryset", None)
        queryset = queryset.all() if isinstance(queryset, (models.QuerySet, models.Manager)) else None
        yield StrategyUse(path, model, options.strategy, of_row, where, fix, queryset)


def check_views(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """Whether the strategy of each conditional DRF view with a ``queryset`` attribute can serve its model."""
    if validate_settings():
        return []  # conditional_api.E001 comes first
    return strategy_messages(use for view, route in _conditional_views() for use in _strategy_uses(view, route))


# -- what the representation shows, the model declares ----------------------------------


def _static_serializer(view: type[ConditionalMixin]) -> type[serializers.Serializer[Any]] | None:
    """The view's ``serializer_class``; None when ``get_serializer_class()`` may choose per request."""
    if view.get_serializer_class is not GenericAPIView.get_serializer_class:
        return None
    found = getattr(view, "serializer_class", None)
    return found if isinstance(found, type) and issubclass(found, serializers.Serializer) else None


def _relations(model: type[models.Model]) -> dict[str, Any]:
    """The model's relations by attribute name (what a serializer's source names) and by lookup name."""
    found: dict[str, Any] = {}
    for field in model._meta.get_fields():
        if not field.is_relation or field.related_model is None or type(field).__name__ == "GenericRelation":
            continue  # generic relations cannot be declared
        accessor = field.get_accessor_name() if isinstance(field, models.ForeignObjectRel) else field.name
        if accessor:
            found[accessor] = field
        found.setdefault(field.name, field)
    return found


def _hops(model: type[models.Model], names: list[str]) -> list[Any]:
    """The relations ``names`` follow from ``model``, up to the first name that is no relation."""
    hops: list[Any] = []
    for name in names:
        field = _relations(model).get(name)
        if field is None:
            break
        hops.append(field)
        model = field.related_model
    return hops


def _shows_only_its_key(field: Any, hop: Any) -> bool:
    """A related field that shows the key a foreign key keeps on the row itself shows one of the row's columns."""
    return (
        isinstance(field, RelatedField)
        and field.use_pk_only_optimization()
        and bool(hop.concrete and (hop.many_to_one or hop.one_to_one))
    )


def _shown(
    serializer: serializers.Serializer[Any], model: type[models.Model], where: str, prefix: tuple[str, ...]
) -> Iterator[tuple[str, tuple[str, ...]]]:
    """(field, relation path) for each relation a serializer's representation shows, nested ones included."""
    for name, field in serializer.fields.items():
        if field.write_only or isinstance(field, serializers.SerializerMethodField):
            continue  # not shown, or shown as its method says: only a request tells
        at = f"{where}.{name}"
        inner = field.child if isinstance(field, serializers.ListSerializer) else field
        if field.source == "*":
            if isinstance(inner, serializers.Serializer):
                yield from _shown(inner, model, at, prefix)
            continue
        hops = _hops(model, field.source_attrs)
        whole = len(hops) == len(field.source_attrs)
        if hops and whole and _shows_only_its_key(field, hops[-1]):
            hops, whole = hops[:-1], False
        path = (*prefix, *(hop.name for hop in hops))
        for end in range(len(prefix) + 1, len(path) + 1):
            yield at, path[:end]
        if hops and whole and isinstance(inner, serializers.Serializer):
            yield from _shown(inner, hops[-1].related_model, at, path)


def _serializer_relations(view: type[ConditionalMixin], model: type[models.Model]) -> list[tuple[str, tuple[str, ...]]]:
    serializer_class = _static_serializer(view)
    if serializer_class is None:
        return []
    try:
        return list(
            _shown(serializer_class(context={}), model, f"its serializer field {serializer_class.__name__}", ())
        )
    except Exception:
        return []  # a serializer that builds its fields from a request: only a request tells


def _select_lookups(tree: Mapping[str, Any], prefix: str = "") -> Iterator[str]:
    for name, inner in tree.items():
        if inner:
            yield from _select_lookups(inner, f"{prefix}{name}__")
        else:
            yield f"{prefix}{name}"


def _queryset_relations(view: type[ConditionalMixin]) -> Iterator[tuple[str, tuple[str, ...]]]:
    """The relations the view's ``queryset`` attribute loads with the row: what the representation is made of."""
    queryset = getattr(view, "queryset", None)
    if not isinstance(queryset, models.QuerySet):
        return
    loaded: list[tuple[str, str]] = []
    if isinstance(queryset.query.select_related, dict):
        loaded += [("select_related", lookup) for lookup in _select_lookups(queryset.query.select_related)]
    # No public API lists a queryset's prefetches.
    for lookup in getattr(queryset, "_prefetch_related_lookups", ()):
        through = lookup if isinstance(lookup, str) else getattr(lookup, "prefetch_through", None)
        if isinstance(through, str):
            loaded.append(("prefetch_related", through))
    for kind, lookup in loaded:
        path = tuple(hop.name for hop in _hops(queryset.model, lookup.split("__")))
        for end in range(1, len(path) + 1):
            yield f"its queryset's {kind}({lookup!r})", path[:end]


def _shown_model(view: type[ConditionalMixin]) -> type[VersionedModel] | None:
    """The versioned model whose rows the view shows: its queryset's, else its serializer's ``Meta.model``."""
    model = _static_model(view) or getattr(getattr(_static_serializer(view), "Meta", None), "model", None)
    return model if isinstance(model, type) and issubclass(model, VersionedModel) else None


def _hashes_its_bytes(view: type[ConditionalMixin], routes: list[Route]) -> bool:
    """Whether every read of the view is the content strategy's: its ETag follows the bytes, whatever they show."""
    strategies = [options.strategy for route in routes for *_, options in _options(view, route)]
    return bool(strategies) and all(isinstance(strategy, ContentStrategy) for strategy in strategies)


def _undeclared(view: type[ConditionalMixin], model: type[VersionedModel]) -> list[CheckMessage]:
    declared = tuple(getattr(model, "depends_on", ()) or ())
    shown: dict[str, str] = {}
    for where, path in (*_serializer_relations(view, model), *_queryset_relations(view)):
        shown.setdefault("__".join(path), where)
    label = model._meta.label
    return [
        CheckWarning(
            f"The view {view.__module__}.{view.__qualname__} shows {label}'s relation {entry!r} ({where}), but "
            f"{label}.depends_on does not declare it: writes to those rows change the body, not its ETag or "
            "Last-Modified, so a client revalidating a stale copy gets 304.",
            hint=f"Add {entry!r} to {label}.depends_on: depends_on = {(*declared, entry)!r}."
            + ("" if "serializer" in where else " If the representation does not show it, do not load it."),
            id="conditional_api.W003",
        )
        for entry, where in shown.items()
        if entry not in declared
    ]


def check_declared_dependencies(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """Each relation a conditional DRF view's representation shows is in its model's ``depends_on``."""
    views: dict[type[ConditionalMixin], list[Route]] = {}
    for view, route in _conditional_views():
        views.setdefault(view, []).append(route)
    problems: list[CheckMessage] = []
    for view, routes_of_view in views.items():
        model = _shown_model(view)
        if model is not None and not _hashes_its_bytes(view, routes_of_view):
            problems += _undeclared(view, model)
    return problems


def register_checks() -> None:
    """Register the DRF views' checks with Django's framework (from the app's ``ready()``, where DRF is installed)."""
    register(check_views, Tags.urls)
    register(check_declared_dependencies, Tags.urls)
