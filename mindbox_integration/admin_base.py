"""What every admin class of the portal shares."""

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

SECRET_FIELDS = ("secret_key", "inbound_token", "token_hash")


class PortalModelAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    def lookup_allowed(self, lookup: str, value: Any, request: HttpRequest) -> bool:
        # The changelist accepts filters on any field from the URL; one on a secret would let
        # its row count reveal the secret a character at a time.
        if any(name in lookup for name in SECRET_FIELDS):
            return False
        return super().lookup_allowed(lookup, value, request)
