"""Admin login throttling (django-axes) as this portal needs it: the caller's address behind
trusted proxies, and the lockout answer as an admin page in the admin's language."""

import math
from typing import Any

from django.conf import settings
from django.contrib import admin
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.translation import gettext


def client_ip(request: HttpRequest) -> str | None:
    """REMOTE_ADDR, or behind TRUSTED_PROXY_COUNT proxies the address the outermost one saw.

    Each proxy appends the address it was called from to X-Forwarded-For, so the trusted entry
    is counted from the right; anything to the left of it could be forged by the caller.
    """
    remote: str | None = request.META.get("REMOTE_ADDR")
    count = settings.TRUSTED_PROXY_COUNT
    if count <= 0:
        return remote
    hops = [hop.strip() for hop in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",") if hop.strip()]
    return hops[-count] if len(hops) >= count else remote


def lockout_response(request: HttpRequest, original_response: Any = None, credentials: Any = None) -> HttpResponse:
    """AXES_LOCKOUT_CALLABLE: an admin page saying why the login is refused and for how long."""
    minutes = math.ceil(settings.AXES_COOLOFF_TIME.total_seconds() / 60)
    context = {**admin.site.each_context(request), "title": gettext("Login locked"), "minutes": minutes}
    return render(request, "admin/lockout.html", context, status=429)
