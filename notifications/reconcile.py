"""Reconciliation: find, through UIS's Data API, the calls and offline requests of an account that
UIS never notified us of, and take each in through the same intake as a notification (matched,
rendered, stored, delivered, de-duplicated alike), marked as recovered and from where.

One run per account at a time: a run takes the lease of the account's Reconciliation row (one
UPDATE, renewed at each call to the Data API), so a second run finds it held and skips; a run
that died holds it until it runs out (LEASE). No transaction is held across a call to the Data
API: each recovered event is stored (and its deliveries queued) as it is taken in, like a posted
one, so a notification of the same communication arriving meanwhile waits for nothing, and what
a failed run recovered stays recovered; the run's state is written when it ends.
The window reaches back UIS_RECONCILE_OVERLAP before where the previous run ended, and stops
UIS_RECONCILE_SETTLE before now (a notification of a communication that recent may still be on
its way). It never reaches further back than the events are kept (RETENTION_DAYS): an event
pruned here would look missing and be sent again.

Identity is intake's: an offline request is `communication:<id>`, so a notification that comes
after its recovery is a duplicate; a call is found by its call session id among the events of
any kind (UIS sends several per call), and recovered as `call:<id>:recovered`."""

import functools
import json
import logging
import time
import zoneinfo
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, TypeVar

from django.conf import settings
from django.db.models import Q
from django.db.models.fields.json import KT
from django.utils import timezone

from mindbox_integration import services
from mindbox_integration.crypto import KeyUnavailable
from mindbox_integration.mindbox.guard import Policy
from mindbox_integration.models import Account
from notifications import dispatch, metrics, selectors
from notifications.models import InboundEvent, Reconciliation
from uis_data_api import errors, mapping
from uis_data_api import limits as allowance
from uis_data_api.client import DataApiClient

log = logging.getLogger(__name__)

MAX_OFFSET = 100_000  # the API's largest offset: a window with more rows is cut into halves
MAX_WINDOW = timedelta(days=89)  # the API refuses reports over 3 months (date_interval_limit_reached)
LONGEST_WAIT = 65.0  # seconds a run waits for the minute's allowance before it leaves the rest for later
# How long a run holds the account after taking it or after its last call to the Data API: more
# than the longest call (its timeouts) and wait (LONGEST_WAIT) together.
LEASE = timedelta(minutes=5)

Outcome = Reconciliation.Outcome
T = TypeVar("T")


@dataclass
class Counts:
    checked: int = 0
    already_received: int = 0
    recovered: int = 0


@dataclass
class RunResult:
    uis_app_id: str
    outcome: str = ""  # a Reconciliation.Outcome; empty when the run did not start (see skipped)
    skipped: str = ""
    error: str = ""
    since: datetime | None = None
    until: datetime | None = None
    counts: Counts = field(default_factory=Counts)


class _Stop(Exception):
    """End the run with this outcome; what was recovered so far is kept."""

    def __init__(self, outcome: str, error: str = "") -> None:
        super().__init__(error)
        self.outcome = outcome
        self.error = error


def policy() -> Policy:
    return Policy(
        allowed_hosts=tuple(settings.UIS_DATA_API_ALLOWED_HOSTS),
        require_https=settings.UIS_DATA_API_REQUIRE_HTTPS,
        allowed_networks=tuple(settings.UIS_DATA_API_ALLOW_PRIVATE_NETWORKS),
    )


def accounts_to_reconcile() -> list[int]:
    """Accounts with a Data API token whose reconciliation a refused token has not stopped."""
    return list(
        Account.objects.exclude(data_api_token_encrypted="")
        .exclude(reconciliation__stopped_at__isnull=False)
        .order_by("pk")
        .values_list("pk", flat=True)
    )


