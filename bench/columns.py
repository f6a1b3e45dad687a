"""``python -m bench.columns``: what the bookkeeping columns of versioned related rows cost a page.

A versioned author or tag carries ``version``, ``updated_at`` and
``last_modified``; ``select_related`` and ``prefetch_related`` load them with
the row even where the representation shows only a name. This seeds the
benchmark's 1,000 articles into a temporary SQLite file (or the database
named by ``--database``, which it empties), then builds the example's
100-article page (query, prefetch and serializer, no HTTP) both ways in
interleaved rounds: as ``select_related("author").prefetch_related("tags")``
loads it, and as the example's ``shown_articles()`` does, with those columns
deferred. It checks that both give the same data and prints one line of JSON:
the median µs of each and the median of per-round ratios.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import tempfile
import time
from collections.abc import Callable, Sequence
from typing import Any

PAGE = 100


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--rounds", type=int, default=300, help="timed rounds (default: 300)")
    parser.add_argument("--database", default="", help="a scratch database URL (default: a temporary SQLite file)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as folder:
        os.environ["DJANGO_SETTINGS_MODULE"] = "bench.settings"
        os.environ["BENCH_WORKER_DATABASE_URL"] = args.database or f"sqlite:///{folder}/columns.sqlite3"
        print(json.dumps(measure(args.rounds)))


def measure(rounds: int) -> dict[str, float]:
    import django

    django.setup()
    from django.core.management import call_command

    from bench.data import grow_to
    from example_project.blog.models import Article
    from example_project.blog.serializers import ArticleSerializer
    from example_project.blog.views import shown_articles

    call_command("migrate", verbosity=0)
    call_command("flush", interactive=False, verbosity=0)
    grow_to(1000)

    def loaded() -> Any:
        return Article.objects.select_related("author").prefetch_related("tags")

    pages: dict[str, Callable[[], Any]] = {
        "with the columns": lambda: (
            ArticleSerializer(loaded().filter(published=True).order_by("id")[:PAGE], many=True).data
        ),
        "deferred": lambda: (
            ArticleSerializer(shown_articles().filter(published=True).order_by("id")[:PAGE], many=True).data
        ),
    }
    if pages["with the columns"]() != pages["deferred"]():
        raise SystemExit("the two pages differ: deferring changed what the page shows")
    times: dict[str, list[float]] = {key: [] for key in pages}
    order, rng = list(pages), random.Random(1)
    for _ in range(rounds):
        rng.shuffle(order)
        for key in order:
            started = time.perf_counter()
            pages[key]()
            times[key].append(time.perf_counter() - started)
    ratios = [a / b for a, b in zip(times["with the columns"], times["deferred"], strict=True)]
    return {
        **{f"{key} µs": round(statistics.median(values) * 1e6, 1) for key, values in times.items()},
        "with / deferred": round(statistics.median(ratios), 3),
    }


if __name__ == "__main__":
    main()
