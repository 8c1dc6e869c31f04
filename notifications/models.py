"""What UIS sent and what became of it: events, deliveries (event x notification) and
their attempts."""

import uuid

from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from mindbox_integration.models import Account, Notification
from notifications.mnemonics import CommunicationType


class InboundEvent(models.Model):
    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="events", verbose_name=_("account"))
    communication_type = models.CharField(_("communication type"), max_length=32, choices=CommunicationType.choices)
    raw = models.TextField(_("raw body"), blank=True)
    values = models.JSONField(_("values"), default=dict)
    identity = models.CharField(_("identity"), max_length=255)
    received_at = models.DateTimeField(_("received"), default=timezone.now, db_index=True)

    class Meta:
        verbose_name = _("inbound event")
        verbose_name_plural = _("inbound events")
        ordering = ["-received_at"]
        constraints = [
            models.UniqueConstraint(fields=["account", "communication_type", "identity"], name="inbound_event_identity")
        ]

    def __str__(self) -> str:
        return f"{self.get_communication_type_display()} #{self.pk}"


class Delivery(models.Model):
    class Status(models.TextChoices):
        PENDING = "pending", _("pending")
        DELIVERED = "delivered", _("delivered")
        FAILED = "failed", _("failed")

    event = models.ForeignKey(
        InboundEvent, on_delete=models.CASCADE, related_name="deliveries", verbose_name=_("event")
    )
    # Kept when the notification is deleted: the delivery is history.
    notification = models.ForeignKey(
        Notification, on_delete=models.SET_NULL, null=True, related_name="deliveries", verbose_name=_("notification")
    )
    url = models.TextField(_("URL"))
    body = models.TextField(_("body"))
    status = models.CharField(_("status"), max_length=16, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveIntegerField(_("attempts"), default=0)
    next_attempt_at = models.DateTimeField(_("next attempt"), null=True, blank=True)
    # Held by a worker while it sends; an expired claim means that worker died.
    claimed_until = models.DateTimeField(null=True, blank=True)
    transaction_id = models.UUIDField(_("transaction id"), default=uuid.uuid4, unique=True, editable=False)
    last_error = models.TextField(_("last error"), blank=True)
    created_at = models.DateTimeField(_("created"), default=timezone.now)
    finished_at = models.DateTimeField(_("finished"), null=True, blank=True)

    class Meta:
        verbose_name = _("delivery")
        verbose_name_plural = _("deliveries")
        ordering = ["-created_at"]
        constraints = [models.UniqueConstraint(fields=["event", "notification"], name="delivery_event_notification")]
        indexes = [
            models.Index(
                fields=["next_attempt_at"],
                name="delivery_due",
                condition=models.Q(status="pending"),
            )
        ]

    def __str__(self) -> str:
        return f"{_('delivery')} #{self.pk}"


class DeliveryAttempt(models.Model):
    """Written before the request goes out and completed after, so a crash mid-send shows."""

    class Outcome(models.TextChoices):
        SENDING = "sending", _("sending")
        DELIVERED = "delivered", _("delivered")
        RETRY = "retry", _("will retry")
        FAILED = "failed", _("failed")

    delivery = models.ForeignKey(
        Delivery, on_delete=models.CASCADE, related_name="attempt_log", verbose_name=_("delivery")
    )
    started_at = models.DateTimeField(_("started"), default=timezone.now)
    http_status = models.PositiveSmallIntegerField(_("HTTP status"), null=True, blank=True)
    response_body = models.TextField(_("response"), blank=True)
    duration_ms = models.PositiveIntegerField(_("duration, ms"), null=True, blank=True)
    error = models.TextField(_("error"), blank=True)
    outcome = models.CharField(_("outcome"), max_length=16, choices=Outcome.choices, default=Outcome.SENDING)

    class Meta:
        verbose_name = _("delivery attempt")
        verbose_name_plural = _("delivery attempts")
        ordering = ["started_at"]

    def __str__(self) -> str:
        return f"{timezone.localtime(self.started_at):%Y-%m-%d %H:%M:%S} {self.get_outcome_display()}"
