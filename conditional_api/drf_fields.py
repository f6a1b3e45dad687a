"""``ETagField``: each item of a list with the ETag its detail URL serves, so a client can If-Match what it saw.

Without it, a client that wants to change an item it saw in a list must GET
the item first, only to learn its ETag. Add the field to the list's
serializer, naming the detail route by its URL name::

    class PostWithETagSerializer(PostSerializer):
        etag = ETagField(detail="post-detail")

The value is the ETag that route answers for the same media type and the
same varying request headers, as the detail view's options (strategy,
``vary``) resolve in ``CONDITIONAL_API``; its query parameters are the
detail URL's own, none. It is computed from the columns the list already
loaded: no query, one digest of a few values an item. It is None where the
detail carries no ETag (the browsable API's HTML).
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from django.core.exceptions import ImproperlyConfigured
from django.core.signals import setting_changed
from django.db import models
from rest_framework import serializers

from .checks import conditional_of, routes
from .conf import ViewOptions, api_settings
from .drf import ConditionalMixin, route_options
from .validators import ValidatorStrategy, Variant

__all__ = ["ETagField"]


@lru_cache(maxsize=64)
def detail_options(url_name: str) -> tuple[ViewOptions, bool]:
    """The options the conditional view routed as ``url_name`` answers a GET with, and whether it negotiates.

    A DRF view's variant names the media type its renderer negotiated; a
    plain view's names none.
    """
    for route in routes():
        if route.name != url_name:
            continue
        view = route.view_class
        if isinstance(view, type) and issubclass(view, ConditionalMixin):
            return route_options(view, route, "retrieve"), True
        core = conditional_of(route)
        if core is not None:
            return core.options(url_name), False
    raise ImproperlyConfigured(
        f"ETagField(detail={url_name!r}): no conditional view of the root URLconf has that URL name."
    )


def _forget(*, setting: str, **kwargs: Any) -> None:
    if setting in ("CONDITIONAL_API", "ROOT_URLCONF"):
        detail_options.cache_clear()


setting_changed.connect(_forget)


class ETagField(serializers.Field):  # type: ignore[type-arg]  # read only: no internal value
    """The strong ETag the ``detail`` route serves for this item, as the request negotiated its media type."""

    def __init__(self, detail: str, **kwargs: Any) -> None:
        kwargs["read_only"] = True
        kwargs["source"] = "*"
        super().__init__(**kwargs)
        self.detail = detail

    #: What every item of one serialization shares: the strategy, the variant and the release; None: no ETag.
    _reading: tuple[ValidatorStrategy, Variant, str] | None = None
    _resolved = False

    def to_representation(self, instance: models.Model) -> str | None:
        if not self._resolved:
            self._reading, self._resolved = self._read_as(), True
        if self._reading is None:
            return None
        strategy, variant, release = self._reading
        validator = strategy.validator_of(instance, variant, release)
        return validator.etag if validator is not None else None

    def _read_as(self) -> tuple[ValidatorStrategy, Variant, str] | None:
        request = self.context.get("request")
        renderer = getattr(request, "accepted_renderer", None)
        if request is None or getattr(renderer, "format", None) in api_settings.SKIP_FORMATS:
            return None
        options, negotiates = detail_options(self.detail)
        # The detail URL as a client requests it: no query string, the same Accept and varying headers.
        variant = Variant(
            media_type=(getattr(request, "accepted_media_type", "") or "") if negotiates else "",
            headers=tuple((name.lower(), request.headers.get(name, "")) for name in options.vary),
        )
        return options.strategy, variant, api_settings.release
