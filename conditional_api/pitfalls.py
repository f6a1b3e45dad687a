"""System checks for deployments that undo conditional requests: middleware and CORS settings, each with its fix.

The package decides preconditions before the view and stamps validators
after it; a middleware around it can still weaken its ETags (W020), invent
ETags that no write honours (W021), or put a length on a 304 (W022), and a
CORS setup can hide the ETag from a browser app or refuse the fields it
would send back (W023, W024). These checks read settings only: they make
no request. Middleware is matched by class, so a subclass counts as its base.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core import checks
from django.utils.module_loading import import_string

__all__ = ["check_cors", "check_middleware", "register"]

DJANGO_GZIP = "django.middleware.gzip.GZipMiddleware"
STRONG_GZIP = "conditional_api.middleware.GZipMiddleware"
CONDITIONAL_GET = "django.middleware.http.ConditionalGetMiddleware"
COMMON = "django.middleware.common.CommonMiddleware"
CORS = "corsheaders.middleware.CorsMiddleware"

#: The request fields a client sends back what it was given in; neither is
#: CORS-safelisted (Fetch, "CORS-safelisted request-header"), so a browser
#: sends them cross-origin only after a preflight allows them.
PRECONDITION_FIELDS = ("If-Match", "If-None-Match")


def register() -> None:
    """Register the checks with Django's framework (from the app's ``ready()``)."""
    checks.register(check_middleware)
    checks.register(check_cors)


@dataclass(frozen=True)
class _Entry:
    """One ``MIDDLEWARE`` entry: where it is listed, as written, and the classes it is."""

    index: int
    path: str
    lineage: frozenset[str]

    def is_a(self, dotted: str) -> bool:
        return dotted in self.lineage


def _middleware() -> Iterator[_Entry]:
    """The importable classes of ``MIDDLEWARE``; Django's own startup reports the rest."""
    listed = getattr(settings, "MIDDLEWARE", None)
    if not isinstance(listed, (list, tuple)):
        return
    for index, path in enumerate(listed):
        if not isinstance(path, str):
            continue
        try:
            found = import_string(path)
        except (ImportError, ValueError):  # ValueError: an empty module name, '.Name'
            continue
        if isinstance(found, type):
            yield _Entry(index, path, frozenset(f"{base.__module__}.{base.__qualname__}" for base in found.__mro__))


def _first(entries: Sequence[_Entry], dotted: str, unless: str | None = None) -> _Entry | None:
    return next((entry for entry in entries if entry.is_a(dotted) and not (unless and entry.is_a(unless))), None)


