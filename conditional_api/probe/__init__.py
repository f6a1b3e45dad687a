"""The replay and consistency probe behind ``manage.py conditional_probe``.

It asks one or more origins (replicas, regions, the old and the new
release, or this project in process) for the same URLs, revalidates each
answer with its own validators, and reports where the answers break the
package's promise: one ETag for one body, a 304 that carries its 200's
validator fields, HEAD that agrees with GET, and origins that agree.
"""

from __future__ import annotations

from .checks import (
    check_agreement,
    check_get,
    check_head,
    check_one_body,
    check_release_change,
    check_revalidation,
)
from .origins import IN_PROCESS, Answer, HttpOrigin, InProcessOrigin, Origin
from .report import CheckResult, Report, UrlReport, probe_url, render_table, run_probe
from .targets import BadProbeArgument, in_process_host, parse_base, parse_header, parse_headers, resolve_target

__all__ = [
    "IN_PROCESS",
    "Answer",
    "BadProbeArgument",
    "CheckResult",
    "HttpOrigin",
    "InProcessOrigin",
    "Origin",
    "Report",
    "UrlReport",
    "check_agreement",
    "check_get",
    "check_head",
    "check_one_body",
    "check_release_change",
    "check_revalidation",
    "in_process_host",
    "parse_base",
    "parse_header",
    "parse_headers",
    "probe_url",
    "render_table",
    "resolve_target",
    "run_probe",
]
