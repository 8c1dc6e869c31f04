"""The inbound endpoint's OpenAPI description (drf-spectacular): the body forms UIS sends and
every answer. The view parses bodies itself, tolerantly, so the schema is written out here."""

from typing import Any

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from core.mnemonics import CommunicationType
from notifications.api.authentication import InboundTokenAuthentication

VALUES = {
    "type": "object",
    "description": (
        "A flat object of UIS mnemonic -> value (the body set up in UIS's HTTP notification). Unknown "
        "keys are kept. UIS's quirks are tolerated: doubled quotes around a value, and a value still "
        "reading {{name}} (taken as absent)."
    ),
    # Values are usually strings; anything JSON can hold is accepted and kept.
    "additionalProperties": {},
}
SAMPLE = {
    "call_session_id": "3485121",
    "notification_mnemonic": "call_finished",
    "visitor_name": "Анна Петрова",
    "contact_phone_number": "79161234567",
    "virtual_phone_number": "74951234567",
}


def _error(description: str, example: str) -> OpenApiResponse:
    return OpenApiResponse(
        response={"type": "object", "properties": {"error": {"type": "string"}}, "required": ["error"]},
        description=description,
        examples=[OpenApiExample(description, value={"error": example})],
    )


ACCEPTED = {
    "type": "object",
    "properties": {"event_id": {"type": "integer"}, "deliveries": {"type": "integer"}},
    "required": ["event_id", "deliveries"],
}
DUPLICATE = {
    "type": "object",
    "properties": {"event_id": {"type": "integer"}, "duplicate": {"type": "boolean", "enum": [True]}},
    "required": ["event_id", "duplicate"],
}
RESPONSES: dict[int, Any] = {
    202: OpenApiResponse(
        ACCEPTED, description="Stored, with the number of deliveries made (0: switched off or nothing matched)."
    ),
    200: OpenApiResponse(DUPLICATE, description="The same event again (by its identity): nothing is sent twice."),
    400: _error(
        "Not an object of values, or over the limits of keys (INBOUND_MAX_KEYS, 500) or nesting "
        "(INBOUND_MAX_DEPTH, 5 levels).",
        "the body has 812 keys, over the limit of 500",
    ),
    401: _error(
        "Token missing or unknown.", "missing or unknown token; use the inbound URL shown on the integration's page"
    ),
    404: _error(
        "Unknown communication type.",
        "unknown communication type 'x'; use one of: calls, offline_requests, taxi_requests",
    ),
    405: _error("A method other than POST or GET.", "method PUT not allowed; send POST (or GET)"),
    413: _error("Body over 64 KiB.", "the body is over 64 KiB"),
    429: _error(
        "Too many requests with this token (INBOUND_RATE_PER_SECOND, bursts of INBOUND_RATE_BURST); "
        "the answer has Retry-After, whole seconds. Send the event again then.",
        "too many requests; retry after 2 s",
    ),
    500: _error("The database refused the event (not a connection problem).", "the event could not be stored"),
    503: OpenApiResponse(
        {"type": "object", "properties": {"error": {"type": "string"}}, "required": ["error"]},
        description="The database is unreachable. Send the event again after the Retry-After header's seconds (30).",
        examples=[
            OpenApiExample("unavailable", value={"error": "temporarily unavailable; send the event again later"})
        ],
    ),
}
TYPE = OpenApiParameter(
    "communication_type",
    str,
    OpenApiParameter.PATH,
    enum=CommunicationType.values,
    description="What UIS notifies about.",
)
TOKEN = OpenApiParameter(
    "token",
    str,
    OpenApiParameter.QUERY,
    required=False,
    description="The account's inbound token (or send it as a bearer token).",
)

post_schema = extend_schema(
    operation_id="receive_uis_event",
    summary="Receive a UIS notification",
    parameters=[TYPE, TOKEN],
    request={"application/json": VALUES, "application/x-www-form-urlencoded": VALUES},
    responses=RESPONSES,
    examples=[OpenApiExample("A finished call", value=SAMPLE, request_only=True)],
)
get_schema = extend_schema(
    operation_id="receive_uis_event_by_query",
    summary="Receive a UIS notification as query parameters",
    description="The same as POST, for UIS notifications set up with GET: every query parameter but token is a value.",
    parameters=[TYPE, TOKEN],
    responses=RESPONSES,
)


class InboundTokenScheme(OpenApiAuthenticationExtension):  # type: ignore[no-untyped-call]
    target_class = "notifications.api.authentication.InboundTokenAuthentication"
    name = "inboundToken"

    def get_security_definition(self, auto_schema: Any) -> dict[str, str]:
        return {"type": "http", "scheme": "bearer", "description": "The account's inbound token; `?token=` works too."}


class InboundEventDoc(APIView):
    """The endpoint as the OpenAPI description shows it. Requests never reach this class: the
    URLconf's view (notifications.api.urls) is the plain views.inbound_event, which carries this
    class as `cls`, the attribute drf-spectacular reads an endpoint's description from."""

    authentication_classes = [InboundTokenAuthentication]
    http_method_names = ["get", "post"]

    @get_schema
    def get(self, request: Request, communication_type: str) -> Response:
        raise NotImplementedError  # served by notifications.api.views.inbound_event

    @post_schema
    def post(self, request: Request, communication_type: str) -> Response:
        raise NotImplementedError
