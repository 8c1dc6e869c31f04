"""`/healthz` (the process answers), `/readyz` (the database and the broker answer; it says
whether beat's heartbeat is fresh too, without failing for it) and
`/metrics`, served by a middleware ahead of the others: a probe or a scrape needs no session,
and no Host header check (they come by IP); /metrics has its own access check."""

import logging
from collections.abc import Callable

from django.conf import settings
from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse

from integration_portal import heartbeat

log = logging.getLogger(__name__)

BROKER_TIMEOUT = 2


def database_ready() -> str:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except Exception as exc:
        return f"unreachable: {type(exc).__name__}"
    return "ok"


def broker_ready() -> str:
    from integration_portal.celery import app

    try:
        with app.connection_for_write() as conn:
            conn.ensure_connection(max_retries=1, timeout=BROKER_TIMEOUT)
            conn.default_channel  # noqa: B018 - opens a channel: the broker really answers
    except Exception as exc:
        return f"unreachable: {type(exc).__name__}"
    return "ok"


def readiness() -> tuple[bool, dict[str, str]]:
    checks = {"database": database_ready(), "broker": broker_ready()}
    ready = all(v == "ok" for v in checks.values())
    # Said, not counted: a web process serves whether or not beat runs (beat_health is beat's check).
    # The heartbeat lives in the broker's Redis: not asked again when that did not answer.
    unreachable = checks["broker"] != "ok" and settings.REDIS_URL
    checks["beat"] = "unknown: the broker is unreachable" if unreachable else heartbeat.status()[1]
    return ready, checks


class ProbeMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.path == "/healthz":
            return JsonResponse({"status": "ok"})
        if request.path == "/readyz":
            ready, checks = readiness()
            if not ready:
                log.warning("not ready: %s", checks)
            return JsonResponse({"status": "ok" if ready else "unavailable", **checks}, status=200 if ready else 503)
        if request.path == "/metrics":
            from notifications.metrics import metrics_response

            return metrics_response(request)
        return self.get_response(request)
