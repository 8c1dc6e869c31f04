"""Deliver in batches: claim many due deliveries, send them at once, record them in bulk, and
schedule what comes next.

The delivery row is the durable record; a Celery message only says "look at this queue now". A
claim (an UPDATE that sets a lease, on rows locked with SKIP LOCKED) makes sure one worker at a
time sends a delivery, so a duplicate message, a redelivered one or the sweeper's are all
harmless. Batching changes how many at a time, not what is promised: each delivery is claimed
before its send, its attempt row is written before the request and completed after, and it
keeps one transactionId across every retry.

Per batch: one statement claims and loads what the batch needs, the health gate and the rate
limit are asked once per integration, one statement writes the attempt rows, the requests go
out at once over kept-alive connections, and the answers are written in one statement.
"""

import logging
import math
import random
import threading
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import cache

from django.conf import settings
from django.utils import timezone
from django.views.decorators.debug import sensitive_variables

from integration_portal import logs
from mindbox_integration import services
from mindbox_integration.crypto import KeyUnavailable
from mindbox_integration.mindbox import MindboxClient, Outcome, OutcomeKind, Policy, request
from mindbox_integration.mindbox.error_codes import GAVE_UP_AFTER, LATE, ErrorCode
from mindbox_integration.models import MindboxIntegration
from notifications import breaker, bulk, claimed, claims, metrics, ratelimit, recording
from notifications.claims import NOTIFICATION_DELETED, SLOT_EARLY
from notifications.models import Delivery, DeliveryAttempt

log = logging.getLogger(__name__)

INTERRUPTED = "the worker stopped before Mindbox's answer was recorded"

# How late after its reserved send slot a delivery may be claimed and still use it: a later one
# asks for a new slot rather than send late in a bunch (how early: claims.SLOT_EARLY).
SLOT_TOLERANCE = timedelta(seconds=1)

Wake = tuple[str, float]  # (queue, epoch seconds): a wake-up to schedule for a short wait


