"""The inbound rate limit as a DRF throttle, one bucket per presented token.

The bucket is named by the token's SHA-256, so unknown tokens are limited too and Redis never
holds a token in clear; a request without a token counts against its address."""

import hashlib

from django.conf import settings
from django.http import HttpRequest
from rest_framework.request import Request
from rest_framework.throttling import BaseThrottle
from rest_framework.views import APIView

from integration_portal.security import client_ip
from notifications import ratelimit
from notifications.api.authentication import token_from


def bucket_key(request: Request) -> str:
    token = token_from(request)
    if token:
        return "token:" + hashlib.sha256(token.encode()).hexdigest()
    # The address the trusted proxies saw (TRUSTED_PROXY_COUNT), never one the caller wrote itself.
    return "ip:" + str(client_ip(request) or "")


class InboundRateThrottle(BaseThrottle):
    def __init__(self) -> None:
        self.delay = 0.0

    def allow_request(self, request: Request, view: APIView) -> bool:
        self.delay = ratelimit.take(
            key=bucket_key(request), rate=settings.INBOUND_RATE_PER_SECOND, burst=settings.INBOUND_RATE_BURST
        )
        return self.delay == 0

    def wait(self) -> float:
        return self.delay


# Unknown tokens cost a database lookup each, and every new one would get a fresh bucket above:
# failed authentications also count against the caller's address, more strictly.
FAILED_AUTH_RATE = 1.0  # a second, refilled
FAILED_AUTH_BURST = 20


def failed_auth_wait(request: Request | HttpRequest) -> float:
    """Count a failed authentication against the caller's address; seconds to wait when over."""
    return ratelimit.take(
        key="auth-fail:ip:" + str(client_ip(request) or ""), rate=FAILED_AUTH_RATE, burst=FAILED_AUTH_BURST
    )