def reconcile_account(
    *,
    account_id: int,
    enqueue: Callable[[list[int]], None],
    since: datetime | None = None,
    until: datetime | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> RunResult:
    """One run for one account; `since`/`until` (aware) replace the window the state implies.
    `enqueue` gets the recovered events' pending deliveries after the commit."""
    account = Account.objects.get(pk=account_id)
    result = RunResult(uis_app_id=account.uis_app_id)
    if not account.has_data_api_token:
        result.skipped = "no Data API token"
        return result
    Reconciliation.objects.get_or_create(account_id=account_id)
    if not _take_lease(account_id):
        result.skipped = "another run is reconciling this account"
        return result
    try:
        state = Reconciliation.objects.get(pk=account_id)
        if state.stopped_at is not None:
            result.skipped = "stopped: the Data API token was refused; set a new token"
            return result
        _run(account=account, state=state, result=result, enqueue=enqueue, since=since, until=until, sleep=sleep)
    finally:
        Reconciliation.objects.filter(pk=account_id).update(lease_until=None)
    _count(result)
    return result


def _take_lease(account_id: int) -> bool:
    """Take (or renew) the account's lease unless another run holds it."""
    now = timezone.now()
    free = Q(lease_until__isnull=True) | Q(lease_until__lt=now)
    return bool(Reconciliation.objects.filter(free, pk=account_id).update(lease_until=now + LEASE))


def _renew_lease(account_id: int) -> None:
    Reconciliation.objects.filter(pk=account_id).update(lease_until=timezone.now() + LEASE)


def _run(
    *,
    account: Account,
    state: Reconciliation,
    result: RunResult,
    enqueue: Callable[[list[int]], None],
    since: datetime | None,
    until: datetime | None,
    sleep: Callable[[float], None],
) -> None:
    now = timezone.now()
    reports = [
        report
        for report in mapping.REPORTS.values()
        if selectors.active_notification_rows(account_id=account.pk, communication_type=report.communication_type)
    ]
    # Never later than the settle time: a checked_until in the future would stall the next runs.
    latest = now - timedelta(seconds=settings.UIS_RECONCILE_SETTLE)
    window_until = min(until, latest) if until else latest
    if since is None:
        since = (
            state.checked_until - timedelta(seconds=settings.UIS_RECONCILE_OVERLAP)
            if state.checked_until
            else window_until - timedelta(seconds=settings.UIS_RECONCILE_FIRST_LOOKBACK)
        )
    # Never before what retention keeps (a day's margin), nor over the API's longest report.
    since = max(since, now - timedelta(days=settings.RETENTION_DAYS - 1), window_until - MAX_WINDOW)
    result.since, result.until = since, window_until
    outcome: str = Outcome.OK
    error = ""
    run = _Run(
        account=account, state=state, result=result, enqueue=enqueue, sleep=sleep, limits=_known_limits(state, now)
    )
    try:
        if reports and since < window_until:
            run.open()
            for report in reports:
                run.report(report=report, since=since, until=window_until)
    except _Stop as stop:
        outcome, error = stop.outcome, stop.error
    state.last_run_at = now
    state.last_outcome = outcome
    state.last_error = error
    state.last_checked = result.counts.checked
    state.last_already_received = result.counts.already_received
    state.last_recovered = result.counts.recovered
    # A call that ended within the settle time was left for the next run, which must read it again.
    checked = min(window_until, run.deferred_from) if run.deferred_from else window_until
    if outcome == Outcome.OK and (state.checked_until is None or checked > state.checked_until):
        state.checked_until = checked
    if outcome == Outcome.TOKEN_REFUSED:
        state.stopped_at = now
    # The run's own fields only: a token set meanwhile (services clears stopped_at) is kept.
    state.save(update_fields=[*RUN_FIELDS, *(["stopped_at"] if outcome == Outcome.TOKEN_REFUSED else [])])
    result.outcome, result.error = outcome, error
    if outcome != Outcome.OK:
        log.warning("reconciliation of account %s: %s %s", account.uis_app_id, outcome, error)


# What a run writes to its Reconciliation row when it ends.
RUN_FIELDS = [
    "account_timezone",
    "last_run_at",
    "last_outcome",
    "last_error",
    "last_checked",
    "last_already_received",
    "last_recovered",
    "checked_until",
    "day_limit",
    "day_remaining",
    "limits_at",
    "day_resets_at",
]


@dataclass
class _Run:
    account: Account
    state: Reconciliation
    result: RunResult
    enqueue: Callable[[list[int]], None]
    sleep: Callable[[float], None]
    client: DataApiClient | None = None
    zone: zoneinfo.ZoneInfo | None = None
    limits: allowance.Limits | None = None
    waited: float = 0.0
    deferred_from: datetime | None = None  # the earliest start of a call left for the next run

    def open(self) -> None:
        try:
            token = services.data_api_token(account=self.account)
        except KeyUnavailable:
            raise _Stop(Outcome.FAILED, "the Data API token cannot be decrypted (FIELD_ENCRYPTION_KEY)") from None
        self.client = DataApiClient(
            url=self.account.data_api_endpoint,
            token=token,
            policy=policy(),
            connect_timeout=settings.UIS_DATA_API_CONNECT_TIMEOUT,
            read_timeout=settings.UIS_DATA_API_READ_TIMEOUT,
        )
        if not self.state.account_timezone:
            zone_name, found = self._ask(DataApiClient.account_timezone)
            self.state.account_timezone = zone_name[:64]
            self._note_limits(found)
        self.zone = _zone(self.state.account_timezone)

    def report(self, *, report: mapping.Report, since: datetime, until: datetime) -> None:
        """Every row of `report` between since and until, page by page; a window with more rows
        than the API pages to is cut in two."""
        assert self.zone is not None
        date_from, date_till = (mapping.api_date(timezone.localtime(moment, self.zone)) for moment in (since, until))
        offset, page_size = 0, settings.UIS_DATA_API_PAGE_SIZE
        while True:
            page = self._ask(
                functools.partial(
                    DataApiClient.report_page,
                    method=report.method,
                    date_from=date_from,
                    date_till=date_till,
                    offset=offset,
                    limit=page_size,
                    fields=list(report.fields),
                )
            )
            self._note_limits(page.limits)
            if offset == 0 and page.total_items is not None and page.total_items > MAX_OFFSET:
                middle = since + (until - since) / 2
                if middle - since < timedelta(seconds=1):
                    raise _Stop(Outcome.PARTIAL, "more communications in one second than the Data API pages")
                self.report(report=report, since=since, until=middle)
                self.report(report=report, since=middle, until=until)
                return
            self._take(report=report, rows=page.rows, since=since)
            offset += len(page.rows)
            if (
                not page.rows
                or len(page.rows) < page_size
                or (page.total_items is not None and offset >= page.total_items)
            ):
                return

    def _ask(self, call: Callable[[DataApiClient], T]) -> T:
        """One call, within the allowance: the day's reserve is never spent, the minute's is waited for."""
        assert self.client is not None
        if not allowance.may_spend(limits=self.limits, reserve_percent=settings.UIS_DATA_API_DAY_RESERVE_PERCENT):
            raise _Stop(Outcome.LIMITED, "the day's Data API allowance is down to its reserve")
        wait = allowance.minute_wait(limits=self.limits)
        if wait:
            if self.waited + wait > LONGEST_WAIT:
                raise _Stop(Outcome.LIMITED, "the minute's Data API allowance is spent")
            self.waited += wait
            self.sleep(wait)
        _renew_lease(self.account.pk)
        try:
            return call(self.client)
        except errors.TokenRefused as exc:
            self._note_limits(exc.limits)
            raise _Stop(Outcome.TOKEN_REFUSED, str(exc)) from None
        except errors.Forbidden as exc:
            self._note_limits(exc.limits)
            raise _Stop(Outcome.FORBIDDEN, str(exc)) from None
        except errors.LimitExceeded as exc:
            self._note_limits(exc.limits)
            raise _Stop(Outcome.LIMITED, str(exc)) from None
        except errors.Refused as exc:
            raise _Stop(Outcome.REFUSED, exc.reason) from None
        except errors.DataApiError as exc:
            raise _Stop(Outcome.FAILED, str(exc)) from None

    def _note_limits(self, found: allowance.Limits | None) -> None:
        if found is None:
            return
        self.limits = found
        now = timezone.now()
        self.state.day_limit = found.day_limit
        self.state.day_remaining = found.day_remaining
        self.state.limits_at = now
        self.state.day_resets_at = None if found.day_reset is None else now + timedelta(seconds=found.day_reset)

    def _take(self, *, report: mapping.Report, rows: list[dict[str, Any]], since: datetime) -> None:
        """Recover each row that no event of the account stands for. A call that ended within
        UIS_RECONCILE_SETTLE is left for the next run: its notification may be on its way (a
        call is in the report by when it started, and may have lasted long)."""
        assert self.zone is not None
        settled = timezone.now() - timedelta(seconds=settings.UIS_RECONCILE_SETTLE)
        keyed: dict[str, dict[str, Any]] = {}
        for row in rows:
            if not report.key(row):
                continue
            ended = mapping.parse_api_date(row.get(report.end_field), self.zone) if report.end_field else None
            if ended is not None and ended > settled:
                started = mapping.parse_api_date(row.get(report.time_field), self.zone) or since
                self.deferred_from = min(self.deferred_from or started, started)
                continue
            keyed[report.key(row)] = row
        received = _received(
            account_id=self.account.pk, report=report, keys=list(keyed), since=since - timedelta(days=1)
        )
        counts = self.result.counts
        counts.checked += len(keyed)
        already = 0
        for key, row in keyed.items():
            if key in received:
                already += 1
                continue
            values = {"app_id": self.account.uis_app_id, **report.to_values(row)}
            outcome = dispatch.receive_event(
                account=self.account,
                communication_type=report.communication_type,
                raw=json.dumps(row, ensure_ascii=False, default=str),
                values=values,
                enqueue=self.enqueue,
                identity=_identity(report=report, key=key),
                recovered_from=f"data_api:{report.method}",
            )
            if outcome.duplicate:  # posted by UIS a moment ago, while this run asked
                already += 1
            else:
                counts.recovered += 1
                metrics.RECONCILE_COMMUNICATIONS.labels(type=report.communication_type, result="recovered").inc()
        counts.already_received += already
        metrics.RECONCILE_COMMUNICATIONS.labels(type=report.communication_type, result="checked").inc(len(keyed))
        metrics.RECONCILE_COMMUNICATIONS.labels(type=report.communication_type, result="already_received").inc(already)


def _known_limits(state: Reconciliation, now: datetime) -> allowance.Limits | None:
    """The day's allowance as the last run left it, while that day lasts: a run at the reserve
    then makes no call at all."""
    if state.day_remaining is None or state.day_resets_at is None or state.day_resets_at <= now:
        return None
    return allowance.Limits(day_limit=state.day_limit, day_remaining=state.day_remaining)


def _identity(*, report: mapping.Report, key: str) -> str:
    if report is mapping.CALLS:
        return dispatch.recovered_call_identity(key)
    return f"communication:{key}"


def _received(*, account_id: int, report: mapping.Report, keys: list[str], since: datetime) -> set[str]:
    """Which of `keys` an event of the account already stands for."""
    if not keys:
        return set()
    events = InboundEvent.objects.filter(account_id=account_id, communication_type=report.communication_type)
    if report is mapping.CALLS:
        # Any event of the call (UIS sends several kinds per call session), posted or recovered.
        sessions = (
            events.filter(received_at__gte=since)
            .annotate(session=KT("values__call_session_id"))
            .filter(session__in=keys)
            .values_list("session", flat=True)
        )
        return {str(session) for session in sessions}
    identities = {f"communication:{key}": key for key in keys}
    found = events.filter(identity__in=list(identities)).values_list("identity", flat=True)
    return {identities[identity] for identity in found}


def _zone(name: str) -> zoneinfo.ZoneInfo:
    """The account's zone; the portal's own (TIME_ZONE) when UIS named none or one unknown here."""
    try:
        return zoneinfo.ZoneInfo(name or settings.TIME_ZONE)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return zoneinfo.ZoneInfo(settings.TIME_ZONE)


def _count(result: RunResult) -> None:
    if not result.outcome:
        return
    metrics.RECONCILE_RUNS.labels(outcome=result.outcome).inc()
    if result.outcome != Outcome.OK:
        metrics.RECONCILE_FAILURES.labels(outcome=result.outcome).inc()
