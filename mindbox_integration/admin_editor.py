"""JSON endpoints of the notification editor (palette, check, preview), under the notification
admin. Thin: they read the request, scope every object by tenancy like every admin page (another
account's operation or event is a 404) and call mindbox_integration.editor."""

import json
from dataclasses import asdict
from typing import Any

from django.contrib.admin import ModelAdmin
from django.core.exceptions import BadRequest, PermissionDenied
from django.http import Http404, HttpRequest, JsonResponse
from django.urls import URLPattern, path
from django.utils import formats, timezone
from django.utils.translation import gettext
from django.views.decorators.http import require_GET, require_POST

from core.mnemonics import CATALOGUE, CommunicationType
from core.nesting import deeper_than
from core.rendering import pretty_json
from mindbox_integration import audit, editor, send_test, tenancy
from mindbox_integration.mindbox.request import KEY_STAND_IN
from mindbox_integration.models import Notification, Operation
from notifications.delivery import default_client, outbound_policy
from notifications.error_text import StoredError, for_people
from notifications.models import InboundEvent

MAX_DRAFT_CHARS = 200_000
DRAFT_DEPTH = 2


def editor_urls(model_admin: "ModelAdmin[Any]") -> list[URLPattern]:
    def guarded(view: Any, may_change: bool = False) -> Any:
        def wrapped(request: HttpRequest) -> JsonResponse:
            allowed = (
                model_admin.has_change_permission(request) or model_admin.has_add_permission(request)
                if may_change
                else model_admin.has_view_or_change_permission(request)
            )
            if not allowed:
                raise PermissionDenied
            result: JsonResponse = view(request)
            return result

        return model_admin.admin_site.admin_view(wrapped)

    return [
        path("editor/palette/", guarded(require_GET(palette_view)), name="mindbox_integration_notification_palette"),
        path("editor/check/", guarded(require_POST(check_view)), name="mindbox_integration_notification_check"),
        path("editor/preview/", guarded(require_POST(preview_view)), name="mindbox_integration_notification_preview"),
        path(
            "editor/fill-url/", guarded(require_POST(fill_url_view)), name="mindbox_integration_notification_fill_url"
        ),
        # It sends with the integration's key: only for those who may change notifications.
        path(
            "editor/test-send/",
            guarded(require_POST(test_send_view), may_change=True),
            name="mindbox_integration_notification_test_send",
        ),
    ]


def _operation(request: HttpRequest, raw: object) -> Operation | None:
    """The draft's operation, if the user may see it; None when none is chosen yet."""
    if raw in (None, ""):
        return None
    try:
        pk = int(str(raw))
    except ValueError:
        raise Http404 from None
    scoped = tenancy.scope(Operation.objects.select_related("integration"), user=request.user)
    operation = scoped.filter(pk=pk).first()
    if operation is None:
        raise Http404
    return operation


def _draft(request: HttpRequest) -> dict[str, Any]:
    if len(request.body) > MAX_DRAFT_CHARS:
        raise BadRequest("draft too large")
    try:
        text = request.body.decode()
        # A draft is one object of strings; deeper would only make json.loads recurse.
        data = None if deeper_than(text, DRAFT_DEPTH) else json.loads(text or "{}")
    except ValueError:
        data = None
    if not isinstance(data, dict):
        raise BadRequest("a JSON object expected")
    return {k: v if isinstance(v, str | int) else "" for k, v in data.items()}


def _account_id(operation: Operation | None) -> int | None:
    return operation.integration.account_id if operation is not None else None


def palette_view(request: HttpRequest) -> JsonResponse:
    operation = _operation(request, request.GET.get("operation"))
    ctype = request.GET.get("type", "")
    if ctype not in CATALOGUE:
        return JsonResponse({"type": ctype, "label": "", "mnemonics": [], "filter_values": {}, "events": []})
    account_id = _account_id(operation)
    events = editor.recent_events(account_id=account_id, communication_type=ctype) if account_id is not None else []
    return JsonResponse(
        {
            "type": ctype,
            "label": str(CommunicationType(ctype).label),
            "mnemonics": [asdict(entry) for entry in editor.palette(account_id=account_id, communication_type=ctype)],
            "filter_values": editor.filter_values(ctype),
            "events": [
                {
                    "id": event.pk,
                    "label": f"#{event.pk} · {formats.date_format(timezone.localtime(event.received_at), 'DATETIME_FORMAT')}",
                }
                for event in events
            ],
        }
    )


