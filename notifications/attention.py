"""Reads for «Требует внимания»: every integration's facts for the trouble checks
(notifications.trouble), in a fixed number of queries however many accounts there are, and the
integrations list's health columns as annotations it can sort by.

Failures in 24 h are read from the hourly roll-up (HourlyStats: attempts to be retried and
deliveries failed for good, over the window's hours), which the charts read too, never from the
raw attempts: the overview and beat's alert check would otherwise read every attempt of the day
on each load. They lag by up to STATS_ROLLUP_INTERVAL."""

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import Case, Count, F, IntegerField, Min, OuterRef, Q, QuerySet, Subquery, Sum, Value, When
from django.db.models.functions import Coalesce

from mindbox_integration.models import MindboxIntegration
from notifications import hourly
from notifications.models import Delivery, HourlyStats, InboundEvent
from notifications.trouble import Facts, Kind, Limits, Trouble, troubles

WEEK = timedelta(days=7)
# A rolled-up hour's unsuccessful requests: attempts to be tried again and deliveries failed for good.
UNSUCCESSFUL = F("retried") + F("failed")


def limits() -> Limits:
    return Limits(
        failures=settings.TROUBLE_FAILURES_24H,
        backlog=timedelta(minutes=settings.TROUBLE_BACKLOG_MINUTES),
        silent_window=timedelta(minutes=settings.TROUBLE_SILENT_WINDOW_MINUTES),
        silent_min_events=settings.TROUBLE_SILENT_MIN_EVENTS,
    )


def failure_window_start(*, now: datetime, limits: Limits) -> datetime:
    """The first rolled-up hour counted as within the failure window: its hours, the current one
    last, as the charts' 24 hours."""
    return hourly.window(now=now, hours=max(1, round(limits.failure_window / hourly.HOUR)))[0]


def integration_facts(*, integrations: "QuerySet[MindboxIntegration]", now: datetime, limits: Limits) -> list[Facts]:
    """The facts of every integration in `integrations` (scoped by the caller), by account name.
    Four queries: the integrations with their health, then one aggregate each over the window's
    rolled-up hours, the due deliveries and the two windows' events. Each aggregate reads only its
    window's rows (indexed by time), not each account's history."""
    rows = list(
        integrations.order_by("account__name", "pk").values(
            "pk",
            "account_id",
            "account__name",
            "account__uis_app_id",
            "active",
            "health__paused_at",
            "health__pause_reason",
            "health__backoff_until",
            "alert_state__state",
        )
    )
    if not rows:
        return []
    account_ids = [row["account_id"] for row in rows]
    failures = dict(
        HourlyStats.objects.filter(
            integration_id__in=[row["pk"] for row in rows], hour__gte=failure_window_start(now=now, limits=limits)
        )
        .values("integration_id")
        .annotate(n=Sum(UNSUCCESSFUL))
        .order_by()
        .values_list("integration_id", "n")
    )
    oldest_due = dict(
        Delivery.objects.filter(
            status=Delivery.Status.PENDING, next_attempt_at__lte=now, event__account_id__in=account_ids
        )
        .values("event__account_id")
        .annotate(oldest=Min("next_attempt_at"))
        .order_by()
        .values_list("event__account_id", "oldest")
    )
    recent = Q(received_at__gt=now - limits.silent_window)
    week_ago = Q(received_at__gt=now - WEEK - limits.silent_window, received_at__lte=now - WEEK)
    events: dict[int, tuple[int, int]] = {
        row["account_id"]: (row["recent"], row["week_ago"])
        for row in InboundEvent.objects.filter(recent | week_ago, account_id__in=account_ids)
        .values("account_id")
        .annotate(recent=Count("pk", filter=recent), week_ago=Count("pk", filter=week_ago))
        .order_by()
    }
    return [
        Facts(
            integration_id=row["pk"],
            account_id=row["account_id"],
            account_name=row["account__name"],
            uis_app_id=row["account__uis_app_id"],
            active=row["active"],
            paused_at=row["health__paused_at"],
            pause_reason=row["health__pause_reason"] or "",
            backoff_until=row["health__backoff_until"],
            failures=failures.get(row["pk"], 0),
            oldest_due_at=oldest_due.get(row["account_id"]),
            recent_events=events.get(row["account_id"], (0, 0))[0],
            events_week_ago=events.get(row["account_id"], (0, 0))[1],
            told_failing=row["alert_state__state"] == Kind.FAILING,
        )
        for row in rows
    ]


@dataclass(frozen=True)
class Row:
    facts: Facts
    troubles: list[Trouble]


@dataclass(frozen=True)
class Overview:
    rows: list[Row]  # integrations in trouble, the most urgent first
    fine: list[Facts] = field(default_factory=list)  # switched on, nothing wrong
    off: list[Facts] = field(default_factory=list)  # switched off: their deliveries are held on purpose


def overview(*, integrations: "QuerySet[MindboxIntegration]", now: datetime, limits: Limits) -> Overview:
    """The integrations in trouble (ordered by their most urgent trouble, then by account),
    and the rest, fine or switched off."""
    rows: list[Row] = []
    fine: list[Facts] = []
    off: list[Facts] = []
    for facts in integration_facts(integrations=integrations, now=now, limits=limits):
        if not facts.active:
            off.append(facts)
        elif current := troubles(facts, limits, now):
            rows.append(Row(facts=facts, troubles=current))
        else:
            fine.append(facts)
    order = {kind: rank for rank, kind in enumerate(Kind)}
    rows.sort(key=lambda row: order[row.troubles[0].kind])  # stable: by account within a kind
    return Overview(rows=rows, fine=fine, off=off)


# The integrations list's sending column, in the order it sorts: the most urgent first.
SENDING_PAUSED, SENDING_BACKING_OFF, SENDING_ON, SENDING_OFF = 0, 1, 2, 3


def with_health_columns(
    integrations: "QuerySet[MindboxIntegration]", *, now: datetime
) -> "QuerySet[MindboxIntegration]":
    """Annotations the integrations list shows and sorts by: `sending_rank` (SENDING_*),
    `failures_24h` (unsuccessful requests, from the roll-up's hours) and `oldest_due_at`.
    Correlated subqueries, computed in the list's one query for the rows of its page (for every
    row when sorted by them); each reads one integration's rows through an index."""
    failures = (
        HourlyStats.objects.filter(
            integration_id=OuterRef("pk"), hour__gte=failure_window_start(now=now, limits=limits())
        )
        .order_by()
        .values("integration_id")
        .annotate(n=Sum(UNSUCCESSFUL))
        .values("n")
    )
    oldest_due = (
        Delivery.objects.filter(
            event__account_id=OuterRef("account_id"), status=Delivery.Status.PENDING, next_attempt_at__lte=now
        )
        .order_by("next_attempt_at")
        .values("next_attempt_at")[:1]
    )
    return integrations.annotate(
        sending_rank=Case(
            When(active=False, then=Value(SENDING_OFF)),
            When(health__paused_at__isnull=False, then=Value(SENDING_PAUSED)),
            When(health__backoff_until__gt=now, then=Value(SENDING_BACKING_OFF)),
            default=Value(SENDING_ON),
            output_field=IntegerField(),
        ),
        failures_24h=Coalesce(Subquery(failures, output_field=IntegerField()), Value(0)),
        oldest_due_at=Subquery(oldest_due),
    )
