"""The portal's production processes (the web server, Celery worker, beat) and a private Redis, as
subprocesses that can be killed, stopped and restarted. Each runs in its own process group, so
a kill takes a worker's pool children with it."""

import contextlib
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_until(condition: Callable[[], object], *, timeout: float, what: str, interval: float = 0.1) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what}: not within {timeout:.0f} s")
        time.sleep(interval)


def port_open(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.2)
        return s.connect_ex(("127.0.0.1", port)) == 0


@dataclass
class Proc:
    name: str
    popen: "subprocess.Popen[bytes]"
    log_path: Path
    stopped: bool = False  # stopped or killed on purpose (a supervisor leaves it be)
    # Held while stopping and while a supervisor replaces the process, so neither misses the other.
    lock: threading.RLock = field(default_factory=threading.RLock, repr=False)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def alive(self) -> bool:
        return self.popen.poll() is None

    def kill(self) -> None:
        """SIGKILL to the whole group: no shutdown code runs, as when a machine dies."""
        with self.lock:
            self.stopped = True
            self._signal(signal.SIGKILL)
            self.popen.wait(timeout=30)

    def stop(self, timeout: float = 60) -> None:
        """SIGTERM to the main process, as `docker stop` or Kubernetes do (a worker's pool
        children hear from their parent); SIGKILL to the group if it does not exit in time."""
        with self.lock:
            self.stopped = True
            if self.alive():
                self.popen.send_signal(signal.SIGTERM)
            try:
                self.popen.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.kill()

    def _signal(self, sig: int) -> None:
        if self.alive():
            with contextlib.suppress(ProcessLookupError):  # it exited meanwhile
                os.killpg(self.popen.pid, sig)


def start(name: str, argv: list[str], *, env: dict[str, str], log_dir: Path) -> Proc:
    log_dir.mkdir(parents=True, exist_ok=True)
    log_path = log_dir / f"{name}.log"
    with open(log_path, "ab") as log:
        popen = subprocess.Popen(  # noqa: S603 - our own commands with fixed arguments
            argv, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
    return Proc(name=name, popen=popen, log_path=log_path)


def _ready(proc: Proc, marker: str, timeout: float, after: int = 0) -> Proc:
    """Wait for `marker` in the log, past its first `after` characters (an earlier run's)."""

    def seen() -> bool:
        if not proc.alive():
            raise RuntimeError(f"{proc.name} exited; see {proc.log_path}")
        return marker in proc.log()[after:]

    wait_until(seen, timeout=timeout, what=f"{proc.name} ready")
    return proc


def web(*, env: dict[str, str], log_dir: Path, port: int, name: str = "web") -> Proc:
    # As in production: no flags, the settings (and their environment overrides) set the rest.
    argv = [sys.executable, "-m", "integration_portal.web"]
    return _listening(start(name, argv, env={**env, "WEB_BIND": f"127.0.0.1:{port}"}, log_dir=log_dir), port)


def gunicorn(*, env: dict[str, str], log_dir: Path, port: int, name: str = "gunicorn") -> Proc:
    """The command kept for those whose scripts run it, with gunicorn.conf.py."""
    argv = [sys.executable, "-m", "gunicorn", "integration_portal.wsgi:application"]
    return _listening(start(name, argv, env={**env, "GUNICORN_BIND": f"127.0.0.1:{port}"}, log_dir=log_dir), port)


def _listening(proc: Proc, port: int) -> Proc:
    wait_until(lambda: port_open(port) or not proc.alive(), timeout=60, what=f"{proc.name} listening")
    if not proc.alive():
        raise RuntimeError(f"{proc.name} exited; see {proc.log_path}")
    return proc


def worker(*, env: dict[str, str], log_dir: Path, name: str = "worker", fresh_log: bool = True) -> Proc:
    argv = [sys.executable, "-m", "celery", "-A", "integration_portal", "worker", "--loglevel=INFO", f"-n{name}@%h"]
    log_path = log_dir / f"{name}.log"
    if fresh_log:
        log_path.unlink(missing_ok=True)
    earlier = len(log_path.read_text(errors="replace")) if log_path.exists() else 0
    return _ready(start(name, argv, env=env, log_dir=log_dir), "ready.", timeout=60, after=earlier)


def beat(*, env: dict[str, str], log_dir: Path, name: str = "beat") -> Proc:
    schedule = log_dir / f"{name}-schedule"
    argv = [sys.executable, "-m", "celery", "-A", "integration_portal", "beat", "--loglevel=INFO", f"-s{schedule}"]
    (log_dir / f"{name}.log").unlink(missing_ok=True)
    return _ready(start(name, argv, env=env, log_dir=log_dir), "Starting", timeout=60)


class PrivateRedis:
    """A Redis of our own on a free port, so a fault run may flush or stop it freely."""

    def __init__(self, log_dir: Path) -> None:
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.log_dir = log_dir
        self.proc: Proc | None = None

    def start(self) -> None:
        argv = ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
        self.proc = start("redis", argv, env=dict(os.environ), log_dir=self.log_dir)
        wait_until(lambda: port_open(self.port), timeout=20, what="redis listening")

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.kill()
            self.proc = None

    def freeze(self) -> None:
        """SIGSTOP: connections stay open and nothing answers, as with a hung host."""
        assert self.proc is not None
        os.kill(self.proc.popen.pid, signal.SIGSTOP)

    def thaw(self) -> None:
        assert self.proc is not None
        os.kill(self.proc.popen.pid, signal.SIGCONT)

    def flush(self) -> None:
        import redis

        redis.Redis.from_url(self.url).flushall()


def setup_django(database_url: str) -> None:
    """For a run outside the test suite: its own PostgreSQL database (created if missing),
    migrated, and Django set up on it in this process."""
    import psycopg
    from psycopg import conninfo, sql

    name = str(conninfo.conninfo_to_dict(database_url)["dbname"])
    with psycopg.connect(conninfo.make_conninfo(database_url, dbname="postgres"), autocommit=True) as connection:
        if not connection.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
            connection.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    os.environ["DATABASE_URL"] = database_url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "integration_portal.settings")
    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", verbosity=0)


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process and all its descendants (Linux /proc)."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for proc_pid in [pid, *descendants(pid)]:
        try:
            fields = Path(f"/proc/{proc_pid}/stat").read_text().rsplit(")", 1)[1].split()
        except (FileNotFoundError, ProcessLookupError):
            continue
        total += (int(fields[11]) + int(fields[12])) / tick
    return total


def rss_bytes(pid: int) -> int:
    """Resident memory of a process and all its descendants."""
    total = 0
    for proc_pid in [pid, *descendants(pid)]:
        try:
            for line in Path(f"/proc/{proc_pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1]) * 1024
        except (FileNotFoundError, ProcessLookupError):
            continue
    return total


def descendants(pid: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (FileNotFoundError, ProcessLookupError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(entry.name))
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found
