"""Reads that the event's way and the admin's delivery pages need."""

from dataclasses import dataclass
from datetime import datetime

from django.db.models import Count, QuerySet

from mindbox_integration.models import MindboxIntegration, Notification
from notifications.models import Delivery, InboundEvent, IntegrationHealth

SEEN_EVENTS_LOOKBACK = 200


def active_notifications(*, account_id: int, communication_type: str) -> list[Notification]:
    """Active notifications of the account's active integration for this type."""
    return list(
        Notification.objects.filter(
            operation__integration__account_id=account_id,
            operation__integration__active=True,
            communication_type=communication_type,
            active=True,
        )
        .select_related("operation__integration__health")
        .order_by("pk")
    )


def is_paused(notification: Notification) -> bool:
    """Whether the notification's integration is paused (read with active_notifications' join)."""
    health = getattr(notification.operation.integration, "health", None)
    return health is not None and health.paused_at is not None


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
