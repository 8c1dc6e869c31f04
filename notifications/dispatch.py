"""Intake to deliveries: match the event against the account's notifications (kept per process,
notifications.plans), render, store it with its deliveries (notifications.event_store), and
queue the pending ones after commit."""

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from core.filters import passes
from core.mnemonics import CommunicationType
from core.rendering import Templated, TemplateError
from mindbox_integration.mindbox import request
from mindbox_integration.mindbox.error_codes import ErrorCode
from mindbox_integration.models import Account
from notifications import event_store, plans, senders, site_visitors
from notifications.intake import event_identity
from notifications.models import Delivery, InboundEvent

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class IntakeResult:
    event_id: int
    deliveries: int
    duplicate: bool


@dataclass(frozen=True)
class Rendered:
    url: str
    body: str
    error: str = ""
    headers: dict[str, str] = field(default_factory=dict)
    error_code: str = ""
    error_params: dict[str, Any] = field(default_factory=dict)


def render_notification(notification: Templated, values: dict[str, Any]) -> Rendered:
    """The notification's request for these values (mindbox.request.render, as the preview and the
    test send render it), or why it cannot be made."""
    try:
        rendered = request.render(
            url_template=notification.url,
            body_template=notification.body,
            headers_template=notification.headers,
            values=values,
        )
    except TemplateError as exc:
        return _unrenderable(notification, str(exc))
    except Exception as exc:  # a poison event must not lose the request it came with
        log.exception("rendering notification %s failed", notification.pk)
        return _unrenderable(notification, type(exc).__name__)
    return Rendered(url=rendered.url, body=rendered.body, headers=rendered.headers)


def _unrenderable(notification: Templated, detail: str) -> Rendered:
    return Rendered(
        url=notification.url,
        body="",
        error=f"cannot render: {detail}",
        error_code=ErrorCode.RENDER_FAILED,
        error_params={"detail": detail},
    )


def skip_note(plan: plans.Plan) -> str:
    """Why an event made no delivery: shown on the event, so nothing is skipped unseen."""
    if plan.targets:
        return _("no notification's filter conditions matched")
    if not plan.integration_active:
        return _("the Mindbox integration is switched off")
    return _("no active notification for this communication type")


def receive_event(
    *,
    account: Account,
    communication_type: str,
    raw: str,
    values: dict[str, Any],
    enqueue: Callable[[list[int]], None],
    request_id: str = "",
    identity: str | None = None,
    recovered_from: str = "",
) -> IntakeResult:
    """receive() for an account at hand (a command, reconciliation, the tests): its state is read first."""
    sender = senders.by_account(account.pk)
    if sender is None:
        raise Account.DoesNotExist(f"no account {account.pk}")
    return receive(
        sender=sender,
        communication_type=communication_type,
        raw=raw,
        values=values,
        enqueue=enqueue,
        request_id=request_id,
        identity=identity,
        recovered_from=recovered_from,
    )


def receive(
    *,
    sender: senders.Sender,
    communication_type: str,
    raw: str,
    values: dict[str, Any],
    enqueue: Callable[[list[int]], None],
    request_id: str = "",
    identity: str | None = None,
    recovered_from: str = "",
) -> IntakeResult:
    """Store one UIS event and its deliveries, atomically; `enqueue` gets the pending delivery
    ids after commit. A repeat of a stored event changes nothing. `identity` replaces the one
    computed from the values, and `recovered_from` marks an event reconciliation created
    (notifications.reconcile). A remembered sender (not checked in this request) is checked by
    the write, which raises senders.Stale, having stored nothing, when it no longer holds. A notification deleted since the plan was loaded makes the
    database refuse the deliveries: tried once more, afresh."""
    origin = _Origin(identity=identity, recovered_from=recovered_from)
    try:
        return _receive(sender, communication_type, raw, values, enqueue, request_id, origin)
    except IntegrityError:
        plans.forget(account_id=sender.account_id, communication_type=communication_type)
        return _receive(sender, communication_type, raw, values, enqueue, request_id, origin)


@dataclass(frozen=True)
class _Origin:
    identity: str | None
    recovered_from: str


def recovered_call_identity(call_session_id: Any) -> str:
    """The identity of a call reconciliation recovered (notifications.reconcile): one per call
    session, since it cannot know which of the call's events UIS would have sent."""
    return f"call:{call_session_id}:recovered"


def _recovered_identity(communication_type: str, values: dict[str, Any], origin: _Origin) -> str:
    """For a call UIS notifies: the identity under which reconciliation may have recovered it
    already, which makes this notification a duplicate. Offline and taxi requests share intake's
    identity (their communication id) with reconciliation and need none."""
    if origin.recovered_from or communication_type != CommunicationType.CALLS or not values.get("call_session_id"):
        return ""
    return recovered_call_identity(values["call_session_id"])


def _receive(
    sender: senders.Sender,
    communication_type: str,
    raw: str,
    values: dict[str, Any],
    enqueue: Callable[[list[int]], None],
    request_id: str,
    origin: _Origin,
) -> IntakeResult:
    identity = origin.identity or event_identity(communication_type, values)
    now = timezone.now()
    plan = plans.plan_for(
        account_id=sender.account_id, communication_type=communication_type, version=sender.config_version
    )
    # Before the event is stored: its values are what its deliveries were rendered from.
    values = site_visitors.with_device_uuid(account_id=sender.account_id, values=values, notifications=plan.targets)
    queued_until = now + timedelta(seconds=settings.DELIVERY_QUEUE_LEASE)
    deliveries = []
    for target in plan.targets:
        if not passes(target.filters, values):
            continue
        rendered = render_notification(target, values)
        if rendered.error:
            status = Delivery.Status.FAILED
        elif sender.paused:
            status = Delivery.Status.HELD
        else:
            status = Delivery.Status.PENDING
        pending = status == Delivery.Status.PENDING
        deliveries.append(
            Delivery(
                notification_id=target.pk,
                url=rendered.url,
                body=rendered.body,
                headers=rendered.headers,
                status=status,
                next_attempt_at=now if pending else None,
                queued_until=queued_until if pending else None,
                last_error=rendered.error,
                error_code=rendered.error_code,
                error_params=rendered.error_params,
                finished_at=now if status == Delivery.Status.FAILED else None,
                created_at=now,
            )
        )
    event = InboundEvent(
        account_id=sender.account_id,
        communication_type=communication_type,
        raw=raw,
        values=values,
        identity=identity,
        received_at=now,
        request_id=request_id,
        note="" if deliveries else skip_note(plan),
        recovered_from=origin.recovered_from,
    )
    stored = event_store.store(
        event=event,
        deliveries=deliveries,
        expect=None if sender.checked else sender,
        also_known_as=_recovered_identity(communication_type, values, origin),
    )
    if stored.pending:
        transaction.on_commit(lambda: enqueue(stored.pending))
    return IntakeResult(
        event_id=stored.event_id, deliveries=0 if stored.duplicate else len(deliveries), duplicate=stored.duplicate
    )
