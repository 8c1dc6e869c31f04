"""`/healthz` (the process answers) and `/readyz` (the database and the broker answer), served
by a middleware ahead of the others: a probe needs no session, and no Host header check (a
container's probe comes by IP)."""

import logging
from collections.abc import Callable

from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse

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
    return all(v == "ok" for v in checks.values()), checks


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
        return self.get_response(request)
