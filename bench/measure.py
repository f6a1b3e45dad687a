"""The worker: seed one database, time every case, count queries, probe freshness, profile misses.

``python -m bench`` runs it once per database, each in its own process
(Django's settings name one database, and a fresh process starts every
database from the same state), and reads the JSON it writes.

Requests are built by ``RequestFactory`` and sent through Django's
``WSGIHandler``, as a WSGI server would send them: the request signals, the
whole middleware stack of the example settings, URL resolution, the view,
rendering, and ``close()``. The settings keep the database connection open
between requests (``CONN_MAX_AGE = None``), as a server with persistent
connections or a pool does; the test client's handler would also, but it
reconnects its signal receivers on every request, which costs more than a
floor's view does.
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import json
import os
import pstats
import random
import sqlite3
import statistics
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from django.core.handlers.wsgi import WSGIHandler
    from django.http import HttpResponseBase

    from bench.contenders import Contender

ROOT = Path(__file__).resolve().parent.parent


class BenchError(AssertionError):
    """A contender answered something other than what its case expects."""


@dataclass(frozen=True)
class Case:
    """One request shape: detail or list page, fresh (200) or revalidating (304)."""

    family: str
    conditional: bool
    page_size: int | None = None  # None: the detail
    deep: bool = False  # a page at 80% of the list, where OFFSET is large

    @property
    def key(self) -> str:
        return f"{self.family} {304 if self.conditional else 200}"

    def page(self, size: int) -> int:
        assert self.page_size is not None
        published = size // 2
        return int(published * 0.8) // self.page_size + 1 if self.deep else 1

    def path(self, contender: Contender, size: int, neighbour: bool = False) -> str:
        """The case's URL, or its neighbour's: the next published article, the next page."""
        from bench.data import DETAIL_ARTICLE

        if self.page_size is None:
            return f"/{contender.key}/articles/{DETAIL_ARTICLE + 2 * neighbour}/"
        return f"/{contender.key}/articles/?page={self.page(size) + neighbour}&page_size={self.page_size}"

    def first_article(self, size: int) -> int:
        """The article a write changes to probe freshness: the detail's, or the page's first."""
        from bench.data import DETAIL_ARTICLE, published_id_at

        if self.page_size is None:
            return DETAIL_ARTICLE
        return published_id_at((self.page(size) - 1) * self.page_size)


FAMILIES = [
    Case("detail", False),
    Case("list p20", False, 20),
    Case("list p100", False, 100),
    Case("list p20 deep", False, 20, True),
]
CASES = [Case(f.family, conditional, f.page_size, f.deep) for f in FAMILIES for conditional in (False, True)]


@dataclass(frozen=True)
class Plan:
    """How long to measure: rounds are fitted to a time budget per case, within bounds."""

    sizes: Sequence[int]
    seed: int
    warmup: int
    budget: float  # seconds of timed rounds per case
    min_rounds: int
    max_rounds: int
    profile_seconds: float


class Bench:
    """One database's run: the handler, the request factory and the results so far."""

    def __init__(self, plan: Plan) -> None:
        from django.core.handlers.wsgi import WSGIHandler
        from django.test import RequestFactory

        from bench.contenders import CONTENDERS

        self.plan = plan
        self.rng = random.Random(plan.seed)
        self.handler: WSGIHandler = WSGIHandler()
        self.factory = RequestFactory()
        self.contenders = CONTENDERS
        self.rows: list[dict[str, Any]] = []
        self.profiles: list[dict[str, Any]] = []
        self.seeding: dict[int, float] = {}

    def environ(self, path: str, etag: str | None = None) -> dict[str, Any]:
        headers = {"HTTP_ACCEPT": "application/json"}
        if etag is not None:
            headers["HTTP_IF_NONE_MATCH"] = etag
        return self.factory.get(path, **headers).environ

    def send(self, environ: dict[str, Any]) -> HttpResponseBase:
        """One request, as a WSGI server sends it; a copy of ``environ``, since middleware may write to META."""
        response = self.handler(dict(environ), start_response)
        response.close()
        return response

    # -- one case --------------------------------------------------------------

    def requests(self, case: Case, size: int) -> dict[str, dict[str, Any]]:
        """Each contender's request for the case; a 304 case sends the ETag the contender's own 200 gave."""
        environs = {}
        for contender in self.contenders:
            if (case.conditional and not contender.answers_304) or (case.page_size and not contender.lists):
                continue
            path = case.path(contender, size)
            etag = None
            if case.conditional:
                etag = '"floor"' if contender.floor else self.etag_of(contender, path)
            environs[contender.key] = self.environ(path, etag)
        return environs

    def etag_of(self, contender: Contender, path: str) -> str:
        response = self.send(self.environ(path))
        if response.status_code != 200 or not response.has_header("ETag"):
            raise BenchError(f"{contender.label}: GET {path} answered {response.status_code} without an ETag")
        return response["ETag"]

    def expected(self, case: Case, contender: Contender) -> int:
        return 304 if case.conditional or contender.floor else 200

    def measure(self, case: Case, size: int) -> None:
        environs = self.requests(case, size)
        by_key = {contender.key: contender for contender in self.contenders}
        expected = {key: self.expected(case, by_key[key]) for key in environs}
        order = list(environs)
        samples: dict[str, list[int]] = {key: [] for key in order}

        def round_(record: bool) -> None:
            self.rng.shuffle(order)
            for key in order:
                environ = dict(environs[key])  # as send() does, but outside the timed part
                start = time.perf_counter_ns()
                response = self.handler(environ, start_response)
                response.close()
                elapsed = time.perf_counter_ns() - start
                if response.status_code != expected[key]:
                    raise BenchError(f"{by_key[key].label}, {case.key}: {response.status_code}, not {expected[key]}")
                if record:
                    samples[key].append(elapsed)

        gc.collect()
        started = time.perf_counter()
        for _ in range(self.plan.warmup):
            round_(record=False)
        per_round = (time.perf_counter() - started) / max(1, self.plan.warmup)
        rounds = max(self.plan.min_rounds, min(self.plan.max_rounds, int(self.plan.budget / per_round)))
        started = time.perf_counter()
        for _ in range(rounds):
            round_(record=True)
        print(
            f"  {size:>7,} rows  {case.key:<18} {rounds:>4} rounds  {time.perf_counter() - started:5.1f} s",
            file=sys.stderr,
            flush=True,
        )
        counts = self.count_queries(environs)
        probes = self.probe(case, size, environs) if case.conditional else {}
        for key in environs:
            self.rows.append(
                {
                    "size": size,
                    "case": case.key,
                    "family": case.family,
                    "conditional": case.conditional,
                    "contender": key,
                    "label": by_key[key].label,
                    "kind": by_key[key].kind,
                    "floor": by_key[key].floor,
                    "status": expected[key],
                    "rounds": rounds,
                    **summary(samples[key]),
                    # Per round, in round order: paired ratios need them (see bench.targets).
                    "samples_us": [round(sample / 1000, 1) for sample in samples[key]],
                    **counts[key],
                    **probes.get(key, {"fresh": None, "distinct": None}),
                }
            )

    def count_queries(self, environs: dict[str, dict[str, Any]]) -> dict[str, dict[str, int]]:
        """Queries and body bytes per request, in a pass of their own: capturing slows queries down."""
        from django.db import connection
        from django.test.utils import CaptureQueriesContext

        counts = {}
        for key, environ in environs.items():
            with CaptureQueriesContext(connection) as captured:
                response = self.send(environ)
            counts[key] = {"queries": len(captured.captured_queries), "bytes": len(response.content)}
        return counts

    def probe(self, case: Case, size: int, environs: dict[str, dict[str, Any]]) -> dict[str, dict[str, bool]]:
        """Whether each contender's 304 is right: two requests a correct validator answers with 200.

        ``distinct``: the neighbouring URL (next article, next page) sent
        with this URL's ETag; an ETag that does not tell them apart answers
        304, and the client shows the wrong body. ``fresh``: the same
        revalidation after a write that changes the representation (the
        title of the article, or of the page's first), in a transaction
        that is rolled back; a validator that misses the write answers 304.
        """
        from django.db import transaction

        from example_project.blog.models import Article

        probed = [c for c in self.contenders if c.key in environs and not c.floor]
        results = {}
        for contender in probed:
            neighbour = self.environ(
                case.path(contender, size, neighbour=True), environs[contender.key]["HTTP_IF_NONE_MATCH"]
            )
            results[contender.key] = {"distinct": self.send(neighbour).status_code == 200}
        with connections_kept(), transaction.atomic():
            article = Article.objects.get(pk=case.first_article(size))
            article.title = f"{article.title} (edited)"
            article.save()
            for contender in probed:
                results[contender.key]["fresh"] = self.send(environs[contender.key]).status_code == 200
            transaction.set_rollback(True)
        return results

    # -- profiles ----------------------------------------------------------------

    def profile(self, contender_key: str, case_key: str, size: int) -> None:
        """Where one contender's time goes in one case: cProfile over repeated requests."""
        contender = next(c for c in self.contenders if c.key == contender_key)
        case = next(c for c in CASES if c.key == case_key)
        path = case.path(contender, size)
        environ = self.environ(path, self.etag_of(contender, path) if case.conditional else None)
        for _ in range(20):
            self.send(environ)
        profiler = cProfile.Profile()
        requests = 0
        deadline = time.perf_counter() + self.plan.profile_seconds
        profiler.enable()
        while time.perf_counter() < deadline:
            self.send(environ)
            requests += 1
        profiler.disable()
        self.profiles.append(
            {
                "contender": contender_key,
                "label": contender.label,
                "case": case_key,
                "size": size,
                **where_time_goes(profiler, requests),
            }
        )

    # -- the run -----------------------------------------------------------------

    def run(self) -> None:
        from bench.data import analyze, grow_to
        from bench.targets import check_all

        # One profile per target and contender: its first miss.
        profiled: set[tuple[str, str]] = set()
        for size in self.plan.sizes:
            started = time.perf_counter()
            grow_to(size)
            analyze()
            self.seeding[size] = time.perf_counter() - started
            print(f"  {size:>7,} rows  seeded in {self.seeding[size]:.1f} s", file=sys.stderr, flush=True)
            for case in CASES:
                self.measure(case, size)
            for check in check_all(self.rows):
                if check.met or not check.profile or check.profile[2] != size:
                    continue
                if (check.target, check.profile[0]) not in profiled:
                    profiled.add((check.target, check.profile[0]))
                    self.profile(*check.profile)


