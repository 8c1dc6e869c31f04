"""Test send (a module named `send_test`, not `test_*`, which test runners collect): the notification's draft rendered (sample values or a real event's) and sent to
Mindbox for real through the delivery's own client and outbound guard, under a new
transactionId; the request is built as a delivery's and the preview's are (mindbox.request).
Nothing is stored: the manager sees the exact request, the key masked, and Mindbox's answer,
with its validation messages mapped to the body template's mnemonics."""

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.utils.translation import gettext as _
from django.views.decorators.debug import sensitive_variables

from core.rendering import TemplateError, template_at
from mindbox_integration import services, validation
from mindbox_integration.crypto import KeyUnavailable
from mindbox_integration.mindbox import request
from mindbox_integration.mindbox.client import MindboxClient
from mindbox_integration.mindbox.error_codes import ErrorCode
from mindbox_integration.mindbox.guard import Policy
from mindbox_integration.models import MindboxIntegration
from mindbox_integration.selectors import known_mnemonics


@dataclass(frozen=True)
class FieldMessage:
    location: str  # Mindbox's JSON pointer into the body
    message: str
    template: str | None  # what the body template has there, e.g. {{contact_phone_number}}


@dataclass(frozen=True)
class SendTestResult:
    request_url: str = ""
    request_headers: dict[str, str] = field(default_factory=dict)
    request_body: str = ""
    sent: bool = False  # a request reached (or was made towards) Mindbox
    outcome: str = ""  # delivered, retry, failed: as a delivery would classify the answer
    http_status: int | None = None
    response_body: str = ""
    error: str = ""  # English when error_code says it, else in the admin's language
    error_code: str = ""
    error_params: dict[str, Any] = field(default_factory=dict)
    duration_ms: int = 0
    fields: list[FieldMessage] = field(default_factory=list)


@sensitive_variables("key", "sent")
def send_draft(
    *,
    integration: MindboxIntegration,
    operation_name: str,
    communication_type: str,
    url: str,
    body: str,
    values: Mapping[str, Any],
    client: MindboxClient,
    policy: Policy,
    headers: Mapping[str, str] | None = None,
) -> SendTestResult:
    """Render and send once; the answer is classified as a delivery's would be. The URL, as
    saving would store it (deviceUUID's placeholder filled), must pass the checks saving applies
    (host, path, this operation, no transactionId): a test send uses the integration's key, so
    it goes nowhere a saved notification could not."""
    url, _note = validation.fill_url(url)
    url_errors = validation.validate_url(
        url,
        operation_name=operation_name,
        communication_type=communication_type,
        known_mnemonics=known_mnemonics(account_id=integration.account_id, communication_type=communication_type),
        allowed_hosts=settings.MINDBOX_ALLOWED_HOSTS,
        require_https=settings.MINDBOX_REQUIRE_HTTPS,
    )
    if url_errors:
        return SendTestResult(error="; ".join(url_errors))
    try:
        rendered = request.render(url_template=url, body_template=body, headers_template=headers, values=values)
    except TemplateError as exc:
        return SendTestResult(error=_("cannot render: %(error)s") % {"error": exc})
    try:
        key = services.secret_key(integration=integration)
    except KeyUnavailable as exc:
        return SendTestResult(error=str(exc), error_code=ErrorCode.KEY_UNAVAILABLE)
    sent = request.finalize(rendered=rendered, secret_key=key, transaction_id=str(uuid.uuid4()))
    outcome = client.send_many([sent], policy=policy)[0]
    shown = sent.shown()
    return SendTestResult(
        request_url=shown.url,
        request_headers=shown.headers,
        request_body=shown.body,
        sent=not outcome.refused,
        outcome=outcome.kind.value,
        http_status=outcome.http_status,
        response_body=outcome.response_body,
        error=outcome.error,
        error_code=outcome.code,
        error_params=outcome.params,
        duration_ms=outcome.duration_ms,
        fields=[
            FieldMessage(
                location=str(m.get("location", "")),
                message=str(m.get("message", "")),
                template=template_at(body, str(m.get("location", ""))),
            )
            for m in outcome.messages
        ],
    )
