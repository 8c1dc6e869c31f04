"""The account's inbound token, from `?token=` or `Authorization: Bearer`."""

import hmac

from rest_framework import authentication, exceptions
from rest_framework.request import Request

from mindbox_integration.models import Account

UNAUTHORIZED = "missing or unknown token; use the inbound URL shown on the integration's page"


def token_from(request: Request) -> str:
    header = request.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    return str(request.query_params.get("token", ""))


def account_for_token(token: str) -> Account | None:
    if not token:
        return None
    account = Account.objects.filter(inbound_token=token).first()
    # The lookup finds by exact value; the constant-time compare keeps the check explicit.
    if account is None or not hmac.compare_digest(account.inbound_token, token):
        return None
    return account


class InboundTokenAuthentication(authentication.BaseAuthentication):
    def authenticate(self, request: Request) -> tuple[None, Account]:
        account = account_for_token(token_from(request))
        if account is None:
            raise exceptions.AuthenticationFailed(UNAUTHORIZED)
        return (None, account)

    def authenticate_header(self, request: Request) -> str:
        return 'Bearer realm="uis-events"'