@contextmanager
def connections_kept() -> Iterator[None]:
    """Requests inside a transaction: Django's handler would close the connection, seeing autocommit off."""
    from django.core import signals
    from django.db import close_old_connections

    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    try:
        yield
    finally:
        signals.request_started.connect(close_old_connections)
        signals.request_finished.connect(close_old_connections)


def start_response(status: str, headers: list[tuple[str, str]]) -> None:
    """What a WSGI server would send the status line and headers with: nothing to do in process."""


def summary(samples: list[int]) -> dict[str, float]:
    """Median, p90, min and max in microseconds."""
    ordered = sorted(samples)
    return {
        "median_us": statistics.median(ordered) / 1000,
        "p90_us": statistics.quantiles(ordered, n=10, method="inclusive")[-1] / 1000,
        "min_us": ordered[0] / 1000,
        "max_us": ordered[-1] / 1000,
    }


def where_time_goes(profiler: cProfile.Profile, requests: int, limit: int = 8) -> dict[str, Any]:
    """Own time by module, and conditional_api's costliest functions with what each spends its time on.

    Per request, in µs. A flat list of the functions with the most own time
    says little here (the ORM spreads its cost over hundreds of small
    calls); the callees of the package's own functions say which step costs.
    """
    stats = pstats.Stats(profiler)
    stats.calc_callees()
    per_request = 1e6 / requests
    modules: dict[str, float] = {}
    package = []
    for function, (_, calls, own, cumulative, _) in stats.stats.items():  # type: ignore[attr-defined]
        name = function_name(function)
        modules[area(name)] = modules.get(area(name), 0.0) + own * per_request
        if name.startswith("conditional_api/"):
            package.append((cumulative, calls, function))
    package.sort(reverse=True)
    steps = []
    for cumulative, calls, function in package[:4]:
        callees = sorted(
            ((ct, nc, callee) for callee, (nc, _, _, ct) in stats.all_callees.get(function, {}).items()),  # type: ignore[attr-defined]
            reverse=True,
        )
        steps.append(
            {
                "function": function_name(function),
                "calls": calls / requests,
                "cumulative_us": cumulative * per_request,
                "callees": [
                    {"function": function_name(callee), "calls": nc / requests, "cumulative_us": ct * per_request}
                    for ct, nc, callee in callees[:limit]
                ],
            }
        )
    return {
        "requests": requests,
        "total_us": sum(modules.values()),
        "modules": [{"module": name, "own_us": value} for name, value in sorted(modules.items(), key=lambda m: -m[1])][
            :limit
        ],
        "steps": steps,
    }


