"""Deliver one delivery: claim it, send it, record the attempt, schedule what comes next.

The delivery row is the durable record; a Celery message only says "look at it now". A
claim (a conditional UPDATE that sets a lease) makes sure one worker at a time sends a
delivery, so a duplicate message, a redelivered one or the sweeper's are all harmless.
"""

import logging
import random
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache

from django.conf import settings
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone
from django.views.decorators.debug import sensitive_variables

from integration_portal import logs
from mindbox_integration import services
from mindbox_integration.crypto import KeyUnavailable
from mindbox_integration.mindbox import MindboxClient, Outcome, OutcomeKind, Policy
from mindbox_integration.models import MindboxIntegration
from notifications import health, metrics, ratelimit
from notifications.models import Delivery, DeliveryAttempt

log = logging.getLogger(__name__)

NOTIFICATION_DELETED = "its notification was deleted before it could be sent"

# A countdown task can run a little before the stored time; it may still claim.
_EARLY_TOLERANCE = timedelta(seconds=1)
# How far from its reserved send slot a message may run and still use it.
SLOT_TOLERANCE = 1.0


@cache
def default_client() -> MindboxClient:
    """One client (one pooled HTTP session) per worker process."""
    return MindboxClient(
        connect_timeout=settings.MINDBOX_CONNECT_TIMEOUT,
        read_timeout=settings.MINDBOX_READ_TIMEOUT,
        pool_size=settings.CELERY_WORKER_CONCURRENCY,
    )


def outbound_policy() -> Policy:
    """What the outbound guard checks before every request (the URL was checked when saved too,
    but the settings may have changed since, and the host may resolve elsewhere now)."""
    return Policy(
        allowed_hosts=tuple(settings.MINDBOX_ALLOWED_HOSTS),
        require_https=settings.MINDBOX_REQUIRE_HTTPS,
        allowed_networks=tuple(settings.MINDBOX_ALLOW_PRIVATE_NETWORKS),
    )


@dataclass(frozen=True)
class AttemptResult:
    sent: bool  # False: nothing was sent (not claimed, held, backing off)
    status: str = ""
    retry_in: float | None = None  # seconds until the next attempt, when one is planned
    requeue_in: float | None = None  # queue a message with this countdown (short waits only)
    slot: float | None = None  # the requeued message holds this send slot (epoch s) of the integration's rate limit
    outcome: str = "not_claimed"  # for metrics: delivered, retry, failed, held, backoff, rate_limited, claim_lost


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


def claim(*, delivery_id: int, now: datetime) -> datetime | None:
    """Take the delivery for one attempt; the lease's end, returned, is the claim's token:
    every later write names it, so a worker whose claim ran out changes nothing."""
    lease = now + timedelta(seconds=settings.DELIVERY_CLAIM_SECONDS)
    taken = (
        Delivery.objects.filter(
            pk=delivery_id, status=Delivery.Status.PENDING, next_attempt_at__lte=now + _EARLY_TOLERANCE
        )
        .filter(Q(claimed_until__isnull=True) | Q(claimed_until__lt=now))
        .update(claimed_until=lease)
    )
    return lease if taken else None


def take_due(*, now: datetime, limit: int) -> list[int]:
    """Due deliveries that no worker holds and no queued message covers, oldest due first; each
    is marked as queued for DELIVERY_QUEUE_LEASE, so a sweep does not queue it again meanwhile."""
    with transaction.atomic():
        ids = list(
            Delivery.objects.select_for_update(skip_locked=True)
            .filter(status=Delivery.Status.PENDING, next_attempt_at__lte=now)
            .filter(Q(claimed_until__isnull=True) | Q(claimed_until__lt=now))
            .filter(Q(queued_until__isnull=True) | Q(queued_until__lt=now))
            .order_by("next_attempt_at", "pk")
            .values_list("pk", flat=True)[:limit]
        )
        Delivery.objects.filter(pk__in=ids).update(queued_until=now + timedelta(seconds=settings.DELIVERY_QUEUE_LEASE))
    return ids


def fail_orphans(*, now: datetime) -> int:
    """Unfinished deliveries whose notification was deleted can never be sent: say so, rather
    than leave them held (or pending) for good."""
    return Delivery.objects.filter(
        status__in=Delivery.UNFINISHED, notification__isnull=True, claimed_until__isnull=True
    ).update(status=Delivery.Status.FAILED, last_error=NOTIFICATION_DELETED, finished_at=now, next_attempt_at=None)


