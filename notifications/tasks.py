"""Celery tasks: thin wrappers around notifications.delivery, health and retention."""

import logging
import time
from datetime import timedelta

from celery import shared_task
from django.conf import settings
from django.utils import timezone

from notifications import delivery, health, retention

log = logging.getLogger(__name__)

SWEEP_BATCH = 1000


@shared_task(ignore_result=True)
def deliver(delivery_id: int, slot: float | None = None) -> None:
    result = delivery.attempt_delivery(delivery_id=delivery_id, slot=slot)
    if result.requeue_in is not None:
        deliver.apply_async(
            (delivery_id,), {"slot": result.slot}, countdown=result.requeue_in, queue=settings.QUEUE_RETRIES
        )
    # Longer waits stay in the database; sweep_due_deliveries queues them when due.


@shared_task(ignore_result=True)
def sweep_due_deliveries() -> int:
    """Queue every due delivery that no worker holds and no queued message covers: late
    retries, ends of back-off, and messages lost with a crashed worker or a flushed broker.
    Also release what integrations switched back on may now send."""
    delivery.fail_orphans(now=timezone.now())
    for integration_id in health.releasable_integration_ids():
        health.release_held(integration_id=integration_id, enqueue=enqueue_replays)
    queued = 0
    while True:
        ids = delivery.take_due(now=timezone.now(), limit=SWEEP_BATCH)
        enqueue_deliveries(ids, queue=settings.QUEUE_RETRIES)
        queued += len(ids)
        if len(ids) < SWEEP_BATCH:
            break
    if queued:
        log.info("sweeper queued %d due deliveries", queued)
    return queued


@shared_task(ignore_result=True)
def prune_old_records() -> None:
    now = timezone.now()
    cutoff = now - timedelta(days=settings.RETENTION_DAYS)
    pruned = retention.prune(older_than=cutoff)
    if pruned.events or pruned.attempts:
        log.info("pruned %d events and %d attempts older than %s", pruned.events, pruned.attempts, cutoff)
    cutoff = now - timedelta(days=settings.LOGIN_RECORDS_RETENTION_DAYS)
    if logins := retention.prune_login_records(older_than=cutoff):
        log.info("pruned %d admin login records older than %s", logins, cutoff)
    cutoff = now - timedelta(days=settings.AUDIT_RETENTION_DAYS)
    if changes := retention.prune_config_changes(older_than=cutoff):
        log.info("pruned %d configuration changes older than %s", changes, cutoff)
    cutoff = now - timedelta(days=settings.SITE_VISITOR_RETENTION_DAYS)
    if links := retention.prune_site_visitors(older_than=cutoff):
        log.info("pruned %d site visitor links older than %s", links, cutoff)


# After a failed publish, skip publishing for a while: every request would otherwise wait for
# the broker again, and the sweeper queues what was skipped once the broker is back.
BROKER_DOWN_PAUSE = 5.0
_broker_down_until = 0.0


def enqueue_deliveries(delivery_ids: list[int], queue: str = "") -> None:
    """Queue deliveries (first attempts, unless `queue` says otherwise); if the broker is
    unreachable the sweeper sends them later."""
    global _broker_down_until
    if not delivery_ids or time.monotonic() < _broker_down_until:
        return
    try:
        for delivery_id in delivery_ids:
            # No publish retries: with the broker down, answer UIS now and leave it to the sweeper.
            deliver.apply_async((delivery_id,), retry=False, queue=queue or settings.QUEUE_FIRST_ATTEMPTS)
    except Exception:
        _broker_down_until = time.monotonic() + BROKER_DOWN_PAUSE
        log.warning("could not queue %d deliveries; the sweeper will send them", len(delivery_ids), exc_info=True)


def enqueue_replays(delivery_ids: list[int]) -> None:
    """Queue what a manager resent or released: its own queue, behind no fresh event."""
    enqueue_deliveries(delivery_ids, queue=settings.QUEUE_REPLAYS)
