"""``python -m bench.load`` (or ``make load``): the 304 against the 200 under a real server, and a ceiling.

``make bench`` calls Django's handler in process, so it shows what the
framework and the database cost and nothing else. This asks what a
deployment sees: with a WSGI server, sockets, database connections and
concurrent clients in the way, how many more requests per second does a
server answer when clients revalidate (304) than when they fetch (200), and
how close does a 304 from the validator cache come to the cheapest answer
the same stack can give?

Steps: a PostgreSQL database (``LOAD_DATABASE_URL``, default
``postgres://postgres@127.0.0.1:5432/load``; created when missing, emptied at
every run) is migrated and seeded with the benchmark's data; the example
project is served by gunicorn (sync workers, DEBUG off) on a free loopback
port, pinned to every core but one; wrk (``bench.wrk``), pinned to that one,
drives it one case at a time: a warm-up, then a measured window. Before each
case one request must come back with the expected status, or the run stops;
during it, any other status counts as a failure. The last cases restart the
server with the validator cache in Redis (``LOAD_CACHE_URL``, default
``redis://127.0.0.1:6379/13``) and measure the ceiling (a 404 that no view
answers) beside the 304s it is held against. The results and the verdicts
of the targets (``bench.load_targets``) are printed and written between the
load markers of docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import http.client
import os
import platform
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import IO, Any
from urllib.parse import unquote, urlsplit

import redis

from bench.__main__ import cpu_model, load, package_version, postgres_problem
from bench.cpu_time import selected_snapshot, tree_snapshot
from bench.load_cases import Case, Plan, Row, cases, default_connections, default_workers, split_cores
from bench.load_report import render, write
from bench.wrk import Meter, run_window, wrk_command

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DATABASE = "postgres://postgres@127.0.0.1:5432/load"
DEFAULT_CACHE = "redis://127.0.0.1:6379/13"
LOOPBACK = "127.0.0.1"
#: The ETag salt of every server this run starts.
RELEASE = "load-1"
START_TIMEOUT = 30.0
STOP_TIMEOUT = 10.0
#: conditional_api's keys in the validator cache (Django's Redis backend prefixes them), and its entries among them.
CACHE_KEYS = "*conditional_api:*"
CACHE_ENTRIES = "*conditional_api:entry:*"
#: What every request of every case sends, besides If-None-Match.
HEADERS = {"Accept": "application/json"}


class LoadError(RuntimeError):
    """The run cannot go on: a database, a server, a tool or an answer is not what it must be."""


def require_tools() -> None:
    """Fail with what to install unless wrk and taskset are on the PATH."""
    missing = [tool for tool in ("wrk", "taskset") if shutil.which(tool) is None]
    if missing:
        raise LoadError(f"{' and '.join(missing)} not found: apt-get install wrk util-linux (make load installs wrk)")


# -- the database -------------------------------------------------------------------


def prepare_database(url: str, articles: int) -> str:
    """Migrate, empty and seed the database at ``url``; its server's version."""
    problem = postgres_problem(url)
    if problem:
        raise LoadError(f"PostgreSQL at {url}: {problem}")
    print(f"seeding {articles:,} articles into {url}", file=sys.stderr, flush=True)
    os.environ.update(
        DJANGO_SETTINGS_MODULE="example_project.settings", DATABASE_URL=url, CACHE_URL="", DJANGO_DEBUG="0"
    )
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection

    from bench.data import analyze, grow_to

    call_command("migrate", verbosity=0)
    call_command("flush", interactive=False, verbosity=0)
    grow_to(articles)
    analyze()
    with connection.cursor() as cursor:
        cursor.execute("SHOW server_version")
        version = str(cursor.fetchone()[0])
    connection.close()
    return version.split()[0]


def prepare_cache(url: str) -> str:
    """Empty the validator cache at ``url``; the Redis server's version.

    Seeding writes behind the cache's back, so entries left by an earlier run
    could be served; and a cache that cannot be reached would silently turn
    the cached case into the query path.
    """
    try:
        client = redis.Redis.from_url(url, socket_connect_timeout=3)
        stale = list(client.scan_iter(match=CACHE_KEYS))
        if stale:
            client.delete(*stale)
        return str(client.info("server")["redis_version"])
    except redis.RedisError as error:
        raise LoadError(f"Redis at {url}: {error}") from error


def require_cache_entry(url: str) -> None:
    """Fail unless a request has put a validator into the cache at ``url``, as the views do with CACHE_URL."""
    if not any(redis.Redis.from_url(url).scan_iter(match=CACHE_ENTRIES)):
        raise LoadError(f"the server answered, but put no validator into the cache at {url}")


# -- the server ---------------------------------------------------------------------


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((LOOPBACK, 0))
        return int(sock.getsockname()[1])


