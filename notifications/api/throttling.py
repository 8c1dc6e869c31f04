"""The inbound rate limit, one bucket per presented token, and the limit on failed tokens.

The bucket is named by the token's SHA-256, so unknown tokens are limited too and Redis never
holds a token in clear; a request without a token counts against its address."""

import hashlib

from django.conf import settings
from django.http import HttpRequest

from integration_portal.security import client_ip
from notifications import ratelimit


def bucket_key(request: HttpRequest, token: str) -> str:
    if token:
        return "token:" + hashlib.sha256(token.encode()).hexdigest()
    # The address the trusted proxies saw (TRUSTED_PROXY_COUNT), never one the caller wrote itself.
    return "ip:" + str(client_ip(request) or "")


def rate_wait(request: HttpRequest, token: str) -> float:
    """Take from the caller's bucket: 0 to go on, else the seconds to wait (one Redis call)."""
    return ratelimit.take(
        key=bucket_key(request, token), rate=settings.INBOUND_RATE_PER_SECOND, burst=settings.INBOUND_RATE_BURST
    )


# Unknown tokens cost a database lookup each, and every new one would get a fresh bucket above:
# failed authentications also count against the caller's address, more strictly.
FAILED_AUTH_RATE = 1.0  # a second, refilled
FAILED_AUTH_BURST = 20


def failed_auth_wait(request: HttpRequest) -> float:
    """Count a failed authentication against the caller's address; seconds to wait when over."""
    return ratelimit.take(
        key="auth-fail:ip:" + str(client_ip(request) or ""), rate=FAILED_AUTH_RATE, burst=FAILED_AUTH_BURST
    )
