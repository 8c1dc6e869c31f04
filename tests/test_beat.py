"""Beat's heartbeat and its standby: real beat processes against the suite's Redis."""

import math
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import redis
from prometheus_client.parser import text_string_to_metric_families

from harness import processes
from integration_portal import heartbeat
from tests.conftest import suite_database_url, wait_for

ROOT = Path(__file__).resolve().parent.parent
LOG_DIR = ROOT / "var" / "test-beat"
SENT = "Sending due task sweep-due-deliveries"


def beat_env(**settings: str) -> dict[str, str]:
    return {
        **os.environ,
        "DATABASE_URL": suite_database_url(),
        "PYTHONUNBUFFERED": "1",
        "BEAT_MAX_INTERVAL": "1",
        "DELIVERY_SWEEP_INTERVAL": "1",
        **settings,
    }


def start_beat(name: str, env: dict[str, str]) -> processes.Proc:
    """`celery beat` as compose runs it; returns once it printed its banner (a standby then waits
    for the lock, before it logs that it starts)."""
    (LOG_DIR / f"{name}.log").unlink(missing_ok=True)
    argv = [sys.executable, "-m", "celery", "-A", "integration_portal", "beat", "-s", str(LOG_DIR / f"{name}-schedule")]
    proc = processes.start(name, argv, env=env, log_dir=LOG_DIR)
    wait_for(lambda: not proc.alive() or "scheduler ->" in proc.log(), timeout=60)
    assert proc.alive(), proc.log()
    return proc


def beat_health(**settings: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "manage.py", "beat_health"],
        cwd=ROOT,
        env=beat_env(**settings),
        capture_output=True,
        text=True,
        timeout=60,
    )


def heartbeat_gauge(client) -> float:  # type: ignore[no-untyped-def]
    text = client.get("/metrics").content.decode()
    for family in text_string_to_metric_families(text):
        if family.name == "portal_beat_heartbeat_age_seconds":
            return float(family.samples[0].value)
    raise AssertionError("portal_beat_heartbeat_age_seconds is missing from /metrics")


@pytest.mark.django_db
def test_beat_writes_a_heartbeat_that_health_readiness_and_metrics_read(client):
    redis.Redis.from_url(os.environ["REDIS_URL"]).flushdb()
    never = beat_health()
    assert never.returncode == 1 and "beat never ticked" in never.stderr
    assert heartbeat_gauge(client) == math.inf
    assert client.get("/readyz").json()["beat"] == "stale: beat never ticked"

    beat = start_beat("beat", beat_env())
    try:
        wait_for(lambda: heartbeat.last() is not None, timeout=30)
        fresh = beat_health()
        assert fresh.returncode == 0, fresh.stderr
        assert fresh.stdout.strip() == "beat: ok"
        assert client.get("/readyz").json()["beat"] == "ok"
        assert heartbeat_gauge(client) < 5
    finally:
        beat.kill()
    # Killed: the heartbeat ages, and past BEAT_HEARTBEAT_MAX_AGE the health check fails saying so.
    last = heartbeat.last()
    assert last is not None
    wait_for(lambda: time.time() - last.at > 3, timeout=10)
    stale = beat_health(BEAT_HEARTBEAT_MAX_AGE="3")
    assert stale.returncode == 1
    assert "stale: beat last ticked" in stale.stderr and "(over 3 s)" in stale.stderr
    assert heartbeat_gauge(client) > 3
    ready = client.get("/readyz")
    assert ready.status_code == 200  # the web process still serves; it says beat is not fresh
    assert ready.json()["beat"] == "ok"  # not yet over this process's 120 s


def test_two_beats_on_redbeat_one_schedules_and_the_other_takes_over(django_db_setup):
    redis.Redis.from_url(os.environ["REDIS_URL"]).flushdb()
    env = beat_env(BEAT_SCHEDULER="redis", BEAT_LOCK_TIMEOUT="3")
    first = start_beat("beat-a", env)
    second = None
    try:
        wait_for(lambda: "Acquired lock" in first.log() and SENT in first.log(), timeout=30)
        second = start_beat("beat-b", env)
        # Both run; only the lock holder sends (every second here), the other waits for the lock.
        sent_by_first = first.log().count(SENT)
        wait_for(lambda: first.log().count(SENT) >= sent_by_first + 3, timeout=30)
        assert second.alive()
        assert "Acquired lock" not in second.log() and SENT not in second.log()

        first.kill()  # no shutdown: the lock is not released, it expires
        killed_at = time.monotonic()
        wait_for(lambda: "Acquired lock" in second.log(), timeout=30)
        took_over = time.monotonic() - killed_at
        wait_for(lambda: SENT in second.log(), timeout=30)
        # The standby waited for the lock to expire (BEAT_LOCK_TIMEOUT), not longer than it and a poll.
        assert took_over < 3 + 1 + 5
        # And it writes the heartbeat now.
        ticked_at = time.time()
        wait_for(lambda: (beat := heartbeat.last()) is not None and beat.at > ticked_at, timeout=10)
    finally:
        first.kill()
        if second is not None:
            second.stop(timeout=20)


@pytest.mark.django_db
def test_without_redis_the_heartbeat_is_a_file_in_var(settings):
    """The embedded set-up (`make run`: no REDIS_URL) keeps the heartbeat beside its other files."""
    path = Path(settings.VAR_DIR) / "beat-heartbeat.json"
    path.unlink(missing_ok=True)
    settings.REDIS_URL = ""
    # Nothing falls due within the test, so the embedded broker is sent nothing.
    quiet = {"REDIS_URL": "", "DELIVERY_SWEEP_INTERVAL": "3600", "UIS_RECONCILE_INTERVAL": "3600"}
    assert heartbeat.last() is None
    beat = start_beat("beat-embedded", beat_env(**quiet))
    try:
        wait_for(path.exists, timeout=30)
        assert heartbeat.age() < 5
        assert heartbeat.status() == (True, "ok")
    finally:
        beat.stop(timeout=20)
