"""Django REST framework integration: one mixin per action, one hook per decision.

The only module of the package that imports DRF (``pip install
conditional-api[drf]``). Use the ready viewset::

    class ArticleViewSet(ConditionalModelViewSet):
        queryset = Article.objects.all()
        serializer_class = ArticleSerializer

or mix ``ConditionalRetrieveMixin``, ``ConditionalUpdateMixin``, ... into
your own generic views. Each action runs after DRF's ``initial()``
(authentication, permissions, throttles, content negotiation); it reads the
validator from the view's own ``get_queryset()`` (so a user-scoped queryset
stays scoped, and object permissions are checked on the row), decides, and
only then runs DRF's action with its full query and serializer.

Hooks, each overridable: ``get_conditional_options()``,
``get_validator_strategy()``, ``get_variant()``,
``get_validator_object()``, ``get_validator()``, ``check_preconditions()``;
for lists ``get_collection_strategy()`` and ``get_collection_validator()``.
"""

from __future__ import annotations

from typing import Any, cast

from django.db import models, router, transaction
from django.http import Http404
from django.urls import NoReverseMatch
from rest_framework import mixins, status, viewsets
from rest_framework.exceptions import APIException
from rest_framework.generics import GenericAPIView
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.reverse import reverse

from . import cache as validator_cache
from .conf import ViewOptions, api_settings, view_options
from .models import claim_state
from .preconditions import SAFE_METHODS, Decision, Outcome, evaluate, has_preconditions
from .responses import WithoutContentLength, stamp_validators
from .rows import find_state_row, state_queryset
from .validators import (
    EXISTS_WITHOUT_VALIDATOR,
    CollectionStrategy,
    ContentStrategy,
    ModelStrategy,
    Validator,
    ValidatorStrategy,
    Variant,
)