@cache
def default_client() -> MindboxClient:
    """One client (one loop, one pool of kept-alive connections) per worker process."""
    return MindboxClient(
        connect_timeout=settings.MINDBOX_CONNECT_TIMEOUT,
        read_timeout=settings.MINDBOX_READ_TIMEOUT,
        pool_size=settings.DELIVERY_MAX_CONNECTIONS,
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
    """What one step did to one delivery."""

    sent: bool  # False: nothing was sent (not claimed, held, backing off, waiting for a slot)
    status: str = ""
    retry_in: float | None = None  # seconds until the next attempt, when one is planned
    requeue_in: float | None = None  # a wake-up of its queue comes in this many seconds (short waits only)
    queue: str = ""  # the queue it waits in
    outcome: str = (
        "not_claimed"  # for metrics: delivered, retry, failed, held, backoff, rate_limited, in_flight_bound, claim_lost
    )
    wake_at: datetime | None = None  # when that wake-up is due: the time stored on the delivery
    slot: bool = False  # it waits for its reserved send slot: wake its queue then, to the hundredth

    @property
    def wake_ups(self) -> list[Wake]:
        if self.requeue_in is None or self.wake_at is None:
            return []
        at = self.wake_at.timestamp()
        # Other waits are not that exact (a retry has ±20 % of jitter): one wake-up per second.
        return [(self.queue, math.ceil(at * 100) / 100 if self.slot else float(math.ceil(at)))]


@dataclass
class BatchResult:
    claimed: int = 0
    results: dict[int, AttemptResult] = field(default_factory=dict)

    @property
    def wake_ups(self) -> list[Wake]:
        """One wake-up per queue and time, however many deliveries wait for it."""
        return sorted({wake for result in self.results.values() for wake in result.wake_ups})


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


def deliver_due(
    *,
    queue: str,
    limit: int,
    wake: Callable[[str], None] = lambda queue: None,
    client: MindboxClient | None = None,
    rng: random.Random | None = None,
) -> BatchResult:
    """One batch of `queue`: claim, admit, send and record. When more may be due (the batch was
    full, or the in-flight bound held some back), the queue is woken again (`wake`): before the
    sends, so another thread takes the next batch meanwhile, unless the bound held some back
    (they wait for this batch's answers), and again after them. Queues whose claims skipped an
    integration at the bound are woken once it has half its places free again."""
    now = timezone.now()
    deliveries, lease = claimed.claim_due(queue=queue, now=now, limit=limit, skip_integrations=_in_flight.full(queue))
    metrics.BATCH_SIZE.labels(queue=queue).observe(len(deliveries))
    if not deliveries:
        return BatchResult()
    full = len(deliveries) >= limit

    def admitted(batch: "_Batch") -> None:
        if full and not batch.bounded:
            wake(queue)

    results, bounded = _deliver(
        deliveries, lease, now, client or default_client(), rng or random.Random(), admitted, wake
    )
    if full or bounded:
        wake(queue)
    return BatchResult(claimed=len(deliveries), results=results)


def attempt_delivery(
    *,
    delivery_id: int,
    client: MindboxClient | None = None,
    rng: random.Random | None = None,
    wake: Callable[[str], None] = lambda queue: None,
) -> AttemptResult:
    """One step of one delivery: a batch of one."""
    now = timezone.now()
    lease = claims.claim(delivery_id=delivery_id, now=now)
    if lease is None:
        return AttemptResult(sent=False)
    results, _ = _deliver(
        claimed.load([delivery_id]), lease, now, client or default_client(), rng or random.Random(), wake=wake
    )
    return results[delivery_id]


class _InFlight:
    """Requests this process has on their way, per integration: a Mindbox that stops answering
    holds at most DELIVERY_MAX_IN_FLIGHT of them until back-off starts, not every batch."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.counts: Counter[int] = Counter()
        self.skipped: dict[int, set[str]] = defaultdict(set)  # queues whose claims passed an integration by

    def take(self, integration_id: int, wanted: int) -> int:
        with self.lock:
            granted = max(0, min(wanted, int(settings.DELIVERY_MAX_IN_FLIGHT) - self.counts[integration_id]))
            self.counts[integration_id] += granted
            return granted

    def give_back(self, taken: Iterable[tuple[int, int]]) -> set[str]:
        """The queues to wake: those whose claims skipped an integration that now has half its
        places free (one free place at a time would wake a batch of one per answer)."""
        queues: set[str] = set()
        with self.lock:
            for integration_id, count in taken:
                self.counts[integration_id] -= count
                if self.counts[integration_id] <= settings.DELIVERY_MAX_IN_FLIGHT // 2:
                    queues |= self.skipped.pop(integration_id, set())
        return queues

    def full(self, queue: str) -> list[int]:
        """Integrations at the bound: a claim of `queue` skips their deliveries rather than let
        them go again, and the queue is woken when they are below it again."""
        with self.lock:
            at_bound = [pk for pk, count in self.counts.items() if count >= settings.DELIVERY_MAX_IN_FLIGHT]
            for pk in at_bound:
                self.skipped[pk].add(queue)
            return at_bound


_in_flight = _InFlight()


@dataclass
class _Batch:
    """One batch on its way: what is still to send, and what became of the rest."""

    lease: datetime
    now: datetime
    rng: random.Random
    results: dict[int, AttemptResult] = field(default_factory=dict)
    to_send: list[tuple[Delivery, str]] = field(default_factory=list, repr=False)  # with the integration's secret key
    in_flight: dict[int, int] = field(default_factory=dict)  # taken from _in_flight, per integration
    bounded: bool = False  # the in-flight bound held some back: they are still due
    released: list[Delivery] = field(default_factory=list)  # not sent now: written together by flush()
    # Guards in_flight, which the transport's thread changes too (give_back_one).
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    RELEASED_FIELDS = (
        "status",
        "next_attempt_at",
        "queued_until",
        "send_slot",
        "last_error",
        "error_code",
        "error_params",
        "finished_at",
    )

    def release(self, delivery: Delivery, result: AttemptResult, **changes: object) -> None:
        """Let go of a delivery that is not sent now (written by flush(), if the claim is still ours)."""
        for name, value in changes.items():
            assert name in self.RELEASED_FIELDS, name
            setattr(delivery, name, value)
        delivery.claimed_until = None
        self.released.append(delivery)
        self.results[delivery.pk] = result

    def give_back_one(self, integration_id: int) -> set[str]:
        """A request was delivered: its in-flight place is free for another batch now, not when
        this batch's slowest answer is in. The queues to wake (see _InFlight.give_back)."""
        with self.lock:
            if self.in_flight.get(integration_id, 0) < 1:
                return set()  # given back already (the batch gave up waiting)
            self.in_flight[integration_id] -= 1
        return _in_flight.give_back([(integration_id, 1)])

    def give_back_rest(self) -> set[str]:
        """The places still held (requests never made, or the batch stopped waiting)."""
        with self.lock:
            rest, self.in_flight = list(self.in_flight.items()), {}
        return _in_flight.give_back(rest)

    def flush(self) -> None:
        bulk.update_each(
            Delivery,
            self.released,
            [*self.RELEASED_FIELDS, "claimed_until"],
            only_if={"claimed_until": self.lease},
        )

    def fail(self, delivery: Delivery, error: str, code: ErrorCode, params: dict[str, object] | None = None) -> None:
        fields = {
            "status": Delivery.Status.FAILED,
            "last_error": error,
            "error_code": code,
            "error_params": params or {},
            "finished_at": self.now,
            "next_attempt_at": None,
        }
        self.release(delivery, AttemptResult(sent=False, status=Delivery.Status.FAILED, outcome="failed"), **fields)
        log.warning("delivery %s failed without sending: %s", delivery.pk, error)

    def wait(self, delivery: Delivery, *, until: datetime, outcome: str, wake: bool, slot: bool = False) -> None:
        """Pending again from `until`, at no attempt's cost; `wake`: a wake-up of its queue comes
        then (else the sweeper takes it once due); `slot`: `until` is its reserved send slot."""
        seconds = max(0.0, (until - self.now).total_seconds())
        self.release(
            delivery,
            AttemptResult(
                sent=False,
                status=Delivery.Status.PENDING,
                requeue_in=seconds if wake else None,
                queue=delivery.queue,
                outcome=outcome,
                wake_at=until if wake else None,
                slot=slot,
            ),
            next_attempt_at=until,
            queued_until=until + timedelta(seconds=settings.DELIVERY_QUEUE_LEASE) if wake else None,
            send_slot=until if slot else None,
        )


def _deliver(
    deliveries: list[Delivery],
    lease: datetime,
    now: datetime,
    client: MindboxClient,
    rng: random.Random,
    admitted: Callable[[_Batch], None] = lambda batch: None,
    wake: Callable[[str], None] = lambda queue: None,
) -> tuple[dict[int, AttemptResult], bool]:
    """Send what the claim took (loaded by notifications.claimed); the results, and whether the
    in-flight bound held any back."""
    batch = _Batch(lease=lease, now=now, rng=rng)
    by_integration: dict[int, list[Delivery]] = defaultdict(list)
    for delivery in _close_interrupted(deliveries, lease):
        if delivery.notification is None:
            batch.fail(delivery, NOTIFICATION_DELETED, ErrorCode.NOTIFICATION_DELETED)
        elif delivery.attempts > len(settings.DELIVERY_RETRY_SCHEDULE):
            batch.fail(
                delivery,
                f"gave up: the worker stopped {delivery.attempts} times while sending it",
                ErrorCode.WORKER_STOPPED,
                {"count": delivery.attempts},
            )
        else:
            by_integration[delivery.notification.operation.integration_id].append(delivery)
    try:
        for group in by_integration.values():
            _admit(batch, group)
        batch.flush()
        admitted(batch)
        _send(batch, client, wake)
    finally:
        for skipped in batch.give_back_rest():
            wake(skipped)
    for delivery in deliveries:
        result = batch.results[delivery.pk]
        operation = delivery.notification.operation.name if delivery.notification else ""
        metrics.DELIVERIES.labels(outcome=result.outcome, operation=operation).inc()
    return batch.results, batch.bounded


def _close_interrupted(deliveries: Sequence[Delivery], lease: datetime) -> Sequence[Delivery]:
    """Attempts a killed worker left `sending` count as spent: a delivery that crashes its
    worker every time must still run out of attempts. (Counted by the batch's load: no query
    when there are none.)"""
    crashed: dict[int, int] = {d.pk: n for d in deliveries if (n := getattr(d, "open_attempts", 0))}
    if crashed:
        DeliveryAttempt.objects.filter(delivery_id__in=crashed, outcome=DeliveryAttempt.Outcome.SENDING).update(
            outcome=DeliveryAttempt.Outcome.INTERRUPTED, error=INTERRUPTED, error_code=ErrorCode.INTERRUPTED
        )
        for delivery in deliveries:
            if count := crashed.get(delivery.pk, 0):
                delivery.attempts += count
                Delivery.objects.filter(pk=delivery.pk, claimed_until=lease).update(attempts=delivery.attempts)
    return deliveries


@sensitive_variables("key")
def _admit(batch: _Batch, group: list[Delivery]) -> None:
    """Which of one integration's deliveries go now: the health gate, the in-flight bound and the
    rate limit are asked once for the group; the others wait, at no attempt's cost."""
    notification = group[0].notification
    assert notification is not None
    integration = notification.operation.integration
    gate = breaker.gate(integration=integration, health=getattr(integration, "health", None), now=batch.now)
    if gate.hold:
        for delivery in group:
            batch.release(
                delivery,
                AttemptResult(sent=False, status=Delivery.Status.HELD, outcome="held"),
                status=Delivery.Status.HELD,
                queued_until=None,
                send_slot=None,
            )
        log.info("%d deliveries held: %s", len(group), gate.hold)
        return
    if gate.wait_until is not None:
        for delivery in group:
            # Spread the waiting deliveries over a second so they do not all probe at once.
            until = gate.wait_until + timedelta(seconds=batch.rng.uniform(0, 1))
            batch.wait(delivery, until=until, outcome="backoff", wake=False)
        return
    if gate.probes is not None:
        for delivery in group[gate.probes :]:
            batch.wait(
                delivery, until=batch.now + timedelta(seconds=batch.rng.uniform(1, 2)), outcome="backoff", wake=True
            )
        group = group[: gate.probes]
    granted = batch.in_flight[integration.pk] = _in_flight.take(integration.pk, len(group))
    for delivery in group[granted:]:
        # Still due: the next batch, woken once this one's answers are in, takes it.
        batch.release(delivery, AttemptResult(sent=False, status=Delivery.Status.PENDING, outcome="in_flight_bound"))
        batch.bounded = True
    group = group[:granted]
    group = _within_rate(batch, integration, group)
    if not group:
        return
    try:
        key = services.secret_key(integration=integration)
    except KeyUnavailable as exc:  # FIELD_ENCRYPTION_KEY lost the key: a configuration error, resend once fixed
        for delivery in group:
            batch.fail(delivery, str(exc), ErrorCode.KEY_UNAVAILABLE)
        return
    batch.to_send.extend((delivery, key) for delivery in group)


def _within_rate(batch: _Batch, integration: MindboxIntegration, group: list[Delivery]) -> list[Delivery]:
    """Under the integration's rate limit (one schedule in Redis for all workers), the deliveries
    that may go now. A delivery claimed at its reserved slot goes without asking again; the
    others are given slots, and those not due now wait for theirs."""
    rate = integration.send_rate_limit
    if not rate:
        return group
    going: list[Delivery] = []
    asking: list[Delivery] = []
    for delivery in group:
        slot = delivery.send_slot
        if slot is None or batch.now - slot > SLOT_TOLERANCE:
            asking.append(delivery)
        elif slot - batch.now > SLOT_EARLY:  # claimed with an earlier wake-up: wait for the slot
            batch.wait(delivery, until=slot, outcome="rate_limited", wake=True, slot=True)
        else:
            going.append(delivery)
    horizon = settings.DELIVERY_COUNTDOWN_MAX
    # Burst 1: slots 1/rate apart, so no second holds more than `rate` sends.
    waits = ratelimit.reserve_many(key=str(integration.pk), rate=rate, burst=1, horizon=horizon, count=len(asking))
    reserved = timezone.now()  # the waits count from now, not from the claim
    for delivery, wait in zip(asking, waits, strict=True):
        if wait == 0:
            going.append(delivery)
        elif wait is None:
            # More waiting than a wake-up should carry: the sweeper brings it back to ask again.
            until = batch.now + timedelta(seconds=horizon * batch.rng.uniform(0.5, 1))
            batch.wait(delivery, until=until, outcome="rate_limited", wake=False)
        else:
            batch.wait(delivery, until=reserved + timedelta(seconds=wait), outcome="rate_limited", wake=True, slot=True)
    return going


# Wakes asked for on the transport's thread are published from this one, off the loop.
_waker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="delivery-wake")


