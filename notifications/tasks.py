"""Celery tasks: thin wrappers around notifications.delivery."""

import logging
from datetime import timedelta

from celery import shared_task
from django.conf import settings
from django.utils import timezone

from notifications import delivery, selectors

log = logging.getLogger(__name__)

SWEEP_BATCH = 1000
# A delivery that just fell due most likely has its message in the queue already; the sweeper
# leaves it that long before queuing another, so a busy queue is not flooded with duplicates.
SWEEP_GRACE = timedelta(seconds=60)


@shared_task(ignore_result=True)
def deliver(delivery_id: int) -> None:
    result = delivery.attempt_delivery(delivery_id=delivery_id)
    if result.retry_in is not None and result.retry_in <= settings.DELIVERY_COUNTDOWN_MAX:
        deliver.apply_async((delivery_id,), countdown=result.retry_in)
    # Longer waits stay in the database; sweep_due_deliveries queues them when due.


@shared_task(ignore_result=True)
def sweep_due_deliveries() -> int:
    """Queue every due delivery no worker holds: late retries, and messages that were lost."""
    ids = selectors.due_delivery_ids(now=timezone.now(), due_before=timezone.now() - SWEEP_GRACE, limit=SWEEP_BATCH)
    for delivery_id in ids:
        deliver.delay(delivery_id)
    if ids:
        log.info("sweeper queued %d due deliveries", len(ids))
    return len(ids)


def enqueue_deliveries(delivery_ids: list[int]) -> None:
    """Queue fresh deliveries; if the broker is unreachable the sweeper sends them later."""
    try:
        for delivery_id in delivery_ids:
            deliver.delay(delivery_id)
    except Exception:
        log.warning("could not queue %d deliveries; the sweeper will send them", len(delivery_ids), exc_info=True)
