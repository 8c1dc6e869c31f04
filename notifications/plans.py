"""What an event of one account and communication type is matched against, kept in each process
between requests: the active notifications of the account's active integration for the type,
their filters parsed and their templates compiled (rendering keeps those by text), and whether
the integration is on.

A plan is kept with the configuration's version stamp it was loaded under, and served only for
that stamp: the one the request read with its token, or the one a process remembers for the
token, which the event's write then checks is still current (notifications.senders). The stamp
changes in the transaction of every change of accounts, integrations, operations and
notifications (mindbox_integration.versions). A plan is loaded after its stamp was read, so it
is never older than its stamp: the next event after a change, in any process, loads the change."""

from dataclasses import dataclass, field

from core.filters import Filters, parse_filters
from core.rendering import TemplateError, compile_body, compile_url
from notifications import selectors

MAX_PLANS = 10_000  # (account, type) pairs kept; past that the process starts again from empty


@dataclass(frozen=True)
class Target:
    """One notification, as rendering and the delivery row need it."""

    pk: int
    url: str
    body: str
    filters: Filters
    headers: dict[str, str] = field(default_factory=dict, hash=False)


@dataclass(frozen=True)
class Plan:
    targets: tuple[Target, ...]
    integration_active: bool


# (account id, type) -> (stamp, plan). Each entry keeps its own stamp: with threads, a plan
# loaded under an older stamp can be stored after a newer one was seen, and must not pass for it.
_plans: dict[tuple[int, str], tuple[int, Plan]] = {}


def load(*, account_id: int, communication_type: str) -> Plan:
    rows = selectors.active_notification_rows(account_id=account_id, communication_type=communication_type)
    targets = tuple(
        Target(pk=pk, url=url, body=body, filters=parse_filters(filters), headers=headers or {})
        for pk, url, body, filters, headers in rows
    )
    for target in targets:
        _compile(target)
    active = bool(targets) or selectors.integration_active(account_id=account_id)
    return Plan(targets=targets, integration_active=active)


def _compile(target: Target) -> None:
    """Compiled now, so the first event pays nothing; a broken template says so when rendered."""
    try:
        compile_body(target.body)
        compile_url(target.url)
    except TemplateError:
        pass


def plan_for(*, account_id: int, communication_type: str, version: int | None) -> Plan:
    """The plan under `version` (read before this call), from the cache or the database."""
    if version is None:  # no stamp to hold a cached plan against
        return load(account_id=account_id, communication_type=communication_type)
    key = (account_id, communication_type)
    kept = _plans.get(key)
    if kept is not None and kept[0] == version:
        return kept[1]
    plan = load(account_id=account_id, communication_type=communication_type)
    if len(_plans) >= MAX_PLANS:
        _plans.clear()
    _plans[key] = (version, plan)
    return plan


def forget(*, account_id: int, communication_type: str) -> None:
    """Drop a plan the database refused (a notification deleted since it was loaded)."""
    _plans.pop((account_id, communication_type), None)
