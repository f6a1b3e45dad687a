"""Validators on responses: the same headers on a 200 and on its 304.

RFC 9110 §15.4.5: a 304 carries the Cache-Control, Content-Location, Date,
ETag, Expires and Vary that the 200 would have carried. Both go through
:func:`stamp_validators`, so they cannot drift apart however views and
decorators are stacked.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from django.http import HttpResponse, HttpResponseBase, HttpResponseNotModified, JsonResponse
from django.utils.cache import patch_cache_control, patch_vary_headers
from django.utils.http import http_date

from .conf import ViewOptions
from .preconditions import Decision
from .validators import Validator

__all__ = ["WithoutContentLength", "cache_control_directives", "decision_response", "not_modified", "stamp_validators"]


def cache_control_directives(value: str) -> dict[str, Any]:
    """``"no-cache, max-age=0"`` as ``patch_cache_control`` keyword arguments."""
    directives: dict[str, Any] = {}
    for item in value.split(","):
        name, _, argument = item.strip().partition("=")
        if name:
            directives[name.strip().lower().replace("-", "_")] = argument.strip() or True
    return directives


def _last_modified_header(last_modified: datetime) -> str | None:
    """The header value, or None while it is ahead of the clock.

    §8.8.2.1: never later than the response's own Date. ``last_modified``
    runs ahead after a burst of writes to one row; rather than a clamped date
    (which would not match what the preconditions compare against), send
    none until the clock catches up.
    """
    moment = int(last_modified.replace(tzinfo=last_modified.tzinfo or UTC).timestamp())
    return http_date(moment) if moment <= time.time() else None


def stamp_validators(response: HttpResponseBase, validator: Validator | None, options: ViewOptions) -> HttpResponseBase:
    """Set ETag, Last-Modified, Cache-Control and Vary on a 2xx or 304 response."""
    if validator is not None:
        if validator.etag:
            response.headers["ETag"] = validator.etag
        if validator.last_modified is not None and (header := _last_modified_header(validator.last_modified)):
            response.headers["Last-Modified"] = header
    if options.cache_control:
        patch_cache_control(response, **cache_control_directives(options.cache_control))
    if options.vary:
        patch_vary_headers(response, options.vary)
    return response


if TYPE_CHECKING:
    # A mixin for response classes: what it calls on super() is theirs.
    _Response = HttpResponseBase
else:
    _Response = object


class WithoutContentLength(_Response):
    """Keeps Content-Length off a 304 (RFC 9110 §8.6).

    A 304 may carry Content-Length only if it equals the 200's length, which
    is not known without rendering. CommonMiddleware adds ``Content-Length:
    0`` to any response that lacks one; answering that the header is handled
    keeps it away.
    """

    def has_header(self, header: str) -> bool:
        return header.lower() == "content-length" or super().has_header(header)

    __contains__ = has_header


class NotModified(WithoutContentLength, HttpResponseNotModified):
    pass


def not_modified(validator: Validator, options: ViewOptions) -> HttpResponseNotModified:
    """A 304 with no body and the validators the 200 would have carried."""
    response = NotModified()
    stamp_validators(response, validator, options)
    return response


def decision_response(decision: Decision) -> HttpResponse:
    """A 400, 412 or 428 for plain Django views, shaped like DRF's errors."""
    return JsonResponse({"detail": decision.reason}, status=int(decision.outcome))
