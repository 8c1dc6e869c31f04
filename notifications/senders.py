"""Who posts an event: the account an inbound token names, with what intake must know of it at
this moment, all in one query: the configuration's version stamp (mindbox_integration.versions),
against which notifications.plans serves its cache, and whether Mindbox sending is paused for
the account (written by the workers, so read live, not cached).

The token is looked up in the database on every request, not cached: a rotation or a revocation
takes effect at once, and a previous token stops at the end of its grace to the second."""

import hmac
from dataclasses import dataclass
from datetime import datetime

from django.db import connection
from django.utils import timezone

from mindbox_integration import crypto
from mindbox_integration.models import Account, ConfigVersion, MindboxIntegration
from notifications.cursors import server_bound
from notifications.models import IntegrationHealth


@dataclass(frozen=True)
class Sender:
    account_id: int
    uis_app_id: str
    config_version: int | None  # None: no stamp yet, nothing may be cached
    paused: bool


def _sql(where: str) -> str:
    # Scalar subqueries, not joins: planned per statement, joins cost PostgreSQL twice the CPU.
    return (
        "SELECT a.id, a.uis_app_id, a.inbound_token_hash, a.previous_token_hash, "  # noqa: S608 - names from the models
        f"(SELECT h.paused_at FROM {IntegrationHealth._meta.db_table} h WHERE h.integration_id = "
        f"(SELECT i.id FROM {MindboxIntegration._meta.db_table} i WHERE i.account_id = a.id)) IS NOT NULL, "
        f"(SELECT v.stamp FROM {ConfigVersion._meta.db_table} v WHERE v.id = 1) "
        f"FROM {Account._meta.db_table} a WHERE {where} ORDER BY a.id LIMIT 1"
    )


_BY_TOKEN = _sql("a.inbound_token_hash = %s OR (a.previous_token_hash = %s AND a.previous_token_valid_until > %s)")
_BY_ACCOUNT = _sql("a.id = %s")


def by_token(token: str, *, now: datetime | None = None) -> Sender | None:
    """The account whose current token this is, or whose previous token still is in its grace."""
    if not token:
        return None
    digest = crypto.token_hash(token)
    valid_after = connection.ops.adapt_datetimefield_value(now or timezone.now())
    with server_bound(connection) as cursor:
        cursor.execute(_BY_TOKEN, [digest, digest, valid_after])
        row = cursor.fetchone()
    if row is None:
        return None
    # Found by an indexed lookup of the hash; the constant-time compare keeps the check explicit.
    current = hmac.compare_digest(row[2], digest)
    previous = hmac.compare_digest(row[3] or "-", digest)
    return _sender(row) if current or previous else None


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
