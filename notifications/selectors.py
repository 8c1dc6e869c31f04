"""Reads that the event's way needs."""

from datetime import datetime

from django.db.models import Q

from mindbox_integration.models import Notification
from notifications.models import Delivery, InboundEvent

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
        .select_related("operation")
        .order_by("pk")
    )


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


def due_delivery_ids(*, now: datetime, due_before: datetime | None = None, limit: int) -> list[int]:
    """Pending deliveries due (by `due_before`, default now) that no worker holds."""
    return list(
        Delivery.objects.filter(status=Delivery.Status.PENDING, next_attempt_at__lte=due_before or now)
        .filter(Q(claimed_until__isnull=True) | Q(claimed_until__lt=now))
        .order_by("next_attempt_at")
        .values_list("pk", flat=True)[:limit]
    )