def _release(delivery_id: int, lease: datetime, **changes: object) -> bool:
    """Write and let go, if the claim is still ours."""
    return bool(Delivery.objects.filter(pk=delivery_id, claimed_until=lease).update(claimed_until=None, **changes))


def _close_interrupted(delivery: Delivery, lease: datetime) -> int:
    """Attempts a killed worker left `sending` count as spent: a delivery that crashes its
    worker every time must still run out of attempts."""
    count = DeliveryAttempt.objects.filter(delivery=delivery, outcome=DeliveryAttempt.Outcome.SENDING).update(
        outcome=DeliveryAttempt.Outcome.INTERRUPTED,
        error="the worker stopped before Mindbox's answer was recorded",
    )
    if count:
        delivery.attempts += count
        Delivery.objects.filter(pk=delivery.pk, claimed_until=lease).update(attempts=delivery.attempts)
    return count


def _record(
    delivery: Delivery, lease: datetime, attempt: DeliveryAttempt, outcome: Outcome, rng: random.Random
) -> AttemptResult:
    now = timezone.now()
    attempts_done = delivery.attempts + 1
    kind = outcome.kind
    error = outcome.error
    if health.is_auth_refusal(outcome):
        # Refused keys pause the whole integration (health.note_outcome); until then, retry.
        kind = OutcomeKind.RETRY
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
    requeue_in = retry_in if retry_in is not None and retry_in <= settings.DELIVERY_COUNTDOWN_MAX else None
    next_attempt_at = now + timedelta(seconds=retry_in) if retry_in is not None else None
    with transaction.atomic():
        recorded = Delivery.objects.filter(pk=delivery.pk, claimed_until=lease).update(
            attempts=F("attempts") + 1,
            status=status,
            next_attempt_at=next_attempt_at,
            claimed_until=None,
            # A countdown message will come; a longer wait is the sweeper's as soon as it is due.
            queued_until=next_attempt_at + timedelta(seconds=settings.DELIVERY_QUEUE_LEASE)
            if requeue_in is not None and next_attempt_at is not None
            else None,
            last_error=error,
            finished_at=None if status == Delivery.Status.PENDING else now,
        )
        if not recorded:
            # The answer took longer than the claim and another worker has the delivery now:
            # this attempt is history only (a repeat carried the same transactionId).
            attempt.error = f"{error}; answered after the claim expired, not applied".lstrip("; ")
        attempt.save(update_fields=["http_status", "response_body", "duration_ms", "error", "outcome"])
    if not recorded:
        log.warning("delivery %s: answer came after the claim expired; left to the worker that holds it", delivery.pk)
        return AttemptResult(sent=True, outcome="claim_lost")
    outcome_name = "retry" if status == Delivery.Status.PENDING else str(status)
    return AttemptResult(sent=True, status=status, retry_in=retry_in, requeue_in=requeue_in, outcome=outcome_name)


def _fail(delivery: Delivery, lease: datetime, error: str, now: datetime) -> AttemptResult:
    fields = {"status": Delivery.Status.FAILED, "last_error": error, "finished_at": now, "next_attempt_at": None}
    _release(delivery.pk, lease, **fields)
    log.warning("delivery %s failed without sending: %s", delivery.pk, error)
    return AttemptResult(sent=False, status=Delivery.Status.FAILED, outcome="failed")


def attempt_delivery(
    *,
    delivery_id: int,
    slot: float | None = None,
    client: MindboxClient | None = None,
    rng: random.Random | None = None,
) -> AttemptResult:
    """One step of a delivery. `slot`: the send slot (epoch seconds) reserved for this message
    under the integration's rate limit; on time, it sends without asking for another. A message
    that comes late (a busy or restarted worker) asks again, so late ones do not go out at once."""
    now = timezone.now()
    lease = claim(delivery_id=delivery_id, now=now)
    if lease is None:
        return AttemptResult(sent=False)
    delivery = Delivery.objects.select_related("event", "notification__operation__integration__health").get(
        pk=delivery_id
    )
    with logs.bound(delivery.event.request_id):
        reserved = slot is not None and abs(time.time() - slot) <= SLOT_TOLERANCE
        result = _attempt(delivery, lease, now, client or default_client(), rng or random.Random(), reserved)
    operation = delivery.notification.operation.name if delivery.notification else ""
    metrics.DELIVERIES.labels(outcome=result.outcome, operation=operation).inc()
    return result


