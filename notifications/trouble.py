"""What counts as trouble for one integration: a list of checks, each a small function of the
integration's facts (notifications.attention reads them, a few queries for all integrations at
once). Pure: no models, no queries. A new kind of trouble is one function added to CHECKS, with
the place it links to (a `Target`: the admin knows how to build each one's URL).

Read by the overview («Требует внимания») and by the e-mails to managers (notifications.alerts)."""

import enum
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta


class Kind(enum.StrEnum):
    PAUSED = "paused"
    BACKING_OFF = "backing_off"
    FAILING = "failing"
    BACKLOG = "backlog"
    SILENT = "silent"


class Target(enum.StrEnum):
    """Where a manager acts on a trouble."""

    SENDING = "sending"  # the integration page's Sending block: resume, what is held
    FAILED_DELIVERIES = "failed_deliveries"  # the delivery log: the account's failed deliveries
    PENDING_DELIVERIES = "pending_deliveries"  # the delivery log: what waits
    EVENTS = "events"  # the account's inbound events
    UIS_SETUP = "uis_setup"  # the integration page's UIS set-up block


@dataclass(frozen=True)
class Facts:
    """What the checks read about one integration."""

    integration_id: int
    account_id: int
    account_name: str
    uis_app_id: str
    active: bool
    paused_at: datetime | None = None
    pause_reason: str = ""
    backoff_until: datetime | None = None
    failures: int = 0  # unsuccessful requests to Mindbox within Limits.failure_window
    oldest_due_at: datetime | None = None  # the oldest pending delivery whose time has come
    recent_events: int = 0  # events received within the last Limits.silent_window
    events_week_ago: int = 0  # events received in the same window exactly a week earlier
    told_failing: bool = False  # the state last told to the managers (notifications.alerts) is failing


@dataclass(frozen=True)
class Limits:
    failures: int  # unsuccessful requests in the window from which an integration is failing
    backlog: timedelta  # how long the oldest due delivery may wait
    silent_window: timedelta
    silent_min_events: int  # events a week earlier in the same window that make silence unusual
    failure_window: timedelta = timedelta(hours=24)


@dataclass(frozen=True)
class Trouble:
    kind: Kind
    target: Target
    since: datetime | None = None  # when it began, where known
    until: datetime | None = None  # when it ends by itself (a back-off)
    count: int = 0  # failures, events a week earlier: what the kind counts
    detail: str = ""  # the pause's reason (our own text, never a key)


Check = Callable[[Facts, Limits, datetime], Trouble | None]


def paused(facts: Facts, limits: Limits, now: datetime) -> Trouble | None:
    if facts.paused_at is None:
        return None
    return Trouble(Kind.PAUSED, Target.SENDING, since=facts.paused_at, detail=facts.pause_reason)


def backing_off(facts: Facts, limits: Limits, now: datetime) -> Trouble | None:
    if facts.paused_at is not None or facts.backoff_until is None or facts.backoff_until <= now:
        return None
    return Trouble(Kind.BACKING_OFF, Target.SENDING, until=facts.backoff_until)


def failing(facts: Facts, limits: Limits, now: datetime) -> Trouble | None:
    """From Limits.failures on; once the managers were told it is failing, until the count falls
    below half of that: an integration hovering at the threshold would otherwise flip between
    failing and fine as single failures age out of the window, and each flip would be mailed."""
    if facts.told_failing:
        if facts.failures * 2 < limits.failures:
            return None
    elif facts.failures < limits.failures:
        return None
    return Trouble(Kind.FAILING, Target.FAILED_DELIVERIES, count=facts.failures)


def backlog(facts: Facts, limits: Limits, now: datetime) -> Trouble | None:
    if facts.oldest_due_at is None or now - facts.oldest_due_at < limits.backlog:
        return None
    return Trouble(Kind.BACKLOG, Target.PENDING_DELIVERIES, since=facts.oldest_due_at)


def silent(facts: Facts, limits: Limits, now: datetime) -> Trouble | None:
    """No event within the window although the same window a week earlier brought at least
    silent_min_events: "usual" is the account's own rhythm at this hour of this weekday, so a
    night or a Sunday with no calls is not trouble, and a busy account that stops is."""
    if facts.recent_events or facts.events_week_ago < limits.silent_min_events:
        return None
    return Trouble(Kind.SILENT, Target.UIS_SETUP, since=now - limits.silent_window, count=facts.events_week_ago)


# In the order the overview lists a row's troubles; the most urgent first.
CHECKS: list[Check] = [paused, backing_off, failing, backlog, silent]


def troubles(facts: Facts, limits: Limits, now: datetime, checks: list[Check] = CHECKS) -> list[Trouble]:
    """The integration's troubles, none when it is switched off: its deliveries are held on purpose."""
    if not facts.active:
        return []
    return [found for check in checks if (found := check(facts, limits, now)) is not None]


# What the e-mails follow (notifications.alerts): a pause outranks failing; any other trouble is
# shown on the overview and in the digest, not mailed on every change.
ALERT_KINDS = (Kind.PAUSED, Kind.FAILING)
OK, OFF = "ok", "off"


def alert_state(facts: Facts, found: list[Trouble]) -> str:
    """`off`, the first of ALERT_KINDS found, or `ok`."""
    if not facts.active:
        return OFF
    kinds = {trouble.kind for trouble in found}
    return next((str(kind) for kind in ALERT_KINDS if kind in kinds), OK)
