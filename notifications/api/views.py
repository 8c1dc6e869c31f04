"""POST (or GET) /api/uis/events/<type>/: UIS's HTTP notifications come in here."""

import logging
import math
from collections.abc import Iterable
from typing import Any

from django.conf import settings
from django.core.exceptions import SuspiciousOperation
from django.db import DatabaseError, InterfaceError, OperationalError
from rest_framework import exceptions, negotiation, status
from rest_framework.renderers import BaseRenderer, JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from integration_portal import logs
from mindbox_integration.models import Account
from notifications.api import schema
from notifications.api.authentication import InboundTokenAuthentication
from notifications.api.throttling import InboundRateThrottle, failed_auth_wait
from notifications.dispatch import receive_event
from notifications.intake import IntakeError, parse_request
from notifications.metrics import EVENTS
from notifications.mnemonics import CommunicationType
from notifications.tasks import enqueue_deliveries

log = logging.getLogger(__name__)


class AlwaysJSON(negotiation.DefaultContentNegotiation):
    """Answer JSON whatever Accept says: a 406 would lose the event, and UIS documents no headers."""

    def select_renderer(
        self, request: Request, renderers: Iterable[BaseRenderer], format_suffix: str | None = None
    ) -> tuple[BaseRenderer, str]:
        return JSONRenderer(), JSONRenderer.media_type


def _error(message: str, code: int) -> Response:
    return Response({"error": message}, status=code)


class InboundEventView(APIView):
    authentication_classes = [InboundTokenAuthentication]
    parser_classes: list[Any] = []  # the body is parsed by notifications.intake, tolerantly
    content_negotiation_class = AlwaysJSON
    http_method_names = ["get", "post"]  # HEAD (a GET that would store an event) and OPTIONS too: 405

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        method = request.method or ""
        if method.lower() not in self.http_method_names:  # 405 whatever the token
            raise exceptions.MethodNotAllowed(method, detail=f"method {method} not allowed; send POST (or GET)")
        super().initial(request, *args, **kwargs)

    def perform_authentication(self, request: Request) -> None:
        # The rate limit comes first (DRF throttles after authenticating, which reads the
        # database): a flood, of unknown tokens too, costs a Redis call a request, not a query.
        throttle = InboundRateThrottle()
        if not throttle.allow_request(request, self):
            self.throttled(request, throttle.wait())
        super().perform_authentication(request)

    def handle_exception(self, exc: Exception) -> Response:
        """Every answer is JSON: never a framework page or a traceback."""
        if isinstance(exc, OperationalError | InterfaceError):
            # UIS should send again later; answer in JSON, never with a traceback page.
            log.exception("inbound event not stored: database unavailable")
            response = _error(
                "temporarily unavailable; send the event again later", status.HTTP_503_SERVICE_UNAVAILABLE
            )
            response["Retry-After"] = "30"
            return response
        if isinstance(exc, DatabaseError):
            log.exception("inbound event not stored")
            return _error("the event could not be stored", status.HTTP_500_INTERNAL_SERVER_ERROR)
        if isinstance(exc, exceptions.AuthenticationFailed | exceptions.NotAuthenticated):
            wait = failed_auth_wait(self.request)
            if wait:
                return self.handle_exception(exceptions.Throttled(wait))
            response = _error(str(exc.detail), status.HTTP_401_UNAUTHORIZED)
            response["WWW-Authenticate"] = InboundTokenAuthentication().authenticate_header(self.request)
            return response
        if isinstance(exc, exceptions.Throttled):
            seconds = max(1, math.ceil(getattr(exc, "wait", None) or 0))  # `wait` is missing from the stubs
            response = _error(f"too many requests; retry after {seconds} s", status.HTTP_429_TOO_MANY_REQUESTS)
            response["Retry-After"] = str(seconds)
            return response
        if isinstance(exc, exceptions.APIException):  # 405, and whatever else DRF raises
            return _error(str(exc.detail), exc.status_code)
        if isinstance(exc, SuspiciousOperation):  # e.g. over DATA_UPLOAD_MAX_NUMBER_FIELDS query parameters
            log.warning("inbound request refused: %s", exc)
            return _error(f"bad request: {exc}", status.HTTP_400_BAD_REQUEST)
        log.exception("inbound request failed")
        return _error("the event could not be stored", status.HTTP_500_INTERNAL_SERVER_ERROR)

    def finalize_response(self, request: Request, response: Response, *args: Any, **kwargs: Any) -> Response:
        kind = kwargs.get("communication_type", "")
        EVENTS.labels(type=kind if kind in CommunicationType.values else "unknown", answer=response.status_code).inc()
        return super().finalize_response(request, response, *args, **kwargs)

    @schema.get_schema
    def get(self, request: Request, communication_type: str) -> Response:
        return self._receive(request, communication_type, from_body=False)

    @schema.post_schema
    def post(self, request: Request, communication_type: str) -> Response:
        return self._receive(request, communication_type, from_body=True)

    def _receive(self, request: Request, communication_type: str, *, from_body: bool) -> Response:
        if communication_type not in CommunicationType.values:
            known = ", ".join(CommunicationType.values)
            return _error(f"unknown communication type {communication_type!r}; use one of: {known}", 404)
        limit = settings.INBOUND_MAX_BODY_BYTES
        try:
            declared = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            return _error("the Content-Length header is not a number", status.HTTP_400_BAD_REQUEST)
        body = request.body if from_body and declared <= limit else None  # not read when too large
        if declared > limit or (body is not None and len(body) > limit):
            return _error(f"the body is over {limit // 1024} KiB", status.HTTP_413_REQUEST_ENTITY_TOO_LARGE)
        try:
            received = parse_request(
                query=request.META.get("QUERY_STRING", ""),
                body=body,
                content_type=request.content_type or "",
                max_keys=settings.INBOUND_MAX_KEYS,
                max_depth=settings.INBOUND_MAX_DEPTH,
            )
        except IntakeError as exc:
            return _error(str(exc), status.HTTP_400_BAD_REQUEST)

        account = request.auth
        assert isinstance(account, Account)  # set by InboundTokenAuthentication
        result = receive_event(
            account=account,
            communication_type=communication_type,
            raw=received.raw,
            values=received.values,
            enqueue=enqueue_deliveries,
            request_id=logs.request_id.get(),
        )
        log.info(
            "%s event %s from account %s: %s",
            communication_type,
            result.event_id,
            account.uis_app_id,
            "duplicate" if result.duplicate else f"{result.deliveries} deliveries",
        )
        if result.duplicate:
            return Response({"event_id": result.event_id, "duplicate": True}, status=status.HTTP_200_OK)
        return Response({"event_id": result.event_id, "deliveries": result.deliveries}, status=status.HTTP_202_ACCEPTED)