def check_middleware(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    """Django's GZip and ConditionalGet middleware, and the order of the latter and CommonMiddleware."""
    entries = list(_middleware())
    problems: list[checks.CheckMessage] = []
    gzip = _first(entries, DJANGO_GZIP, unless=STRONG_GZIP)
    if gzip is not None:
        problems.append(_weakening_gzip(gzip))
    conditional_get = _first(entries, CONDITIONAL_GET)
    if conditional_get is not None:
        problems.append(_conditional_get(conditional_get))
        common = _first(entries, COMMON)
        # Responses pass through middleware bottom-up: one listed lower runs first.
        if common is not None and common.index < conditional_get.index:
            problems.append(_length_on_304(conditional_get, common))
    return problems


def _weakening_gzip(entry: _Entry) -> checks.CheckMessage:
    return checks.Warning(
        f"MIDDLEWARE lists {entry.path!r}, Django's GZipMiddleware: when it compresses a response (200 bytes "
        'or more, to a client that accepts gzip) it turns a strong ETag "x" into a weak W/"x", and leaves '
        '"x" on the 304s. If-Match compares strongly (RFC 9110 §13.1.1), so every conditional write that sends '
        "back the ETag it was given fails with 412. Revalidations still get 304s (If-None-Match compares "
        "weakly), and a cache that refreshes its copy from one labels randomly padded gzip bytes with the "
        "identity's strong tag.",
        hint=f"Replace it with {STRONG_GZIP!r}, which compresses without random padding and gives the "
        "compressed bytes their own strong ETag, or compress at the proxy in front of Django.",
        id="conditional_api.W020",
    )


def _conditional_get(entry: _Entry) -> checks.CheckMessage:
    return checks.Warning(
        f"MIDDLEWARE lists {entry.path!r}, Django's ConditionalGetMiddleware. To a GET whose response has no "
        "ETag (a view conditional_api does not validate) it adds one hashed from the rendered body, so a "
        "revalidation runs the whole view before its 304; and it evaluates preconditions on GET only, so a "
        "PUT, PATCH or DELETE that sends that ETag in If-Match is carried out whatever the tag, and a "
        "concurrent update is lost. The package's own responses keep their ETag, and their GET preconditions "
        "are evaluated a second time, after the view ran.",
        hint="Remove it from MIDDLEWARE, and validate the views that need ETags with @conditional or the DRF "
        "mixins and a row strategy ('version' or 'updated_at'), which evaluate If-Match before a write runs.",
        id="conditional_api.W021",
    )


def _length_on_304(conditional_get: _Entry, common: _Entry) -> checks.CheckMessage:
    return checks.Warning(
        f"MIDDLEWARE lists {conditional_get.path!r} below {common.path!r}: responses pass through middleware "
        "from the bottom up, so CommonMiddleware adds 'Content-Length: 0' to every 304 ConditionalGetMiddleware "
        "makes, and RFC 9110 §8.6 allows a Content-Length on a 304 only if it is the 200's. "
        "(conditional_api's own 304s keep it off.)",
        hint=f"Remove {conditional_get.path!r} (see conditional_api.W021), or list it above {common.path!r}, "
        "so that its 304s are made after CommonMiddleware has run.",
        id="conditional_api.W022",
    )


# -- django-cors-headers --------------------------------------------------------------


def _names(setting: str) -> set[str] | None:
    """A CORS setting's header names, lower-cased; None when it is no list of names (corsheaders' checks say so)."""
    value = getattr(settings, setting, ())
    if isinstance(value, str) or not isinstance(value, Sequence):
        return None
    if not all(isinstance(name, str) for name in value):
        return None
    return {name.strip().lower() for name in value}


def _admits(names: set[str], field: str) -> bool:
    """Whether a list of header names admits ``field``; ``*`` does only for requests without credentials (Fetch)."""
    wildcard = "*" in names and not getattr(settings, "CORS_ALLOW_CREDENTIALS", False)
    return wildcard or field.lower() in names


def check_cors(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    """Behind django-cors-headers, a browser app on another origin must read ETag and send it back."""
    if _first(list(_middleware()), CORS) is None:
        return []
    problems: list[checks.CheckMessage] = []
    exposed = _names("CORS_EXPOSE_HEADERS")
    if exposed is not None and not _admits(exposed, "ETag"):
        problems.append(_etag_hidden())
    # Unset, django-cors-headers allows its default_headers, which name neither field.
    allowed = _names("CORS_ALLOW_HEADERS") if hasattr(settings, "CORS_ALLOW_HEADERS") else set()
    missing = [field for field in PRECONDITION_FIELDS if allowed is not None and not _admits(allowed, field)]
    if missing:
        problems.append(_fields_refused(missing))
    return problems


def _etag_hidden() -> checks.CheckMessage:
    return checks.Warning(
        "CORS_EXPOSE_HEADERS does not list ETag, so a browser app on another origin cannot read the ETag of "
        "any response (django-cors-headers' CorsMiddleware is in MIDDLEWARE) and has nothing to send in "
        "If-Match or If-None-Match. Last-Modified needs no listing: it is a CORS-safelisted response header.",
        hint='Add it: CORS_EXPOSE_HEADERS = [..., "ETag"]. Names match case-insensitively; "*" counts only '
        "while CORS_ALLOW_CREDENTIALS is False.",
        id="conditional_api.W023",
    )


def _fields_refused(missing: Sequence[str]) -> checks.CheckMessage:
    fields = " and ".join(missing)
    return checks.Warning(
        f"CORS_ALLOW_HEADERS does not list {fields}, which are not CORS-safelisted request headers: a browser "
        "app on another origin asks first (a preflight), django-cors-headers' answer leaves them out, and the "
        "browser refuses to send a conditional write or a revalidation of the app's own.",
        hint="Add them: CORS_ALLOW_HEADERS = [*corsheaders.defaults.default_headers, "
        + ", ".join(f'"{field.lower()}"' for field in missing)
        + '] (and "if-unmodified-since", "if-modified-since" if your clients send dates).',
        id="conditional_api.W024",
    )
