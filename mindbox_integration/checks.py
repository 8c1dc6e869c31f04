"""Deployment checks for the secrets this app keeps."""

from typing import Any

from django.conf import settings
from django.core.checks import CheckMessage, Error, Tags, register


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
