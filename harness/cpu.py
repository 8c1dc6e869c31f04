"""CPU time per process group, read from /proc before and after a bench phase.

A group's time is user + system time of its processes, plus what its processes' reaped children
used (a web server process replaced, a PostgreSQL backend that disconnected), so a process that
exits within a phase still counts. A process that started and exited within the phase and was
not reaped by one of the group's processes is missed (none of the bench's groups has such)."""

import os
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from harness import processes

Probe = Callable[[], float]
_TICK = os.sysconf("SC_CLK_TCK")


def own_seconds(pid: int, *, reaped: bool = True) -> float:
    """One process: user + system, and its reaped children's when `reaped`."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (FileNotFoundError, ProcessLookupError):
        return 0.0
    # After the command: state (0), ppid (1) … utime (11), stime (12), cutime (13), cstime (14).
    ticks = int(fields[11]) + int(fields[12])
    if reaped:
        ticks += int(fields[13]) + int(fields[14])
    return ticks / _TICK


def tree_seconds(pid: int) -> float:
    """A process and its descendants, with what their reaped children used."""
    return sum(own_seconds(p) for p in [pid, *processes.descendants(pid)])


def trees_seconds(pids: Iterable[int]) -> float:
    return sum(tree_seconds(pid) for pid in pids)


def named_seconds(command: str) -> float:
    """Every process on the machine whose command is `command` (e.g. PostgreSQL's server:
    postmaster, backends and helpers, whoever they serve), with their reaped children's."""
    total = 0.0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if (entry / "comm").read_text().strip() != command:
                continue
        except (FileNotFoundError, ProcessLookupError):
            continue
        total += own_seconds(int(entry.name))
    return total


def this_process_seconds() -> float:
    return own_seconds(os.getpid(), reaped=False)


@dataclass
class Window:
    """CPU seconds per group between start (construction) and stop()."""

    probes: dict[str, Probe]
    before: dict[str, float] = field(default_factory=dict)
    started: float = 0.0

    def __post_init__(self) -> None:
        self.started = time.monotonic()
        self.before = {name: probe() for name, probe in self.probes.items()}

    def stop(self) -> tuple[float, dict[str, float]]:
        """The wall time and each group's CPU seconds since the start."""
        after = {name: probe() for name, probe in self.probes.items()}
        return time.monotonic() - self.started, {
            name: max(0.0, after[name] - self.before[name]) for name in self.probes
        }


def per_unit_ms(seconds: dict[str, float], units: int) -> dict[str, float]:
    """CPU milliseconds per unit (event, delivery, request) for each group."""
    return {name: round(value * 1000 / units, 3) if units else 0.0 for name, value in seconds.items()}


class DatabaseBackends:
    """PostgreSQL's backends serving one database (pg_stat_activity's), for a Window: the first
    call notes each backend's time and returns 0, the next returns what they used since (a
    backend that connected meanwhile counts whole; one that disconnected meanwhile is missed).
    On a shared machine it shows how much of the server-wide figure the bench caused."""

    def __init__(self, database: str) -> None:
        self.database = database
        self.first: dict[int, float] | None = None

    def pids(self) -> list[int]:
        from django.db import connection

        with connection.cursor() as cursor:
            cursor.execute("SELECT pid FROM pg_stat_activity WHERE datname = %s", [self.database])
            return [int(row[0]) for row in cursor.fetchall()]

    def __call__(self) -> float:
        now = {pid: own_seconds(pid) for pid in self.pids()}
        if self.first is None:
            self.first = now
            return 0.0
        return sum(seconds - self.first.get(pid, 0.0) for pid, seconds in now.items())
