"""The circuit breaker in front of each integration's Mindbox (its state: IntegrationHealth):
pause an integration whose key Mindbox refuses, back off from one whose Mindbox is down, and
release what was held once sending may go on.

An integration's deliveries are *held* (status `held`, no attempt spent) while the integration is
switched off or paused. Consecutive 401/403 answers pause it; a manager resumes it. Consecutive
temporary failures (5xx, timeouts) open a back-off window during which its deliveries wait without
an attempt, so an outage costs a few probes instead of a request per delivery, and workers stay
free for other integrations.
"""

import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Field, Q
from django.utils import timezone
from django.utils.translation import gettext as _

from mindbox_integration.mindbox import Outcome, OutcomeKind
from mindbox_integration.models import MindboxIntegration
from notifications.cursors import server_bound
from notifications.models import Delivery, IntegrationHealth

AUTH_REFUSED = (401, 403)
# Requests a batch sends to an integration whose back-off just ended; the rest wait a moment for
# their answers (a good one ends the back-off, a bad one doubles it).
PROBES = 2


@dataclass(frozen=True)
class Gate:
    """Whether a delivery of this integration may be sent now."""

    hold: str = ""  # why it must wait for the integration (switched off, paused)
    wait_until: datetime | None = None  # back-off: try again then, at no attempt's cost
    probes: int | None = None  # a back-off just ended: only this many go, to see if Mindbox is back


def gate(*, integration: MindboxIntegration, health: IntegrationHealth | None, now: datetime) -> Gate:
    if not integration.active:
        return Gate(hold=_("the integration is switched off"))
    if health is None:
        return Gate()
    if health.paused_at is not None:
        return Gate(hold=health.pause_reason or _("sending is paused"))
    if health.backoff_until is not None and health.backoff_until > now:
        return Gate(wait_until=health.backoff_until)
    if health.failure_streak >= settings.DELIVERY_BACKOFF_AFTER:
        return Gate(probes=PROBES)
    return Gate()


def is_auth_refusal(outcome: Outcome) -> bool:
    return outcome.http_status in AUTH_REFUSED and outcome.kind == OutcomeKind.FAILED


def refusal_delay(*, age: float, schedule: list[int], retry_after: float | None, rng: random.Random) -> float:
    """Seconds a delivery waits after Mindbox refused the key (401/403). The refusal spends none of
    its attempts (the key is wrong, not the delivery) and never fails it: the integration's pause
    (DELIVERY_PAUSE_AFTER refusals in a row) holds it, however short the retry schedule. Until
    then it waits the schedule's step for as long as it has existed (`age`, seconds), so a refusal
    that never pauses (a 403 for one operation while the others succeed) asks ever more rarely,
    up to the schedule's longest step."""
    elapsed = 0
    step = schedule[-1]
    for candidate in schedule:
        elapsed += candidate
        if age < elapsed:
            step = candidate
            break
    delay = step * rng.uniform(0.8, 1.2)
    return max(delay, retry_after or 0.0)


def backoff_seconds(streak: int) -> float:
    """Back-off after `streak` temporary failures in a row: none below the threshold, then
    doubling from 5 s up to DELIVERY_BACKOFF_MAX."""
    over = streak - settings.DELIVERY_BACKOFF_AFTER
    if over < 0:
        return 0.0
    return float(min(5 * 2 ** min(over, 20), settings.DELIVERY_BACKOFF_MAX))


def note_outcomes(*, integration_id: int, outcomes: list[Outcome], now: datetime) -> IntegrationHealth | None:
    """Count a batch's answers, in order, towards the integration's health; pause or back off
    when due.

    When every answer was good, one conditional UPDATE resets the counts; it matches (and locks)
    nothing while the integration is healthy. It does not trust the state read at claim time:
    another worker may have counted a failure since.
    """
    if not any(is_auth_refusal(o) or o.kind == OutcomeKind.RETRY for o in outcomes):
        _reset(integration_id)
        return None

    with transaction.atomic():
        IntegrationHealth.objects.get_or_create(integration_id=integration_id)
        state = IntegrationHealth.objects.select_for_update().get(pk=integration_id)
        paused_before = state.paused_at is not None
        for outcome in outcomes:
            _count(state, outcome, now)
        state.save()
        if state.paused_at is not None and not paused_before:
            hold_pending(integration_id=integration_id, now=now)
    return state


def _reset(integration_id: int) -> None:
    """Every answer of a batch was good: clear the counts, if any. Every batch asks this, so on
    PostgreSQL it is one statement of fixed text, which psycopg prepares once per connection
    (the ORM compiled it anew each time: a twentieth of the worker's CPU at a moderate rate)."""
    if connection.vendor != "postgresql":
        IntegrationHealth.objects.filter(pk=integration_id).filter(
            Q(auth_failures__gt=0) | Q(failure_streak__gt=0) | Q(backoff_until__isnull=False)
        ).update(auth_failures=0, failure_streak=0, backoff_until=None)
        return
    with server_bound(connection) as cursor:
        cursor.execute(_reset_sql(), [integration_id])


