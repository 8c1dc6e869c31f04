"""Celery tasks: thin wrappers around notifications.delivery, health and retention, and the
publishing of wake-ups through each queue's doorbell."""

import logging
import math
import time
from datetime import UTC, datetime, timedelta

import redis
from celery import shared_task
from django.conf import settings
from django.utils import timezone

from notifications import alerts, breaker, bulk_jobs, claims, delivery, doorbell, reconcile, retention, rollup
from notifications.models import Delivery

log = logging.getLogger(__name__)

SWEEP_BATCH = 1000


@shared_task(ignore_result=True)
def deliver_due(queue: str) -> None:
    """A wake-up of `queue` (one that was due later, or any without Redis): with Redis it rings
    the queue's bell, and a worker waiting on the queue's calls runs the batch
    (notifications.bells), so every batch runs on that pool; without Redis it runs here."""
    if settings.REDIS_URL:
        wake(queue)
    else:
        answer_bell(queue)


# When this process last answered each queue's bell (monotonic seconds).
_answered: dict[str, float] = {}


def answer_bell(queue: str) -> None:
    """Claim up to DELIVERY_BATCH_SIZE due deliveries of `queue` and send them at once. A full
    batch wakes the queue again, so another thread takes the next batch meanwhile.

    A queue that is busy (its bell answered within the last DELIVERY_LINGER_MS x 5) is answered
    DELIVERY_LINGER_MS late: events committed meanwhile find the bell rung and call no one, and
    this batch takes them all. At a steady 200 events/s that makes batches of a few instead of
    one call, one claim and one attempt statement per event; an idle queue is answered at once,
    so a lone event does not wait."""
    linger = settings.DELIVERY_LINGER_MS / 1000
    if linger and time.monotonic() - _answered.get(queue, -math.inf) < 5 * linger:
        time.sleep(linger)
    _answered[queue] = time.monotonic()
    doorbell.answer(queue=queue)
    batch = delivery.deliver_due(queue=queue, limit=settings.DELIVERY_BATCH_SIZE, wake=wake)
    for wait_queue, at in batch.wake_ups:
        wake(wait_queue, at=at)


@shared_task(ignore_result=True)
def deliver(delivery_id: int, slot: float | None = None) -> None:
    """A message of the earlier one-delivery form (left in the broker across an upgrade, or
    queued by hand): that delivery alone, as a batch of one."""
    result = delivery.attempt_delivery(delivery_id=delivery_id, wake=wake)
    for wait_queue, at in result.wake_ups:
        wake(wait_queue, at=at)


@shared_task(ignore_result=True)
def sweep_due_deliveries() -> int:
    """Queue every due delivery that no worker holds and no queued message covers: late
    retries, ends of back-off, and messages lost with a crashed worker or a flushed broker.
    Also release what integrations switched back on may now send."""
    claims.fail_orphans(now=timezone.now())
    for integration_id in breaker.releasable_integration_ids():
        breaker.release_all_held(integration_id=integration_id, enqueue=enqueue_replays, chunk=SWEEP_BATCH)
    queued = 0
    while True:
        ids = claims.take_due(now=timezone.now(), limit=SWEEP_BATCH)
        queued += len(ids)
        if len(ids) < SWEEP_BATCH:
            break
    if queued:
        # Past the doorbell: a bell rung for a message that was lost would stay silent a while.
        wake(Delivery.Queue.RETRIES, force=True)
    if queued:
        log.info("sweeper queued %d due deliveries", queued)
    return queued


@shared_task(ignore_result=True)
def roll_up_hourly_stats() -> int:
    """Count the last hours into the charts' hourly rows (notifications.rollup)."""
    return rollup.roll_up(now=timezone.now(), retention=timedelta(days=settings.RETENTION_DAYS))


@shared_task(ignore_result=True)
def prune_old_records() -> None:
    now = timezone.now()
    # Whatever is about to go is counted first: the roll-up reaches the hours since its last run.
    # Should it fail, the pruning still goes ahead: retention is a promise about personal data.
    try:
        rollup.roll_up(now=now, retention=timedelta(days=settings.RETENTION_DAYS))
    except Exception:
        log.exception("the hourly roll-up before pruning failed")
    cutoff = now - timedelta(days=settings.RETENTION_DAYS)
    pruned = retention.prune(older_than=cutoff)
    if pruned.events or pruned.attempts:
        log.info("pruned %d events and %d attempts older than %s", pruned.events, pruned.attempts, cutoff)
    if jobs := retention.prune_bulk_jobs(older_than=cutoff):
        log.info("pruned %d bulk jobs finished before %s", jobs, cutoff)
    cutoff = now - timedelta(days=settings.LOGIN_RECORDS_RETENTION_DAYS)
    if logins := retention.prune_login_records(older_than=cutoff):
        log.info("pruned %d admin login records older than %s", logins, cutoff)
    cutoff = now - timedelta(days=settings.AUDIT_RETENTION_DAYS)
    if changes := retention.prune_config_changes(older_than=cutoff):
        log.info("pruned %d configuration changes older than %s", changes, cutoff)
    cutoff = now - timedelta(days=settings.SITE_VISITOR_RETENTION_DAYS)
    if links := retention.prune_site_visitors(older_than=cutoff):
        log.info("pruned %d site visitor links older than %s", links, cutoff)
    cutoff = now - timedelta(days=settings.STATS_RETENTION_DAYS)
    if hours := rollup.prune(older_than=cutoff):
        log.info("pruned %d hourly statistics rows older than %s", hours, cutoff)


