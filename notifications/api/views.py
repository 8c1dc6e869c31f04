"""POST (or GET) /api/uis/events/<type>/: UIS's HTTP notifications come in here.

A plain Django view, which InboundMiddleware answers ahead of the sessions, CSRF, authentication,
messages and login throttling middleware (none of which this endpoint uses); it is also in the
URLconf, whose entry drf-spectacular reads the OpenAPI description from (schema.InboundEventDoc).
DRF is not on this path: its request wrapper, negotiation and renderer cost tens of microseconds
an event (docs/performance/intake-profile.md) and buy nothing for answers that are all one small
JSON. The checks run in the order they had: host, method, rate limit, token, type, size, body."""

import json
import logging
import math
from typing import Any

from django.conf import settings
from django.core.exceptions import DisallowedHost, SuspiciousOperation
from django.db import DatabaseError, InterfaceError, OperationalError
from django.http import HttpRequest, HttpResponse
from django.views.decorators.csrf import csrf_exempt

from core.mnemonics import CommunicationType
from integration_portal import logs
from integration_portal.errors import BAD_HOST
from notifications import senders
from notifications.api.authentication import CHALLENGE, UNAUTHORIZED, token_from
from notifications.api.throttling import failed_auth_wait, rate_wait
from notifications.dispatch import IntakeResult, receive
from notifications.intake import IntakeError, Received, parse_request
from notifications.metrics import EVENTS
from notifications.tasks import enqueue_deliveries

log = logging.getLogger(__name__)

METHODS = ("GET", "POST")  # HEAD (a GET that would store an event) and OPTIONS too: 405
ALLOW = ", ".join(METHODS)
TYPES = frozenset(CommunicationType.values)


def answer(data: dict[str, Any], status: int, headers: dict[str, str] | None = None) -> HttpResponse:
    """JSON as DRF's renderer wrote it (compact, UTF-8), with the headers its answers had."""
    content = json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode()
    response = HttpResponse(content, status=status, content_type="application/json")
    response["Allow"] = ALLOW
    response["X-Frame-Options"] = "DENY"  # XFrameOptionsMiddleware's, which this path skips
    response["Content-Length"] = str(len(content))
    for name, value in (headers or {}).items():
        response[name] = value
    return response


def _error(message: str, status: int, headers: dict[str, str] | None = None) -> HttpResponse:
    return answer({"error": message}, status, headers)


def _too_many(wait: float) -> HttpResponse:
    seconds = max(1, math.ceil(wait))
    return _error(f"too many requests; retry after {seconds} s", 429, {"Retry-After": str(seconds)})


@csrf_exempt
def inbound_event(request: HttpRequest, communication_type: str) -> HttpResponse:
    """Every answer is JSON, counted by type and status: never a framework page or a traceback."""
    try:
        response = _receive(request, communication_type)
    except (OperationalError, InterfaceError):
        # UIS should send again later; answer in JSON, never with a traceback page.
        log.exception("inbound event not stored: database unavailable")
        response = _error("temporarily unavailable; send the event again later", 503, {"Retry-After": "30"})
    except DatabaseError:
        log.exception("inbound event not stored")
        response = _error("the event could not be stored", 500)
    except DisallowedHost as exc:  # its text names the host back and advises on ALLOWED_HOSTS
        log.warning("inbound request refused: %s", exc)
        response = _error(BAD_HOST, 400)
    except SuspiciousOperation as exc:  # e.g. over DATA_UPLOAD_MAX_NUMBER_FIELDS query parameters
        log.warning("inbound request refused: %s", exc)
        response = _error(f"bad request: {exc}", 400)
    except Exception:
        log.exception("inbound request failed")
        response = _error("the event could not be stored", 500)
    kind = communication_type if communication_type in TYPES else "unknown"
    EVENTS.labels(type=kind, answer=response.status_code).inc()
    return response


def _receive(request: HttpRequest, communication_type: str) -> HttpResponse:
    request.get_host()  # ALLOWED_HOSTS, as CommonMiddleware checked it: DisallowedHost is a 400
    method = request.method or ""
    if method not in METHODS:  # 405 whatever the token
        return _error(f"method {method} not allowed; send POST (or GET)", 405)
    token = token_from(request)
    # The rate limit comes first: a flood, of unknown tokens too, costs a Redis call a request, not a query.
    wait = rate_wait(request, token)
    if wait:
        return _too_many(wait)
    # A token this process has seen is checked by the event's write (senders.remembered).
    sender = senders.remembered(token) or senders.by_token(token)
    if sender is None:
        return _unauthorized(request)
    received = _read(request, communication_type, token, post=method == "POST")
    if isinstance(received, HttpResponse):
        # A remembered token is checked now: a refused one is a 401 first, as it always was.
        if not sender.checked and senders.by_token(token) is None:
            return _unauthorized(request)
        return received
    try:
        result = _store(sender, communication_type, received)
    except senders.Stale:
        sender = senders.by_token(token)  # what changed, read afresh
        if sender is None:
            return _unauthorized(request)
        result = _store(sender, communication_type, received)
    log.info(
        "%s event %s from account %s: %s",
        communication_type,
        result.event_id,
        sender.uis_app_id,
        "duplicate" if result.duplicate else f"{result.deliveries} deliveries",
    )
    if result.duplicate:
        return answer({"event_id": result.event_id, "duplicate": True}, 200)
    return answer({"event_id": result.event_id, "deliveries": result.deliveries}, 202)


def _unauthorized(request: HttpRequest) -> HttpResponse:
    wait = failed_auth_wait(request)
    if wait:
        return _too_many(wait)
    return _error(UNAUTHORIZED, 401, {"WWW-Authenticate": CHALLENGE})


def _read(request: HttpRequest, communication_type: str, token: str, *, post: bool) -> Received | HttpResponse:
    """The values sent, or the answer refusing them."""
    if communication_type not in TYPES:
        known = ", ".join(CommunicationType.values)
        return _error(f"unknown communication type {communication_type!r}; use one of: {known}", 404)
    limit = settings.INBOUND_MAX_BODY_BYTES
    try:
        declared = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return _error("the Content-Length header is not a number", 400)
    body = request.body if post and declared <= limit else None  # not read when too large
    if declared > limit or (body is not None and len(body) > limit):
        return _error(f"the body is over {limit // 1024} KiB", 413)
    try:
        return parse_request(
            query=request.META.get("QUERY_STRING", ""),
            body=body,
            content_type=request.META.get("CONTENT_TYPE", ""),
            max_keys=settings.INBOUND_MAX_KEYS,
            max_depth=settings.INBOUND_MAX_DEPTH,
            token=token,
        )
    except IntakeError as exc:
        return _error(str(exc), 400)


def _store(sender: senders.Sender, communication_type: str, received: Received) -> IntakeResult:
    return receive(
        sender=sender,
        communication_type=communication_type,
        raw=received.raw,
        values=received.values,
        enqueue=enqueue_deliveries,
        request_id=logs.request_id.get(),
    )
