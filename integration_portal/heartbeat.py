"""Beat's heartbeat: the scheduler records the time of every tick (integration_portal.schedulers),
and /metrics, /readyz and `manage.py beat_health` read how long ago that was. It lives in Redis
when REDIS_URL is set (every container sees it, and with BEAT_SCHEDULER=redis whichever beat holds
the lock writes it), else in a file in var/ (the embedded local set-up runs on one machine)."""

import json
import math
import os
import socket
import time
from dataclasses import dataclass
from pathlib import Path

import redis
from django.conf import settings
from redis.backoff import NoBackoff
from redis.retry import Retry

KEY = "portal:beat:heartbeat"
TIMEOUT = 2.0  # seconds: a probe or scrape must not hang on a frozen Redis

_clients: dict[str, redis.Redis] = {}


@dataclass(frozen=True)
class Heartbeat:
    host: str
    at: float  # seconds since the epoch


class Unreadable(Exception):
    """The heartbeat's store did not answer."""


def _client(url: str) -> redis.Redis:
    if url not in _clients:
        # No retries: a frozen Redis costs beat's tick, a probe or a scrape one timeout, not four.
        _clients[url] = redis.Redis.from_url(
            url, socket_connect_timeout=TIMEOUT, socket_timeout=TIMEOUT, retry=Retry(NoBackoff(), 0)
        )
    return _clients[url]


def _file() -> Path:
    return Path(settings.VAR_DIR) / "beat-heartbeat.json"


def record(*, now: float | None = None) -> None:
    """Beat ticked (called by the scheduler after each tick)."""
    body = json.dumps({"host": socket.gethostname(), "at": time.time() if now is None else now})
    if settings.REDIS_URL:
        _client(settings.REDIS_URL).set(KEY, body)
        return
    path = _file()
    spare = path.with_suffix(f".{os.getpid()}.tmp")
    spare.write_text(body)
    spare.replace(path)  # a reader never sees half a file


def last() -> Heartbeat | None:
    """The latest heartbeat; None when beat never ticked here; Unreadable when the store is down."""
    try:
        raw = _client(settings.REDIS_URL).get(KEY) if settings.REDIS_URL else _read_file()
    except (redis.RedisError, OSError) as exc:
        raise Unreadable(f"{type(exc).__name__}") from exc
    if raw is None:
        return None
    try:
        data = json.loads(raw)
        return Heartbeat(host=str(data["host"]), at=float(data["at"]))
    except (ValueError, KeyError, TypeError):
        return None  # a torn or foreign value: as if none; the next tick writes a good one


def _read_file() -> bytes | None:
    try:
        return _file().read_bytes()
    except FileNotFoundError:
        return None


def age(*, now: float | None = None) -> float:
    """Seconds since beat last ticked; infinity when it never did. Raises Unreadable."""
    beat = last()
    if beat is None:
        return math.inf
    return max(0.0, (time.time() if now is None else now) - beat.at)


def status() -> tuple[bool, str]:
    """(fresh, what to say): for /readyz and `beat_health`."""
    try:
        beat = last()
    except Unreadable as exc:
        return False, f"unknown: the heartbeat's store is unreachable ({exc})"
    if beat is None:
        return False, "stale: beat never ticked"
    seconds = max(0.0, time.time() - beat.at)
    if seconds > settings.BEAT_HEARTBEAT_MAX_AGE:
        return (
            False,
            f"stale: beat last ticked {seconds:.0f} s ago on {beat.host} (over {settings.BEAT_HEARTBEAT_MAX_AGE:.0f} s)",
        )
    return True, "ok"
