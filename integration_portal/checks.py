"""Deployment checks of the portal's own settings (run by `manage.py check --deploy`)."""

from typing import Any

from django.conf import settings
from django.core.checks import CheckMessage, Error, Tags, register


@register(Tags.security, deploy=True)
def secret_key_is_not_the_dev_default(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    if settings.SECRET_KEY != settings.DEV_SECRET_KEY:
        return []
    return [
        Error(
            "DJANGO_SECRET_KEY is the development default: sessions and password reset links could be forged.",
            hint="Set DJANGO_SECRET_KEY to a long random value, e.g. "
            "python -c 'import secrets; print(secrets.token_urlsafe(50))'.",
            id="integration_portal.E001",
        )
    ]


@register(Tags.security, deploy=True)
def clients_can_be_told_apart(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """A TLS proxy in front (its scheme header is set) but no X-Forwarded-For hop trusted: every
    caller has the proxy's address. The login lock-out then counts everyone's failures together
    (anyone can lock an admin out) and /metrics, open to loopback without a token, is open to all."""
    if not settings.SECURE_PROXY_SSL_HEADER or settings.TRUSTED_PROXY_COUNT > 0:
        return []
    exposed = " and /metrics is open to anyone (no METRICS_TOKEN)" if not settings.METRICS_TOKEN else ""
    return [
        Error(
            "DJANGO_PROXY_SSL_HEADER says a proxy is in front, but TRUSTED_PROXY_COUNT=0: every caller has the "
            f"proxy's address, so the login lock-out cannot tell clients apart{exposed}.",
            hint="Set TRUSTED_PROXY_COUNT to the number of proxies that append the caller to X-Forwarded-For "
            "(1 for one nginx or load balancer), and have each of them append it.",
            id="integration_portal.E002",
        )
    ]