def _send(batch: _Batch, client: MindboxClient, wake: Callable[[str], None] = lambda queue: None) -> None:
    if not batch.to_send:
        return
    attempts = [
        DeliveryAttempt(delivery=delivery, transaction_id=delivery.transaction_id) for delivery, _ in batch.to_send
    ]
    bulk.insert_each(DeliveryAttempt, attempts)
    requests = [
        request.finalize(
            rendered=request.Rendered(url=d.url, body=d.body, headers=d.headers or {}),
            secret_key=key,
            transaction_id=str(d.transaction_id),
        )
        for d, key in batch.to_send
    ]
    integrations = [d.notification.operation.integration_id if d.notification else 0 for d, _ in batch.to_send]

    def free_place(index: int, outcome: Outcome) -> None:
        # Only a delivered answer frees its place early: a failure keeps it until the batch has
        # counted it towards back-off, so a Mindbox that stops answering still gets no more than
        # DELIVERY_MAX_IN_FLIGHT requests before back-off starts.
        if outcome.kind == OutcomeKind.DELIVERED:
            for queue in batch.give_back_one(integrations[index]):
                _waker.submit(wake, queue)

    try:
        outcomes = client.send_many(requests, policy=outbound_policy(), on_answer=free_place)
    except Exception as exc:  # the transport itself failed: each request may or may not have left
        log.exception("sending a batch of %d failed", len(requests))
        failed = Outcome(
            kind=OutcomeKind.RETRY,
            error=f"unexpected error: {type(exc).__name__}",
            code=ErrorCode.UNEXPECTED,
            params={"exception": type(exc).__name__},
        )
        outcomes = [failed] * len(requests)
    deliveries = [delivery for delivery, _ in batch.to_send]
    numbers = [delivery.attempts + 1 for delivery in deliveries]  # for the log: _record counts them
    for outcome in outcomes:
        if not outcome.refused:  # a refused URL made no request: no time to count, nothing learnt of Mindbox
            metrics.ATTEMPT_SECONDS.labels(outcome=outcome.kind.value).observe(outcome.duration_ms / 1000)
    _record(batch, deliveries, attempts, outcomes)
    by_integration: dict[int, list[Outcome]] = defaultdict(list)
    for delivery, outcome in zip(deliveries, outcomes, strict=True):
        if not outcome.refused and delivery.notification is not None:
            by_integration[delivery.notification.operation.integration_id].append(outcome)
    done = timezone.now()
    for integration_id, answered in by_integration.items():
        try:
            breaker.note_outcomes(integration_id=integration_id, outcomes=answered, now=done)
        except Exception:  # the outcomes are recorded; the batch's wake-ups must still go out
            log.exception("integration %s: the batch's answers were not counted towards its health", integration_id)
    for delivery, attempt, number in zip(deliveries, attempts, numbers, strict=True):
        with logs.bound(delivery.event.request_id):
            error = f" ({attempt.error})" if attempt.error else ""
            log.info("delivery %s attempt %s: %s%s", delivery.pk, number, batch.results[delivery.pk].outcome, error)


