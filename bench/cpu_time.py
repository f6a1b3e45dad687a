"""CPU time of a process and of a process with its children, from ``/proc`` (Linux).

``python -m bench.load`` reports how much of a core the load generator and
the server used in each measured window: a generator that runs out of CPU
caps the requests per second of every fast answer, and a server core that is
not saturated means the figure is held down by something else. Reading
``/proc/<pid>/stat`` needs no cooperation from either process.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "ProcessTimes",
    "Snapshot",
    "machine_busy_seconds",
    "parse_busy",
    "parse_stat",
    "process_seconds",
    "seconds_between",
    "selected_snapshot",
    "tree_snapshot",
]

PROC = Path("/proc")
#: The unit of the times in /proc/<pid>/stat.
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class ProcessTimes:
    """One process's line of ``/proc/<pid>/stat``, as far as CPU time goes, in clock ticks."""

    parent: int
    #: utime + stime: every thread of the process, user and kernel.
    own: int
    #: cutime + cstime: the children it has waited for (a gunicorn master's replaced workers).
    reaped_children: int


def parse_stat(line: str) -> ProcessTimes:
    """The fields of ``/proc/<pid>/stat`` that count CPU time (``proc(5)``: ppid 4th, utime to cstime 14th–17th).

    The command name (2nd, in parentheses) may hold spaces and parentheses,
    so the fields are counted from the last closing parenthesis.
    """
    fields = line[line.rindex(")") + 2 :].split()
    utime, stime, cutime, cstime = (int(value) for value in fields[11:15])
    return ProcessTimes(parent=int(fields[1]), own=utime + stime, reaped_children=cutime + cstime)


def read_times(pid: int) -> ProcessTimes | None:
    """``pid``'s times, or None if it is gone."""
    try:
        return parse_stat((PROC / str(pid) / "stat").read_text())
    except (FileNotFoundError, ProcessLookupError):
        return None


def process_seconds(pid: int) -> float:
    """CPU seconds used so far by ``pid`` (still running, or exited and not yet reaped)."""
    times = read_times(pid)
    if times is None:
        raise ProcessLookupError(pid)
    return times.own / CLOCK_TICKS


def children(pid: int) -> list[int]:
    """The processes whose parent is ``pid``."""
    found = []
    for entry in PROC.iterdir():
        if entry.name.isdigit():
            times = read_times(int(entry.name))
            if times is not None and times.parent == pid:
                found.append(int(entry.name))
    return found


#: CPU clock ticks used so far, by process id: two of them, a window apart, give what each used in it.
Snapshot = dict[int, int]


def tree_snapshot(pid: int) -> Snapshot:
    """``pid`` (with the children it has reaped: a server's replaced workers) and its live children (one level)."""
    times = read_times(pid)
    if times is None:
        raise ProcessLookupError(pid)
    snapshot = {pid: times.own + times.reaped_children}
    for child in children(pid):
        child_times = read_times(child)
        if child_times is not None:
            snapshot[child] = child_times.own
    return snapshot


def seconds_between(before: Snapshot, after: Snapshot) -> float:
    """The CPU seconds the processes of ``after`` used since ``before``, a process new since then all of it.

    A process gone in between is left out (its last moments are lost) rather
    than subtracted: a database connection replaced in the window must not
    make the sum shrink.
    """
    return sum(max(0, ticks - before.get(pid, 0)) for pid, ticks in after.items()) / CLOCK_TICKS


def command_line(pid: int) -> str:
    """``pid``'s command line, words joined by spaces (a PostgreSQL backend's is its title); "" if gone."""
    try:
        return (PROC / str(pid) / "cmdline").read_bytes().replace(b"\0", b" ").decode("utf-8", "replace").strip()
    except (FileNotFoundError, ProcessLookupError):
        return ""


def selected_snapshot(select: Callable[[str], bool]) -> Snapshot:
    """The live processes whose command line ``select`` accepts."""
    snapshot = {}
    for entry in PROC.iterdir():
        if entry.name.isdigit() and select(command_line(int(entry.name))):
            times = read_times(int(entry.name))
            if times is not None:
                snapshot[int(entry.name)] = times.own
    return snapshot


def parse_busy(stat: str) -> int:
    """Clock ticks every core spent busy, from the first line of ``/proc/stat``.

    user, nice, system, irq and softirq; not idle, iowait, or steal (time
    the hypervisor gave to another machine); guest time is already in user.
    """
    fields = stat.splitlines()[0].split()
    if fields[0] != "cpu":
        raise ValueError(f"not the first line of /proc/stat: {fields[0]!r}")
    user, nice, system, _idle, _iowait, irq, softirq = (int(value) for value in fields[1:8])
    return user + nice + system + irq + softirq


def machine_busy_seconds() -> float:
    """CPU seconds every process on the machine has used so far, all cores together."""
    return parse_busy((PROC / "stat").read_text()) / CLOCK_TICKS
