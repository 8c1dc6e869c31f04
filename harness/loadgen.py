"""Load for the bench: `wrk` (Debian's package; `make bench` installs it) with the repository's
Lua script, and its own CPU time, taken from the kernel when it exits."""

import json
import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from typing import Any

from harness import processes

SCRIPT = processes.ROOT / "harness" / "wrk" / "events.lua"


@dataclass
class WrkRun:
    report: dict[str, Any]  # what the Lua script's done() printed (counts, errors, latency in µs)
    cpu_seconds: float  # wrk's own user + system time
    output: str

    @property
    def seconds(self) -> float:
        return float(self.report["duration_us"]) / 1e6

    @property
    def ok(self) -> int:
        return int(self.report["status_2xx"])

    def latency_ms(self, name: str) -> float:
        return round(float(self.report[f"latency_{name}_us"]) / 1000, 2)


def run(
    url: str, *, connections: int, seconds: int, threads: int = 2, run_id: str = "wrk", post_fixed: str | None = None
) -> WrkRun:
    """`connections` connections for `seconds` s. With `post_fixed` (an event's JSON without its
    closing brace), each request POSTs it with a unique call_session_id; otherwise a GET."""
    if shutil.which("wrk") is None:
        raise RuntimeError("wrk is missing: `make bench` installs it (Debian's wrk package)")
    argv = [
        "wrk",
        f"-t{max(1, min(threads, connections))}",
        f"-c{connections}",
        f"-d{max(1, seconds)}s",
        "--timeout",
        "30s",
        "-s",
        str(SCRIPT),
        url,
        "--",
        run_id,
    ]
    if post_fixed is not None:
        argv.append(post_fixed)
    with tempfile.TemporaryFile() as out:
        popen = subprocess.Popen(argv, cwd=processes.ROOT, stdout=out, stderr=subprocess.STDOUT)  # noqa: S603
        # wait4, not wait: the exited process's own CPU time comes with it.
        _, status, usage = os.wait4(popen.pid, 0)
        popen.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        output = out.read().decode(errors="replace")
    if popen.returncode != 0:
        raise RuntimeError(f"wrk exited with {popen.returncode}:\n{output}")
    lines = [line for line in output.splitlines() if line.startswith("WRK_JSON ")]
    if not lines:
        raise RuntimeError(f"wrk printed no report:\n{output}")
    report = json.loads(lines[-1].removeprefix("WRK_JSON "))
    return WrkRun(report=report, cpu_seconds=usage.ru_utime + usage.ru_stime, output=output)
