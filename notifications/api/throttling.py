"""The inbound rate limit as a DRF throttle, one bucket per presented token.

The bucket is named by the token's SHA-256, so unknown tokens are limited too and Redis never
holds a token in clear; a request without a token counts against its address."""

import hashlib

from django.conf import settings
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
