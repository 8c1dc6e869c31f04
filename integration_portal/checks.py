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
