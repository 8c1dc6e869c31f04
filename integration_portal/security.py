"""Admin login throttling (django-axes) as this portal needs it: the caller's address behind
trusted proxies (the lock-out, /metrics and the site script's rate limit all ask it), and the
lockout answer as an admin page in the admin's language."""

import logging
import math
from typing import Any

from django.conf import settings
from django.contrib import admin
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.translation import gettext

log = logging.getLogger(__name__)


_warned = False  # once per process: a log line per request would drown the rest


def _warn_untrusted_forwarding(request: HttpRequest) -> None:
    global _warned
    if _warned or "HTTP_X_FORWARDED_FOR" not in request.META:
        return
    _warned = True
    log.warning(
        "requests come with X-Forwarded-For but TRUSTED_PROXY_COUNT=0: behind a proxy every caller has its "
        "address, so the login lock-out and /metrics cannot tell clients apart; set TRUSTED_PROXY_COUNT "
        "(README, Security)"
    )


def client_ip(request: HttpRequest) -> str | None:
    """REMOTE_ADDR, or behind TRUSTED_PROXY_COUNT proxies the address the outermost one saw.

    Each proxy appends the address it was called from to X-Forwarded-For, so the trusted entry
    is counted from the right; anything to the left of it could be forged by the caller.
    """
    remote: str | None = request.META.get("REMOTE_ADDR")
    count = settings.TRUSTED_PROXY_COUNT
    if count <= 0:
        _warn_untrusted_forwarding(request)
        return remote
    hops = [hop.strip() for hop in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",") if hop.strip()]
    return hops[-count] if len(hops) >= count else remote


def lockout_response(request: HttpRequest, original_response: Any = None, credentials: Any = None) -> HttpResponse:
    """AXES_LOCKOUT_CALLABLE: an admin page saying why the login is refused and for how long."""
    minutes = math.ceil(settings.AXES_COOLOFF_TIME.total_seconds() / 60)
    context = {**admin.site.each_context(request), "title": gettext("Login locked"), "minutes": minutes}
    return render(request, "admin/lockout.html", context, status=429)
