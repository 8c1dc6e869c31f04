"""Fault runs with real processes: the web server, a Celery worker and beat as subprocesses, PostgreSQL,
a private Redis (flushed and stopped freely) and the stand-in Mindbox. Each scenario ends with
every accepted event delivered, none under two transaction ids."""

import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness import faults, processes
from tests.conftest import suite_database_url

pytestmark = pytest.mark.django_db(transaction=True)

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def lab(django_db_setup: None) -> Iterator[faults.Lab]:
    with faults.Lab(database_url=suite_database_url(), log_dir=ROOT / "var" / "test-faults") as lab:
        yield lab


def check(report: faults.Report, events: int) -> None:
    print("\n" + faults.format_table([report]))
    assert report.sent == events
    assert report.lost == 0, f"{report.lost} events lost"
    assert report.conflicting_ids == 0
    assert report.unrecorded == 0, f"{report.unrecorded} deliveries Mindbox accepted are not recorded as delivered"


def test_worker_killed_mid_batch(lab):
    report = faults.worker_killed(lab, events=300)
    check(report, 300)


def test_worker_stopped_gracefully_mid_batch(lab):
    report = faults.worker_restarted(lab, events=200)
    check(report, 200)
    assert report.notes[0].startswith("0 attempts interrupted")


def test_redis_flushed_mid_batch(lab):
    check(faults.redis_flushed(lab, events=200), 200)


def test_redis_down_while_events_come_in(lab):
    report = faults.redis_down(lab, events=100)
    check(report, 100)


def test_mindbox_silent_for_a_while(lab):
    check(faults.mindbox_outage(lab, events=200, seconds=6), 200)


def test_poison_events_do_not_block_the_others(lab):
    report = faults.poison(lab, events=200)
    check(report, 180)
    assert "20 poison deliveries failed visibly: cannot render" in report.notes[0]
    assert report.notes[1] == "after the template fix, 20 re-rendered and delivered"


def test_a_silent_integration_does_not_starve_another(lab):
    report = faults.noisy_neighbour(lab, events=150, seconds=8)
    check(report, 300)


def test_redis_frozen_mid_batch(lab):
    report = faults.redis_frozen(lab, events=150, seconds=8)
    check(report, 150)


def test_a_worker_that_exits_by_itself_is_restarted_and_one_stopped_on_purpose_is_not(lab):
    before = lab.restarts
    with lab.running_worker("worker-supervised") as workers:
        (proc,) = workers
        first = proc.popen.pid
        os.killpg(first, signal.SIGKILL)  # not through proc.kill(): an exit nobody asked for
        processes.wait_until(lambda: proc.alive() and proc.popen.pid != first, timeout=90, what="worker restarted")
        assert lab.restarts == before + 1
    assert not proc.alive()  # stopped at the end of the block, and left stopped
    time.sleep(1.5)  # a few supervisor rounds
    assert lab.restarts == before + 1 and not proc.alive()