@dataclass(frozen=True)
class _Next:
    """What an answer makes of a delivery."""

    status: str
    kind: OutcomeKind
    error: str
    retry_in: float | None
    requeue_in: float | None
    spent: bool = True  # whether the answer counts as one of the delivery's attempts
    code: str = ""  # what `error` says (error_codes.py)
    params: dict[str, object] = field(default_factory=dict)


def _next(delivery: Delivery, outcome: Outcome, rng: random.Random) -> _Next:
    attempts_done = delivery.attempts + 1
    kind = outcome.kind
    error = outcome.error
    params = outcome.params
    if breaker.is_auth_refusal(outcome):
        # Refused keys pause the whole integration (breaker.note_outcomes), which then holds this
        # delivery; until then it waits, spending no attempt (README: "waits instead of failing").
        age = (timezone.now() - delivery.created_at).total_seconds()
        wait = breaker.refusal_delay(
            age=age, schedule=settings.DELIVERY_RETRY_SCHEDULE, retry_after=outcome.retry_after, rng=rng
        )
        requeue = wait if wait <= settings.DELIVERY_COUNTDOWN_MAX else None
        return _Next(
            Delivery.Status.PENDING,
            OutcomeKind.RETRY,
            error,
            wait,
            requeue,
            spent=False,
            code=outcome.code,
            params=outcome.params,
        )
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
            params = {**params, GAVE_UP_AFTER: attempts_done}
    status = {
        OutcomeKind.DELIVERED: Delivery.Status.DELIVERED,
        OutcomeKind.RETRY: Delivery.Status.PENDING,
        OutcomeKind.FAILED: Delivery.Status.FAILED,
    }[kind]
    requeue_in = retry_in if retry_in is not None and retry_in <= settings.DELIVERY_COUNTDOWN_MAX else None
    return _Next(
        status=status,
        kind=kind,
        error=error,
        retry_in=retry_in,
        requeue_in=requeue_in,
        code=outcome.code,
        params=params,
    )


