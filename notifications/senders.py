"""Who posts an event: the account an inbound token names, with what intake must know of it at
this moment: the configuration's version stamp (mindbox_integration.versions), against which
notifications.plans serves its cache, and whether Mindbox sending is paused for the account
(written by the workers).

by_token reads all of it in one query. A process also remembers what it read, by the token's
hash (remembered): the next event with that token then skips the query, and its write checks
the same things instead, in the same statement (guard_sql: the token still names the account
and is valid, the stamp and the pause are as remembered). When they are not, the write stores
nothing and raises Stale; the endpoint reads the sender afresh and writes again, or answers 401.
So a rotation, a revocation, the end of a grace, a configuration change and a pause take effect
for the very next event, in every process, as when the token was read on every request."""

import hmac
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from django.db import connection
from django.utils import timezone

from mindbox_integration import crypto
from mindbox_integration.models import Account, ConfigVersion, MindboxIntegration
from notifications.cursors import server_bound
from notifications.models import IntegrationHealth

MAX_REMEMBERED = 10_000  # tokens; past that the process starts again from empty


@dataclass(frozen=True)
class Sender:
    account_id: int
    uis_app_id: str
    config_version: int | None  # None: no stamp yet, nothing may be cached
    paused: bool
    token_hash: str = ""  # the token it was found by ("": found by its account)
    checked: bool = True  # read in this request; False: remembered, checked by the write (guard_sql)


class Stale(Exception):
    """A remembered sender no longer holds: its token, the configuration or the pause changed."""


# Scalar subqueries, not joins: each statement is planned, and joins cost PostgreSQL twice the CPU.
_PAUSED = (
    f"(SELECT h.paused_at FROM {IntegrationHealth._meta.db_table} h WHERE h.integration_id = "  # noqa: S608 - names from the models
    f"(SELECT i.id FROM {MindboxIntegration._meta.db_table} i WHERE i.account_id = a.id)) IS NOT NULL"
)
_STAMP = f"(SELECT v.stamp FROM {ConfigVersion._meta.db_table} v WHERE v.id = 1)"  # noqa: S608
_VALID = "(a.inbound_token_hash = %s OR (a.previous_token_hash = %s AND a.previous_token_valid_until > %s))"


def _sql(where: str) -> str:
    return (
        f"SELECT a.id, a.uis_app_id, a.inbound_token_hash, a.previous_token_hash, {_PAUSED}, {_STAMP} "  # noqa: S608 - names from the models
        f"FROM {Account._meta.db_table} a WHERE {where} ORDER BY a.id LIMIT 1"
    )


_BY_TOKEN = _sql(_VALID)
_BY_ACCOUNT = _sql("a.id = %s")
# What a remembered sender's write checks; its parameters come from guard_params.
GUARD_SQL = (
    f"SELECT 1 FROM {Account._meta.db_table} a WHERE a.id = %s AND {_VALID} "  # noqa: S608 - names from the models
    f"AND {_STAMP} = %s AND ({_PAUSED}) = %s"
)

_remembered: dict[str, Sender] = {}


def _now_param(now: datetime | None) -> Any:
    return connection.ops.adapt_datetimefield_value(now or timezone.now())


def by_token(token: str, *, now: datetime | None = None) -> Sender | None:
    """The account whose current token this is, or whose previous token still is in its grace."""
    if not token:
        return None
    digest = crypto.token_hash(token)
    with server_bound(connection) as cursor:
        cursor.execute(_BY_TOKEN, [digest, digest, _now_param(now)])
        row = cursor.fetchone()
    # Found by an indexed lookup of the hash; the constant-time compare keeps the check explicit.
    if row is None or not (hmac.compare_digest(row[2], digest) or hmac.compare_digest(row[3] or "-", digest)):
        _remembered.pop(digest, None)
        return None
    sender = replace(_sender(row), token_hash=digest)
    if sender.config_version is not None and connection.vendor == "postgresql":  # the guard is PostgreSQL's
        if len(_remembered) >= MAX_REMEMBERED:
            _remembered.clear()
        _remembered[digest] = replace(sender, checked=False)
    return sender


def remembered(token: str) -> Sender | None:
    """What an earlier request read for this token, unchecked (its write checks it), if anything."""
    return _remembered.get(crypto.token_hash(token)) if token else None


def guard_params(sender: Sender, *, now: datetime | None = None) -> list[Any]:
    """GUARD_SQL's parameters: the sender as remembered."""
    digest = sender.token_hash
    return [sender.account_id, digest, digest, _now_param(now), sender.config_version, sender.paused]


def by_account(account_id: int) -> Sender | None:
    """The same for an account already known (a management command, the tests)."""
    with server_bound(connection) as cursor:
        cursor.execute(_BY_ACCOUNT, [account_id])
        row = cursor.fetchone()
    return None if row is None else _sender(row)


def _sender(row: tuple[object, ...]) -> Sender:
    account_id, uis_app_id, _current, _previous, paused, stamp = row
    assert isinstance(account_id, int)
    return Sender(
        account_id=account_id,
        uis_app_id=str(uis_app_id),
        config_version=stamp if isinstance(stamp, int) else None,
        paused=bool(paused),
    )
