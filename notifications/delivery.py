"""Deliver one delivery: claim it, send it, record the attempt, schedule what comes next.

The delivery row is the durable record; a Celery message only says "look at it now". A
claim (a conditional UPDATE that sets a lease) makes sure one worker at a time sends a
delivery, so a duplicate message, a redelivered one or the sweeper's are all harmless.
"""

import logging
import random
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache

from django.conf import settings
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from mindbox_integration.mindbox import MindboxClient, Outcome, OutcomeKind
from notifications.models import Delivery, DeliveryAttempt

log = logging.getLogger(__name__)

# A countdown task can run a little before the stored time; it may still claim.
_EARLY_TOLERANCE = timedelta(seconds=1)


@cache
def default_client() -> MindboxClient:
    """One client (one pooled HTTP session) per worker process."""
    return MindboxClient(connect_timeout=settings.MINDBOX_CONNECT_TIMEOUT, read_timeout=settings.MINDBOX_READ_TIMEOUT)


@dataclass(frozen=True)
class AttemptResult:
    sent: bool  # False: not claimed (already done, not due, or held by another worker)
    status: str = ""
    retry_in: float | None = None  # seconds until the next attempt, when one is planned


def retry_delay(
    *, attempts_done: int, schedule: list[int], retry_after: float | None, rng: random.Random
) -> float | None:
    """Seconds to wait before the next attempt, or None when the schedule is spent."""
    if attempts_done > len(schedule):
        return None
    delay = schedule[attempts_done - 1] * rng.uniform(0.8, 1.2)
    if retry_after is not None and retry_after > delay:
        delay = retry_after
    return delay


def claim(*, delivery_id: int, now: datetime) -> bool:
    return bool(
        Delivery.objects.filter(
            pk=delivery_id, status=Delivery.Status.PENDING, next_attempt_at__lte=now + _EARLY_TOLERANCE
        )
        .filter(Q(claimed_until__isnull=True) | Q(claimed_until__lt=now))
        .update(claimed_until=now + timedelta(seconds=settings.DELIVERY_CLAIM_SECONDS))
    )


def _record(delivery: Delivery, attempt: DeliveryAttempt, outcome: Outcome, rng: random.Random) -> AttemptResult:
    now = timezone.now()
    attempts_done = delivery.attempts + 1
    kind = outcome.kind
    error = outcome.error
    retry_in = None
    if kind == OutcomeKind.RETRY:
        retry_in = retry_delay(
            attempts_done=attempts_done,
            schedule=settings.DELIVERY_RETRY_SCHEDULE,
            retry_after=outcome.retry_after,
            rng=rng,
        )
        if retry_in is None:
            kind = OutcomeKind.FAILED
            error = f"{error}; gave up after {attempts_done} attempts"

    attempt.http_status = outcome.http_status
    attempt.response_body = outcome.response_body
    attempt.duration_ms = outcome.duration_ms
    attempt.error = error
    attempt.outcome = kind.value
    status = {
        OutcomeKind.DELIVERED: Delivery.Status.DELIVERED,
        OutcomeKind.RETRY: Delivery.Status.PENDING,
        OutcomeKind.FAILED: Delivery.Status.FAILED,
    }[kind]
    with transaction.atomic():
        attempt.save(update_fields=["http_status", "response_body", "duration_ms", "error", "outcome"])
        Delivery.objects.filter(pk=delivery.pk).update(
            attempts=F("attempts") + 1,
            status=status,
            next_attempt_at=now + timedelta(seconds=retry_in) if retry_in is not None else None,
            claimed_until=None,
            last_error=error,
            finished_at=None if status == Delivery.Status.PENDING else now,
        )
    return AttemptResult(sent=True, status=status, retry_in=retry_in)


def attempt_delivery(
    *, delivery_id: int, client: MindboxClient | None = None, rng: random.Random | None = None
) -> AttemptResult:
    if not claim(delivery_id=delivery_id, now=timezone.now()):
        return AttemptResult(sent=False)
    delivery = Delivery.objects.select_related("notification__operation__integration").get(pk=delivery_id)
    notification = delivery.notification
    secret_key = notification.operation.integration.secret_key if notification else ""
    attempt = DeliveryAttempt.objects.create(delivery=delivery)
    outcome = (client or default_client()).send(
        url=delivery.url, body=delivery.body, secret_key=secret_key, transaction_id=str(delivery.transaction_id)
    )
    result = _record(delivery, attempt, outcome, rng or random.Random())
    log.info(
        "delivery %s attempt %s: %s%s",
        delivery.pk,
        delivery.attempts + 1,
        result.status,
        f" ({attempt.error})" if attempt.error else "",
    )
    return result
