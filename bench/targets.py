"""The targets conditional_api sets itself, checked against one database's measurements.

Pure functions over result rows (dicts, as the worker writes them), so the
worker can check them as soon as a size is measured, and profile what is
missed while the data is still there, and the report can check them again.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

__all__ = [
    "CACHED",
    "CONDITIONAL_CACHED",
    "FLOORS",
    "LIST_FAMILIES",
    "REFERENCE",
    "TARGETS",
    "ZERO_QUERY_FLOORS",
    "Check",
    "Target",
    "check_all",
]

Row = Mapping[str, Any]
#: The subject to profile when a check is not met: (contender, case, size).
Subject = tuple[str, str, int]

LIST_FAMILIES = ("list p20", "list p100", "list p20 deep")
FAMILIES = ("detail", *LIST_FAMILIES)
#: Every "× DRF 200" ratio's denominator: plain DRF's 200 of the same case family.
REFERENCE = "drf"
#: The floor each kind of contender is compared with: one indexed query, then 304.
FLOORS = {"drf": "drf-floor-query", "plain": "plain-floor-query"}
#: The floors with no query at all, which the validator cache is held against.
ZERO_QUERY_FLOORS = {"drf": "drf-floor", "plain": "plain-floor"}
#: The validator cache's contenders, by kind.
CACHED = {"conditional-drf-cache": "drf", "conditional-plain-cache": "plain"}
#: The validator cache's contenders, with the contender of the same kind without validators and its floor.
CONDITIONAL_CACHED = {
    "conditional-drf-cache": {"plain": "drf", "floor": ZERO_QUERY_FLOORS["drf"]},
    "conditional-plain-cache": {"plain": "plain", "floor": ZERO_QUERY_FLOORS["plain"]},
}
#: conditional_api's contenders, with the contender of the same kind without validators and its floor.
CONDITIONAL = {
    "conditional-drf": {"plain": "drf", "floor": FLOORS["drf"]},
    "conditional-plain": {"plain": "plain", "floor": FLOORS["plain"]},
}


@dataclass(frozen=True)
class Check:
    """One measured ratio held against its limit."""

    target: str
    subject: str
    value: float
    limit: float
    at_least: bool  # True: value must reach the limit (a speedup); False: stay under it
    met: bool
    profile: Subject | None = None
    note: str = ""


def paired_ratio(measured: Row, baseline: Row) -> float:
    """The median of per-round ratios of two contenders measured in the same rounds.

    Each round sends both requests within milliseconds, so load from
    elsewhere on the machine slows both alike and cancels out of the round's
    ratio; a ratio of two medians would keep it. Rows from different cases
    or sizes were measured at different times: those use the medians.
    """
    pairs = zip(measured["samples_us"], baseline["samples_us"], strict=True)
    return statistics.median(a / b for a, b in pairs)


class Rows:
    """The rows of one database, by (size, case, contender)."""

    def __init__(self, rows: Iterable[Row]) -> None:
        self.rows = {(row["size"], row["case"], row["contender"]): row for row in rows}
        self.sizes = sorted({row["size"] for row in self.rows.values()})
        self.labels = {row["contender"]: row["label"] for row in self.rows.values()}

    def get(self, size: int, case: str, contender: str) -> Row | None:
        return self.rows.get((size, case, contender))


def _near_floor(
    rows: Rows,
    limit: float,
    target: str,
    floors: Mapping[str, str],
    queries: bool = False,
    families: Iterable[str] = ("detail",),
) -> Iterable[Check]:
    """Each contender's 304 against its floor (``floors``: contender -> floor), per round.

    ``queries``: the check also requires that the 304 ran no query (the
    validator cache's promise), and says how many it ran.
    """
    for size in rows.sizes:
        for family in families:
            case = f"{family} 304"
            for contender, floor_key in floors.items():
                measured = rows.get(size, case, contender)
                floor = rows.get(size, case, floor_key)
                if measured and floor:
                    ratio = paired_ratio(measured, floor)
                    count = measured["queries"]
                    yield Check(
                        target,
                        f"{case}, {size:,} rows, {rows.labels[contender]} vs {rows.labels[floor_key]}",
                        ratio,
                        limit,
                        False,
                        ratio <= limit and (not queries or count == 0),
                        (contender, case, size),
                        f"{count} {'query' if count == 1 else 'queries'}" if queries else "",
                    )


def _detail_near_floor(rows: Rows, limit: float) -> Iterable[Check]:
    floors = {contender: related["floor"] for contender, related in CONDITIONAL.items()}
    return _near_floor(rows, limit, "detail-304-floor", floors)


def _cached_detail_near_floor(rows: Rows, limit: float) -> Iterable[Check]:
    floors = {contender: ZERO_QUERY_FLOORS[kind] for contender, kind in CACHED.items()}
    return _near_floor(rows, limit, "cached-304-floor", floors, queries=True, families=FAMILIES)


def _list_flat(rows: Rows, limit: float) -> Iterable[Check]:
    """Judged in units of the one-query floor measured in the same rounds.

    The two sizes run minutes apart, and on a shared machine the load can
    change between them by more than the 20% this target allows. The floor
    reads one row by primary key, whose cost does not grow with the table:
    at each size the list's cost is taken per round in units of the floor
    (the median of per-round ratios), and those two are compared. The raw
    ratio of medians is reported alongside.
    """
    if len(rows.sizes) < 2:
        return
    small, large = rows.sizes[0], rows.sizes[-1]
    for contender, related in CONDITIONAL.items():
        for family in LIST_FAMILIES:
            case = f"{family} 304"
            before, after = rows.get(small, case, contender), rows.get(large, case, contender)
            floor_before, floor_after = rows.get(small, case, related["floor"]), rows.get(large, case, related["floor"])
            if before and after and floor_before and floor_after:
                raw = after["median_us"] / before["median_us"]
                ratio = paired_ratio(after, floor_after) / paired_ratio(before, floor_before)
                yield Check(
                    "list-304-flat",
                    f"{case}, {rows.labels[contender]}, {large:,} vs {small:,} rows",
                    ratio,
                    limit,
                    False,
                    ratio <= limit,
                    (contender, case, large),
                    f"(raw {raw:.2f})",
                )


def _page_speedup(rows: Rows, limit: float) -> Iterable[Check]:
    for size in rows.sizes:
        for contender, related in CONDITIONAL_CACHED.items():
            not_modified = rows.get(size, "list p100 304", contender)
            full = rows.get(size, "list p100 200", related["plain"])
            floor = rows.get(size, "list p100 304", related["floor"])
            if not_modified and full:
                speedup = full["median_us"] / not_modified["median_us"]
                # What no view that reads one row before answering can beat.
                bound = f"(the one-query floor: {full['median_us'] / floor['median_us']:.1f}x)" if floor else ""
                yield Check(
                    "page-304-speedup",
                    f"{size:,} rows, {rows.labels[contender]} 304 vs {rows.labels[related['plain']]} 200",
                    speedup,
                    limit,
                    True,
                    speedup >= limit,
                    (contender, "list p100 304", size),
                    bound,
                )


def _ok_overhead(rows: Rows, limit: float) -> Iterable[Check]:
    """Details as they are; lists with the validator cache, where the counts need no query."""
    for size in rows.sizes:
        for family in FAMILIES:
            case = f"{family} 200"
            contenders = CONDITIONAL if family == "detail" else CONDITIONAL_CACHED
            for contender, related in contenders.items():
                measured, plain = rows.get(size, case, contender), rows.get(size, case, related["plain"])
                if measured and plain:
                    ratio = paired_ratio(measured, plain)
                    extra = measured["queries"] - plain["queries"]
                    yield Check(
                        "200-overhead",
                        f"{case}, {size:,} rows, {rows.labels[contender]} vs {rows.labels[related['plain']]}",
                        ratio,
                        limit,
                        False,
                        ratio <= limit and extra <= 0,
                        (contender, case, size),
                        f"{extra:+d} {'query' if abs(extra) == 1 else 'queries'}",
                    )


@dataclass(frozen=True)
class Target:
    key: str
    title: str
    limit: float
    checks: Callable[[Rows, float], Iterable[Check]]
    #: How the ratio is taken: per round when both sides share the rounds.
    method: str = "ratio of medians"


TARGETS = [
    Target(
        "detail-304-floor",
        "A detail 304 within 1.1x of the one-query floor of its kind "
        "(DRF mixins vs the DRF floor, the decorator vs the plain floor)",
        1.1,
        _detail_near_floor,
        "median of per-round ratios",
    ),
    Target(
        "cached-304-floor",
        "A detail or list 304 from the validator cache within 1.3x of the zero-query floor of its kind, with no query",
        1.3,
        _cached_detail_near_floor,
        "median of per-round ratios",
    ),
    Target(
        "list-304-flat",
        "A list 304 at the largest size within 1.05x of its time at the smallest",
        1.05,
        _list_flat,
        "at each size the median of per-round ratios to the one-query floor of its kind; raw ratio of medians "
        "in brackets",
    ),
    Target(
        "page-304-speedup",
        "A 304 on a 100-item page from the validator cache at least 25x faster than the 200 without "
        "validators (DRF mixins vs plain DRF, the decorator vs the plain view)",
        25.0,
        _page_speedup,
    ),
    Target(
        "200-overhead",
        "A 200 within 3% of the same view without validators, with no extra query "
        "(details as they are, lists with the validator cache)",
        1.03,
        _ok_overhead,
        "median of per-round ratios",
    ),
]


def check_all(rows: Iterable[Row]) -> list[Check]:
    """Every check the rows allow (a target needing two sizes waits for the second)."""
    indexed = Rows(rows)
    return [check for target in TARGETS for check in target.checks(indexed, target.limit)]
