"""Reads that the event's way and the admin's delivery pages need."""

import re
from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.db.models import Count, Q, QuerySet

from core.rendering import has_value
from mindbox_integration.models import MindboxIntegration, Notification, Operation
from notifications.error_text import StoredError
from notifications.hourly import COUNTS, Hour
from notifications.models import (
    Delivery,
    DeliveryAttempt,
    HourlyStats,
    InboundEvent,
    IntegrationHealth,
    Reconciliation,
)

SEEN_EVENTS_LOOKBACK = 200


def active_notification_rows(*, account_id: int, communication_type: str) -> list[tuple[int, str, str, Any, Any]]:
    """(pk, url, body, filters, headers) of the active notifications of the account's active integration
    for this type, oldest first."""
    return list(
        Notification.objects.filter(
            operation__integration__account_id=account_id,
            operation__integration__active=True,
            communication_type=communication_type,
            active=True,
        )
        .order_by("pk")
        .values_list("pk", "url", "body", "filters", "headers")
    )


def integration_active(*, account_id: int) -> bool:
    return MindboxIntegration.objects.filter(account_id=account_id, active=True).exists()


def seen_mnemonics(*, account_id: int, communication_type: str) -> set[str]:
    """Keys UIS has sent in this account's recent events of the type: usable as mnemonics
    even when the catalogue does not list them."""
    names: set[str] = set()
    rows = InboundEvent.objects.filter(account_id=account_id, communication_type=communication_type).values_list(
        "values", flat=True
    )[:SEEN_EVENTS_LOOKBACK]
    for values in rows:
        if isinstance(values, dict):
            names.update(values)
    return names


@dataclass(frozen=True)
class Arrivals:
    """How often each key came with a value in the account's recent events of a type: public call
    bodies rarely carry visitor_name, visitor_email or utm_*, so a manager should see it."""

    total: int  # events looked at (at most SEEN_EVENTS_LOOKBACK)
    counts: dict[str, int]  # key -> events where it had a value (absent keys: 0)

    def of(self, name: str) -> int:
        return self.counts.get(name, 0)


def arrivals(*, account_id: int, communication_type: str) -> Arrivals:
    rows = list(
        InboundEvent.objects.filter(account_id=account_id, communication_type=communication_type)
        .order_by("-received_at", "-pk")
        .values_list("values", flat=True)[:SEEN_EVENTS_LOOKBACK]
    )
    counts: dict[str, int] = {}
    for values in rows:
        if isinstance(values, dict):
            for key, value in values.items():
                if has_value(value):
                    counts[key] = counts.get(key, 0) + 1
    return Arrivals(total=len(rows), counts=counts)


# The statuses the integration page counts: what still waits, and what needs a manager.
COUNTED_STATUSES = (Delivery.Status.HELD, Delivery.Status.PENDING, Delivery.Status.FAILED)


def delivery_counts(*, integration_id: int) -> dict[str, int]:
    """Held, pending and failed deliveries of the integration, every status present (0 if none)."""
    counts = dict.fromkeys((str(status) for status in COUNTED_STATUSES), 0)
    rows = (
        Delivery.objects.filter(notification__operation__integration_id=integration_id, status__in=COUNTED_STATUSES)
        .values("status")
        .annotate(n=Count("pk"))
        .order_by()
    )
    for row in rows:
        counts[row["status"]] = row["n"]
    return counts


def integration_health(*, integration_id: int) -> IntegrationHealth | None:
    """The integration's health row; none means it has been healthy all along."""
    return IntegrationHealth.objects.filter(pk=integration_id).first()


def integrations_by_name() -> "QuerySet[MindboxIntegration]":
    """Integrations for a choice list, with the account their name shows."""
    return MindboxIntegration.objects.select_related("account").order_by("account__name", "pk")


def operations_by_account(*, account_id: int | None = None) -> "QuerySet[Operation]":
    """Operations for a choice list, with the account their label names; of one account if given."""
    operations = Operation.objects.select_related("integration__account").order_by(
        "integration__account__name", "name", "pk"
    )
    return operations if account_id is None else operations.filter(integration__account_id=account_id)


def events_by_outcome(*, events: "QuerySet[InboundEvent]", made_delivery: bool) -> "QuerySet[InboundEvent]":
    """Events that made a delivery, or that made none (those carry a note saying why)."""
    return events.filter(note="") if made_delivery else events.exclude(note="")


