"""``manage.py conditional_probe``: replay URLs against origins and exit non-zero when their validators disagree."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from django.core.management.base import BaseCommand, CommandError, CommandParser

from conditional_api.probe import (
    BadProbeArgument,
    HttpOrigin,
    InProcessOrigin,
    Origin,
    in_process_host,
    parse_base,
    parse_headers,
    render_table,
    resolve_target,
    run_probe,
)

#: Exit status when the probe found a disagreement; bad arguments exit with USAGE.
FINDINGS = 1
USAGE = 2


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = 0.0
    if not 0 < value < float("inf"):
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds above zero")
    return value


class Command(BaseCommand):
    help = (
        "GET each URL at each origin, revalidate it with its own ETag and Last-Modified, send HEAD, and compare: "
        "exit 1 on any disagreement, 2 on bad arguments. Without --base, the project is probed in process."
    )
    # What is served is probed, whatever the system checks think of the settings.
    requires_system_checks: list[str] = []

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "targets",
            nargs="*",
            metavar="URL",
            help="a path (/api/articles/5/) or a URL name with its arguments (article-detail:5, article-list?page=2)",
        )
        parser.add_argument(
            "--file",
            help="read more URLs from this file, one a line; lines that start with '#' are skipped; - reads stdin",
        )
        parser.add_argument(
            "--base",
            action="append",
            default=[],
            metavar="URL",
            help="an origin to probe, such as http://127.0.0.1:8000 (repeat for replicas or releases)",
        )
        parser.add_argument(
            "--header", action="append", default=[], metavar="'NAME: VALUE'", help="send this header (repeatable)"
        )
        parser.add_argument(
            "--expect-change",
            action="store_true",
            help="a deploy gate: exactly two --base (old and new release), and every ETag must differ between them",
        )
        parser.add_argument("--allow-weak", action="store_true", help="accept weak ETags (W/...) without a finding")
        parser.add_argument("--timeout", type=_seconds, default=10.0, help="seconds to wait for each answer (10)")
        parser.add_argument("--json", action="store_true", help="print the report as JSON (the shape is in the README)")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            targets = [(target, resolve_target(target)) for target in self._target_specs(options)]
            headers = parse_headers(options["header"])
            origins = self._origins(options, headers)
        except BadProbeArgument as error:
            raise CommandError(str(error), returncode=USAGE) from error
        report = run_probe(
            targets, origins, headers, expect_change=options["expect_change"], allow_weak=options["allow_weak"]
        )
        self.stdout.write(json.dumps(report.as_json(), indent=2) if options["json"] else render_table(report))
        if not report.ok:
            failed = sum(not url.ok for url in report.urls)
            raise CommandError(f"{report.finding_count} finding(s) on {failed} URL(s).", returncode=FINDINGS)

    def _target_specs(self, options: dict[str, Any]) -> list[str]:
        specs = list(options["targets"])
        if options["file"]:
            specs.extend(self._read_file(options["file"]))
        if not specs:
            raise BadProbeArgument("No URL to probe: give paths or URL names, or --file with one a line.")
        return specs

    @staticmethod
    def _read_file(name: str) -> list[str]:
        try:
            text = sys.stdin.read() if name == "-" else Path(name).read_text()
        except (OSError, UnicodeDecodeError) as error:
            raise BadProbeArgument(f"--file {name!r} cannot be read: {error}") from error
        lines = (line.strip() for line in text.splitlines())
        return [line for line in lines if line and not line.startswith("#")]

    @staticmethod
    def _origins(options: dict[str, Any], headers: dict[str, str]) -> list[Origin]:
        bases = [parse_base(base) for base in options["base"]]
        if options["expect_change"] and len(bases) != 2:
            raise BadProbeArgument(
                f"--expect-change compares an old and a new release: give exactly two --base, not {len(bases)}."
            )
        if len(set(bases)) != len(bases):
            raise BadProbeArgument("The same --base is given twice.")
        sends_host = any(name.lower() == "host" for name in headers)
        if bases:
            # As a load balancer does, every origin hears the same Host, so that
            # absolute links in the bodies (a list's next page) can agree.
            host = None if sends_host else urlsplit(bases[0]).netloc
            return [HttpOrigin(base, timeout=options["timeout"], host=host) for base in bases]
        return [InProcessOrigin(None if sends_host else in_process_host())]
