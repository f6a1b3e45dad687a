"""What the probe is asked to do: URL paths or names, request headers, origins.

Every function here raises :class:`BadProbeArgument` with a message that
names the bad value and what would be right; the command turns it into a
``CommandError``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from urllib.parse import urlsplit

from django.conf import settings
from django.http.request import validate_host
from django.urls import NoReverseMatch, reverse
from django.utils.encoding import iri_to_uri

__all__ = ["BadProbeArgument", "in_process_host", "parse_base", "parse_header", "parse_headers", "resolve_target"]

#: RFC 9110 §5.1: a field name is a token.
_TOKEN = re.compile(r"\A[!#$%&'*+\-.^_`|~0-9A-Za-z]+\Z")
#: The fields the probe sends itself to revalidate.
PROBE_FIELDS = frozenset({"if-none-match", "if-modified-since", "if-match", "if-unmodified-since", "if-range"})


class BadProbeArgument(ValueError):
    """An argument the probe cannot use; the message says which and why."""


def resolve_target(spec: str) -> str:
    """A path to request, from a path (``/api/articles/5/?x=1``) or a URL name (``article-detail:5``).

    A name is reversed as is first (``admin:index`` is a namespaced name);
    failing that, what follows its last ``:`` are the arguments, separated
    by commas, ``key=value`` for keyword arguments. A query string may
    follow either: ``article-list?page=2``.
    """
    spec = spec.strip()
    if not spec:
        raise BadProbeArgument("An empty URL: give a path such as /api/articles/ or a URL name such as article-list.")
    if spec.startswith("/"):
        return iri_to_uri(spec)
    if "://" in spec:
        raise BadProbeArgument(f"{spec!r} is a full URL: give its path, and its origin with --base.")
    name, mark, query = spec.partition("?")
    suffix = iri_to_uri(mark + query)
    try:
        return reverse(name) + suffix
    except NoReverseMatch:
        pass
    head, colon, tail = name.rpartition(":")
    args = [item.strip() for item in tail.split(",") if item.strip()] if colon else []
    positional = [item for item in args if "=" not in item]
    keywords = dict(item.split("=", 1) for item in args if "=" in item)
    try:
        if colon and head and (positional or keywords):
            return reverse(head, args=positional or None, kwargs=keywords or None) + suffix
    except (NoReverseMatch, ValueError):
        pass
    raise BadProbeArgument(
        f"No URL pattern matches {spec!r}: give a path that starts with '/', or a URL name that "
        "reverse() knows, with its arguments after a colon (article-detail:5, article-detail:pk=5)."
    )


def parse_header(text: str) -> tuple[str, str]:
    """``"Name: value"`` as a field name and value that are safe to send."""
    name, colon, value = text.partition(":")
    name, value = name.strip(), value.strip()
    if not colon or not _TOKEN.match(name):
        raise BadProbeArgument(f"--header {text!r} is not 'Name: value' with a field name such as Authorization.")
    if any(char in value for char in "\r\n\0"):
        raise BadProbeArgument(f"--header {name!r} has a line break or NUL in its value.")
    if not value.isascii():
        # RFC 9110 §5.5: field values are ASCII in practice; http.client could not send anything else.
        raise BadProbeArgument(f"--header {name!r} has a character outside ASCII in its value: percent-encode it.")
    if name.lower() in PROBE_FIELDS:
        raise BadProbeArgument(f"--header {name!r}: the probe sends its own conditional headers; leave this one out.")
    return name, value


def parse_headers(texts: Iterable[str]) -> dict[str, str]:
    """Every ``--header``, the last one of a name winning whatever its case."""
    headers: dict[str, str] = {}
    for text in texts:
        name, value = parse_header(text)
        headers = {known: known_value for known, known_value in headers.items() if known.lower() != name.lower()}
        headers[name] = value
    return headers


def parse_base(text: str) -> str:
    """An origin such as ``http://127.0.0.1:8000`` (a path prefix may follow), without a trailing slash."""
    parts = urlsplit(text.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise BadProbeArgument(
            f"--base {text!r} is not an http:// or https:// origin: write it as http://127.0.0.1:8000."
        )
    if parts.query or parts.fragment:
        raise BadProbeArgument(f"--base {text!r} has a query or fragment: give the origin and, at most, a path prefix.")
    try:
        parts.port  # noqa: B018  (raises on a port that is not a number)
    except ValueError as error:
        raise BadProbeArgument(f"--base {text!r}: {error}.") from error
    return text.strip().rstrip("/")


def in_process_host() -> str:
    """A Host header the project's ALLOWED_HOSTS admit, so requests in process are not turned away.

    The first entry that names a host (a leading dot stands for the domain
    itself; ``*`` for any, so ``localhost``); with DEBUG on and no entries,
    ``localhost``, as Django admits it then.
    """
    allowed = list(settings.ALLOWED_HOSTS)
    if not allowed and settings.DEBUG:
        allowed = [".localhost", "127.0.0.1", "[::1]"]
    for pattern in allowed:
        host = "localhost" if pattern == "*" else pattern.lstrip(".")
        if host and validate_host(host, allowed):
            return host
    raise BadProbeArgument(
        "settings.ALLOWED_HOSTS names no host to send in process: add one, pass --header 'Host: <a host it allows>', "
        "or probe a running server with --base."
    )