@dataclass(frozen=True)
class IntegrationState:
    health: IntegrationHealth | None
    counts: dict[str, int]
    last_event_at: datetime | None
    last_delivery: Delivery | None


def integration_state(*, integration_id: int) -> IntegrationState:
    """What an operator asks first about one integration."""
    integration = MindboxIntegration.objects.only("account_id").get(pk=integration_id)
    last_event = (
        InboundEvent.objects.filter(account_id=integration.account_id)
        .order_by("-received_at")
        .only("received_at")
        .first()
    )
    return IntegrationState(
        health=integration_health(integration_id=integration_id),
        counts=delivery_counts(integration_id=integration_id),
        last_event_at=last_event.received_at if last_event else None,
        last_delivery=Delivery.objects.filter(notification__operation__integration_id=integration_id)
        .order_by("-created_at", "-pk")
        .first(),
    )


GLANCE_FAILURE_WINDOW = timedelta(hours=24)
UNSUCCESSFUL_OUTCOMES = (
    DeliveryAttempt.Outcome.RETRY,
    DeliveryAttempt.Outcome.FAILED,
    DeliveryAttempt.Outcome.INTERRUPTED,
)


def delivery_error(delivery: Delivery) -> StoredError:
    """A delivery's last error as stored: English text, code and parameters."""
    return StoredError(text=delivery.last_error, code=delivery.error_code, params=delivery.error_params or {})


def attempt_error(attempt: DeliveryAttempt) -> StoredError:
    return StoredError(text=attempt.error, code=attempt.error_code, params=attempt.error_params or {})


@dataclass(frozen=True)
class IntegrationGlance:
    """The integration's state at a glance, for the top of its page."""

    active: bool
    last_event_at: datetime | None
    last_delivered_at: datetime | None  # the last request Mindbox accepted
    failed_attempts: int  # requests that did not get through within the window
    failed_deliveries: int  # deliveries that failed for good within the window
    last_error: StoredError
    last_error_at: datetime | None
    operations: int
    notifications: int  # active ones
    # Reconciliation through UIS's Data API: whether the account has a token, its state, and
    # how many events it recovered within the window.
    data_api: bool = False
    reconciliation: Reconciliation | None = None
    recovered: int = 0

    @property
    def next_step(self) -> str:
        """What the manager does next: activate, add an operation, add a notification, or nothing."""
        if not self.active:
            return "activate"
        if not self.operations:
            return "add-operation"
        if not self.notifications:
            return "add-notification"
        return ""


def integration_glance(
    *, integration_id: int, now: datetime, window: timedelta = GLANCE_FAILURE_WINDOW
) -> IntegrationGlance:
    """Active or not, the last event and the last delivery, and what failed since now - window
    (unsuccessful attempts, deliveries failed for good, some without an attempt: a template that
    cannot render, a refused URL) with the newest error."""
    integration = (
        MindboxIntegration.objects.select_related("account")
        .only("account_id", "active", "account__data_api_token_encrypted")
        .get(pk=integration_id)
    )
    since = now - window
    deliveries = Delivery.objects.filter(notification__operation__integration_id=integration_id)
    last_event = (
        InboundEvent.objects.filter(account_id=integration.account_id)
        .order_by("-received_at")
        .only("received_at")
        .first()
    )
    last_delivered = (
        deliveries.filter(status=Delivery.Status.DELIVERED, finished_at__isnull=False)
        .order_by("-finished_at")
        .values_list("finished_at", flat=True)
        .first()
    )
    failed_attempts = DeliveryAttempt.objects.filter(
        delivery__notification__operation__integration_id=integration_id,
        outcome__in=UNSUCCESSFUL_OUTCOMES,
        started_at__gte=since,
    )
    failed_deliveries = deliveries.filter(status=Delivery.Status.FAILED, finished_at__gte=since)
    errors: list[tuple[datetime, StoredError]] = []
    attempt = (
        failed_attempts.exclude(error="")
        .order_by("-started_at")
        .only("started_at", "error", "error_code", "error_params")
        .first()
    )
    if attempt is not None:
        errors.append((attempt.started_at, attempt_error(attempt)))
    delivery = (
        failed_deliveries.exclude(last_error="")
        .order_by("-finished_at")
        .only("finished_at", "last_error", "error_code", "error_params")
        .first()
    )
    if delivery is not None and delivery.finished_at is not None:
        errors.append((delivery.finished_at, delivery_error(delivery)))
    last_error_at, last_error = max(errors, key=lambda e: e[0]) if errors else (None, StoredError())
    return IntegrationGlance(
        active=integration.active,
        last_event_at=last_event.received_at if last_event else None,
        last_delivered_at=last_delivered,
        failed_attempts=failed_attempts.count(),
        failed_deliveries=failed_deliveries.count(),
        last_error=last_error,
        last_error_at=last_error_at,
        operations=Operation.objects.filter(integration_id=integration_id).count(),
        notifications=Notification.objects.filter(operation__integration_id=integration_id, active=True).count(),
        data_api=integration.account.has_data_api_token,
        reconciliation=Reconciliation.objects.filter(account_id=integration.account_id).first(),
        recovered=InboundEvent.objects.filter(account_id=integration.account_id, received_at__gte=since)
        .exclude(recovered_from="")
        .count(),
    )


