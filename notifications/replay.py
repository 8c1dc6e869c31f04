"""Dead letters and replay: send failed deliveries again, as they were or re-rendered.

A resend keeps the delivery's transaction id, so Mindbox still de-duplicates it, and its
attempts stay as history; the retry schedule starts over. A re-render builds the URL and body
again from the stored event with the notification as it is now (after a template fix), and
takes a new transaction id when the request changed (under the old one Mindbox would answer
"already processed"); an unchanged request keeps its id, since Mindbox may have it already.
"""

import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from notifications import site_visitors
from notifications.dispatch import render_notification
from notifications.error_text import StoredError
from notifications.models import Delivery

Enqueue = Callable[[list[int]], None]

# Which deliveries each replay takes (also what the admin offers its buttons for).
RESENDABLE = (Delivery.Status.FAILED,)
RERENDERABLE = (Delivery.Status.FAILED, Delivery.Status.HELD)


@dataclass
class Replayed:
    queued: list[int] = field(default_factory=list)
    skipped: int = 0  # not failed (or, for a re-render, not failed or held), or its notification is gone
    errors: dict[int, StoredError] = field(default_factory=dict)  # re-render: still cannot render
    held: list[int] = field(default_factory=list)  # re-render: rendered again, still waiting for the integration


def _pending_now(now: datetime) -> dict[str, object]:
    return {
        "status": Delivery.Status.PENDING,
        "queue": Delivery.Queue.REPLAYS,
        "send_slot": None,
        "attempts": 0,
        "next_attempt_at": now,
        "queued_until": now + timedelta(seconds=settings.DELIVERY_QUEUE_LEASE),
        "claimed_until": None,
        "finished_at": None,
        "last_error": "",
        "error_code": "",
        "error_params": {},
    }


def failed_since(*, integration_id: int, since: datetime) -> "QuerySet[Delivery]":
    """Deliveries of the integration that failed at or after `since`, whenever they were created."""
    return Delivery.objects.filter(
        notification__operation__integration_id=integration_id, status=Delivery.Status.FAILED, finished_at__gte=since
    )


def resend(*, delivery_ids: Iterable[int], enqueue: Enqueue) -> Replayed:
    wanted = list(delivery_ids)
    now = timezone.now()
    with transaction.atomic():
        ids = list(
            Delivery.objects.select_for_update()
            .filter(pk__in=wanted, status__in=RESENDABLE, notification__isnull=False)
            .order_by("created_at", "pk")
            .values_list("pk", flat=True)
        )
        Delivery.objects.filter(pk__in=ids).update(**_pending_now(now))
        if ids:
            transaction.on_commit(lambda: enqueue(ids))
    return Replayed(queued=ids, skipped=len(wanted) - len(ids))


def rerender(*, delivery_ids: Iterable[int], enqueue: Enqueue) -> Replayed:
    """Failed deliveries are rendered again and resent; held ones are rendered again and stay held."""
    wanted = list(delivery_ids)
    result = Replayed()
    now = timezone.now()
    with transaction.atomic():
        deliveries = list(
            Delivery.objects.select_for_update(of=("self",))
            .filter(pk__in=wanted, status__in=RERENDERABLE, notification__isnull=False)
            .select_related("event", "notification")
            .order_by("created_at", "pk")
        )
        result.skipped = len(wanted) - len(deliveries)
        for delivery in deliveries:
            assert delivery.notification is not None  # filtered above
            # The site script may have linked the visitor's device since the event came.
            values = site_visitors.with_device_uuid(
                account_id=delivery.event.account_id,
                values=delivery.event.values,
                notifications=[delivery.notification],
            )
            rendered = render_notification(delivery.notification, values)
            if rendered.error:
                result.errors[delivery.pk] = StoredError(
                    text=rendered.error, code=rendered.error_code, params=rendered.error_params
                )
                Delivery.objects.filter(pk=delivery.pk).update(
                    last_error=rendered.error, error_code=rendered.error_code, error_params=rendered.error_params
                )
                continue
            changes: dict[str, object] = {"url": rendered.url, "body": rendered.body, "headers": rendered.headers}
            if (rendered.url, rendered.body, rendered.headers) != (delivery.url, delivery.body, delivery.headers):
                # A different request: under the old id Mindbox would answer "already processed".
                # The same request keeps its id, so one Mindbox may already have is not made twice.
                changes["transaction_id"] = uuid.uuid4()
            if delivery.status == Delivery.Status.FAILED:
                changes.update(_pending_now(now))
                result.queued.append(delivery.pk)
            else:
                result.held.append(delivery.pk)
            Delivery.objects.filter(pk=delivery.pk).update(**changes)
        queued = list(result.queued)
        if queued:
            transaction.on_commit(lambda: enqueue(queued))
    return result
