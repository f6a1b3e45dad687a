"""wrk, the load generator of ``python -m bench.load``: its command line, one timed run, and its results.

wrk is written in C and drives many connections from one thread with
epoll, so it needs a fraction of the CPU a Python generator needs for the
same rate; pinned to a core of its own (``taskset``), it leaves the server's
cores to the server. ``bench/wrk_case.lua`` counts the answers whose status
is not the expected one and writes the summary as JSON, parsed here.
"""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.cpu_time import Snapshot, machine_busy_seconds, process_seconds, seconds_between

__all__ = ["SCRIPT", "Window", "WrkResult", "parse_results", "run_window", "wrk_command"]

SCRIPT = Path(__file__).with_name("wrk_case.lua")
#: A request still unanswered after this long counts as a timeout (wrk's default is 2 s: too short for a 100-item
#: page queued behind others on one core).
TIMEOUT = "10s"
#: How long a run may take beyond its duration before it is killed.
GRACE = 30.0
#: How often the end of a run is looked for: its window is known to within this.
POLL = 0.01


@dataclass(frozen=True)
class WrkResult:
    """What ``wrk_case.lua`` wrote at the end of one run."""

    requests: int
    seconds: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float
    #: Socket errors by kind (connect, read, write, timeout), as wrk counts them.
    socket_errors: Mapping[str, int]
    #: Answers whose status was not the expected one, by status.
    unexpected: Mapping[str, int]

    @property
    def rps(self) -> float:
        return self.requests / self.seconds

    @property
    def failures(self) -> int:
        """Every request that did not come back with the expected status: other statuses and socket errors."""
        return sum(self.unexpected.values()) + sum(self.socket_errors.values())

    def failure_reasons(self) -> dict[str, int]:
        reasons = {f"status {status}": count for status, count in sorted(self.unexpected.items())}
        reasons.update((f"{kind} error", count) for kind, count in self.socket_errors.items() if count)
        return reasons


def parse_results(text: str) -> WrkResult:
    """The JSON ``wrk_case.lua`` writes, as a :class:`WrkResult`; ValueError when no request completed."""
    data: dict[str, Any] = json.loads(text)
    if data["requests"] < 1 or data["duration_us"] <= 0:
        raise ValueError(f"no request completed: {text.strip()}")
    latency = {name: microseconds / 1000 for name, microseconds in data["latency_us"].items()}
    return WrkResult(
        requests=data["requests"],
        seconds=data["duration_us"] / 1_000_000,
        p50_ms=latency["p50"],
        p90_ms=latency["p90"],
        p99_ms=latency["p99"],
        max_ms=latency["max"],
        socket_errors={kind: int(count) for kind, count in data["socket_errors"].items()},
        unexpected={str(status): int(count) for status, count in data["unexpected"].items()},
    )


def wrk_command(
    url: str, headers: Mapping[str, str], seconds: int, connections: int, threads: int, cores: Sequence[int]
) -> list[str]:
    """wrk on ``cores`` only, sending ``headers`` to ``url`` for ``seconds`` over ``connections``."""
    return [
        *("taskset", "--cpu-list", ",".join(map(str, cores))),
        *("wrk", "--threads", str(threads), "--connections", str(connections), "--duration", f"{seconds}s"),
        *("--timeout", TIMEOUT, "--script", str(SCRIPT)),
        *(option for name, value in headers.items() for option in ("--header", f"{name}: {value}")),
        url,
    ]


@dataclass(frozen=True)
class Window:
    """One wrk run: its results, and the CPU seconds the generator and the server used while it ran."""

    result: WrkResult
    #: From wrk's start to its exit, by this process's clock.
    wall_seconds: float
    generator_seconds: float
    server_seconds: float
    #: The database's and the cache's processes that serve the server.
    store_seconds: float
    #: Every process on the machine, the ones above included.
    machine_seconds: float

    @property
    def generator_share(self) -> float:
        """The generator's CPU time as a share of one core over the window."""
        return self.generator_seconds / self.wall_seconds

    @property
    def server_share(self) -> float:
        """The server's CPU time (all its processes) as a share of one core over the window."""
        return self.server_seconds / self.wall_seconds

    @property
    def store_share(self) -> float:
        """The database's and the cache's CPU time as a share of one core over the window."""
        return self.store_seconds / self.wall_seconds

    @property
    def other_share(self) -> float:
        """Everything else that ran meanwhile, load that has nothing to do with the run, as a share of one core."""
        ours = self.generator_seconds + self.server_seconds + self.store_seconds
        return max(0.0, self.machine_seconds - ours) / self.wall_seconds


#: The CPU time of some processes so far: read as a window opens and as it closes.
Meter = Callable[[], Snapshot]


def run_window(
    command: Sequence[str], seconds: int, expected_status: int, server_cpu: Meter, store_cpu: Meter
) -> Window:
    """Run ``command`` (from :func:`wrk_command`, for ``seconds``) to its end, reading the meters around it.

    The generator's CPU time is read once it has exited but before it is
    reaped, so that all of it is counted, threads included.
    """
    with tempfile.TemporaryDirectory() as directory, tempfile.TemporaryFile() as output:
        results = Path(directory) / "results.json"
        environment = {**os.environ, "WRK_EXPECT_STATUS": str(expected_status), "WRK_RESULTS": str(results)}
        server_before, store_before, machine_before = server_cpu(), store_cpu(), machine_busy_seconds()
        started = time.perf_counter()
        generator = subprocess.Popen(
            command, env=environment, stdin=subprocess.DEVNULL, stdout=output, stderr=subprocess.STDOUT
        )
        try:
            exited = wait_without_reaping(generator.pid, seconds + GRACE)
            wall = time.perf_counter() - started
            server_after, store_after, machine_after = server_cpu(), store_cpu(), machine_busy_seconds()
            generator_seconds = process_seconds(generator.pid) if exited else 0.0
        finally:
            if generator.poll() is None:
                generator.kill()
            generator.wait()
        if not exited or generator.returncode != 0 or not results.exists():
            output.seek(0)
            report = output.read().decode("utf-8", "replace")[-4000:]
            raise RuntimeError(
                f"wrk {'hung' if not exited else f'exited with status {generator.returncode}'}:\n{report}"
            )
        return Window(
            parse_results(results.read_text()),
            wall,
            generator_seconds,
            seconds_between(server_before, server_after),
            seconds_between(store_before, store_after),
            machine_after - machine_before,
        )


def wait_without_reaping(pid: int, timeout: float) -> bool:
    """Whether the child ``pid`` exited within ``timeout`` seconds; it is left a zombie, its /proc entry intact."""
    deadline = time.perf_counter() + timeout
    while time.perf_counter() < deadline:
        if os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None:
            return True
        time.sleep(POLL)
    return False
