"""drf-spectacular: each conditional DRF operation's preconditions and validators in the OpenAPI schema.

Installed with ``pip install 'conditional-api[openapi]'`` and registered by
the app's ``ready()`` when drf-spectacular is installed: an
``OpenApiViewExtension`` matches every view built on the mixins of
``conditional_api.drf`` and gives it a schema class that adds, per operation,

* on GET: the ``If-None-Match`` parameter (and ``If-Modified-Since`` where
  the strategy gives a Last-Modified), and a 304;
* on PUT, PATCH and DELETE: ``If-Match`` (required where the view's options
  set ``require_precondition``) and ``If-Unmodified-Since`` (where there is a
  Last-Modified to compare), and 412, 400 and, where required, 428 in DRF's
  error shape ``{"detail": string}``;
* ``ETag`` and ``Last-Modified`` response headers on the answers that carry
  them: a read's 200 and 304, a write's 200, a create's 201 (the detail's),
  and the 412 and 428, which carry the current validators.

A view's options are looked up by the names ``get_conditional_options()``
uses for a request to the same route (its URL name, basename and action), as
the system checks do; a view that overrides that hook is asked directly.
HEAD is documented by GET (drf-spectacular lists no HEAD operations).

Your own ``OpenApiViewExtension`` for a conditional view takes precedence
(this one has a lower priority); build its replacement on
``ConditionalSchema.for_view()`` to keep these entries.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

try:
    from drf_spectacular.drainage import get_view_method_names, isolate_view_method, warn
    from drf_spectacular.extensions import OpenApiViewExtension
    from drf_spectacular.openapi import AutoSchema
    from drf_spectacular.plumbing import ComponentRegistry, ResolvedComponent, build_media_type_object, get_class
except ImportError as error:  # pragma: no cover - exercised without drf-spectacular installed
    raise ImportError(
        "conditional_api.openapi needs drf-spectacular: pip install 'conditional-api[openapi]'."
    ) from error

from django.core.exceptions import ImproperlyConfigured
from django.db import models

from .checks import Route, routes
from .conf import ViewOptions
from .drf import ACTION_READS, ConditionalMixin, route_actions, route_options
from .strategies import ModelStrategy

__all__ = ["ConditionalSchema", "ConditionalViewExtension", "Contract", "contract"]

#: DRF's error shape, as the package's 400, 412 and 428 answer it.
ERROR_COMPONENT = "PreconditionError"


def _error_schema() -> dict[str, Any]:
    return {
        "type": "object",
        "properties": {"detail": {"type": "string", "description": "Why, in words a client developer can act on."}},
        "required": ["detail"],
    }


@dataclass(frozen=True)
class Contract:
    """What one operation promises about preconditions and validators."""

    #: GET: If-None-Match and If-Modified-Since, 304. Otherwise a write: If-Match, If-Unmodified-Since, 412, 400.
    safe: bool
    #: The success status whose answer carries the validators ("200", "201"), or None (a DELETE's 204).
    stamped: str | None
    #: The strategy gives a Last-Modified (a row strategy on a model with a LastModifiedField).
    last_modified: bool
    #: A write without If-Match (or If-Unmodified-Since with a date) is a 428.
    require_precondition: bool
    #: Whether the operation evaluates preconditions at all (a create does only where they are required).
    evaluates: bool = True


def _view_model(view: Any) -> type[models.Model] | None:
    """The model the view shows: its queryset's, else its serializer's ``Meta.model``."""
    try:
        model = view.get_queryset().model
    except Exception:
        serializer = getattr(view, "serializer_class", None)
        model = getattr(getattr(serializer, "Meta", None), "model", None)
    return model if isinstance(model, type) and issubclass(model, models.Model) else None


def _route(view: ConditionalMixin, path_regex: str) -> tuple[type[ConditionalMixin], Route] | None:
    """The URL pattern drf-spectacular documents, and the view class it routes to (not the schema's replacement)."""
    action_map = getattr(view, "action_map", None) or {}
    for route in routes():
        found = route.view_class
        if (
            route.pattern == path_regex
            and found is not None
            and isinstance(view, found)
            and issubclass(found, ConditionalMixin)
            and route.actions == action_map
        ):
            return found, route
    return None


def _options(view: ConditionalMixin, view_class: type[ConditionalMixin], route: Route, name: str) -> ViewOptions:
    """The options a request to this route reads, under the action (or method) name ``name``."""
    if view_class.get_conditional_options is not ConditionalMixin.get_conditional_options:
        return view.get_conditional_options(name)
    return route_options(view_class, route, name)


def _gives_last_modified(view: ConditionalMixin, options: ViewOptions) -> bool:
    strategy = view.get_validator_strategy(options)
    model = _view_model(view)
    return isinstance(strategy, ModelStrategy) and model is not None and bool(strategy.last_modified_column(model))


def contract(view: ConditionalMixin, path_regex: str, method: str) -> Contract | None:
    """What the conditional view promises on this route and method; None where it makes no promise."""
    found = _route(view, path_regex)
    if found is None:
        return None
    view_class, route = found
    action = route_actions(view_class, route).get(method.lower())
    if action not in ACTION_READS:
        return None  # an extra action answers as its own code says
    mixin, of_row, stamp_action = ACTION_READS[action]
    if not isinstance(view, mixin):
        return None
    # A generic view has no action: get_conditional_options() names it by its method.
    name = action if route.actions else method.lower()
    own = _options(view, view_class, route, name)
    stamping = _options(view, view_class, route, stamp_action) if stamp_action else own
    last_modified = of_row and _gives_last_modified(view, stamping)
    if action in ("list", "retrieve"):
        return Contract(True, "200", last_modified, False)
    if action == "create":
        required = own.require_precondition
        return Contract(False, "201", last_modified, required, evaluates=required)
    return Contract(False, None if action == "destroy" else "200", last_modified, own.require_precondition)


def _header(name: str, description: str, required: bool = False) -> dict[str, Any]:
    parameter: dict[str, Any] = {"in": "header", "name": name, "schema": {"type": "string"}, "description": description}
    if required:
        parameter["required"] = True
    return parameter


def _parameters(promise: Contract) -> list[dict[str, Any]]:
    if promise.safe:
        found = [_header("If-None-Match", "ETags you hold, or `*`: 304 when one is current (weak comparison).")]
        if promise.last_modified:
            found.append(
                _header(
                    "If-Modified-Since",
                    "A Last-Modified you hold: 304 when unchanged since. Ignored with If-None-Match.",
                )
            )
        return found
    if not promise.evaluates:
        return []
    also = " (or If-Unmodified-Since)" if promise.last_modified else ""
    required = f" Required: without it{also}, 428." if promise.require_precondition else ""
    found = [
        _header(
            "If-Match",
            "The ETag you last read, or `*`: 412 when it is no longer current, 400 when malformed; "
            f"the write is a compare-and-set.{required}",
            required=promise.require_precondition,
        )
    ]
    if promise.last_modified:
        found.append(
            _header(
                "If-Unmodified-Since",
                "A Last-Modified you hold: 412 when modified since. Ignored with If-Match.",
            )
        )
    return found


def _validator_headers(promise: Contract) -> dict[str, Any]:
    """The response headers an answer with validators carries: new objects for each response they describe."""
    headers: dict[str, Any] = {
        "ETag": {
            "schema": {"type": "string"},
            "description": "The strong entity-tag of the representation as it is now.",
        }
    }
    if promise.last_modified:
        headers["Last-Modified"] = {
            "schema": {"type": "string"},
            "description": "The last change, to the second (absent while that second is still ahead of the clock).",
        }
    return headers


class ConditionalSchema(AutoSchema):
    """drf-spectacular's ``AutoSchema`` (or the view's own), plus the operation's conditional contract."""

    @classmethod
    def for_view(cls, view: type[Any]) -> type[Any]:
        """A subclass of ``view`` documented by this schema on top of the one it has, per action too."""
        base = get_class(view.schema)
        attributes = {
            "__module__": view.__module__,
            "__qualname__": view.__qualname__,
            "schema": cls._on(base)(),
        }
        replacement = type(view.__name__, (view,), attributes)
        # An @extend_schema on one action gives that action its own schema class.
        for name in get_view_method_names(replacement, schema=base):
            if "schema" in getattr(getattr(replacement, name), "kwargs", {}):
                method = isolate_view_method(replacement, name)  # type: ignore[no-untyped-call]
                method.kwargs["schema"] = cls._on(get_class(method.kwargs["schema"]))
        return replacement

    @classmethod
    def _on(cls, base: type[Any]) -> type[Any]:
        if issubclass(base, cls):
            return base
        return type(f"Conditional{base.__name__}", (cls, base), {})

    def get_operation(
        self, path: str, path_regex: str, path_prefix: str, method: str, registry: ComponentRegistry
    ) -> dict[str, Any] | None:
        operation = super().get_operation(path, path_regex, path_prefix, method, registry)
        view = self.view
        if operation is None or not isinstance(view, ConditionalMixin):
            return operation
        try:
            promise = contract(view, path_regex, method)
        except ImproperlyConfigured as error:
            warn(f"conditional_api: {error}")  # conditional_api.E001 says it too
            return operation
        if promise is not None:
            self._document(operation, promise)
        return operation

    def _document(self, operation: dict[str, Any], promise: Contract) -> None:
        parameters = operation.setdefault("parameters", [])
        known = {(p.get("in"), p.get("name")) for p in parameters}
        parameters += [p for p in _parameters(promise) if (p["in"], p["name"]) not in known]
        if not parameters:
            del operation["parameters"]
        responses = operation.setdefault("responses", {})
        if promise.stamped in responses:
            responses[promise.stamped].setdefault("headers", {}).update(_validator_headers(promise))
        if promise.safe:
            not_modified = "Not Modified: the representation you hold is current; no body."
            responses.setdefault("304", {"description": not_modified, "headers": _validator_headers(promise)})
        elif promise.evaluates:
            responses.setdefault("400", self._refusal("A precondition header is malformed."))
            failed = "Precondition Failed: the resource changed; nothing was written."
            responses.setdefault("412", self._refusal(failed, promise))
            if promise.require_precondition:
                required = "Precondition Required: send If-Match; nothing was written."
                responses.setdefault("428", self._refusal(required, promise))

    def _refusal(self, description: str, promise: Contract | None = None) -> dict[str, Any]:
        """A 400, 412 or 428 in DRF's error shape; the 412 and 428 carry the current validators."""
        response: dict[str, Any] = {"description": description, "content": self._error_content()}
        if promise is not None:
            response["description"] += " Carries the current validators."
            response["headers"] = _validator_headers(promise)
        return response

    def _error_content(self) -> dict[str, Any]:
        component = ResolvedComponent(  # type: ignore[no-untyped-call]
            name=ERROR_COMPONENT, type=ResolvedComponent.SCHEMA, schema=_error_schema(), object=ERROR_COMPONENT
        )
        self.registry.register_on_missing(component)
        return {media_type: build_media_type_object(component.ref) for media_type in self.map_renderers("media_type")}


class ConditionalViewExtension(OpenApiViewExtension):  # type: ignore[no-untyped-call]  # registers it
    """Every view built on ``ConditionalMixin`` is documented by ``ConditionalSchema``."""

    target_class = ConditionalMixin
    match_subclasses = True
    # Below the default: a project's own extension for one of its views wins.
    priority = -1

    def view_replacement(self) -> type[Any]:
        return ConditionalSchema.for_view(self.target)
