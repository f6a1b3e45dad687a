"""``python -m bench``: measure every contender on SQLite and PostgreSQL, print the tables, write the docs.

One worker process per database (``bench.measure``) seeds 1,000 then
100,000 articles and times every case; this process checks which databases
are there, runs the workers one after the other (so they never compete for
the CPU) and renders their results. ``--quick`` measures SQLite at 1,000
rows for a few seconds per case, as a check that everything answers.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from bench import report

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_POSTGRES = "postgres://postgres@127.0.0.1:5432/bench"
DEFAULT_SEED = 20261123

#: Worker options: rounds are fitted to ``budget`` seconds per case, within the bounds.
FULL = {"sizes": "1000,100000", "warmup": 2, "budget": 5.0, "min-rounds": 12, "max-rounds": 500, "profile-seconds": 2.0}
QUICK = {"sizes": "1000", "warmup": 2, "budget": 0.5, "min-rounds": 5, "max-rounds": 60, "profile-seconds": 0.5}


def postgres_problem(url: str) -> str | None:
    """Why PostgreSQL at ``url`` cannot be used, or None; creates the database when only it is missing."""
    try:
        import psycopg
        from psycopg import sql
    except ImportError:
        return "psycopg is not installed"
    try:
        psycopg.connect(url, connect_timeout=3).close()
        return None
    except psycopg.Error as error:
        first = str(error).strip().splitlines()[0]
    parts = urlsplit(url)
    name = unquote(parts.path.lstrip("/"))
    try:
        with psycopg.connect(parts._replace(path="/postgres").geturl(), autocommit=True, connect_timeout=3) as admin:
            if admin.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
                return f"cannot connect to {name}: {first}"
            admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
            print(f"created database {name}", file=sys.stderr)
    except psycopg.Error:
        return f"cannot connect: {first}"
    return None


def run_worker(database_url: str, options: dict[str, Any], seed: int) -> dict[str, Any]:
    """One database's measurements, from a worker process of its own."""
    with tempfile.TemporaryDirectory() as directory:
        output = Path(directory) / "results.json"
        command = [sys.executable, "-m", "bench.measure", "--database", database_url, "--output", str(output)]
        command += ["--seed", str(seed), *(f"--{name}={value}" for name, value in options.items())]
        subprocess.run(command, cwd=ROOT, check=True)
        return json.loads(output.read_text())


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def package_version(name: str) -> str:
    try:
        return version(name)
    except PackageNotFoundError:
        return "not installed"


def load() -> str:
    return " ".join(f"{value:.2f}" for value in os.getloadavg()) if hasattr(os, "getloadavg") else "n/a"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description="Measure conditional_api against its peers on SQLite and PostgreSQL, "
        "print the tables and write them into docs/benchmarks.md.",
    )
    parser.add_argument("--quick", action="store_true", help="SQLite, 1,000 rows, a few rounds: a fast check")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED, help="seed of the shuffled order of each round")
    parser.add_argument(
        "--output",
        type=Path,
        help="Markdown file to write the results into (default: docs/benchmarks.md, none with --quick)",
    )
    args = parser.parse_args(argv)
    output = args.output or (None if args.quick else ROOT / "docs" / "benchmarks.md")
    options = QUICK if args.quick else FULL

    started = time.perf_counter()
    load_before = load()
    print(f"seed {args.seed}", file=sys.stderr)
    results, skipped = [], []
    with tempfile.TemporaryDirectory() as directory:
        databases = [("SQLite", f"sqlite:///{Path(directory) / 'bench.sqlite3'}")]
        if not args.quick:
            url = os.environ.get("BENCH_DATABASE_URL", DEFAULT_POSTGRES)
            problem = postgres_problem(url)
            if problem:
                skipped.append(f"PostgreSQL ({problem}).")
                print(f"PostgreSQL skipped: {problem}", file=sys.stderr)
            else:
                databases.append(("PostgreSQL", url))
        for name, url in databases:
            print(f"{name}:", file=sys.stderr)
            results.append(run_worker(url, options, args.seed))

    meta = {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": f"{cpu_model()}, {os.cpu_count()} cores, {platform.system()} {platform.release()}",
        "versions": f"Python {platform.python_version()}, Django {package_version('django')}, "
        f"DRF {package_version('djangorestframework')}, drf-extensions {package_version('drf-extensions')}",
        "seed": args.seed,
        "plan": f"Each case: {options['warmup']} warm-up rounds, then rounds fitted to {options['budget']:g} s "
        f"({options['min-rounds']}–{options['max-rounds']}); every round sends one request per contender, "
        "in a freshly shuffled order.",
        "minutes": (time.perf_counter() - started) / 60,
        "load_before": load_before,
        "load_after": load(),
        "skipped": skipped,
    }
    generated = report.render(results, meta)
    print(generated)
    if output:
        report.write(output, generated)
        print(f"written to {output}", file=sys.stderr)


if __name__ == "__main__":
    main()