# Event values a manager looks a customer up by: phone numbers (digits), e-mails and the ids of
# a call or a communication.
PHONE_KEYS = ("contact_phone_number", "visitor_phone_number", "calling_phone_number", "called_phone_number")
TEXT_KEYS = ("visitor_email", "call_session_id", "communication_id")
MIN_PHONE_DIGITS = 5
NATIONAL_DIGITS = 10


def naming(term: str, *, values: str) -> Q | None:
    """The condition "the event values at `values` (a lookup path to the JSON field) name this
    phone number (any formatting: its last ten digits are compared), e-mail, call session id or
    communication id"; None for a blank term."""
    term = term.strip()
    if not term:
        return None
    condition = Q()
    for key in TEXT_KEYS:
        condition |= Q(**{f"{values}__{key}__icontains": term})
    # The last ten digits: a Russian number is written with 8 or +7 in front, stored with 7.
    digits = re.sub(r"\D", "", term)[-NATIONAL_DIGITS:]
    if len(digits) >= MIN_PHONE_DIGITS:
        for key in PHONE_KEYS:
            condition |= Q(**{f"{values}__{key}__icontains": digits})
    return condition


def deliveries_about(*, deliveries: "QuerySet[Delivery]", term: str) -> "QuerySet[Delivery]":
    """The deliveries whose event names this phone number, e-mail, call session or communication id."""
    condition = naming(term, values="event__values")
    return deliveries.none() if condition is None else deliveries.filter(condition)


def events_about(*, events: "QuerySet[InboundEvent]", term: str) -> "QuerySet[InboundEvent]":
    """The events that name this phone number, e-mail, call session or communication id."""
    condition = naming(term, values="values")
    return events.none() if condition is None else events.filter(condition)


# A delivery's timeline, for its page: the event's arrival, every attempt in order, the next
# planned attempt, and where the delivery stands now.
RECEIVED, ATTEMPT, NEXT, NOW = "received", "attempt", "next", "now"


@dataclass(frozen=True)
class TimelineEntry:
    kind: str  # RECEIVED, ATTEMPT, NEXT or NOW
    at: datetime | None  # NOW: when the delivery finished, if it has
    state: str = ""  # ATTEMPT: its outcome (DeliveryAttempt.Outcome); NOW: the delivery's status
    label: str = ""  # the state's display name
    number: int = 0  # ATTEMPT: counted from 1, over resends too
    # ATTEMPT and NEXT: the wait since the previous attempt started (`previous` is its number),
    # or since the event arrived (`previous` is 0).
    gap: timedelta | None = None
    previous: int = 0
    duration: timedelta | None = None
    http_status: int | None = None
    error: StoredError = field(default_factory=StoredError)  # an attempt's error; NOW: why the delivery failed
    response: str = ""
    # The attempt's transactionId where it is not the delivery's now (a re-render gave it a new one).
    earlier_transaction_id: str = ""


