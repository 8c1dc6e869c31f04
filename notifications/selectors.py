"""Reads that the event's way needs."""

from mindbox_integration.models import MindboxIntegration, Notification
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
