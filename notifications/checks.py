"""Settings that would break the delivery guarantees are refused at start-up."""

import ipaddress
from typing import Any

from django.conf import settings
from django.core.checks import CheckMessage, Error, register

from mindbox_integration.mindbox.transport import longest_request


@register()
def delivery_settings(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    errors: list[CheckMessage] = []
    longest = longest_request(
        connect_timeout=settings.MINDBOX_CONNECT_TIMEOUT, read_timeout=settings.MINDBOX_READ_TIMEOUT
    )
    if longest >= settings.DELIVERY_CLAIM_SECONDS:
        errors.append(
            Error(
                f"DELIVERY_CLAIM_SECONDS ({settings.DELIVERY_CLAIM_SECONDS}) must exceed the longest request "
                f"(MINDBOX_CONNECT_TIMEOUT + 1.5 x MINDBOX_READ_TIMEOUT = {longest:g} s): a claim that "
                "expires mid-request lets a second worker send the same delivery.",
                id="notifications.E001",
            )
        )
    visibility = settings.CELERY_BROKER_TRANSPORT_OPTIONS.get("visibility_timeout")
    if visibility is not None and visibility <= settings.DELIVERY_COUNTDOWN_MAX + settings.DELIVERY_CLAIM_SECONDS:
        errors.append(
            Error(
                "The broker's visibility_timeout must exceed DELIVERY_COUNTDOWN_MAX + DELIVERY_CLAIM_SECONDS: "
                "Redis would hand a waiting message to a second worker.",
                id="notifications.E002",
            )
        )
    pool = settings.DATABASES["default"].get("OPTIONS", {}).get("pool")
    if isinstance(pool, dict) and pool.get("max_size", 0) < settings.CELERY_WORKER_CONCURRENCY:
        errors.append(
            Error(
                f"DB_POOL_MAX_SIZE ({pool.get('max_size')}) is below CELERY_WORKER_CONCURRENCY "
                f"({settings.CELERY_WORKER_CONCURRENCY}): each worker thread holds a connection while it "
                "sends, and the threads beyond the pool would fail after DB_POOL_TIMEOUT.",
                id="notifications.E004",
            )
        )
    for entry in settings.MINDBOX_ALLOW_PRIVATE_NETWORKS:
        try:
            ipaddress.ip_network(entry.strip(), strict=False)
        except ValueError:
            errors.append(
                Error(
                    f"MINDBOX_ALLOW_PRIVATE_NETWORKS has {entry!r}, which is not an address or network "
                    "(e.g. 127.0.0.1 or 10.0.0.0/8): deliveries to private addresses would be refused.",
                    id="notifications.E003",
                )
            )
    return errors
