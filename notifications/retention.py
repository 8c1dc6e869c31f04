"""Retention: forget events and attempts older than RETENTION_DAYS, admin login records
(django-axes: usernames and addresses) older than LOGIN_RECORDS_RETENTION_DAYS, audit log
entries older than AUDIT_RETENTION_DAYS and site visitors' deviceUUID links not renewed for
SITE_VISITOR_RETENTION_DAYS, and bulk jobs finished more than RETENTION_DAYS ago, in small
batches so no delete holds locks for long. An event waits while any of its deliveries is
unfinished."""

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from axes.models import AccessAttempt, AccessFailureLog, AccessLog
from django.db import transaction
from django.db.models import QuerySet

from mindbox_integration.models import ConfigChange
from notifications.models import BulkJob, Delivery, DeliveryAttempt, InboundEvent, SiteVisitor

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
    attempts = _delete_in_batches(old_attempts, batch=batch)

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


def prune_login_records(*, older_than: datetime, batch: int = BATCH) -> int:
    """django-axes' failed-login counters, failure log and access log (a lockout lasts
    AXES_COOLOFF_MINUTES, far shorter than this retention, so no running lockout is lifted)."""
    return sum(
        _delete_in_batches(model.objects.filter(attempt_time__lt=older_than), batch=batch)
        for model in (AccessAttempt, AccessFailureLog, AccessLog)
    )


def prune_config_changes(*, older_than: datetime, batch: int = BATCH) -> int:
    return _delete_in_batches(ConfigChange.objects.filter(at__lt=older_than), batch=batch)


def prune_site_visitors(*, older_than: datetime, batch: int = BATCH) -> int:
    """deviceUUID links the site script has not posted again since (it posts daily on visits)."""
    return _delete_in_batches(SiteVisitor.objects.filter(linked_at__lt=older_than), batch=batch)


def prune_bulk_jobs(*, older_than: datetime, batch: int = BATCH) -> int:
    """Finished jobs (their rows hold every delivery id they took); an unfinished one stays."""
    finished = BulkJob.objects.exclude(status__in=BulkJob.UNFINISHED).filter(finished_at__lt=older_than)
    return _delete_in_batches(finished, batch=batch)


def _delete_in_batches(rows: "QuerySet[Any]", *, batch: int) -> int:
    """Only the rows' own table counts (a row's cascade, like an attempt's expiry, is not added)."""
    deleted = 0
    while ids := list(rows.values_list("pk", flat=True)[:batch]):
        deleted += rows.model.objects.filter(pk__in=ids).delete()[1].get(rows.model._meta.label, 0)
    return deleted
