"""Deployment checks for the secrets this app keeps."""

from typing import Any

from cryptography.fernet import Fernet
from django.conf import settings
from django.core.checks import CheckMessage, Error, Tags, register

from mindbox_integration.mindbox import guard


@register(Tags.security, deploy=True)
def field_encryption_key(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    if settings.FIELD_ENCRYPTION_KEY_FROM_ENV:
        return []
    return [
        Error(
            "FIELD_ENCRYPTION_KEY is not set: Mindbox secret keys are encrypted with a key kept in var/, which a "
            "new container or machine does not have. Set FIELD_ENCRYPTION_KEY (see .env.example).",
            id="mindbox_integration.E001",
        )
    ]


@register(Tags.security)
def field_encryption_keys_are_fernet_keys(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    errors: list[CheckMessage] = []
    for position, key in enumerate(settings.FIELD_ENCRYPTION_KEYS, start=1):
        try:
            Fernet(key.encode())
        except (ValueError, TypeError):
            errors.append(
                Error(
                    f"FIELD_ENCRYPTION_KEY: key {position} is not a Fernet key (32 bytes, URL-safe base64; "
                    "make one as .env.example shows)",
                    id="mindbox_integration.E002",
                )
            )
    return errors


@register(Tags.security)
def mindbox_allowed_hosts_are_readable(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """An entry the guard cannot read allows nothing: say so at start-up, not at the first send."""
    return [
        Error(
            f"MINDBOX_ALLOWED_HOSTS: {entry!r} allows no host. Write a host (api.mindbox.ru), host:port, "
            "or *.domain for its subdomains (*.mindbox.cloud).",
            id="mindbox_integration.E003",
        )
        for entry in guard.unreadable_hosts(settings.MINDBOX_ALLOWED_HOSTS)
    ]