def _wait_turn(
    integration: MindboxIntegration, delivery: Delivery, lease: datetime, now: datetime, rng: random.Random
) -> AttemptResult | None:
    """Under the integration's rate limit, reserve this delivery's send slot. None: send now;
    else the delivery waits for its slot, which costs no attempt."""
    rate = integration.send_rate_limit
    if not rate:
        return None
    horizon = settings.DELIVERY_COUNTDOWN_MAX
    # Burst 1: slots 1/rate apart, so no second holds more than `rate` sends.
    wait = ratelimit.reserve(key=str(integration.pk), rate=rate, burst=1, horizon=horizon)
    if wait == 0:
        return None
    if wait is None:
        # More waiting than a countdown should carry: the sweeper brings it back to ask again.
        until = now + timedelta(seconds=horizon * rng.uniform(0.5, 1))
        _release(delivery.pk, lease, next_attempt_at=until, queued_until=None)
        return AttemptResult(sent=False, status=Delivery.Status.PENDING, outcome="rate_limited")
    until = now + timedelta(seconds=wait)
    lease_end = until + timedelta(seconds=settings.DELIVERY_QUEUE_LEASE)
    _release(delivery.pk, lease, next_attempt_at=until, queued_until=lease_end)
    return AttemptResult(
        sent=False, status=Delivery.Status.PENDING, requeue_in=wait, slot=time.time() + wait, outcome="rate_limited"
    )


@sensitive_variables("key")
def _attempt(
    delivery: Delivery, lease: datetime, now: datetime, client: MindboxClient, rng: random.Random, reserved: bool
) -> AttemptResult:
    notification = delivery.notification
    if notification is None:
        return _fail(delivery, lease, NOTIFICATION_DELETED, now)
    if _close_interrupted(delivery, lease) and delivery.attempts > len(settings.DELIVERY_RETRY_SCHEDULE):
        return _fail(delivery, lease, f"gave up: the worker stopped {delivery.attempts} times while sending it", now)

    integration = notification.operation.integration
    state = getattr(integration, "health", None)
    gate = health.gate(integration=integration, health=state, now=now)
    if gate.hold:
        _release(delivery.pk, lease, status=Delivery.Status.HELD, queued_until=None)
        log.info("delivery %s held: %s", delivery.pk, gate.hold)
        return AttemptResult(sent=False, status=Delivery.Status.HELD, outcome="held")
    if gate.wait_until is not None:
        # Spread the waiting deliveries over a second so they do not all probe at once.
        until = gate.wait_until + timedelta(seconds=rng.uniform(0, 1))
        _release(delivery.pk, lease, next_attempt_at=until, queued_until=None)
        return AttemptResult(sent=False, status=Delivery.Status.PENDING, outcome="backoff")
    if not reserved and (waiting := _wait_turn(integration, delivery, lease, now, rng)) is not None:
        return waiting

    try:
        key = services.secret_key(integration=integration)
    except KeyUnavailable as exc:  # FIELD_ENCRYPTION_KEY lost the key: a configuration error, resend once fixed
        return _fail(delivery, lease, str(exc), now)
    attempt = DeliveryAttempt.objects.create(delivery=delivery, transaction_id=delivery.transaction_id)
    outcome = client.send(
        url=delivery.url,
        body=delivery.body,
        secret_key=key,
        transaction_id=str(delivery.transaction_id),
        policy=outbound_policy(),
    )
    if not outcome.refused:  # a refused URL made no request: no time to count, nothing learnt of Mindbox's health
        metrics.ATTEMPT_SECONDS.labels(outcome=outcome.kind.value).observe(outcome.duration_ms / 1000)
    result = _record(delivery, lease, attempt, outcome, rng)
    if not outcome.refused:
        health.note_outcome(integration_id=integration.pk, outcome=outcome, now=timezone.now())
    log.info(
        "delivery %s attempt %s: %s%s",
        delivery.pk,
        delivery.attempts + 1,
        result.outcome,
        f" ({attempt.error})" if attempt.error else "",
    )
    return result
