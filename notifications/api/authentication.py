"""The account's inbound token, from `?token=` or `Authorization: Bearer`."""

import hmac

from django.db.models import Q
from django.utils import timezone
from rest_framework import authentication, exceptions
from rest_framework.request import Request

from mindbox_integration import crypto
from mindbox_integration.models import Account

UNAUTHORIZED = "missing or unknown token; use the inbound URL shown on the integration's page"


def token_from(request: Request) -> str:
    header = request.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    return str(request.query_params.get("token", ""))


def account_for_token(token: str) -> Account | None:
    """The account whose current token this is, or whose previous token still is in its grace."""
    if not token:
        return None
    digest = crypto.token_hash(token)
    account = (
        Account.objects.filter(
            Q(inbound_token_hash=digest) | Q(previous_token_hash=digest, previous_token_valid_until__gt=timezone.now())
        )
        .order_by("pk")
        .first()
    )
    if account is None:
        return None
    # Found by an indexed lookup of the hash; the constant-time compare keeps the check explicit.
    current = hmac.compare_digest(account.inbound_token_hash, digest)
    previous = hmac.compare_digest(account.previous_token_hash or "-", digest)
    return account if current or previous else None


class InboundTokenAuthentication(authentication.BaseAuthentication):
    def authenticate(self, request: Request) -> tuple[None, Account]:
        account = account_for_token(token_from(request))
        if account is None:
            raise exceptions.AuthenticationFailed(UNAUTHORIZED)
        return (None, account)

    def authenticate_header(self, request: Request) -> str:
        return 'Bearer realm="uis-events"'