def delivery_timeline(*, delivery: Delivery) -> list[TimelineEntry]:
    """The delivery's way so far, oldest first. Attempts carry no secret key (they never
    store one), so everything here may be shown."""
    received_at = delivery.event.received_at
    entries = [TimelineEntry(kind=RECEIVED, at=received_at)]
    previous_at, previous = received_at, 0
    for number, attempt in enumerate(delivery.attempt_log.order_by("started_at", "pk"), start=1):
        entries.append(
            TimelineEntry(
                kind=ATTEMPT,
                at=attempt.started_at,
                state=attempt.outcome,
                label=attempt.get_outcome_display(),
                number=number,
                gap=max(attempt.started_at - previous_at, timedelta(0)),
                previous=previous,
                duration=timedelta(milliseconds=attempt.duration_ms) if attempt.duration_ms is not None else None,
                http_status=attempt.http_status,
                error=attempt_error(attempt),
                response=attempt.response_body,
                earlier_transaction_id=str(attempt.transaction_id)
                if attempt.transaction_id and attempt.transaction_id != delivery.transaction_id
                else "",
            )
        )
        previous_at, previous = attempt.started_at, number
    # Only a pending delivery is waiting for a time; a held one waits for its integration.
    if delivery.status == Delivery.Status.PENDING and delivery.next_attempt_at is not None:
        entries.append(
            TimelineEntry(
                kind=NEXT,
                at=delivery.next_attempt_at,
                gap=max(delivery.next_attempt_at - previous_at, timedelta(0)),
                previous=previous,
            )
        )
    entries.append(
        TimelineEntry(
            kind=NOW,
            at=delivery.finished_at,
            state=delivery.status,
            label=delivery.get_status_display(),
            # A pending delivery's last error is its last attempt's, already shown above.
            error=delivery_error(delivery) if delivery.status == Delivery.Status.FAILED else StoredError(),
        )
    )
    return entries


def same_call_events(*, event: InboundEvent) -> list[InboundEvent]:
    """The account's other events of the same call session (other UIS event types: one call
    brings several, and a UIS notification subscribed to several posts each), oldest first.
    Calls only: their identity is `call:<session>:<event type>`."""
    if event.communication_type != "calls" or not event.identity.startswith("call:"):
        return []
    session = event.values.get("call_session_id") if isinstance(event.values, dict) else None
    if session in (None, ""):
        return []
    return list(
        InboundEvent.objects.filter(
            account_id=event.account_id, communication_type="calls", identity__startswith=f"call:{session}:"
        )
        .exclude(pk=event.pk)
        .order_by("received_at", "pk")
        .only("pk", "identity", "received_at", "values")
    )


def hourly_rows(*, integration_ids: Collection[int], since: datetime) -> list[Hour]:
    """The rolled-up hours (notifications.rollup) of these integrations from `since` on, one per
    integration and hour: the charts sum them (notifications.hourly.series). The caller scopes
    the ids by tenancy."""
    return [
        hour
        for hours in hourly_rows_by_integration(integration_ids=integration_ids, since=since).values()
        for hour in hours
    ]


def hourly_rows_by_integration(*, integration_ids: Collection[int], since: datetime) -> dict[int, list[Hour]]:
    """As hourly_rows, by integration, in one query: a list of many integrations passes each its
    own to {% hourly_charts %}. Integrations without a row are absent."""
    rows = HourlyStats.objects.filter(integration_id__in=list(integration_ids), hour__gte=since).values(
        "integration_id", "hour", *COUNTS
    )
    found: dict[int, list[Hour]] = {}
    for row in rows:
        counts = {name: row[name] for name in COUNTS}
        buckets = counts.pop("latency_buckets")
        found.setdefault(row["integration_id"], []).append(
            Hour(start=row["hour"], **counts, latency_buckets=tuple(buckets) if isinstance(buckets, list) else ())
        )
    return found


def selection_by_integration(*, deliveries: "QuerySet[Delivery]") -> tuple[dict[int, list[int]], int]:
    """The selected deliveries' ids by integration, oldest first; and how many have none (their
    notification was deleted: nothing can replay them)."""
    by_integration: dict[int, list[int]] = {}
    orphans = 0
    rows = deliveries.order_by("created_at", "pk").values_list("pk", "notification__operation__integration_id")
    for pk, integration_id in rows.iterator(chunk_size=5000):
        if integration_id is None:
            orphans += 1
        else:
            by_integration.setdefault(integration_id, []).append(pk)
    return by_integration, orphans
