"""The cases of ``python -m bench.load``, what each measured, and each 304's rate against its 200.

Pure data, no Django: the run (``bench.load``), the report and the targets
(``bench.load_report``, ``bench.load_targets``) share it, and the tests
check it without a server.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from bench.wrk import Window

__all__ = [
    "CEILING_PATH",
    "DRF_DETAIL",
    "DRF_PAGE_100",
    "Case",
    "Plan",
    "Row",
    "against_200",
    "cases",
    "ceiling",
    "default_connections",
    "default_workers",
    "find",
    "split_cores",
]

#: A path no route matches: Django answers 404 through the example's whole middleware stack, and no view runs.
CEILING_PATH = "/load-ceiling/"


@dataclass(frozen=True)
class Case:
    #: What is asked for, the same for a URL's 200 and 304 (``DRF detail``).
    name: str
    path: str
    #: The status every answer must have: 200 for a plain GET, 304 for a revalidation, 404 for the ceiling.
    status: int
    #: Served with the validator cache in Redis (the server's CACHE_URL).
    cached: bool = False

    @property
    def conditional(self) -> bool:
        return self.status == 304

    @property
    def label(self) -> str:
        if self.is_ceiling:
            return self.name
        return f"{self.name} {self.status}{f', {CACHED}' if self.cached else ''}"

    @property
    def is_ceiling(self) -> bool:
        return self.path == CEILING_PATH


@dataclass(frozen=True)
class Row:
    """One case, measured."""

    case: Case
    window: Window

    @property
    def rps(self) -> float:
        return self.window.result.rps


DRF_DETAIL = "DRF detail"
DRF_PAGE_100 = "DRF list, page_size=100"
DRF_PAGE_20 = "DRF list, page_size=20"
PLAIN_DETAIL = "plain detail"
CACHED = "from Redis"
CEILING = "ceiling: 404, no route"


def cases(detail_article: int) -> list[Case]:
    """Every case, in the order they run: the server without the validator cache, then the one with it.

    Each 200 runs just before its 304. With the cache, the ceiling runs
    first, then the 304s it is held against; their 200s are the uncached
    ones (a 200 builds the whole body either way).
    """
    paths = {
        DRF_DETAIL: f"/api/articles/{detail_article}/",
        DRF_PAGE_100: "/api/articles/?page_size=100",
        DRF_PAGE_20: "/api/articles/?page_size=20",
        PLAIN_DETAIL: f"/plain/articles/{detail_article}/",
    }
    uncached = [Case(name, path, status) for name, path in paths.items() for status in (200, 304)]
    cached = [
        Case(CEILING, CEILING_PATH, 404, cached=True),
        *(Case(name, paths[name], 304, cached=True) for name in (DRF_DETAIL, DRF_PAGE_100)),
    ]
    return [*uncached, *cached]


def find(rows: Sequence[Row], path: str, status: int, cached: bool) -> Row | None:
    return next(
        (row for row in rows if (row.case.path, row.case.status, row.case.cached) == (path, status, cached)), None
    )


def ceiling(rows: Sequence[Row]) -> Row | None:
    return next((row for row in rows if row.case.is_ceiling), None)


def against_200(row: Row, rows: Sequence[Row]) -> float | None:
    """A 304's requests per second over those of the uncached 200 of the same URL; None for anything else."""
    if not row.case.conditional:
        return None
    baseline = find(rows, row.case.path, 200, cached=False)
    return row.rps / baseline.rps if baseline else None


@dataclass(frozen=True)
class Plan:
    """How the run is set up: the data, the server, the generator, the windows."""

    articles: int
    #: The cores wrk is pinned to (one), and those gunicorn is pinned to (the rest).
    generator_cores: tuple[int, ...]
    server_cores: tuple[int, ...]
    workers: int
    connections: int
    warmup: int
    duration: int

    @property
    def threads(self) -> int:
        """One wrk thread per core it has: more would only take turns on it."""
        return len(self.generator_cores)


def split_cores(available: set[int]) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """The generator's core (the last one) and the server's (every other); ValueError with fewer than two."""
    if len(available) < 2:
        raise ValueError(f"needs two cores, one for the load generator and one for the server; has {len(available)}")
    ordered = sorted(available)
    return (ordered[-1],), tuple(ordered[:-1])


def default_workers(server_cores: int) -> int:
    """gunicorn's rule for sync workers, two per core plus one: while one waits on the database, another runs."""
    return 2 * server_cores + 1


def default_connections(workers: int) -> int:
    """Two per worker: a worker that answers finds the next request queued; more only lengthen the queue.

    A sync worker closes the connection after each answer, so the generator
    reconnects between requests; with one connection per worker, a worker
    would wait for that. More connections add to the latency, not the rate.
    """
    return 2 * workers
