"""The account's inbound token, from `?token=` or `Authorization: Bearer`."""

from django.http import HttpRequest
from rest_framework import authentication, exceptions
from rest_framework.request import Request

from mindbox_integration.models import Account
from notifications import senders

UNAUTHORIZED = "missing or unknown token; use the inbound URL shown on the integration's page"
CHALLENGE = 'Bearer realm="uis-events"'


def token_from(request: HttpRequest | Request) -> str:
    header = str(request.META.get("HTTP_AUTHORIZATION", ""))
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    return str(request.GET.get("token", ""))


def account_for_token(token: str) -> Account | None:
    """The account whose current token this is, or whose previous token still is in its grace."""
    sender = senders.by_token(token)
    return None if sender is None else Account.objects.filter(pk=sender.account_id).first()


class InboundTokenAuthentication(authentication.BaseAuthentication):
    """The token as DRF (and so the OpenAPI description) knows it; the endpoint itself is a plain
    view that asks notifications.senders directly (notifications.api.views)."""

    def authenticate(self, request: Request) -> tuple[None, Account]:
        account = account_for_token(token_from(request))
        if account is None:
            raise exceptions.AuthenticationFailed(UNAUTHORIZED)
        return (None, account)

    def authenticate_header(self, request: Request) -> str:
        return CHALLENGE