def check_view(request: HttpRequest) -> JsonResponse:
    draft = _draft(request)
    operation = _operation(request, draft.get("operation"))
    result = editor.check_draft(
        account_id=_account_id(operation),
        operation_name=operation.name if operation is not None else None,
        communication_type=str(draft.get("communication_type", "")),
        url=str(draft.get("url", "")),
        body=str(draft.get("body", "")),
        filters_text=str(draft.get("filters", "")),
        headers_text=str(draft.get("headers", "")),
    )
    return JsonResponse(
        {
            "ok": result.ok,
            "errors": result.errors,
            "unknown": result.unknown,
            "problems": [asdict(problem) for problem in result.problems],
            "warnings": result.warnings,
        }
    )


def _event(request: HttpRequest, draft: dict[str, Any], operation: Operation | None, ctype: str) -> InboundEvent | None:
    """The real event the draft is to be rendered with, if one is chosen: the user's to see, of
    the operation's account and of the draft's type; else a 404."""
    if draft.get("event") in (None, ""):
        return None
    scoped = tenancy.scope(InboundEvent.objects.all(), user=request.user)
    if operation is not None:
        scoped = scoped.filter(account_id=operation.integration.account_id)
    try:
        event = scoped.filter(pk=int(str(draft["event"])), communication_type=ctype).first()
    except ValueError:
        event = None
    if event is None:
        raise Http404
    return event


def preview_view(request: HttpRequest) -> JsonResponse:
    draft = _draft(request)
    operation = _operation(request, draft.get("operation"))
    ctype = str(draft.get("communication_type", ""))
    values = editor.preview_values(communication_type=ctype, event=_event(request, draft, operation, ctype))
    result = editor.preview(
        url=str(draft.get("url", "")),
        body=str(draft.get("body", "")),
        values=values,
        headers=editor.parse_headers_text(str(draft.get("headers", ""))),
        # Not the key itself: the preview masks it, and only shows whether the request carries one.
        secret_key=KEY_STAND_IN if operation is not None and operation.integration.has_secret_key else "",
    )
    return JsonResponse(asdict(result))


def fill_url_view(request: HttpRequest) -> JsonResponse:
    draft = _draft(request)
    operation = _operation(request, draft.get("operation"))
    result = editor.fill_mindbox_url(
        pasted=str(draft.get("pasted", "")),
        endpoint_id=str(draft.get("endpoint_id", "")),
        operation_name=operation.name if operation is not None else None,
        device_uuid=bool(draft.get("device_uuid")),
    )
    return JsonResponse(asdict(result))


def _notification(draft: dict[str, Any], operation: Operation) -> Notification | None:
    """The saved notification the draft was opened from, if it is the operation's."""
    try:
        return operation.notifications.filter(pk=int(str(draft.get("notification") or 0))).first()
    except ValueError:
        return None


def test_send_view(request: HttpRequest) -> JsonResponse:
    draft = _draft(request)
    operation = _operation(request, draft.get("operation"))
    if operation is None:
        return JsonResponse({"error": gettext("Choose the operation first: the test send uses its integration's key")})
    ctype = str(draft.get("communication_type", ""))
    values = editor.preview_values(communication_type=ctype, event=_event(request, draft, operation, ctype))
    result = send_test.send_draft(
        integration=operation.integration,
        operation_name=operation.name,
        communication_type=ctype,
        url=str(draft.get("url", "")),
        body=str(draft.get("body", "")),
        values=values,
        client=default_client(),
        policy=outbound_policy(),
        headers=editor.parse_headers_text(str(draft.get("headers", ""))),
    )
    if result.sent:
        audit.record_test_send(
            actor=request.user,
            operation=operation,
            notification=_notification(draft, operation),
            name=str(draft.get("name", "")),
            outcome=result.outcome,
            http_status=result.http_status,
        )
    answer = asdict(result)
    answer["request_body"] = pretty_json(result.request_body)
    answer["response_body"] = pretty_json(result.response_body)
    answer["error"] = for_people(StoredError(text=result.error, code=result.error_code, params=result.error_params))
    return JsonResponse(answer)
