"""Validators on responses: the same headers on a 200 and on its 304, and who may reuse them.

RFC 9110 §15.4.5: a 304 carries the Cache-Control, Content-Location, Date,
ETag, Expires and Vary that the 200 would have carried. Both go through
:func:`stamp_validators`, so they cannot drift apart however views and
decorators are stacked; and both go through :func:`mark_audience`, which
keeps an answer for one user out of shared caches (RFC 9111 §3.5).
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse, HttpResponseBase, HttpResponseNotModified, JsonResponse
from django.utils.cache import patch_cache_control, patch_vary_headers
from django.utils.http import http_date

from .conf import ViewOptions, api_settings
from .preconditions import Decision
from .surrogates import header_value
from .validators import Validator

__all__ = [
    "CREDENTIAL_FIELDS",
    "WithoutContentLength",
    "cache_control_directives",
    "decision_response",
    "is_authenticated",
    "mark_audience",
    "not_modified",
    "stamp_current",
    "stamp_validators",
]

#: The request fields that say who asks: an answer that depends on the user varies on them (RFC 9110 §12.5.5).
CREDENTIAL_FIELDS = ("Authorization", "Cookie")

#: Cache-Control directives that let a shared cache keep an answer to an
#: authenticated request (RFC 9111 §3.5), as ``cache_control_directives`` names them.
_SHARED_ONLY = frozenset({"public", "s_maxage"})


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
    """Set ETag, Last-Modified, Cache-Control and Vary on a 2xx or 304 response, and the surrogate keys when on.

    The keys go on the 304 too: a cache that refreshes its stored answer
    from a 304 takes the 304's fields (RFC 9111 §4.3.4), and a stored answer
    that lost its keys could no longer be purged. A response without a
    validator (its state moved while it was built) names no sources: ``all``.
    """
    header = api_settings.surrogate_key_header
    if header is not None:
        response.headers[header] = header_value(validator.surrogate_keys if validator else (), header)
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


def stamp_current(response: HttpResponseBase, validator: Validator | None) -> HttpResponseBase:
    """ETag and Last-Modified of the resource as it is now, on a 412 or 428 about it (RFC 9110 §8.8.3)."""
    if validator is not None and validator.etag:
        response.headers["ETag"] = validator.etag
        if validator.last_modified is not None and (header := _last_modified_header(validator.last_modified)):
            response.headers["Last-Modified"] = header
    return response


def is_authenticated(request: HttpRequest) -> bool:
    """Whether the request says who asks: credentials, a session, or a user its framework authenticated.

    RFC 9111 §3.5 names the Authorization header; a session cookie says as
    much. The cookie counts without loading its user, which would cost a 304
    two queries: an answer to it is one client's anyway, since it varies on
    Cookie. ``request.user`` covers the rest (DRF's authentication classes,
    Django's middleware).
    """
    if "HTTP_AUTHORIZATION" in request.META or settings.SESSION_COOKIE_NAME in request.COOKIES:
        return True
    return bool(getattr(getattr(request, "user", None), "is_authenticated", False))


def _make_private(response: HttpResponseBase) -> None:
    """``private``, without what would still let a shared cache store the answer (RFC 9111 §5.2.2.7)."""
    directives = {
        name: argument
        for name, argument in cache_control_directives(response.get("Cache-Control", "")).items()
        if name not in _SHARED_ONLY
    }
    # Unqualified: private="Set-Cookie" would leave the rest of the answer to shared caches.
    directives["private"] = True
    if "Cache-Control" in response.headers:
        del response.headers["Cache-Control"]
    patch_cache_control(response, **directives)


def mark_audience(response: HttpResponseBase, request: HttpRequest, options: ViewOptions) -> HttpResponseBase:
    """Keep an answer that depends on the user out of other users' hands in shared caches.

    Unless the view declares its representation the same for every user
    (``shared``), the answer varies on the credential fields, so a shared
    cache does not hand an anonymous answer to a signed-in user (RFC 9110
    §12.5.5), and an answer to an authenticated request is ``private``, with
    ``public`` and ``s-maxage`` taken out: either would let a shared cache
    reuse it for anyone (RFC 9111 §3.5). A 304 goes through here as its 200
    does, so both say the same (RFC 9110 §15.4.5).
    """
    if options.shared:
        return response
    patch_vary_headers(response, CREDENTIAL_FIELDS)
    if is_authenticated(request):
        _make_private(response)
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
