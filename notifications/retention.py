"""Retention: forget events and attempts older than RETENTION_DAYS, in small batches so no
delete holds locks for long. An event waits while any of its deliveries is unfinished."""

from dataclasses import dataclass
from datetime import datetime

from django.db import transaction

from notifications.models import Delivery, DeliveryAttempt, InboundEvent

BATCH = 1000


@dataclass(frozen=True)
class Pruned:
    events: int
    attempts: int


def prune(*, older_than: datetime, batch: int = BATCH) -> Pruned:
    # Attempts of an unfinished delivery stay: they are its history, and an open one counts.
    old_attempts = DeliveryAttempt.objects.filter(started_at__lt=older_than).exclude(
        delivery__status__in=Delivery.UNFINISHED
    )
    attempts = 0
    while ids := list(old_attempts.values_list("pk", flat=True)[:batch]):
        attempts += DeliveryAttempt.objects.filter(pk__in=ids).delete()[0]

    events = 0
    unfinished = Delivery.objects.filter(status__in=Delivery.UNFINISHED)
    old_events = InboundEvent.objects.filter(received_at__lt=older_than).exclude(pk__in=unfinished.values("event_id"))
    while ids := list(old_events.values_list("pk", flat=True)[:batch]):
        with transaction.atomic():
            # Checked again under lock: a delivery may have been resent since the ids were read
            # (a resend locks its delivery too, so it waits or is seen here).
            rows = Delivery.objects.select_for_update().filter(event_id__in=ids).values_list("event_id", "status")
            keep = {event_id for event_id, status in rows if status in Delivery.UNFINISHED}
            ids = [pk for pk in ids if pk not in keep]
            DeliveryAttempt.objects.filter(delivery__event_id__in=ids).delete()
            Delivery.objects.filter(event_id__in=ids).delete()
            events += InboundEvent.objects.filter(pk__in=ids).delete()[0]
    return Pruned(events=events, attempts=attempts)