@shared_task(ignore_result=True)
def reconcile_accounts() -> None:
    """Reconcile every account with a Data API token (notifications.reconcile), one after
    another; one account's failure does not stop the others."""
    for account_id in reconcile.accounts_to_reconcile():
        try:
            reconcile.reconcile_account(account_id=account_id, enqueue=enqueue_deliveries)
        except Exception:
            log.exception("reconciliation of account %s failed", account_id)


@shared_task(ignore_result=True)
def check_alerts() -> None:
    """Mail managers about their integrations' changes of state, and the daily digest when due."""
    now = timezone.now()
    told = alerts.check(now=now)
    digests = alerts.send_digest(now=now)
    if told.changes or digests:
        log.info("alerts: %d changes of state, %d mails, %d digests", told.changes, told.mails, digests)


@shared_task(ignore_result=True)
def run_bulk_job(job_id: int) -> None:
    """A resend or re-render of many deliveries (notifications.bulk_jobs), chunk by chunk."""
    bulk_jobs.run(job_id=job_id, enqueue=enqueue_replays, chunk_size=settings.BULK_JOB_CHUNK_SIZE)


@shared_task(ignore_result=True)
def resume_stalled_bulk_jobs() -> None:
    """Queue again the bulk jobs a killed worker left running, or a down broker left unqueued."""
    resumed = bulk_jobs.resume_stalled(
        now=timezone.now(), stall_seconds=settings.BULK_JOB_STALL_SECONDS, publish=start_bulk_job
    )
    if resumed:
        log.warning("bulk jobs %s showed no progress for %ss: queued again", resumed, settings.BULK_JOB_STALL_SECONDS)


def start_bulk_job(job_id: int) -> None:
    """Queue the job's task; with the broker down, resume_stalled_bulk_jobs queues it later.
    After a failed publish the next ones are skipped a while (as wake() does): a selection over
    many integrations must not wait out the broker's timeouts once per job."""
    global _broker_down_until
    if time.monotonic() < _broker_down_until:
        log.warning("the broker was unreachable a moment ago: bulk job %d is queued once it looks stalled", job_id)
        return
    try:
        run_bulk_job.apply_async((job_id,), retry=False)
    except Exception:
        _broker_down_until = time.monotonic() + BROKER_DOWN_PAUSE
        log.warning("could not queue bulk job %d; it is queued again once it looks stalled", job_id, exc_info=True)


# After a failed publish, skip publishing for a while: every request would otherwise wait for
# the broker again, and the sweeper queues what was skipped once the broker is back.
BROKER_DOWN_PAUSE = 5.0
_broker_down_until = 0.0


def wake(queue: str, *, at: float | None = None, force: bool = False) -> None:
    """Ask a worker to claim `queue`'s due deliveries now, or at `at` (epoch seconds, to the
    hundredth): one call or message per ring of the queue's doorbell (`force`: whatever the bell
    says). Now is a call in Redis (notifications.doorbell); later, or without Redis, a message."""
    if time.monotonic() < _broker_down_until:
        return
    delay = max(0.0, at - time.time()) if at is not None else 0.0
    tick = math.ceil(at * 100) if at is not None and delay > 0 else None
    if tick is None and settings.REDIS_URL:
        try:
            doorbell.call(queue=queue, force=force)
        except redis.RedisError:
            _broker_down(queue)
        return
    if tick is not None and not force and not doorbell.ring(queue=queue, at=tick, ttl=doorbell.DOORBELL_LEASE + delay):
        return
    try:
        # No publish retries: with the broker down, answer UIS now and leave it to the sweeper.
        if tick is None:
            deliver_due.apply_async((queue,), queue=queue, retry=False)
        else:
            deliver_due.apply_async((queue,), queue=queue, eta=datetime.fromtimestamp(tick / 100, UTC), retry=False)
    except Exception:
        _broker_down(queue)
        if tick is not None:
            doorbell.answer(queue=queue, at=tick)  # unpublished: the next ring must publish


def _broker_down(queue: str) -> None:
    global _broker_down_until
    _broker_down_until = time.monotonic() + BROKER_DOWN_PAUSE
    log.warning("could not wake the %s queue; the sweeper will send its deliveries", queue, exc_info=True)


def enqueue_deliveries(delivery_ids: list[int], queue: str = "") -> None:
    """Wake the queue of these deliveries (first attempts, unless `queue` says otherwise); if the
    broker is unreachable the sweeper sends them later."""
    if delivery_ids:
        wake(queue or Delivery.Queue.FIRST_ATTEMPTS)


def enqueue_replays(delivery_ids: list[int]) -> None:
    """Wake the queue of what a manager resent or released: its own, behind no fresh event."""
    enqueue_deliveries(delivery_ids, queue=Delivery.Queue.REPLAYS)
