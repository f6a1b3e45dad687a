"""``python -m bench.ab``: the 304 of each conditional contender against its floor, for comparing two revisions.

``make bench`` compares contenders within one run; a change to the package is
judged by running this in a checkout of each revision, alternately, and
comparing the ratios to the floors, which cancel out what the machine does
meanwhile::

    for i in 1 2 3 4; do
        (cd ../before && .venv-bench/bin/python -m bench.ab >> /tmp/before.jsonl)
        (cd ../after && .venv-bench/bin/python -m bench.ab >> /tmp/after.jsonl)
    done

Each run seeds 1,000 articles into a temporary SQLite file, checks that
every contender answers 304, then times interleaved rounds (one request per
contender, shuffled) through Django's ``WSGIHandler`` and prints one line of
JSON: the median µs of each case, and of each case over its floor.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import tempfile
import time
from collections.abc import Sequence
from typing import Any

#: Each conditional contender, and the floor of its kind it is divided by.
FLOORS = {
    "conditional-drf": "drf-floor-query",
    "conditional-drf-cache": "drf-floor",
    "conditional-plain": "plain-floor-query",
    "conditional-plain-cache": "plain-floor",
}
WARMUP = 20


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--rounds", type=int, default=300, help="timed rounds (default: 300)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as folder:
        os.environ["DJANGO_SETTINGS_MODULE"] = "bench.settings"
        os.environ["BENCH_WORKER_DATABASE_URL"] = f"sqlite:///{folder}/ab.sqlite3"
        print(json.dumps(measure(args.rounds)))


def measure(rounds: int) -> dict[str, float]:
    import django

    django.setup()
    from django.core.handlers.wsgi import WSGIHandler
    from django.core.management import call_command
    from django.test import RequestFactory

    from bench.data import DETAIL_ARTICLE, grow_to

    call_command("migrate", verbosity=0)
    grow_to(1000)
    handler, factory = WSGIHandler(), RequestFactory()

    def start_response(*args: Any) -> None:
        pass

    def send(environ: dict[str, Any]) -> Any:
        response = handler(dict(environ), start_response)
        response.close()
        return response

    cases = {"detail": f"/{{}}/articles/{DETAIL_ARTICLE}/", "list p20": "/{}/articles/?page=1&page_size=20"}
    environs = {}
    for case, pattern in cases.items():
        for key in {*FLOORS, *FLOORS.values()}:
            path = pattern.format(key)
            etag = (
                '"any"'
                if "floor" in key
                else send(factory.get(path, HTTP_ACCEPT="application/json").environ).headers["ETag"]
            )
            environ = factory.get(path, HTTP_ACCEPT="application/json", HTTP_IF_NONE_MATCH=etag).environ
            status = send(environ).status_code
            assert status == 304, f"{key} answered {status} to {case}"
            environs[f"{case}|{key}"] = environ
    times: dict[str, list[float]] = {key: [] for key in environs}
    order, rng = list(environs), random.Random(1)
    for index in range(WARMUP + rounds):
        rng.shuffle(order)
        for key in order:
            environ = dict(environs[key])
            started = time.perf_counter()
            handler(environ, start_response).close()
            if index >= WARMUP:
                times[key].append(time.perf_counter() - started)
    medians = {key: statistics.median(values) * 1e6 for key, values in times.items()}
    ratios = {
        f"{key} / floor": medians[key] / medians[f"{key.split('|')[0]}|{FLOORS[key.split('|')[1]]}"]
        for key in medians
        if key.split("|")[1] in FLOORS
    }
    return {**medians, **ratios}


if __name__ == "__main__":
    main()
