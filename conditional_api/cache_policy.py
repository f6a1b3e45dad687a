"""A view's Cache-Control, checked before it reaches a response: known directives, well-formed values, no contradiction.

The view option ``cache_control`` is the header's own text, as RFC 9111
§5.2.2 writes it, so a policy needs no new vocabulary:

* ``"no-cache"`` (the default): every cache stores the answer and asks the
  app before reusing it;
* ``"public, max-age=0, s-maxage=60, stale-while-revalidate=30"``: a CDN
  keeps the anonymous answers for a minute and may serve one half a
  minute past that while it revalidates (RFC 5861 §3); answers to
  authenticated requests stay ``private`` (``responses.mark_audience``).

A typo there is silent at run time (``max-age=abc`` is a directive every
cache ignores, ``public, private`` leaves each cache to pick one), so
:func:`policy_errors` reads it the way caches will and says what is wrong.
This module imports nothing of the package.
"""

from __future__ import annotations

import re

__all__ = ["DIRECTIVES", "policy_errors"]

#: Response directives: whether each takes delta-seconds (True) or no argument (False).
#: RFC 9111 §5.2.2, RFC 5861 (stale-while-revalidate, stale-if-error), RFC 8246 (immutable).
DIRECTIVES: dict[str, bool] = {
    "max-age": True,
    "s-maxage": True,
    "stale-while-revalidate": True,
    "stale-if-error": True,
    "no-cache": False,
    "no-store": False,
    "no-transform": False,
    "must-revalidate": False,
    "proxy-revalidate": False,
    "must-understand": False,
    "private": False,
    "public": False,
    "immutable": False,
}

#: Pairs that say opposite things: (directive, the ones it contradicts, why).
_CONTRADICTIONS: tuple[tuple[str, tuple[str, ...], str], ...] = (
    ("private", ("public", "s-maxage", "proxy-revalidate"), "private keeps the answer out of shared caches"),
    (
        "no-store",
        ("public", "max-age", "s-maxage", "stale-while-revalidate", "stale-if-error", "immutable"),
        "no-store forbids keeping the answer at all",
    ),
    (
        "no-cache",
        ("stale-while-revalidate", "stale-if-error", "immutable"),
        "no-cache forbids reusing the answer unvalidated (RFC 9111 §4.2.4)",
    ),
    (
        "must-revalidate",
        ("stale-while-revalidate", "stale-if-error"),
        "must-revalidate forbids serving the answer stale (RFC 9111 §5.2.2.2)",
    ),
)

_DELTA_SECONDS = re.compile(r"[0-9]+")


def _directives(value: str) -> tuple[list[tuple[str, str | None]], list[str]]:
    """The (name, argument) pairs of a Cache-Control value, and what could not be read."""
    found: list[tuple[str, str | None]] = []
    errors: list[str] = []
    for item in value.split(","):
        text = item.strip()
        if not text:
            continue
        name, equals, argument = text.partition("=")
        name = name.strip().lower()
        if not name:
            errors.append(f"{text!r} has no directive name")
            continue
        found.append((name, argument.strip() if equals else None))
    return found, errors


def _argument_errors(name: str, argument: str | None) -> list[str]:
    if DIRECTIVES[name]:
        if argument is None or not _DELTA_SECONDS.fullmatch(argument.strip('"')):
            return [f"{name} needs a whole number of seconds, such as {name}=60, not {argument!r}"]
        return []
    if argument is not None:
        # The qualified forms (no-cache="Set-Cookie", private="Set-Cookie") leave
        # the rest of the answer to shared caches; a comma in the list would
        # also split the directive as the header is patched.
        return [f"{name} takes no argument here, not {argument!r}; write {name} alone"]
    return []


def policy_errors(value: str) -> list[str]:
    """What is wrong with ``value`` as a response's Cache-Control, one sentence each; empty when nothing is."""
    found, errors = _directives(value)
    seen: set[str] = set()
    for name, argument in found:
        if name not in DIRECTIVES:
            errors.append(
                f"{name!r} is not a Cache-Control response directive; expected one of: {', '.join(DIRECTIVES)}"
            )
            continue
        if name in seen:
            errors.append(f"{name} appears twice; keep one")
        seen.add(name)
        errors.extend(_argument_errors(name, argument))
    for name, opposites, why in _CONTRADICTIONS:
        if name in seen:
            clashes = [other for other in opposites if other in seen]
            if clashes:
                errors.append(f"{name} contradicts {', '.join(clashes)}: {why}; drop one side")
    return errors
