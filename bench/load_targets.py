"""The targets ``python -m bench.load`` holds its figures against, and their verdicts.

A 304 only pays if a server answers many more of them than of 200s, and
one from the validator cache should cost little more than the cheapest
answer the same stack can give (the ceiling). Each target names a case by
path and cache, so a case that was not measured yields no verdict instead
of a wrong one.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from bench.load_cases import DRF_DETAIL, DRF_PAGE_100, Row, against_200, ceiling

__all__ = ["SPEEDUPS", "Speedup", "Verdict", "verdicts"]

#: A cached 304's time per request at most this many times the ceiling's (ceiling req/s over its req/s).
CEILING_LIMIT = 1.5


@dataclass(frozen=True)
class Speedup:
    """The 304s of ``name`` (with or without the cache) at ``limit`` times the requests per second of its 200."""

    name: str
    cached: bool
    limit: float


SPEEDUPS = [
    Speedup(DRF_DETAIL, False, 3.0),
    Speedup(DRF_DETAIL, True, 4.0),
    Speedup(DRF_PAGE_100, False, 20.0),
    Speedup(DRF_PAGE_100, True, 20.0),
]


@dataclass(frozen=True)
class Verdict:
    title: str
    #: ``figure`` must be at least ``limit`` (a speedup), or at most (a ratio of times).
    at_least: bool
    figure: float
    limit: float

    @property
    def met(self) -> bool:
        return self.figure >= self.limit if self.at_least else self.figure <= self.limit


def speedup_verdicts(rows: Sequence[Row]) -> list[Verdict]:
    found = []
    for target in SPEEDUPS:
        for row in rows:
            case = row.case
            if case.conditional and case.name == target.name and case.cached == target.cached:
                ratio = against_200(row, rows)
                if ratio is not None:
                    found.append(Verdict(f"{case.label}: req/s vs the 200's", True, ratio, target.limit))
    return found


def ceiling_verdicts(rows: Sequence[Row]) -> list[Verdict]:
    """Each 304 from the validator cache: the ceiling's requests per second over its own."""
    top = ceiling(rows)
    if top is None:
        return []
    return [
        Verdict(f"{row.case.label}: time per request vs the ceiling's", False, top.rps / row.rps, CEILING_LIMIT)
        for row in rows
        if row.case.cached and row.case.conditional
    ]


def verdicts(rows: Sequence[Row]) -> list[Verdict]:
    return [*speedup_verdicts(rows), *ceiling_verdicts(rows)]
