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
    attempts = 0
    while ids := list(DeliveryAttempt.objects.filter(started_at__lt=older_than).values_list("pk", flat=True)[:batch]):
        attempts += DeliveryAttempt.objects.filter(pk__in=ids).delete()[0]

    events = 0
    unfinished = Delivery.objects.filter(status__in=Delivery.UNFINISHED)
    while ids := list(
        InboundEvent.objects.filter(received_at__lt=older_than)
        .exclude(pk__in=unfinished.values("event_id"))
        .values_list("pk", flat=True)[:batch]
    ):
        with transaction.atomic():
            # Checked again: a delivery may have been resent since the ids were read.
            ids = list(
                InboundEvent.objects.filter(pk__in=ids)
                .exclude(pk__in=unfinished.values("event_id"))
                .select_for_update()
                .values_list("pk", flat=True)
            )
            DeliveryAttempt.objects.filter(delivery__event_id__in=ids).delete()
            Delivery.objects.filter(event_id__in=ids).delete()
            events += InboundEvent.objects.filter(pk__in=ids).delete()[0]
    return Pruned(events=events, attempts=attempts)
