"""POST /api/site/visitors/: the site script links a UIS visitor to their Mindbox deviceUUID.

Called by browsers on clients' sites, so: any origin (the key is public and names the account;
nothing is read back), a text/plain body (no CORS preflight), rate limited per key and per
address before the database is asked, and every answer JSON."""

import hashlib
import logging
import math

from django.conf import settings
from django.db import DatabaseError
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt

from integration_portal.security import client_ip
from notifications import ratelimit, site_visitors
from notifications.api.throttling import failed_auth_wait
from notifications.metrics import SITE_LINKS

log = logging.getLogger(__name__)

CORS = {
    "Access-Control-Allow-Origin": "*",
    "Access-Control-Allow-Methods": "POST, OPTIONS",
    "Access-Control-Allow-Headers": "Content-Type",
    "Access-Control-Max-Age": "86400",
}


def _answer(status: int, error: str = "", retry_after: float = 0) -> HttpResponse:
    SITE_LINKS.labels(answer=status).inc()
    response: HttpResponse = JsonResponse({"error": error}, status=status) if error else HttpResponse(status=status)
    for name, value in CORS.items():
        response[name] = value
    if retry_after:
        response["Retry-After"] = str(max(1, math.ceil(retry_after)))
    return response


def _too_many(wait: float) -> HttpResponse:
    return _answer(429, f"too many requests; retry after {math.ceil(wait)} s", retry_after=wait)


@csrf_exempt
def visitor_link(request: HttpRequest) -> HttpResponse:
    if request.method == "OPTIONS":
        return _answer(204)
    if request.method != "POST":
        return _answer(405, f"method {request.method} not allowed; send POST")
    wait = ratelimit.take(
        key="site:ip:" + str(client_ip(request) or ""),
        rate=settings.SITE_LINK_RATE_PER_ADDRESS,
        burst=settings.SITE_LINK_BURST_PER_ADDRESS,
    )
    if wait:
        return _too_many(wait)
    try:
        declared = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return _answer(400, "the Content-Length header is not a number")
    if declared > site_visitors.MAX_BODY_BYTES:  # not read at all
        return _answer(413, f"the body is over {site_visitors.MAX_BODY_BYTES} bytes")
    try:
        link = site_visitors.parse_link(request.body)
    except site_visitors.LinkError as exc:
        return _answer(400, str(exc))
    key_bucket = "site:key:" + hashlib.sha256(link.site_key.encode()).hexdigest()
    wait = ratelimit.take(key=key_bucket, rate=settings.SITE_LINK_RATE_PER_KEY, burst=settings.SITE_LINK_BURST_PER_KEY)
    if wait:
        return _too_many(wait)
    try:
        account = site_visitors.account_for_site_key(link.site_key)
        if account is None:
            wait = failed_auth_wait(request)  # unknown keys cost a query each: limited per address
            if wait:
                return _too_many(wait)
            return _answer(403, "unknown key; copy the site script again from the integration's page")
        site_visitors.record_link(account_id=account.pk, visitor_id=link.visitor_id, device_uuid=link.device_uuid)
    except DatabaseError:
        log.exception("site script link not stored")
        return _answer(503, "temporarily unavailable", retry_after=30)
    return _answer(204)