__all__ = [
    "PreconditionFailed",
    "PreconditionRequired",
    "MalformedPrecondition",
    "ConditionalMixin",
    "ConditionalRetrieveMixin",
    "ConditionalListMixin",
    "ConditionalCreateMixin",
    "ConditionalUpdateMixin",
    "ConditionalDestroyMixin",
    "ConditionalModelViewSet",
    "ConditionalReadOnlyModelViewSet",
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


class NotModifiedResponse(WithoutContentLength, Response):
    """DRF's 304: rendered through finalize_response like the 200, without Content-Length."""


class ConditionalMixin:
    """Shared hooks of the conditional mixins; use it on a ``GenericAPIView``."""

    #: Options set in code; they win over ``CONDITIONAL_API`` (as DRF class attributes do).
    conditional_options: dict[str, Any] = {}
    #: Columns your object permissions read, loaded with the validator columns
    #: so that checking them costs no extra query.
    permission_fields: tuple[str, ...] = ()

    request: Request
    kwargs: dict[str, Any]

    # -- options -----------------------------------------------------------

    def get_conditional_options(self, action: str | None = None) -> ViewOptions:
        """This view's options, looked up by view path, basename, URL name and ``basename.action``."""
        view = cast(GenericAPIView, self)
        basename = getattr(view, "basename", None)
        action = action or getattr(view, "action", None) or (view.request.method or "get").lower()
        match = getattr(view.request, "resolver_match", None)
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

    def get_validator_strategy(self, options: ViewOptions | None = None) -> ValidatorStrategy:
        return (options or self.get_conditional_options()).strategy

    def get_variant(self, options: ViewOptions | None = None) -> Variant:
        """The negotiated media type (with its parameters) and the shaping query parameters."""
        options = options or self.get_conditional_options()
        return Variant.from_request(
            self.request._request,
            media_type=getattr(self.request, "accepted_media_type", "") or "",
            query_params=options.query_params,
            vary=options.vary,
        )

    def conditional_skipped(self) -> bool:
        """GET/HEAD in a format whose bytes the validator does not describe (the browsable API)."""
        renderer = getattr(self.request, "accepted_renderer", None)
        return self.request.method in SAFE_METHODS and getattr(renderer, "format", None) in api_settings.SKIP_FORMATS

    # -- the validator: one small query ----------------------------------------

    def get_validator_object(self, strategy: ModelStrategy, options: ViewOptions | None = None) -> models.Model:
        """The row as ``get_object()`` finds it, with only the validator columns loaded.

        Same queryset, filters and lookup as ``get_object()``, and the same
        object permission checks, so a scoped queryset is a 404 whatever the
        headers say. A view that overrides ``get_object()`` may enforce access
        rules there, so its own ``get_object()`` is used instead (a full
        query; override this method to make it cheap again). With
        ``cache_validators`` on a primary key lookup, the row may come from
        the validator cache (``conditional_api.cache``) with no query; the
        object permissions are checked all the same.
        """
        view = cast(GenericAPIView, self)
        if type(view).get_object is not GenericAPIView.get_object:
            return view.get_object()
        queryset = view.filter_queryset(view.get_queryset())
        queryset = state_queryset(queryset, (*strategy.state_fields(queryset.model), *self.permission_fields))
        lookup_url_kwarg = view.lookup_url_kwarg or view.lookup_field
        value = self.kwargs[lookup_url_kwarg]
        cached = None
        if options is not None and options.cache_validators:
            cached = validator_cache.lookup(queryset, view.lookup_field, value)
            if cached.row is not None:
                view.check_object_permissions(self.request, cached.row)
                return cached.row
        obj = find_state_row(queryset, view.lookup_field, value)
        if obj is None:
            raise Http404(f"No {queryset.model._meta.object_name} matches the given query.")
        if cached is not None:
            cached.fill(obj)
        view.check_object_permissions(self.request, obj)
        return obj

    def get_validator(self, obj: models.Model, options: ViewOptions | None = None) -> Validator:
        options = options or self.get_conditional_options()
        strategy = cast(ModelStrategy, self.get_validator_strategy(options))
        return strategy.validator(obj, self.get_variant(options), api_settings.release)

    # -- the decision --------------------------------------------------------

    def check_preconditions(self, validator: Validator | None, options: ViewOptions | None = None) -> Decision:
        """Evaluate RFC 9110 §13.2.2; raise DRF errors for 400, 412 and 428."""
        options = options or self.get_conditional_options()
        decision = evaluate(self.request, validator, require_precondition=options.require_precondition)
        if decision.outcome in _ERRORS:
            raise _ERRORS[decision.outcome](decision.reason)
        return decision

    def not_modified_response(self, validator: Validator, options: ViewOptions) -> Response:
        # Returned through DRF's finalize_response, so the 304 gets the same
        # Vary and Allow headers as the 200.
        return cast(
            Response, stamp_validators(NotModifiedResponse(status=status.HTTP_304_NOT_MODIFIED), validator, options)
        )

    def stamp_validators(self, response: Response, validator: Validator | None, options: ViewOptions) -> Response:
        if 200 <= response.status_code < 300:
            stamp_validators(response, validator, options)
        return response

    def _conditional_write(self, action: Any, *args: Any, **kwargs: Any) -> Response:
        """Decide, then run a write action inside a transaction that first claims the row."""
        options = self.get_conditional_options()
        strategy = self.get_validator_strategy(options)
        if not isinstance(strategy, ModelStrategy):
            # A content hash exists only after rendering: no ETag is read
            # before this write, so only If-Match "*" can hold, and there is
            # no row state to compare-and-set. A missing row is still the
            # 404 it would be without preconditions (§13.2.1).
            cast(GenericAPIView, self).get_object()
            self.check_preconditions(EXISTS_WITHOUT_VALIDATOR, options)
            return action(self.request, *args, **kwargs)
        obj = self.get_validator_object(strategy)
        validator = self.get_validator(obj, options)
        decision = self.check_preconditions(validator, options)
        model = type(obj)
        using = router.db_for_write(model, instance=obj)
        new_validator = None
        with transaction.atomic(using=using):
            if decision.conditional and not claim_state(model, obj.pk, validator.state, using):
                raise PreconditionFailed("The resource changed while this request was checked.")
            response = action(self.request, *args, **kwargs)
            if self.request.method != "DELETE" and 200 <= response.status_code < 300:
                # Read while the write still holds the row, so no later
                # writer's version can be stamped on this body.
                obj.refresh_from_db(fields=strategy.state_fields(model))
                new_validator = self.get_validator(obj, options)
        return self.stamp_validators(response, new_validator, options) if new_validator else response

    def _content_validated(self, response: Response, options: ViewOptions) -> Response:
        """Validators from the rendered bytes: a 304 saves bandwidth, not work."""
        if not 200 <= response.status_code < 300 or self.conditional_skipped():
            return response
        strategy = self.get_validator_strategy(options)
        if not isinstance(strategy, ContentStrategy):
            strategy = ContentStrategy()
        view = cast(GenericAPIView, self)
        response.accepted_renderer = self.request.accepted_renderer
        response.accepted_media_type = self.request.accepted_media_type
        response.renderer_context = view.get_renderer_context()
        response.render()
        validator = strategy.validator_for_content(response.content, self.get_variant(options), api_settings.release)
        decision = self.check_preconditions(validator, options)
        if decision.outcome is Outcome.NOT_MODIFIED:
            return self.not_modified_response(validator, options)
        return self.stamp_validators(response, validator, options)


class ConditionalRetrieveMixin(ConditionalMixin, mixins.RetrieveModelMixin):
    """GET/HEAD of one object: 304 from the validator query, before the full query and serializer."""

    def retrieve(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        if self.conditional_skipped():
            return super().retrieve(request, *args, **kwargs)
        options = self.get_conditional_options()
        strategy = self.get_validator_strategy(options)
        if not isinstance(strategy, ModelStrategy):
            return self._content_validated(super().retrieve(request, *args, **kwargs), options)
        if not has_preconditions(self.request) and not options.cache_validators:
            # Nothing to decide, so no validator query: a first fetch costs
            # what DRF's does, and its validators come from the row it renders.
            # (With the validator cache, the validator read fills the cache.)
            return self.rendered(cast(GenericAPIView, self).get_object(), options)
        row = self.get_validator_object(strategy, options)
        validator = self.get_validator(row, options)
        decision = self.check_preconditions(validator, options)
        if decision.outcome is Outcome.NOT_MODIFIED:
            return self.not_modified_response(validator, options)
        return self.rendered(row if not row.get_deferred_fields() else cast(GenericAPIView, self).get_object(), options)

    def rendered(self, instance: models.Model, options: ViewOptions) -> Response:
        """The 200, stamped with the validator of the row the serializer renders.

        If a write landed since the validator query, the ETag still
        describes these bytes.
        """
        serializer = cast(GenericAPIView, self).get_serializer(instance)
        return self.stamp_validators(Response(serializer.data), self.get_validator(instance, options), options)


class ConditionalListMixin(ConditionalMixin, mixins.ListModelMixin):
    """GET/HEAD of a list: 304 from the table's change count, before the list query and serializer.

    A list whose strategy is a row strategy (``version``, ``updated_at``)
    uses the collection strategy; ``content`` hashes the rendered page instead.
    """

    def get_collection_strategy(self, queryset: models.QuerySet, options: ViewOptions) -> CollectionStrategy | None:
        """The collection strategy for this list, or None to validate by content."""
        strategy = self.get_validator_strategy(options)
        if isinstance(strategy, ContentStrategy):
            return None
        if not isinstance(strategy, CollectionStrategy):
            strategy = CollectionStrategy()
        return strategy if strategy.applies_to(queryset.model) else None

    def get_collection_validator(
        self, queryset: models.QuerySet, strategy: CollectionStrategy, options: ViewOptions
    ) -> Validator:
        """The list's validator: one query, for the queryset the page is cut from."""
        view = cast(GenericAPIView, self)
        # Pagination links are absolute URLs that copy the whole query string.
        extra = (self.request.build_absolute_uri(),) if view.paginator is not None else ()
        return strategy.validator_for_queryset(queryset, self.get_variant(options), api_settings.release, extra)

    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        options = self.get_conditional_options()
        if self.conditional_skipped():
            return super().list(request, *args, **kwargs)
        view = cast(GenericAPIView, self)
        queryset = view.filter_queryset(view.get_queryset())
        strategy = self.get_collection_strategy(queryset, options)
        if strategy is None:
            return self._content_validated(super().list(request, *args, **kwargs), options)
        validator = self.get_collection_validator(queryset, strategy, options)
        decision = self.check_preconditions(validator, options)
        if decision.outcome is Outcome.NOT_MODIFIED:
            return self.not_modified_response(validator, options)
        # DRF's list(), on the queryset the validator was computed for.
        page = view.paginate_queryset(queryset)
        if page is not None:
            response = view.get_paginated_response(view.get_serializer(page, many=True).data)
        else:
            response = Response(view.get_serializer(queryset, many=True).data)
        return self.stamp_validators(response, validator, options)


class ConditionalCreateMixin(ConditionalMixin, mixins.CreateModelMixin):
    """POST: 201 with the new object's validators and a Location."""

    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        # The list exists but its ETag is not read before a write: If-Match
        # "*" holds, a listed tag or If-None-Match "*" fails, malformed is 400.
        self.check_preconditions(EXISTS_WITHOUT_VALIDATOR)
        serializer = cast(GenericAPIView, self).get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        model = cast(GenericAPIView, self).get_queryset().model
        # The row and its M2M links are one state, committed together: one
        # version step and one Last-Modified second, not one per statement.
        with transaction.atomic(using=router.db_for_write(model)):
            self.perform_create(serializer)
        headers = self.get_success_headers(serializer.data)
        instance = serializer.instance
        location = self.get_created_location(instance)
        if location:
            headers["Location"] = location
        response = Response(serializer.data, status=status.HTTP_201_CREATED, headers=headers)
        options = self.get_conditional_options(action="retrieve")
        if isinstance(options.strategy, ModelStrategy):
            self.stamp_validators(response, self.get_validator(instance, options), options)
        return response

    def get_created_location(self, instance: models.Model) -> str | None:
        """The URL of the new object's detail route, when the view has one."""
        view = cast(GenericAPIView, self)
        basename = getattr(view, "basename", None)
        if not basename:
            return None
        lookup_url_kwarg = view.lookup_url_kwarg or view.lookup_field
        try:
            return reverse(
                f"{basename}-detail",
                kwargs={lookup_url_kwarg: getattr(instance, view.lookup_field)},
                request=self.request,
            )
        except NoReverseMatch:
            return None


class ConditionalUpdateMixin(ConditionalMixin, mixins.UpdateModelMixin):
    """PUT and PATCH: 412 or 428 before the serializer runs; compare-and-set when conditional."""

    def update(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return self._conditional_write(super().update, *args, **kwargs)


class ConditionalDestroyMixin(ConditionalMixin, mixins.DestroyModelMixin):
    """DELETE: 412 or 428 before anything is deleted; compare-and-set when conditional."""

    def destroy(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return self._conditional_write(super().destroy, *args, **kwargs)


class ConditionalModelViewSet(
    ConditionalCreateMixin,
    ConditionalRetrieveMixin,
    ConditionalUpdateMixin,
    ConditionalDestroyMixin,
    ConditionalListMixin,
    viewsets.GenericViewSet,
):
    """``ModelViewSet`` with validators, 304, 412 and 428 on every action."""


class ConditionalReadOnlyModelViewSet(ConditionalRetrieveMixin, ConditionalListMixin, viewsets.GenericViewSet):
    """``ReadOnlyModelViewSet`` with validators and 304."""
