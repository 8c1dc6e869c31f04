"""The hourly roll-up: per integration and hour, the events received, the deliveries delivered
and failed for good, the attempts to be retried and the time of the requests to Mindbox, counted
from the raw rows into HourlyStats, which the charts read.

Each run counts again, from the raw rows, the hours from its previous run's hour (the current
hour and the one before in steady state: an attempt started at 10:59 is answered after 11:00)
to now, and writes them with one INSERT ... ON CONFLICT DO UPDATE; rows of those hours that
counted something that is no longer there are deleted. A second run of the same hour writes
the same numbers. Hours whose raw rows retention has begun to delete are never counted again,
and the retention task runs a roll-up before it deletes anything (tasks.prune_old_records), so
what it deletes was counted while it was whole.

Counting by the time each thing happened: an event by its arrival, a delivery by when it
finished (delivered, or failed for good, some without an attempt: a template that cannot render),
an attempt by its start. A failed delivery resent within the hours counted again moves to the
hour it finishes in then. (Retention deletes a delivery with its event: one held for
RETENTION_DAYS and finished just before its event is pruned leaves the hour it finished in, if
that hour is counted again afterwards.)
"""

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any, cast

from django.db import transaction
from django.db.models import Count, Max, Q, Sum
from django.db.models.functions import TruncHour

from mindbox_integration.models import MindboxIntegration
from notifications import hourly
from notifications.models import Delivery, DeliveryAttempt, HourlyRollup, HourlyStats, InboundEvent

# How far back a first run (or one after beat was down) counts: the longest chart and a day.
CATCH_UP = timedelta(days=8)
CHUNK = timedelta(hours=6)  # hours counted per query, so a catch-up scans in bounded steps
BATCH = 500

RETRIED = (DeliveryAttempt.Outcome.RETRY, DeliveryAttempt.Outcome.INTERRUPTED)
ANSWERED = (DeliveryAttempt.Outcome.DELIVERED, DeliveryAttempt.Outcome.RETRY, DeliveryAttempt.Outcome.FAILED)
# A URL the outbound guard refused made no request: it has no time to count.
TIMED = Q(outcome__in=ANSWERED, duration_ms__isnull=False) & ~Q(error__startswith="refused: ")

COUNTS = hourly.COUNTS


def roll_up(*, now: datetime, retention: timedelta) -> int:
    """Count the hours since the previous run's into HourlyStats; the rows written. `retention`:
    RETENTION_DAYS, before which the raw rows are being deleted."""
    HourlyRollup.objects.get_or_create(pk=1)
    current = hourly.floor_hour(now)
    # The first hour retention has not begun to delete from.
    earliest = max(hourly.floor_hour(now - retention) + hourly.HOUR, current - CATCH_UP)
    with transaction.atomic():
        state = HourlyRollup.objects.select_for_update().get(pk=1)  # one run at a time
        # From the previous run's hour (its count may have been partial); a first run counts
        # the history the raw rows still hold.
        previous = state.last_run_hour or earliest
        start = max(min(current - hourly.HOUR, previous), earliest)
        end = current + hourly.HOUR
        written = 0
        marker = datetime.now(UTC)  # this run's rows carry it; the rest of these hours are stale
        while start < end:
            stop = min(start + CHUNK, end)
            written += _write(counted(start=start, end=stop), marker=marker)
            HourlyStats.objects.filter(hour__gte=start, hour__lt=stop).exclude(rolled_at=marker).delete()
            start = stop
        state.last_run_hour = current
        state.save(update_fields=["last_run_hour"])
    return written


def counted(*, start: datetime, end: datetime) -> dict[tuple[int, datetime], dict[str, Any]]:
    """(integration id, hour) -> counts, for the hours in [start, end), from the raw rows."""
    rows: dict[tuple[int, datetime], dict[str, Any]] = {}

    def row(account_id: int, hour: datetime) -> dict[str, Any]:
        return rows.setdefault((account_id, hour), {})

    events = (
        InboundEvent.objects.filter(received_at__gte=start, received_at__lt=end)
        .annotate(hour=TruncHour("received_at", tzinfo=UTC))
        .values("account_id", "hour")
        .annotate(n=Count("pk"))
        .order_by()
    )
    for event in events:
        row(event["account_id"], event["hour"])["events"] = event["n"]

    finished = (
        Delivery.objects.filter(
            finished_at__gte=start,
            finished_at__lt=end,
            status__in=(Delivery.Status.DELIVERED, Delivery.Status.FAILED),
        )
        .annotate(hour=TruncHour("finished_at", tzinfo=UTC))
        .values("event__account_id", "hour", "status")
        .annotate(n=Count("pk"))
        .order_by()
    )
    for delivery in finished:
        row(delivery["event__account_id"], delivery["hour"])[str(delivery["status"])] = delivery["n"]

    under = {f"le_{bound}": Count("pk", filter=TIMED & Q(duration_ms__lte=bound)) for bound in hourly.LATENCY_BOUNDS_MS}
    attempts = (
        DeliveryAttempt.objects.filter(started_at__gte=start, started_at__lt=end)
        .annotate(hour=TruncHour("started_at", tzinfo=UTC))
        .values("delivery__event__account_id", "hour")
        .annotate(
            retried=Count("pk", filter=Q(outcome__in=RETRIED)),
            latency_count=Count("pk", filter=TIMED),
            latency_sum_ms=Sum("duration_ms", filter=TIMED),
            latency_max_ms=Max("duration_ms", filter=TIMED),
            **under,
        )
        .order_by()
    )
    # The buckets' keys are built, so the rows are read as plain dicts.
    for item in cast("Iterable[dict[str, Any]]", attempts):
        counts = row(item["delivery__event__account_id"], item["hour"])
        counts["retried"] = item["retried"]
        if item["latency_count"]:
            counts["latency_count"] = item["latency_count"]
            counts["latency_sum_ms"] = item["latency_sum_ms"] or 0
            counts["latency_max_ms"] = item["latency_max_ms"] or 0
            counts["latency_buckets"] = list(
                hourly.buckets_from_cumulative([item[name] for name in under], item["latency_count"])
            )

    integrations = dict(
        MindboxIntegration.objects.filter(account_id__in={account for account, _ in rows}).values_list(
            "account_id", "pk"
        )
    )
    return {
        (integrations[account], hour): counts
        for (account, hour), counts in rows.items()
        if account in integrations and any(counts.values())
    }


def _write(rows: dict[tuple[int, datetime], dict[str, Any]], *, marker: datetime) -> int:
    if not rows:
        return 0
    HourlyStats.objects.bulk_create(
        [
            HourlyStats(integration_id=integration_id, hour=hour, rolled_at=marker, **counts)
            for (integration_id, hour), counts in rows.items()
        ],
        batch_size=BATCH,
        update_conflicts=True,
        unique_fields=["integration", "hour"],
        update_fields=[*COUNTS, "rolled_at"],
    )
    return len(rows)


def prune(*, older_than: datetime) -> int:
    """Hours older than STATS_RETENTION_DAYS."""
    return HourlyStats.objects.filter(hour__lt=older_than).delete()[0]
