"""Claims: which worker may send a delivery now. A claim sets a lease (`claimed_until`) on a
pending, due delivery that no live claim holds; the lease's end is the claim's token, and every
write after the send names it, so a worker whose claim ran out changes nothing. The sweeper's
take lives here too: it claims nothing, it only finds what no wake-up covers.
"""

from collections.abc import Collection
from datetime import datetime, timedelta
from functools import cache
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Q

from mindbox_integration.mindbox.error_codes import ErrorCode
from mindbox_integration.models import Notification, Operation
from notifications.models import Delivery

NOTIFICATION_DELETED = "its notification was deleted before it could be sent"
# A wake-up can run a little before the stored time; it may still claim. Not so a delivery
# waiting for its rate limit's send slot: it is claimed from just before that slot only.
EARLY_TOLERANCE = timedelta(seconds=1)
SLOT_EARLY = timedelta(milliseconds=20)


def _unclaimed(now: datetime) -> Q:
    return Q(claimed_until__isnull=True) | Q(claimed_until__lt=now)


def _slot_come(now: datetime) -> Q:
    return Q(send_slot__isnull=True) | Q(send_slot__lte=now + SLOT_EARLY)


def claim(*, delivery_id: int, now: datetime) -> datetime | None:
    """Take one delivery for one attempt; the lease's end, returned, is the claim's token:
    every later write names it, so a worker whose claim ran out changes nothing."""
    lease = now + timedelta(seconds=settings.DELIVERY_CLAIM_SECONDS)
    taken = (
        Delivery.objects.filter(
            pk=delivery_id, status=Delivery.Status.PENDING, next_attempt_at__lte=now + EARLY_TOLERANCE
        )
        .filter(_unclaimed(now), _slot_come(now))
        .update(claimed_until=lease)
    )
    return lease if taken else None


def claim_due(
    *, queue: str, now: datetime, limit: int, skip_integrations: Collection[int] = ()
) -> tuple[list[int], datetime]:
    """Take up to `limit` due deliveries of `queue`, oldest due first, skipping rows another
    worker is claiming (and those of `skip_integrations`); all share one lease, the claim's token.
    Through the ORM, for any database: on PostgreSQL the worker claims with claim_sql instead, one
    statement that also loads the batch (notifications.claimed)."""
    lease = now + timedelta(seconds=settings.DELIVERY_CLAIM_SECONDS)
    due = Delivery.objects.select_for_update(skip_locked=True).filter(
        status=Delivery.Status.PENDING, queue=queue, next_attempt_at__lte=now + EARLY_TOLERANCE
    )
    if skip_integrations:
        due = due.exclude(notification__operation__integration_id__in=skip_integrations)
    with transaction.atomic():
        due = due.filter(_unclaimed(now), _slot_come(now)).order_by("next_attempt_at", "pk")
        ids = list(due.values_list("pk", flat=True)[:limit])
        if ids:
            Delivery.objects.filter(pk__in=ids).update(claimed_until=lease)
    return ids, lease


def claim_params(
    queue: str, now: datetime, lease: datetime, limit: int, skip_integrations: Collection[int]
) -> list[Any]:
    """claim_sql's parameters, in order."""
    params: list[Any] = [lease, Delivery.Status.PENDING, queue, now + EARLY_TOLERANCE, now, now + SLOT_EARLY]
    if skip_integrations:
        params.append(list(skip_integrations))
    return [*params, limit]


@cache
def claim_sql(*, skipping: bool, returning: str) -> str:
    """claim_due as one UPDATE on PostgreSQL (of the rows a SKIP LOCKED select picks), returning
    the claimed rows' `returning` (quoted column names: notifications.claimed loads the batch in
    the same statement). Parameters: claim_params."""
    q = connection.ops.quote_name
    delivery, notification, operation = (m._meta.db_table for m in (Delivery, Notification, Operation))
    skip = ""
    if skipping:
        skip = f" AND {q('notification_id')} NOT IN (SELECT n.{q('id')} FROM {q(notification)} n JOIN {q(operation)} o ON o.{q('id')} = n.{q('operation_id')} WHERE o.{q('integration_id')} = ANY(%s))"  # noqa: S608
    return (
        f"UPDATE {q(delivery)} SET {q('claimed_until')} = %s WHERE {q('id')} IN ("  # noqa: S608 - names from the models
        f"SELECT {q('id')} FROM {q(delivery)} WHERE {q('status')} = %s AND {q('queue')} = %s"
        f" AND {q('next_attempt_at')} <= %s AND ({q('claimed_until')} IS NULL OR {q('claimed_until')} < %s)"
        f" AND ({q('send_slot')} IS NULL OR {q('send_slot')} <= %s){skip}"
        f" ORDER BY {q('next_attempt_at')}, {q('id')} LIMIT %s FOR UPDATE SKIP LOCKED) RETURNING {returning}"
    )


def take_due(*, now: datetime, limit: int) -> list[int]:
    """For the sweeper: due deliveries that no worker holds and no wake-up covers, oldest due
    first. Each moves to the retries queue and is marked as covered for DELIVERY_QUEUE_LEASE,
    so a sweep does not take it again meanwhile; the sweeper then wakes that queue."""
    with transaction.atomic():
        ids = list(
            Delivery.objects.select_for_update(skip_locked=True)
            .filter(status=Delivery.Status.PENDING, next_attempt_at__lte=now)
            .filter(_unclaimed(now))
            .filter(Q(queued_until__isnull=True) | Q(queued_until__lt=now))
            .order_by("next_attempt_at", "pk")
            .values_list("pk", flat=True)[:limit]
        )
        Delivery.objects.filter(pk__in=ids).update(
            queue=Delivery.Queue.RETRIES, queued_until=now + timedelta(seconds=settings.DELIVERY_QUEUE_LEASE)
        )
    return ids


def fail_orphans(*, now: datetime) -> int:
    """Unfinished deliveries whose notification was deleted can never be sent: say so, rather
    than leave them held (or pending) for good."""
    return Delivery.objects.filter(
        status__in=Delivery.UNFINISHED, notification__isnull=True, claimed_until__isnull=True
    ).update(
        status=Delivery.Status.FAILED,
        last_error=NOTIFICATION_DELETED,
        error_code=ErrorCode.NOTIFICATION_DELETED,
        error_params={},
        finished_at=now,
        next_attempt_at=None,
    )
