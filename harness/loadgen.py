"""Load for the bench: `wrk` (Debian's package; `make bench` installs it) with the repository's
Lua script, and its own CPU time, taken from the kernel when it exits; and a paced sender for
the end-to-end run (wrk keeps connections busy rather than a pace)."""

import asyncio
import json
import os
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

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


@dataclass
class PacedRun:
    due: list[float]  # when each POST was to be sent (time.monotonic)
    sent: list[float]  # when it was sent: its connection opened
    status: list[int]  # the answer's status; 0 when none came

    @property
    def lag(self) -> list[float]:
        return [sent - due for sent, due in zip(self.sent, self.due, strict=True)]


def paced(url: str, bodies: list[bytes], rate: float, *, timeout: float = 30.0) -> PacedRun:
    """POST each body at its time (`rate` a second), open loop: a slow answer never delays the
    next POST, as with UIS sending events whatever the portal's state. One asyncio loop on this
    thread, a connection per POST (as UIS, which sends each event on its own)."""
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    target = f"{parts.path}?{parts.query}" if parts.query else parts.path
    head = f"POST {target} HTTP/1.1\r\nHost: {parts.netloc}\r\nContent-Type: application/json\r\nConnection: close\r\n"
    run = PacedRun(due=[0.0] * len(bodies), sent=[0.0] * len(bodies), status=[0] * len(bodies))

    async def post(i: int) -> None:
        run.sent[i] = time.monotonic()
        writer = None
        try:
            reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), timeout)
            writer.write(f"{head}Content-Length: {len(bodies[i])}\r\n\r\n".encode() + bodies[i])
            line = await asyncio.wait_for(reader.readline(), timeout)
            run.status[i] = int(line.split()[1]) if line.startswith(b"HTTP/") else 0
            await asyncio.wait_for(reader.read(), timeout)  # the rest, until gunicorn closes
        except (OSError, TimeoutError, ValueError, IndexError):
            pass  # no answer: status 0
        finally:
            if writer is not None:
                writer.close()

    async def send_all() -> None:
        started = time.monotonic()
        tasks = []
        for i in range(len(bodies)):
            run.due[i] = started + i / rate
            delay = run.due[i] - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(post(i)))
        await asyncio.gather(*tasks)

    asyncio.run(send_all())
    return run