def function_name(function: tuple[str, int, str]) -> str:
    filename, line, name = function
    return f"{short_path(filename)}:{line}({name})"


def short_path(filename: str) -> str:
    """A path from the package root: ``django/db/models/query.py`` rather than the whole site-packages path."""
    for marker in ("site-packages/", f"{ROOT}/"):
        if marker in filename:
            return filename.split(marker, 1)[1]
    if filename.startswith(("~", "<")):
        return filename
    return f"stdlib/{Path(filename).name}"


def area(function: str) -> str:
    """Where a profiled function belongs: its package directory, or the database driver."""
    if function.startswith(("psycopg", "~:0(<function SQLiteCursorWrapper.execute", "~:0(<method 'execute")):
        return "database driver and server (psycopg, sqlite3)"
    if function.startswith("~"):
        return "built-in functions (C)"
    return function.split(":", 1)[0].rsplit("/", 1)[0]


def database_info() -> dict[str, str]:
    from django.db import connection

    if connection.vendor == "sqlite":
        return {"vendor": "sqlite", "name": "SQLite", "version": sqlite3.sqlite_version}
    with connection.cursor() as cursor:
        cursor.execute("SHOW server_version")
        version = cursor.fetchone()[0]
    return {"vendor": connection.vendor, "name": "PostgreSQL", "version": version.split()[0]}


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.measure", description="One database's measurements.")
    parser.add_argument("--database", required=True, help="database URL")
    parser.add_argument("--output", required=True, type=Path, help="where to write the JSON results")
    parser.add_argument("--sizes", required=True, type=lambda value: [int(v) for v in value.split(",")])
    parser.add_argument("--seed", type=int, required=True)
    parser.add_argument("--warmup", type=int, required=True)
    parser.add_argument("--budget", type=float, required=True)
    parser.add_argument("--min-rounds", type=int, required=True)
    parser.add_argument("--max-rounds", type=int, required=True)
    parser.add_argument("--profile-seconds", type=float, required=True)
    args = parser.parse_args(argv)

    os.environ["BENCH_WORKER_DATABASE_URL"] = args.database
    os.environ["DJANGO_SETTINGS_MODULE"] = "bench.settings"
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    call_command("flush", interactive=False, verbosity=0)
    plan = Plan(args.sizes, args.seed, args.warmup, args.budget, args.min_rounds, args.max_rounds, args.profile_seconds)
    bench = Bench(plan)
    started = time.perf_counter()
    bench.run()
    result = {
        "database": database_info(),
        "seconds": time.perf_counter() - started,
        "seeding_seconds": bench.seeding,
        "rows": bench.rows,
        "profiles": bench.profiles,
        "contenders": [contender.describe() for contender in bench.contenders],
    }
    args.output.write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
