"""The load generator of ``python -m bench.load``: locust users repeating one request, and a timed window.

``bench.load`` runs this file once per case, in a process of its own
(``locust --headless``), with the options added below. Every user sends the
same GET as soon as the previous answer is in (no wait time), with
``If-None-Match`` when the case is a revalidation; an answer whose status is
not the expected one counts as a failure, whatever it is. Locust's own
statistics start with the first request and round response times; so the
summary is kept here instead: the warm-up is left out, and every response
that completes within the measured window is kept at full precision. At the
end the summary goes to the ``--results`` file as JSON.
"""

from __future__ import annotations

import json
import statistics
import time
from argparse import ArgumentParser
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import gevent
from locust import FastHttpUser, constant, events, task
from locust.env import Environment


@dataclass
class Window:
    """What completes between the end of the warm-up and the end of the run."""

    opened: float | None = None
    closed: float | None = None
    cpu_opened: float = 0.0
    cpu_closed: float = 0.0
    milliseconds: list[float] = field(default_factory=list)
    failures: Counter[str] = field(default_factory=Counter)

    def open(self) -> None:
        self.opened, self.cpu_opened = time.perf_counter(), time.process_time()

    def close(self) -> None:
        if self.opened is not None and self.closed is None:
            self.closed, self.cpu_closed = time.perf_counter(), time.process_time()

    def record(self, milliseconds: float, exception: BaseException | None) -> None:
        if self.opened is None or self.closed is not None:
            return
        self.milliseconds.append(milliseconds)
        if exception is not None:
            self.failures[str(exception)] += 1

    def summary(self) -> dict[str, Any]:
        if self.opened is None or self.closed is None or len(self.milliseconds) < 2:
            raise RuntimeError("No requests completed within the measured window.")
        seconds = self.closed - self.opened
        return {
            "seconds": seconds,
            "requests": len(self.milliseconds),
            "failures": sum(self.failures.values()),
            "failure_reasons": dict(self.failures),
            "rps": len(self.milliseconds) / seconds,
            "median_ms": statistics.median(self.milliseconds),
            "p99_ms": statistics.quantiles(self.milliseconds, n=100)[98],
            "generator_cpu": (self.cpu_closed - self.cpu_opened) / seconds,
        }


WINDOW = Window()


@events.init_command_line_parser.add_listener
def add_options(parser: ArgumentParser) -> None:
    parser.add_argument("--case-path", required=True, help="the path every request asks for")
    parser.add_argument("--expect-status", type=int, required=True, help="the status every answer must have")
    parser.add_argument("--if-none-match", default="", help="the ETag to revalidate, if any")
    parser.add_argument("--warmup", type=int, required=True, help="seconds before the window opens")
    parser.add_argument("--results", type=Path, required=True, help="where to write the JSON summary")


@events.test_start.add_listener
def schedule_window(environment: Environment, **_: Any) -> None:
    gevent.spawn_later(environment.parsed_options.warmup, WINDOW.open)


@events.request.add_listener
def record(response_time: float, exception: BaseException | None, **_: Any) -> None:
    WINDOW.record(response_time, exception)


@events.test_stopping.add_listener
def close_window(**_: Any) -> None:
    WINDOW.close()


@events.test_stop.add_listener
def write_summary(environment: Environment, **_: Any) -> None:
    environment.parsed_options.results.write_text(json.dumps(WINDOW.summary()))


class CaseUser(FastHttpUser):
    """Sends the case's request again and again; any other status than the expected one is a failure."""

    wait_time = constant(0)

    def on_start(self) -> None:
        options = self.environment.parsed_options
        self.path: str = options.case_path
        self.expected: int = options.expect_status
        self.headers = {"Accept": "application/json"}
        if options.if_none_match:
            self.headers["If-None-Match"] = options.if_none_match

    @task
    def send(self) -> None:
        with self.client.get(self.path, headers=self.headers, catch_response=True) as response:
            if response.status_code == self.expected:
                response.success()
            elif response.status_code:
                response.failure(f"status {response.status_code}, expected {self.expected}")
            # No status at all: locust reports the connection error itself.
