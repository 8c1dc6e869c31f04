"""POST /api/site/visitors/: the site script links a UIS visitor to their Mindbox deviceUUID.

Called by browsers on clients' sites, so: any origin (the key is public and names the account;
nothing is read back), a text/plain body (no CORS preflight), rate limited per key and per
address before the database is asked, and every answer JSON."""

import hashlib
import math

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt

from integration_portal.security import client_ip
from notifications import ratelimit, site_visitors
from notifications.api.throttling import failed_auth_wait
from notifications.metrics import SITE_LINKS

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


def _throttled(key: str, *, rate: float, burst: int) -> float:
    return ratelimit.take(key=key, rate=rate, burst=burst)


@csrf_exempt
def visitor_link(request: HttpRequest) -> HttpResponse:
    if request.method == "OPTIONS":
        return _answer(204)
    if request.method != "POST":
        return _answer(405, f"method {request.method} not allowed; send POST")
    address = str(client_ip(request) or "")
    wait = _throttled(
        "site:ip:" + address, rate=settings.SITE_LINK_RATE_PER_ADDRESS, burst=settings.SITE_LINK_BURST_PER_ADDRESS
    )
    if wait:
        return _answer(429, f"too many requests; retry after {math.ceil(wait)} s", retry_after=wait)
    try:
        link = site_visitors.parse_link(request.body)
    except site_visitors.LinkError as exc:
        return _answer(400, str(exc))
    key_bucket = "site:key:" + hashlib.sha256(link.site_key.encode()).hexdigest()
    wait = _throttled(key_bucket, rate=settings.SITE_LINK_RATE_PER_KEY, burst=settings.SITE_LINK_BURST_PER_KEY)
    if wait:
        return _answer(429, f"too many requests; retry after {math.ceil(wait)} s", retry_after=wait)
    account = site_visitors.account_for_site_key(link.site_key)
    if account is None:
        wait = failed_auth_wait(request)  # unknown keys cost a query each: limited per address
        if wait:
            return _answer(429, f"too many requests; retry after {math.ceil(wait)} s", retry_after=wait)
        return _answer(403, "unknown key; copy the site script again from the integration's page")
    site_visitors.record_link(account_id=account.pk, visitor_id=link.visitor_id, device_uuid=link.device_uuid)
    return _answer(204)