_RECORDED_FIELDS = (
    "attempts",
    "status",
    "queue",
    "next_attempt_at",
    "claimed_until",
    "send_slot",
    "queued_until",
    "last_error",
    "error_code",
    "error_params",
    "finished_at",
)


def _record(
    batch: _Batch, deliveries: list[Delivery], attempts: list[DeliveryAttempt], outcomes: list[Outcome]
) -> None:
    """Complete the attempt rows and apply the answers to the deliveries whose claim is still
    ours; an answer that came after the claim expired is kept as history only."""
    now = timezone.now()
    plans = [_next(delivery, outcome, batch.rng) for delivery, outcome in zip(deliveries, outcomes, strict=True)]
    for delivery, plan in zip(deliveries, plans, strict=True):
        next_attempt_at = now + timedelta(seconds=plan.retry_in) if plan.retry_in is not None else None
        delivery.attempts += 1 if plan.spent else 0
        delivery.status = plan.status
        if plan.status == Delivery.Status.PENDING:
            delivery.queue = Delivery.Queue.RETRIES
        delivery.next_attempt_at = next_attempt_at
        delivery.claimed_until = None
        delivery.send_slot = None
        # A wake-up will come; a longer wait is the sweeper's as soon as it is due.
        delivery.queued_until = (
            next_attempt_at + timedelta(seconds=settings.DELIVERY_QUEUE_LEASE)
            if plan.requeue_in is not None and next_attempt_at is not None
            else None
        )
        delivery.last_error = plan.error
        delivery.error_code = plan.code
        delivery.error_params = plan.params
        delivery.finished_at = None if plan.status == Delivery.Status.PENDING else now
    late = []
    for attempt, outcome, plan in zip(attempts, outcomes, plans, strict=True):
        attempt.http_status = outcome.http_status
        attempt.response_body = outcome.response_body
        attempt.duration_ms = outcome.duration_ms
        attempt.error = plan.error
        attempt.error_code = plan.code
        attempt.error_params = plan.params
        attempt.outcome = plan.kind.value
        # If another worker has the delivery now, this attempt is history only (a repeat carried
        # the same transactionId), and says so.
        late.append(
            recording.Words(
                error=f"{plan.error}; answered after the claim expired, not applied".lstrip("; "),
                error_code=plan.code or ErrorCode.ANSWERED_LATE,
                error_params={**plan.params, LATE: True} if plan.code else plan.params,
            )
        )
    ours = recording.write(
        deliveries=deliveries, fields=_RECORDED_FIELDS, lease=batch.lease, attempts=attempts, late=late
    )
    for delivery, plan in zip(deliveries, plans, strict=True):
        if delivery.pk not in ours:
            batch.results[delivery.pk] = AttemptResult(sent=True, outcome="claim_lost")
            log.warning(
                "delivery %s: answer came after the claim expired; left to the worker that holds it", delivery.pk
            )
            continue
        batch.results[delivery.pk] = AttemptResult(
            sent=True,
            status=plan.status,
            retry_in=plan.retry_in,
            requeue_in=plan.requeue_in,
            queue=delivery.queue,
            wake_at=delivery.next_attempt_at if plan.requeue_in is not None else None,
            outcome="retry" if plan.status == Delivery.Status.PENDING else str(plan.status),
        )
