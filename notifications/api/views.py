"""POST (or GET) /api/uis/events/<type>/: UIS's HTTP notifications come in here."""

import logging
from collections.abc import Iterable
from typing import Any

from django.conf import settings
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

    def handle_exception(self, exc: Exception) -> Response:
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
            response = _error(str(exc.detail), status.HTTP_401_UNAUTHORIZED)
            response["WWW-Authenticate"] = InboundTokenAuthentication().authenticate_header(self.request)
            return response
        return super().handle_exception(exc)

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
            declared = 0
        body = request.body if from_body and declared <= limit else None  # not read when too large
        if declared > limit or (body is not None and len(body) > limit):
            return _error(f"the body is over {limit // 1024} KiB", status.HTTP_413_REQUEST_ENTITY_TOO_LARGE)
        try:
            received = parse_request(
                query=request.META.get("QUERY_STRING", ""), body=body, content_type=request.content_type or ""
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
