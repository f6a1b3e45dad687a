"""Run the checks for each URL and origin, and show what they found to people and to machines."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from .checks import (
    check_agreement,
    check_get,
    check_head,
    check_one_body,
    check_release_change,
    check_revalidation,
)
from .origins import Answer, Origin

__all__ = ["ALL_ORIGINS", "CheckResult", "Report", "UrlReport", "probe_url", "render_table", "run_probe"]

#: The origin column of a check that compares origins.
ALL_ORIGINS = "(all)"


@dataclass(frozen=True)
class CheckResult:
    """One check of one URL, at one origin (``None`` when it compares origins)."""

    check: str
    origin: str | None
    findings: tuple[str, ...]
    detail: str = ""

    @property
    def ok(self) -> bool:
        return not self.findings


@dataclass(frozen=True)
class UrlReport:
    target: str
    path: str
    gets: Mapping[str, Answer]
    checks: tuple[CheckResult, ...]

    @property
    def ok(self) -> bool:
        return all(check.ok for check in self.checks)


@dataclass(frozen=True)
class Report:
    origins: tuple[str, ...]
    expect_change: bool
    urls: tuple[UrlReport, ...]

    @property
    def ok(self) -> bool:
        return all(url.ok for url in self.urls)

    @property
    def finding_count(self) -> int:
        return sum(len(check.findings) for url in self.urls for check in url.checks)

    def as_json(self) -> dict[str, Any]:
        """The shape the README documents under "Replay and consistency probe"."""
        return {
            "ok": self.ok,
            "findings": self.finding_count,
            "origins": list(self.origins),
            "expect_change": self.expect_change,
            "urls": [
                {
                    "target": url.target,
                    "path": url.path,
                    "ok": url.ok,
                    "answers": [
                        {
                            "origin": origin,
                            "status": answer.status,
                            "etag": answer.header("etag"),
                            "last_modified": answer.header("last-modified"),
                            "digest": answer.digest if answer.status is not None else None,
                            "error": answer.error,
                        }
                        for origin, answer in url.gets.items()
                    ],
                    "checks": [
                        {"check": check.check, "origin": check.origin, "ok": check.ok, "findings": list(check.findings)}
                        for check in url.checks
                    ],
                }
                for url in self.urls
            ],
        }


def _origin_checks(
    origin: Origin, path: str, headers: Mapping[str, str], *, allow_weak: bool
) -> tuple[Answer, list[CheckResult]]:
    """GET, then revalidate with the GET's own validators, then HEAD: one origin's view of a URL."""
    get = origin.send("GET", path, headers)
    etag, last_modified = get.header("etag"), get.header("last-modified")
    summary = f"{get.status}, ETag {etag}" + (f", Last-Modified {last_modified}" if last_modified else "")
    results = [CheckResult("GET", origin.name, tuple(check_get(get, allow_weak=allow_weak)), summary)]
    if not get.successful:
        return get, results
    revalidations = (("If-None-Match", etag), ("If-Modified-Since", last_modified))
    for field, value in revalidations:
        if value is not None:
            answer = origin.send("GET", path, {**headers, field: value})
            results.append(CheckResult(field, origin.name, tuple(check_revalidation(field, get, answer)), "304"))
    head = origin.send("HEAD", path, headers)
    results.append(CheckResult("HEAD", origin.name, tuple(check_head(get, head)), f"{head.status}, as GET"))
    return get, results


def _cross_origin_checks(gets: Mapping[str, Answer], *, expect_change: bool) -> list[CheckResult]:
    if len(gets) < 2:
        return []
    if expect_change:
        # A deploy gate: the old and the new release must not share an ETag;
        # whether anything else differs is the release's business.
        results = [CheckResult("release change", None, tuple(check_release_change(gets)), "every ETag moved")]
    else:
        results = [CheckResult("origins agree", None, tuple(check_agreement(gets)), "same status, ETag, Last-Modified")]
    results.append(CheckResult("one ETag, one body", None, tuple(check_one_body(gets)), "equal ETags, equal bytes"))
    return results


def probe_url(
    target: str,
    path: str,
    origins: Sequence[Origin],
    headers: Mapping[str, str],
    *,
    expect_change: bool = False,
    allow_weak: bool = False,
) -> UrlReport:
    """Every check of one URL: each origin's own, then those that compare origins."""
    gets: dict[str, Answer] = {}
    checks: list[CheckResult] = []
    for origin in origins:
        gets[origin.name], results = _origin_checks(origin, path, headers, allow_weak=allow_weak)
        checks.extend(results)
    checks.extend(_cross_origin_checks(gets, expect_change=expect_change))
    return UrlReport(target, path, gets, tuple(checks))


def run_probe(
    targets: Sequence[tuple[str, str]],
    origins: Sequence[Origin],
    headers: Mapping[str, str],
    *,
    expect_change: bool = False,
    allow_weak: bool = False,
) -> Report:
    """Probe each ``(target as given, path)`` at every origin, in order."""
    return Report(
        origins=tuple(origin.name for origin in origins),
        expect_change=expect_change,
        urls=tuple(
            probe_url(target, path, origins, headers, expect_change=expect_change, allow_weak=allow_weak)
            for target, path in targets
        ),
    )


def render_table(report: Report) -> str:
    """One row per URL, origin and check; a check's further findings on rows of their own below it."""
    rows: list[tuple[str, str, str, str]] = [("URL", "ORIGIN", "CHECK", "RESULT")]
    for url in report.urls:
        shown_url = url.path
        for check in url.checks:
            origin = check.origin or ALL_ORIGINS
            if check.ok:
                rows.append((shown_url, origin, check.check, f"ok    {check.detail}".rstrip()))
            else:
                first, *more = check.findings
                rows.append((shown_url, origin, check.check, f"FAIL  {first}"))
                rows.extend(("", "", "", f"FAIL  {finding}") for finding in more)
            shown_url = ""
    widths = [max(len(row[column]) for row in rows) for column in range(3)]
    lines = [
        "  ".join(cell.ljust(width) for cell, width in zip(row[:3], widths, strict=True)) + "  " + row[3]
        for row in rows
    ]
    failed = sum(not url.ok for url in report.urls)
    if report.ok:
        summary = f"{len(report.urls)} URL(s) at {len(report.origins)} origin(s): no findings."
    else:
        summary = f"{report.finding_count} finding(s) on {failed} of {len(report.urls)} URL(s)."
    return "\n".join([*lines, "", summary])
