"""Intake to deliveries: store the event, match notifications, render, and queue after commit."""

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from mindbox_integration.models import Account, Notification
from notifications import selectors, site_visitors
from notifications.filters import parse_filters, passes
from notifications.intake import event_identity
from notifications.models import Delivery, InboundEvent
from notifications.rendering import TemplateError, compile_body, compile_url

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


def render_notification(notification: Notification, values: dict[str, Any]) -> Rendered:
    try:
        body = compile_body(notification.body).render_json(values)
        url = compile_url(notification.url).render(values)
    except TemplateError as exc:
        return Rendered(url=notification.url, body="", error=f"cannot render: {exc}")
    except Exception as exc:  # a poison event must not lose the request it came with
        log.exception("rendering notification %s failed", notification.pk)
        return Rendered(url=notification.url, body="", error=f"cannot render: {type(exc).__name__}")
    return Rendered(url=url, body=body)


def skip_note(*, account: Account, communication_type: str, notifications: Sequence[Notification]) -> str:
    """Why an event made no delivery: shown on the event, so nothing is skipped unseen."""
    if notifications:
        return _("no notification's filter conditions matched")
    if not selectors.integration_active(account_id=account.pk):
        return _("the Mindbox integration is switched off")
    return _("no active notification for this communication type")


def matching(notifications: Sequence[Notification], values: dict[str, Any]) -> list[Notification]:
    return [n for n in notifications if passes(parse_filters(n.filters), values)]


def receive_event(
    *,
    account: Account,
    communication_type: str,
    raw: str,
    values: dict[str, Any],
    enqueue: Callable[[list[int]], None],
    request_id: str = "",
) -> IntakeResult:
    """Store one UIS event and its deliveries in one transaction; `enqueue` gets the
    delivery ids after commit. A repeat of a stored event changes nothing."""
    identity = event_identity(communication_type, values)
    now = timezone.now()
    with transaction.atomic():
        notifications = selectors.active_notifications(account_id=account.pk, communication_type=communication_type)
        # Before the event is stored: its values are what its deliveries were rendered from.
        values = site_visitors.with_device_uuid(account_id=account.pk, values=values, notifications=notifications)
        try:
            with transaction.atomic():
                event = InboundEvent.objects.create(
                    account=account,
                    communication_type=communication_type,
                    raw=raw,
                    values=values,
                    identity=identity,
                    received_at=now,
                    request_id=request_id,
                )
        except IntegrityError:
            first = InboundEvent.objects.only("pk").get(
                account=account, communication_type=communication_type, identity=identity
            )
            return IntakeResult(event_id=first.pk, deliveries=0, duplicate=True)

        queued_until = now + timedelta(seconds=settings.DELIVERY_QUEUE_LEASE)
        deliveries = []
        for notification in matching(notifications, values):
            rendered = render_notification(notification, values)
            if rendered.error:
                status = Delivery.Status.FAILED
            elif selectors.is_paused(notification):
                status = Delivery.Status.HELD
            else:
                status = Delivery.Status.PENDING
            deliveries.append(
                Delivery(
                    event=event,
                    notification=notification,
                    url=rendered.url,
                    body=rendered.body,
                    status=status,
                    next_attempt_at=now if status == Delivery.Status.PENDING else None,
                    queued_until=queued_until if status == Delivery.Status.PENDING else None,
                    last_error=rendered.error,
                    finished_at=now if status == Delivery.Status.FAILED else None,
                    created_at=now,
                )
            )
        if deliveries:
            Delivery.objects.bulk_create(deliveries)
        else:
            event.note = skip_note(account=account, communication_type=communication_type, notifications=notifications)
            event.save(update_fields=["note"])
        pending = [d.pk for d in deliveries if d.status == Delivery.Status.PENDING]
        if pending:
            transaction.on_commit(lambda: enqueue(pending))
    return IntakeResult(event_id=event.pk, deliveries=len(deliveries), duplicate=False)