def gunicorn_command(port: int, workers: int, cores: Sequence[int]) -> list[str]:
    return [
        *("taskset", "--cpu-list", ",".join(map(str, cores))),
        *(sys.executable, "-m", "gunicorn", "example_project.wsgi:application"),
        *("--bind", f"{LOOPBACK}:{port}", "--workers", str(workers), "--worker-class", "sync"),
        *("--graceful-timeout", "5", "--chdir", str(ROOT)),
    ]


def server_environment(database_url: str, cache_url: str) -> dict[str, str]:
    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "example_project.settings",
        "DATABASE_URL": database_url,
        "CACHE_URL": cache_url,
        "CONDITIONAL_API_RELEASE": RELEASE,
        "DJANGO_DEBUG": "0",
    }


@contextmanager
def serving(database_url: str, cache_url: str, plan: Plan) -> Iterator[tuple[str, int]]:
    """The example project under gunicorn for the ``with`` block: its base URL and its master's pid; stopped after."""
    port = free_port()
    base = f"http://{LOOPBACK}:{port}"
    with tempfile.TemporaryFile() as log:
        server = subprocess.Popen(
            gunicorn_command(port, plan.workers, plan.server_cores),
            cwd=ROOT,
            env=server_environment(database_url, cache_url),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            wait_until_ready(server, log, base)
            yield base, server.pid
        finally:
            stop(server)


def wait_until_ready(server: subprocess.Popen[bytes], log: IO[bytes], base: str) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise LoadError(f"gunicorn exited with status {server.returncode}:\n{tail(log)}")
        try:
            status, _ = get(base, "/api/")
        except OSError:
            time.sleep(0.1)
            continue
        if status != 200:
            raise LoadError(f"gunicorn on {base} answered {status} to GET /api/:\n{tail(log)}")
        return
    raise LoadError(f"gunicorn on {base} did not answer within {START_TIMEOUT:.0f} s:\n{tail(log)}")


def tail(log: IO[bytes], characters: int = 4000) -> str:
    log.seek(0)
    return log.read().decode("utf-8", "replace")[-characters:]


def stop(process: subprocess.Popen[Any]) -> None:
    """SIGTERM (gunicorn's graceful stop), then SIGKILL if it is still there after ``STOP_TIMEOUT``."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


# -- the requests ------------------------------------------------------------------


def get(base: str, path: str, etag: str = "") -> tuple[int, str]:
    """One GET with the load generator's headers; the status and the ETag ("" when none)."""
    parts = urlsplit(base)
    connection = http.client.HTTPConnection(parts.hostname or LOOPBACK, parts.port, timeout=10)
    headers = {**HEADERS, **({"If-None-Match": etag} if etag else {})}
    try:
        connection.request("GET", path, headers=headers)
        response = connection.getresponse()
        response.read()
        return response.status, response.getheader("ETag", "")
    finally:
        connection.close()


def checked_etag(case: Case, base: str) -> str:
    """The If-None-Match the case sends ("" for a 200), once one request has shown the expected status."""
    etag = ""
    try:
        if case.conditional:
            status, etag = get(base, case.path)
            if status != 200 or not etag:
                raise LoadError(
                    f"{case.label}: GET {case.path} answered {status} with ETag {etag!r}; expected 200, an ETag"
                )
        status, _ = get(base, case.path, etag)
    except OSError as error:
        raise LoadError(f"{case.label}: GET {case.path}: {error}") from error
    if status != case.status:
        raise LoadError(f"{case.label}: GET {case.path} answered {status}; expected {case.status}")
    return etag


def case_command(case: Case, base: str, etag: str, plan: Plan, seconds: int) -> list[str]:
    headers = {**HEADERS, **({"If-None-Match": etag} if etag else {})}
    return wrk_command(f"{base}{case.path}", headers, seconds, plan.connections, plan.threads, plan.generator_cores)


def store_process(command: str, database: str) -> bool:
    """Whether ``command`` is a PostgreSQL backend of ``database`` or a Redis server: the server's stores.

    A backend's command line is its title, ``postgres: [cluster: ]user
    database host(port) activity``; backends of other databases and
    PostgreSQL's own background processes are someone else's load.
    """
    words = command.split()
    if not words:
        return False
    if words[0] == "postgres:":
        return database in words[1:]
    return Path(words[0]).name == "redis-server"


def measure(case: Case, base: str, meters: tuple[Meter, Meter], plan: Plan, cache_url: str) -> Row:
    """One case: checked, warmed up, then measured, with the server's and the stores' CPU time read around it."""
    etag = checked_etag(case, base)
    if case.cached and case.conditional:
        require_cache_entry(cache_url)
    try:
        warmup = case_command(case, base, etag, plan, plan.warmup)
        run_window(warmup, plan.warmup, case.status, dict, dict)
        command = case_command(case, base, etag, plan, plan.duration)
        window = run_window(command, plan.duration, case.status, *meters)
    except (RuntimeError, ValueError) as error:
        raise LoadError(f"{case.label}: {error}") from error
    return Row(case, window)


def measure_all(plan: Plan, database_url: str, cache_url: str) -> list[Row]:
    """Every case, on one server without the validator cache and then on one with it."""
    from bench.data import DETAIL_ARTICLE  # imports the models: only after django.setup()

    database = unquote(urlsplit(database_url).path.lstrip("/"))
    store_cpu = partial(selected_snapshot, partial(store_process, database=database))
    everything, rows = cases(DETAIL_ARTICLE), []
    for cached in dict.fromkeys(case.cached for case in everything):
        with serving(database_url, cache_url if cached else "", plan) as (base, server_pid):
            meters = (partial(tree_snapshot, server_pid), store_cpu)
            for case in (case for case in everything if case.cached == cached):
                rows.append(measure(case, base, meters, plan, cache_url))
                print(progress(rows[-1]), file=sys.stderr, flush=True)
    return rows


def progress(row: Row) -> str:
    result, window = row.window.result, row.window
    return (
        f"  {row.case.label}: {result.rps:,.0f} req/s, p50 {result.p50_ms:.1f} ms, p99 {result.p99_ms:.1f} ms, "
        f"{result.requests:,} requests, {result.failures} failures; CPU: wrk {window.generator_share:.0%}, "
        f"server {window.server_share:.0%}, stores {window.store_share:.0%}, other {window.other_share:.0%}"
    )


# -- the run ------------------------------------------------------------------------


def parse(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.load",
        description="Serve the example project under gunicorn on PostgreSQL, drive it with wrk on a core of its "
        "own, one case at a time, and write the results and verdicts into docs/benchmarks.md.",
    )
    parser.add_argument("--articles", type=int, default=10_000, help="articles to seed (default: 10,000)")
    parser.add_argument("--workers", type=int, help="gunicorn sync workers (default: twice the server's cores + 1)")
    parser.add_argument("--connections", type=int, help="wrk's connections (default: twice the workers)")
    parser.add_argument("--warmup", type=int, default=3, help="seconds of warm-up per case (default: 3)")
    parser.add_argument("--duration", type=int, default=12, help="seconds measured per case (default: 12)")
    parser.add_argument(
        "--output", type=Path, default=ROOT / "docs" / "benchmarks.md", help="(default: docs/benchmarks.md)"
    )
    return parser.parse_args(argv)


def make_plan(args: argparse.Namespace) -> Plan:
    try:
        generator_cores, server_cores = split_cores(os.sched_getaffinity(0))
    except ValueError as error:
        raise LoadError(str(error)) from None
    workers = args.workers or default_workers(len(server_cores))
    connections = args.connections or default_connections(workers)
    return Plan(args.articles, generator_cores, server_cores, workers, connections, args.warmup, args.duration)


def wrk_version() -> str:
    """wrk's version, as its usage text gives it (``wrk 4.2.0 [epoll] ...``)."""
    run = subprocess.run(["wrk", "--version"], capture_output=True, text=True, check=False)
    words = (run.stdout + run.stderr).split()
    return words[1].removeprefix("debian/") if len(words) > 1 and words[0] == "wrk" else "unknown"


def exit_on_sigterm(signum: int, _frame: object) -> None:
    """Unwind as on Ctrl-C, so that the servers and load generators this run started are stopped."""
    raise SystemExit(128 + signum)


def main(argv: Sequence[str] | None = None) -> None:
    args = parse(argv)
    database_url = os.environ.get("LOAD_DATABASE_URL", DEFAULT_DATABASE)
    cache_url = os.environ.get("LOAD_CACHE_URL", DEFAULT_CACHE)
    signal.signal(signal.SIGTERM, exit_on_sigterm)
    started, load_before = time.perf_counter(), load()
    try:
        require_tools()
        plan = make_plan(args)
        redis_version = prepare_cache(cache_url)
        postgres_version = prepare_database(database_url, plan.articles)
        rows = measure_all(plan, database_url, cache_url)
    except LoadError as error:
        raise SystemExit(f"python -m bench.load: {error}") from None
    except KeyboardInterrupt:
        raise SystemExit(130) from None
    meta: dict[str, Any] = {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": f"{cpu_model()}, {os.cpu_count()} cores, {platform.system()} {platform.release()}",
        "versions": f"Python {platform.python_version()}, Django {package_version('django')}, "
        f"DRF {package_version('djangorestframework')}, gunicorn {package_version('gunicorn')}, "
        f"wrk {wrk_version()}, PostgreSQL {postgres_version}, Redis {redis_version}",
        "minutes": (time.perf_counter() - started) / 60,
        "load_before": load_before,
        "load_after": load(),
    }
    generated = render(rows, plan, meta)
    print(generated)
    write(args.output, generated)
    print(f"written to {args.output}", file=sys.stderr)


if __name__ == "__main__":
    main()
