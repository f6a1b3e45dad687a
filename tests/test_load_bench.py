"""``python -m bench.load``'s own logic: its cases, wrk's results, the CPU figures, the verdicts and the report.

The load run itself (gunicorn, PostgreSQL, Redis, minutes of wrk) stays a
manual ``make load``; these check what decides its figures without a server,
and, where wrk is installed, that its script writes what the parser reads.
"""

from __future__ import annotations

import itertools
import json
import os
import shutil
import subprocess
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from bench.cpu_time import (
    CLOCK_TICKS,
    command_line,
    parse_busy,
    parse_stat,
    seconds_between,
    selected_snapshot,
    tree_snapshot,
)
from bench.load import store_process
from bench.load_cases import (
    CEILING_PATH,
    Case,
    Plan,
    Row,
    against_200,
    cases,
    default_connections,
    default_workers,
    split_cores,
)
from bench.load_report import END, START, render, write
from bench.load_targets import verdicts
from bench.wrk import SCRIPT, Window, WrkResult, parse_results, run_window, wrk_command

DETAIL = 500


def wrk_json(**changes: object) -> str:
    data: dict[str, object] = {
        "requests": 12_000,
        "duration_us": 12_000_000,
        "bytes": 5_000_000,
        "latency_us": {"p50": 4_250, "p90": 6_000, "p99": 9_875, "max": 20_000},
        "socket_errors": {"connect": 0, "read": 0, "write": 0, "timeout": 0},
        "unexpected": {},
    }
    data.update(changes)
    return json.dumps(data)


def measured(case: Case, rps: float, other: float = 0.6) -> Row:
    """``case`` at ``rps`` requests per second over a 12-second window, ``other`` CPU seconds used by other load."""
    result = WrkResult(
        requests=round(rps * 12),
        seconds=12.0,
        p50_ms=5.0,
        p90_ms=7.0,
        p99_ms=9.0,
        max_ms=20.0,
        socket_errors={"connect": 0, "read": 0, "write": 0, "timeout": 0},
        unexpected={},
    )
    generator, server, stores = 1.2, 11.0, 2.4
    return Row(case, Window(result, 12.0, generator, server, stores, generator + server + stores + other))


def by_label(rps: dict[str, float], other: float = 0.6) -> list[Row]:
    everything = {case.label: case for case in cases(DETAIL)}
    return [measured(everything[label], value, other) for label, value in rps.items()]


# -- the cases ----------------------------------------------------------------------


def test_every_case_is_there_once_in_running_order() -> None:
    labels = [case.label for case in cases(DETAIL)]

    assert labels == [
        "DRF detail 200",
        "DRF detail 304",
        "DRF list, page_size=100 200",
        "DRF list, page_size=100 304",
        "DRF list, page_size=20 200",
        "DRF list, page_size=20 304",
        "plain detail 200",
        "plain detail 304",
        "ceiling: 404, no route",
        "DRF detail 304, from Redis",
        "DRF list, page_size=100 304, from Redis",
    ]


def test_the_uncached_server_runs_first_and_the_ceiling_runs_on_the_cached_one() -> None:
    everything = cases(DETAIL)
    flags = [case.cached for case in everything]

    assert flags == sorted(flags)  # one server, then the other: never back
    (top,) = [case for case in everything if case.is_ceiling]
    assert (top.path, top.status, top.cached, top.conditional) == (CEILING_PATH, 404, True, False)


def test_each_304_has_an_uncached_200_of_its_url_measured_before_it() -> None:
    everything = cases(DETAIL)
    for index, case in enumerate(everything):
        if case.conditional:
            earlier = [(c.path, c.status, c.cached) for c in everything[:index]]
            assert (case.path, 200, False) in earlier, case.label


def test_the_details_ask_for_the_given_article() -> None:
    paths = {case.path for case in cases(DETAIL) if "detail" in case.name}

    assert paths == {f"/api/articles/{DETAIL}/", f"/plain/articles/{DETAIL}/"}


# -- the plan -----------------------------------------------------------------------


def test_the_generator_gets_the_last_core_and_the_server_every_other() -> None:
    assert split_cores({0, 1}) == ((1,), (0,))
    assert split_cores({3, 0, 2, 1}) == ((3,), (0, 1, 2))


def test_one_core_is_not_enough_to_keep_the_generator_off_the_servers() -> None:
    with pytest.raises(ValueError, match="two cores"):
        split_cores({0})


def test_workers_follow_the_servers_cores_and_connections_the_workers() -> None:
    assert [default_workers(cores) for cores in (1, 3)] == [3, 7]
    assert default_connections(3) == 6


# -- wrk --------------------------------------------------------------------------


def test_wrks_json_becomes_rates_and_milliseconds() -> None:
    result = parse_results(wrk_json())

    assert (result.requests, result.seconds, result.rps) == (12_000, 12.0, 1_000.0)
    assert (result.p50_ms, result.p90_ms, result.p99_ms, result.max_ms) == (4.25, 6.0, 9.875, 20.0)
    assert result.failures == 0
    assert result.failure_reasons() == {}


