"""The probe's checks: pure functions from answers to findings, one per rule they test.

A finding is a sentence a person can act on; an empty list means the
answers agree with the rule.
"""

from __future__ import annotations

from collections.abc import Mapping

from django.utils.http import ETAG_MATCH, parse_http_date_safe

from .origins import Answer

__all__ = [
    "HEAD_FIELDS",
    "NOT_MODIFIED_FIELDS",
    "check_agreement",
    "check_get",
    "check_head",
    "check_one_body",
    "check_release_change",
    "check_revalidation",
]

#: RFC 9110 §15.4.5: a 304 carries these as its 200 would have (Date aside,
#: which moves); Expires only has to be there, as it may move with the clock.
NOT_MODIFIED_FIELDS = ("ETag", "Cache-Control", "Vary", "Content-Location")
#: RFC 9110 §9.3.2: HEAD answers with the header fields GET would have sent.
HEAD_FIELDS = ("ETag", "Last-Modified", "Cache-Control", "Vary", "Content-Type")


def _normalized(name: str, value: str | None) -> object:
    """A field's value as it means: Vary and Cache-Control are lists whose order and case do not matter."""
    if value is None:
        return None
    if name in ("Vary", "Cache-Control"):
        return frozenset(item.strip().lower() for item in value.split(",") if item.strip())
    return value.strip()


def _field_findings(what: str, reference: Answer, answer: Answer, names: tuple[str, ...]) -> list[str]:
    findings = []
    for name in names:
        expected, got = reference.header(name), answer.header(name)
        if _normalized(name, expected) == _normalized(name, got):
            continue
        if got is None:
            findings.append(f"{what} has no {name} (GET: {expected})")
        elif expected is None:
            findings.append(f"{what} has {name} {got}, GET has none")
        else:
            findings.append(f"{what} {name} {got} differs from GET's {expected}")
    return findings


def check_get(answer: Answer, *, allow_weak: bool = False) -> list[str]:
    """A 2xx with a well-formed, strong ETag (weak ones are allowed with ``allow_weak``) and a valid date."""
    if answer.error:
        return [f"GET: {answer.error}"]
    if not answer.successful:
        hint = f" to {answer.header('location')}" if answer.header("location") else ""
        if answer.status == 400:
            hint = " (a Host that ALLOWED_HOSTS refuses answers 400: send an allowed one with --header 'Host: ...')"
        return [f"GET answered {answer.status}{hint}, not 2xx: nothing to revalidate"]
    findings = []
    etag = answer.header("etag")
    if etag is None:
        findings.append(f"GET {answer.status} has no ETag")
    elif not ETAG_MATCH.match(etag):
        findings.append(f"ETag {etag!r} is not a quoted entity-tag (RFC 9110 §8.8.3)")
    elif etag.startswith("W/") and not allow_weak:
        findings.append(
            f"ETag {etag} is weak where a strong one is expected: something between the view and the client "
            "(GZipMiddleware, a proxy's compression) rewrote it; pass --allow-weak if that is intended"
        )
    last_modified = answer.header("last-modified")
    if last_modified is not None and parse_http_date_safe(last_modified) is None:
        findings.append(f"Last-Modified {last_modified!r} is not an HTTP-date (RFC 9110 §5.6.7)")
    return findings


def check_revalidation(what: str, get: Answer, answer: Answer) -> list[str]:
    """A 304 with the 200's validator fields and no content (RFC 9110 §15.4.5)."""
    if answer.error:
        return [f"{what}: {answer.error}"]
    if answer.status != 304:
        return [f"{what} answered {answer.status}, not 304"]
    findings = _field_findings(what, get, answer, NOT_MODIFIED_FIELDS)
    if get.header("expires") is not None and answer.header("expires") is None:
        findings.append(f"{what} has no Expires (GET: {get.header('expires')})")
    if answer.body:
        findings.append(f"{what} 304 has content ({len(answer.body)} bytes)")
    return findings


def check_head(get: Answer, head: Answer) -> list[str]:
    """HEAD answers as GET does, without content (RFC 9110 §9.3.2)."""
    if head.error:
        return [f"HEAD: {head.error}"]
    if head.status != get.status:
        return [f"HEAD answered {head.status}, GET {get.status}"]
    findings = _field_findings("HEAD", get, head, HEAD_FIELDS)
    if head.body:
        findings.append(f"HEAD has content ({len(head.body)} bytes)")
    return findings


def _by_origin(values: Mapping[str, object]) -> str:
    return ", ".join(f"{origin} {'(none)' if value is None else value}" for origin, value in values.items())


def check_agreement(gets: Mapping[str, Answer]) -> list[str]:
    """Every origin answers a URL with the same status, ETag and Last-Modified."""
    answered = {origin: answer for origin, answer in gets.items() if not answer.error}
    findings = []
    statuses = {origin: answer.status for origin, answer in answered.items()}
    if len(set(statuses.values())) > 1:
        findings.append(f"status differs between origins: {_by_origin(statuses)}")
    for name in ("ETag", "Last-Modified"):
        values = {origin: answer.header(name) for origin, answer in answered.items()}
        if len(set(values.values())) > 1:
            findings.append(f"{name} differs between origins: {_by_origin(values)}")
    return findings


def check_one_body(gets: Mapping[str, Answer]) -> list[str]:
    """One ETag, one body: origins that give a URL the same ETag give it the same bytes."""
    findings = []
    by_etag: dict[str, dict[str, str]] = {}
    for origin, answer in gets.items():
        etag = answer.header("etag")
        if etag is not None and answer.successful:
            by_etag.setdefault(etag, {})[origin] = answer.digest
    for etag, digests in by_etag.items():
        if len(set(digests.values())) > 1:
            findings.append(f"ETag {etag} comes with different bodies: {_by_origin(digests)}")
    return findings


def check_release_change(gets: Mapping[str, Answer]) -> list[str]:
    """Between an old and a new release every ETag moves, as the release salt did."""
    etags = {origin: answer.header("etag") for origin, answer in gets.items() if answer.successful}
    if len(etags) == 2 and None not in etags.values() and len(set(etags.values())) == 1:
        return [f"ETag {next(iter(etags.values()))} is the same on both releases: the release salt did not move"]
    return []