@cache
def _reset_sql() -> str:
    q = connection.ops.quote_name
    meta = IntegrationHealth._meta
    assert meta.pk is not None
    columns = [meta.get_field(name) for name in ("auth_failures", "failure_streak", "backoff_until")]
    failures, streak, until = (q(field.column) for field in columns if isinstance(field, Field))
    return (
        f"UPDATE {q(meta.db_table)} SET {failures} = 0, {streak} = 0, {until} = NULL"  # noqa: S608 - names from the model
        f" WHERE {q(str(meta.pk.column))} = %s AND ({failures} > 0 OR {streak} > 0 OR {until} IS NOT NULL)"
    )


def _count(state: IntegrationHealth, outcome: Outcome, now: datetime) -> None:
    """One answer: a refused key counts towards a pause, a temporary failure towards back-off,
    and a good answer resets both."""
    if is_auth_refusal(outcome):
        state.auth_failures += 1
        state.failure_streak = 0
        state.backoff_until = None
        if state.paused_at is None and state.auth_failures >= settings.DELIVERY_PAUSE_AFTER:
            state.paused_at = now
            state.pause_reason = _(
                "Mindbox refused %(count)d requests in a row with HTTP %(status)s: check the secret key "
                "and that the endpoint may call this operation, then resume sending."
            ) % {"count": state.auth_failures, "status": outcome.http_status}
    elif outcome.kind == OutcomeKind.RETRY:
        state.failure_streak += 1
        wait = backoff_seconds(state.failure_streak)
        if wait:
            state.backoff_until = now + timedelta(seconds=wait)
    else:
        state.auth_failures = 0
        state.failure_streak = 0
        state.backoff_until = None


def _of_integration(integration_id: int) -> Q:
    return Q(notification__operation__integration_id=integration_id)


def hold_pending(*, integration_id: int, now: datetime) -> int:
    """Hold the integration's pending deliveries that no worker is sending."""
    return (
        Delivery.objects.filter(_of_integration(integration_id), status=Delivery.Status.PENDING)
        .filter(Q(claimed_until__isnull=True) | Q(claimed_until__lt=now))
        .update(status=Delivery.Status.HELD, queued_until=None)
    )


def release_held(*, integration_id: int, enqueue: Callable[[list[int]], None], limit: int | None = None) -> int:
    """Make the integration's held deliveries due now and queue them in order of arrival: the
    oldest `limit` of them (all: None). How many it released."""
    now = timezone.now()
    with transaction.atomic():
        held = (
            Delivery.objects.select_for_update(skip_locked=True, of=("self",))  # not the joined rows
            .filter(_of_integration(integration_id), status=Delivery.Status.HELD)
            .order_by("created_at", "pk")
            .values_list("pk", flat=True)
        )
        ids = list(held if limit is None else held[:limit])
        Delivery.objects.filter(pk__in=ids).update(
            status=Delivery.Status.PENDING,
            queue=Delivery.Queue.REPLAYS,
            send_slot=None,
            next_attempt_at=now,
            queued_until=now + timedelta(seconds=settings.DELIVERY_QUEUE_LEASE),
            claimed_until=None,
        )
        if ids:
            transaction.on_commit(lambda: enqueue(ids))
    return len(ids)


def has_held(*, integration_id: int) -> bool:
    return Delivery.objects.filter(_of_integration(integration_id), status=Delivery.Status.HELD).exists()


def release_all_held(*, integration_id: int, enqueue: Callable[[list[int]], None], chunk: int) -> int:
    """Every held delivery of the integration, `chunk` at a time (one transaction each): the
    sweeper's way, in a worker."""
    released = 0
    while True:
        # Paused or switched off meanwhile: what is still held stays held.
        if integration_id not in _may_send([integration_id]):
            return released
        count = release_held(integration_id=integration_id, enqueue=enqueue, limit=chunk)
        released += count
        if count < chunk:
            return released


def resume(*, integration_id: int, enqueue: Callable[[list[int]], None], limit: int | None = None) -> int:
    """Lift a pause (a manager fixed the key): forget the failures and send what was held (the
    oldest `limit` now; the sweeper releases the rest, see releasable_integration_ids)."""
    IntegrationHealth.objects.filter(pk=integration_id).update(
        paused_at=None, pause_reason="", auth_failures=0, failure_streak=0, backoff_until=None
    )
    integration = MindboxIntegration.objects.only("active").get(pk=integration_id)
    if not integration.active:
        return 0
    return release_held(integration_id=integration_id, enqueue=enqueue, limit=limit)


def switched_on(*, integration_id: int, enqueue: Callable[[list[int]], None], limit: int | None = None) -> int:
    """A manager switched the integration on: send what it held now rather than at the sweeper's
    next run (the oldest `limit` of it; the sweeper the rest). A pause still holds them: only
    resuming lifts it."""
    if IntegrationHealth.objects.filter(pk=integration_id, paused_at__isnull=False).exists():
        return 0
    return release_held(integration_id=integration_id, enqueue=enqueue, limit=limit)


def _may_send(integration_ids: list[int]) -> set[int]:
    """Which of these integrations are switched on and not paused."""
    return set(
        MindboxIntegration.objects.filter(pk__in=integration_ids, active=True)
        .exclude(health__paused_at__isnull=False)
        .values_list("pk", flat=True)
    )


def releasable_integration_ids() -> list[int]:
    """Integrations with held deliveries that may send again (switched back on, or resumed)."""
    return list(
        Delivery.objects.filter(status=Delivery.Status.HELD, notification__operation__integration__active=True)
        .exclude(notification__operation__integration__health__paused_at__isnull=False)
        .values_list("notification__operation__integration_id", flat=True)
        .distinct()
    )