def test_other_statuses_and_socket_errors_are_failures_each_with_its_reason() -> None:
    socket_errors = {"connect": 0, "read": 2, "write": 0, "timeout": 1}
    result = parse_results(wrk_json(unexpected={"200": 5, "500": 1}, socket_errors=socket_errors))

    assert result.failures == 9
    assert result.failure_reasons() == {"status 200": 5, "status 500": 1, "read error": 2, "timeout error": 1}


def test_a_run_in_which_nothing_completed_is_refused() -> None:
    with pytest.raises(ValueError, match="no request completed"):
        parse_results(wrk_json(requests=0))


def test_wrk_is_pinned_and_sends_the_headers_with_the_script() -> None:
    command = wrk_command(
        "http://127.0.0.1:8000/api/articles/500/",
        {"Accept": "application/json", "If-None-Match": '"abc"'},
        12,
        6,
        1,
        [1],
    )

    assert command[:3] == ["taskset", "--cpu-list", "1"]
    assert command[3] == "wrk"
    assert command[-1] == "http://127.0.0.1:8000/api/articles/500/"
    pairs = dict(zip(command[4:-1:2], command[5:-1:2], strict=True))
    assert pairs["--threads"] == "1"
    assert pairs["--connections"] == "6"
    assert pairs["--duration"] == "12s"
    assert pairs["--script"] == str(SCRIPT)
    headers = [value for option, value in itertools.pairwise(command) if option == "--header"]
    assert headers == ["Accept: application/json", 'If-None-Match: "abc"']


# -- CPU time -----------------------------------------------------------------------


def test_a_process_stat_line_is_read_past_a_command_name_with_spaces_and_parentheses() -> None:
    # pid (comm) state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt utime stime cutime cstime ...
    line = "4242 (gunicorn: (worker) x) S 4200 4200 4200 0 -1 4194560 900 0 0 0 150 30 7 3 20 0 1 0 5000 0\n"

    times = parse_stat(line)

    assert (times.parent, times.own, times.reaped_children) == (4200, 180, 10)


def test_the_machine_is_busy_in_user_nice_system_irq_and_softirq_time_only() -> None:
    stat = "cpu  1000 20 300 9000 50 4 6 70 0 0\ncpu0 500 10 150 4500 25 2 3 35 0 0\n"

    assert parse_busy(stat) == 1000 + 20 + 300 + 4 + 6


def test_the_shares_are_of_one_core_over_the_window_and_the_rest_is_what_none_of_the_run_used() -> None:
    window = Window(parse_results(wrk_json()), wall_seconds=10.0, generator_seconds=2.0, server_seconds=9.0,
                    store_seconds=4.0, machine_seconds=18.0)  # fmt: skip

    shares = (window.generator_share, window.server_share, window.store_share, window.other_share)
    assert shares == pytest.approx((0.2, 0.9, 0.4, 0.3))


def test_the_processes_are_picked_by_their_command_line() -> None:
    here = command_line(os.getpid())

    assert os.getpid() in selected_snapshot(lambda command: command == here)
    assert selected_snapshot(lambda command: False) == {}


def test_a_servers_snapshot_holds_its_workers() -> None:
    worker = subprocess.Popen(["sleep", "30"])
    try:
        snapshot = tree_snapshot(os.getpid())
    finally:
        worker.kill()
        worker.wait()

    assert {os.getpid(), worker.pid} <= snapshot.keys()


def test_a_process_counts_what_it_used_since_the_first_snapshot_or_since_it_started() -> None:
    before = {10: 100, 11: 50, 12: 70}
    after = {10: 130, 11: 50, 13: 20}  # 12 has gone (a replaced connection), 13 is new

    assert seconds_between(before, after) == (30 + 0 + 20) / CLOCK_TICKS


@pytest.mark.parametrize(
    ("command", "stores"),
    [
        ("postgres: 15/main: postgres load 127.0.0.1(34784) idle", True),
        ("postgres: postgres load 127.0.0.1(34784) SELECT", True),
        ("postgres: 15/main: postgres test_load 127.0.0.1(34790) idle", False),  # another database
        ("postgres: 15/main: checkpointer", False),
        ("/usr/bin/redis-server 127.0.0.1:6379", True),
        ("redis-server *:6379", True),
        ("/usr/bin/python -m gunicorn example_project.wsgi:application", False),
        ("", False),
    ],
)
def test_the_stores_are_the_backends_of_the_runs_database_and_redis(command: str, stores: bool) -> None:
    assert store_process(command, "load") is stores


# -- the verdicts -------------------------------------------------------------------

RATES = {
    "DRF detail 200": 300.0,
    "DRF detail 304": 900.0,
    "DRF list, page_size=100 200": 40.0,
    "DRF list, page_size=100 304": 700.0,
    "ceiling: 404, no route": 1_500.0,
    "DRF detail 304, from Redis": 1_200.0,
    "DRF list, page_size=100 304, from Redis": 900.0,
}


def test_a_304_is_held_against_the_uncached_200_of_its_url() -> None:
    rows = by_label(RATES)
    cached_detail = next(row for row in rows if row.case.label == "DRF detail 304, from Redis")

    assert against_200(cached_detail, rows) == 4.0
    assert against_200(rows[0], rows) is None  # a 200 has no ratio


def test_each_target_gets_its_figure_and_verdict() -> None:
    found = {(verdict.title, verdict.figure, verdict.limit, verdict.met) for verdict in verdicts(by_label(RATES))}

    assert found == {
        ("DRF detail 304: req/s vs the 200's", 3.0, 3.0, True),
        ("DRF detail 304, from Redis: req/s vs the 200's", 4.0, 4.0, True),
        ("DRF list, page_size=100 304: req/s vs the 200's", 17.5, 20.0, False),
        ("DRF list, page_size=100 304, from Redis: req/s vs the 200's", 22.5, 20.0, True),
        ("DRF detail 304, from Redis: time per request vs the ceiling's", 1.25, 1.5, True),
        ("DRF list, page_size=100 304, from Redis: time per request vs the ceiling's", 1_500 / 900, 1.5, False),
    }


def test_a_case_that_was_not_measured_gets_no_verdict() -> None:
    rates = {label: rps for label, rps in RATES.items() if label not in {"DRF detail 200", "ceiling: 404, no route"}}

    titles = {verdict.title for verdict in verdicts(by_label(rates))}

    assert titles == {
        "DRF list, page_size=100 304: req/s vs the 200's",
        "DRF list, page_size=100 304, from Redis: req/s vs the 200's",
    }


# -- the report ---------------------------------------------------------------------

PLAN = Plan(articles=10_000, generator_cores=(1,), server_cores=(0,), workers=3, connections=6, warmup=3, duration=12)
META = {"date": "today", "machine": "a machine", "versions": "versions", "minutes": 3.2, "load_before": "0.1",
        "load_after": "2.0"}  # fmt: skip


def test_the_report_has_a_row_per_case_and_a_verdict_per_target() -> None:
    text = render(by_label(RATES), PLAN, META)

    row = "| DRF detail 304 | `/api/articles/500/` | 10,800 | 0 | 900 | 3.00× | 5.0 | 9.0 | 10% | 92% | 20% | 5% |"
    assert row in text
    assert "| DRF list, page_size=100 304: req/s vs the 200's | 17.50× | ≥ 20× | **not met** |" in text
    assert "| DRF detail 304, from Redis: time per request vs the ceiling's | 1.25× | ≤ 1.5× | met |" in text
    assert "wrk (1 thread, 6 connections) pinned to core 1; gunicorn (3 sync workers" in text
    assert "No failures" in text
    assert "Disturbed" not in text


def test_the_report_says_when_other_load_took_cpu_from_the_run() -> None:
    text = render(by_label(RATES, other=3.0), PLAN, META)

    assert "**Disturbed**: load from outside the run took up to 25% of a core in a window (25% on average)" in text


def test_writing_replaces_only_what_is_between_the_markers(tmp_path: Path) -> None:
    page = tmp_path / "benchmarks.md"
    page.write_text(f"# Benchmarks\n\nbefore\n\n{START}\n\nold figures\n\n{END}\n\n### Reading it\n\nprose\n")

    write(page, "new figures\n")

    assert page.read_text() == f"# Benchmarks\n\nbefore\n\n{START}\n\nnew figures\n\n{END}\n\n### Reading it\n\nprose\n"


def test_writing_adds_the_section_when_the_page_has_none(tmp_path: Path) -> None:
    page = tmp_path / "benchmarks.md"
    page.write_text("# Benchmarks\n\nin process\n")

    write(page, "figures\n")

    text = page.read_text()
    assert text.startswith("# Benchmarks\n\nin process\n\n## Under a real server\n")
    assert f"{START}\n\nfigures\n\n{END}" in text


# -- wrk's script against a server that answers 404 ---------------------------------


class NotFound(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        self.send_response(404)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def not_found_server() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), NotFound)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.skipif(shutil.which("wrk") is None or shutil.which("taskset") is None, reason="needs wrk and taskset")
@pytest.mark.parametrize(("expected", "all_unexpected"), [(404, False), (200, True)])
def test_the_script_counts_every_answer_with_another_status(
    not_found_server: str, expected: int, all_unexpected: bool
) -> None:
    cores = sorted(os.sched_getaffinity(0))
    command = wrk_command(not_found_server, {"Accept": "application/json"}, 1, 2, 1, cores)

    window = run_window(command, 1, expected, dict, dict)

    result = window.result
    assert result.requests > 0
    assert result.unexpected == ({"404": result.requests} if all_unexpected else {})
    assert result.failures == (result.requests if all_unexpected else 0)
    assert window.generator_seconds > 0
