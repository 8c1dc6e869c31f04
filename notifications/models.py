"""What UIS sent and what became of it: events, deliveries (event x notification) and
their attempts."""

import uuid

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from core.mnemonics import CommunicationType
from mindbox_integration.models import Account, MindboxIntegration, Notification


class InboundEvent(models.Model):
    # No index of its own: inbound_event_identity starts with the account, and one index fewer is
    # less work on every event's insert.
    account = models.ForeignKey(
        Account, on_delete=models.CASCADE, related_name="events", verbose_name=_("account"), db_index=False
    )
    communication_type = models.CharField(_("communication type"), max_length=32, choices=CommunicationType.choices)
    raw = models.TextField(_("raw body"), blank=True)
    values = models.JSONField(_("values"), default=dict)
    identity = models.CharField(_("identity"), max_length=255)
    received_at = models.DateTimeField(_("received"), default=timezone.now, db_index=True)
    # Why an accepted event made no delivery, so that nothing skipped is invisible.
    note = models.CharField(_("note"), max_length=200, blank=True)
    # The request id of UIS's request: it follows the event into its deliveries' log lines.
    request_id = models.CharField(_("request id"), max_length=64, blank=True)
    # Empty for what UIS posted; for an event reconciliation created because UIS never posted
    # it, where it came from (e.g. "data_api:get.calls_report").
    recovered_from = models.CharField(_("recovered from"), max_length=64, blank=True, default="")

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
        HELD = "held", _("held")  # waiting for its integration: switched off or paused
        DELIVERED = "delivered", _("delivered")
        FAILED = "failed", _("failed")

    class Queue(models.TextChoices):
        """Which Celery queue sends it (the same names as settings.QUEUE_*): fresh events, retries
        and what a manager resent or released each have their own, so none waits behind another."""

        FIRST_ATTEMPTS = "deliveries", _("first attempt")
        RETRIES = "retries", _("retry")
        REPLAYS = "replays", _("replay")

    UNFINISHED = (Status.PENDING, Status.HELD)

    # No index of its own: delivery_event_notification starts with the event (see InboundEvent.account).
    event = models.ForeignKey(
        InboundEvent, on_delete=models.CASCADE, related_name="deliveries", verbose_name=_("event"), db_index=False
    )
    # Kept when the notification is deleted: the delivery is history.
    notification = models.ForeignKey(
        Notification, on_delete=models.SET_NULL, null=True, related_name="deliveries", verbose_name=_("notification")
    )
    url = models.TextField(_("URL"))
    body = models.TextField(_("body"))
    headers = models.JSONField(_("optional headers"), default=dict, blank=True)  # rendered, as sent
    status = models.CharField(_("status"), max_length=16, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveIntegerField(_("attempts"), default=0)
    next_attempt_at = models.DateTimeField(_("next attempt"), null=True, blank=True)
    queue = models.CharField(_("queue"), max_length=16, choices=Queue.choices, default=Queue.FIRST_ATTEMPTS)
    # The send slot reserved for it under its integration's rate limit: claimed about then, it
    # sends without asking for another.
    send_slot = models.DateTimeField(null=True, blank=True)
    # Held by a worker while it sends; an expired claim means that worker died.
    claimed_until = models.DateTimeField(null=True, blank=True)
    # A Celery message for it is believed to be queued until then; after that the sweeper queues another.
    queued_until = models.DateTimeField(null=True, blank=True)
    transaction_id = models.UUIDField(_("transaction id"), default=uuid.uuid4, unique=True, editable=False)
    last_error = models.TextField(_("last error"), blank=True)  # English, for logs and search
    # What last_error says, for the admin to say it in its own language (notifications.error_text).
    # Database defaults too: a process of the previous release, still inserting rows while the
    # migration runs, names neither column.
    error_code = models.CharField(_("error code"), max_length=32, blank=True, default="", db_default="")
    error_params = models.JSONField(
        _("error parameters"), default=dict, blank=True, db_default=models.Value({}, output_field=models.JSONField())
    )
    created_at = models.DateTimeField(_("created"), default=timezone.now)
    finished_at = models.DateTimeField(_("finished"), null=True, blank=True)

    class Meta:
        verbose_name = _("delivery")
        verbose_name_plural = _("deliveries")
        ordering = ["-created_at"]
        constraints = [models.UniqueConstraint(fields=["event", "notification"], name="delivery_event_notification")]
        indexes = [
            # A worker claims the due deliveries of one queue, oldest due first.
            models.Index(
                fields=["queue", "next_attempt_at"],
                name="delivery_queue_due",
                condition=models.Q(status="pending"),
            ),
            # The dead-letter list: failed (or held) deliveries, newest first.
            models.Index(fields=["status", "-created_at"], name="delivery_status_created"),
            # The hourly roll-up counts what finished in its last hours.
            models.Index(
                fields=["finished_at"], name="delivery_finished", condition=models.Q(finished_at__isnull=False)
            ),
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
        INTERRUPTED = "interrupted", _("interrupted")  # the worker stopped before the answer was recorded

    delivery = models.ForeignKey(
        Delivery, on_delete=models.CASCADE, related_name="attempt_log", verbose_name=_("delivery")
    )
    started_at = models.DateTimeField(_("started"), default=timezone.now, db_index=True)
    transaction_id = models.UUIDField(_("transaction id"), null=True, blank=True)
    http_status = models.PositiveSmallIntegerField(_("HTTP status"), null=True, blank=True)
    response_body = models.TextField(_("response"), blank=True)
    duration_ms = models.PositiveIntegerField(_("duration, ms"), null=True, blank=True)
    error = models.TextField(_("error"), blank=True)  # English, for logs and search
    error_code = models.CharField(_("error code"), max_length=32, blank=True, default="", db_default="")  # see Delivery
    error_params = models.JSONField(
        _("error parameters"), default=dict, blank=True, db_default=models.Value({}, output_field=models.JSONField())
    )
    outcome = models.CharField(_("outcome"), max_length=16, choices=Outcome.choices, default=Outcome.SENDING)

    class Meta:
        verbose_name = _("delivery attempt")
        verbose_name_plural = _("delivery attempts")
        ordering = ["started_at"]

    def __str__(self) -> str:
        return f"{timezone.localtime(self.started_at):%Y-%m-%d %H:%M:%S} {self.get_outcome_display()}"


class IntegrationHealth(models.Model):
    """How Mindbox has been answering one integration. Kept apart from the configuration, so a
    manager saving the integration page never overwrites what the workers wrote."""

    integration = models.OneToOneField(
        MindboxIntegration,
        on_delete=models.CASCADE,
        primary_key=True,
        related_name="health",
        verbose_name=_("integration"),
    )
    paused_at = models.DateTimeField(_("sending paused"), null=True, blank=True)
    pause_reason = models.TextField(_("pause reason"), blank=True)
    auth_failures = models.PositiveIntegerField(_("401/403 answers in a row"), default=0)
    failure_streak = models.PositiveIntegerField(_("temporary failures in a row"), default=0)
    backoff_until = models.DateTimeField(_("backing off until"), null=True, blank=True)

    class Meta:
        verbose_name = _("integration health")
        verbose_name_plural = _("integration health")

    def __str__(self) -> str:
        return f"{_('integration health')} #{self.pk}"


class SiteVisitor(models.Model):
    """A UIS site visitor linked to their Mindbox device by the site script: events of that
    visitor carry the device's UUID as the mnemonic {{mindbox_device_uuid}}."""

    account = models.ForeignKey(
        Account, on_delete=models.CASCADE, related_name="site_visitors", verbose_name=_("account")
    )
    visitor_id = models.CharField(_("UIS visitor id"), max_length=64)
    device_uuid = models.UUIDField(_("Mindbox deviceUUID"))
    linked_at = models.DateTimeField(_("linked"), default=timezone.now, db_index=True)

    class Meta:
        verbose_name = _("site visitor")
        verbose_name_plural = _("site visitors")
        constraints = [models.UniqueConstraint(fields=["account", "visitor_id"], name="site_visitor_account_visitor")]

    def __str__(self) -> str:
        return f"{self.visitor_id} → {self.device_uuid}"


class Reconciliation(models.Model):
    """The state of one account's reconciliation through UIS's Data API (notifications.reconcile):
    how far it has checked, how its last run ended, and the allowance UIS reported. Written by
    the runs only; a run holds the row's lease, so two runs of one account never overlap."""

    class Outcome(models.TextChoices):
        OK = "ok", _("completed")
        PARTIAL = "partial", _("partly done: continues next run")
        LIMITED = "limited", _("stopped by the Data API's limits")
        TOKEN_REFUSED = "token_refused", _("the Data API token was refused")
        FORBIDDEN = "forbidden", _("the Data API refused access")
        REFUSED = "refused", _("the Data API URL is not allowed")
        FAILED = "failed", _("failed")

    account = models.OneToOneField(
        Account, on_delete=models.CASCADE, primary_key=True, related_name="reconciliation", verbose_name=_("account")
    )
    checked_until = models.DateTimeField(_("checked until"), null=True, blank=True)
    account_timezone = models.CharField(_("UIS account time zone"), max_length=64, blank=True)
    # Set when the token was refused: no run until a new token is set (services clears it).
    stopped_at = models.DateTimeField(_("stopped"), null=True, blank=True)
    last_run_at = models.DateTimeField(_("last run"), null=True, blank=True)
    last_outcome = models.CharField(_("outcome"), max_length=16, choices=Outcome.choices, blank=True)
    last_error = models.TextField(_("error"), blank=True)  # English, like delivery errors; never the token
    last_checked = models.PositiveIntegerField(_("checked"), default=0)
    last_already_received = models.PositiveIntegerField(_("already received"), default=0)
    last_recovered = models.PositiveIntegerField(_("recovered"), default=0)
    day_limit = models.PositiveIntegerField(_("day allowance"), null=True, blank=True)
    day_remaining = models.PositiveIntegerField(_("day allowance left"), null=True, blank=True)
    limits_at = models.DateTimeField(_("allowance reported"), null=True, blank=True)
    # When UIS said the day's allowance renews: until then the next run starts from day_remaining.
    day_resets_at = models.DateTimeField(null=True, blank=True, editable=False)
    # Held by a run, renewed at each call to the Data API; a run that died holds it until then.
    lease_until = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        verbose_name = _("reconciliation")
        verbose_name_plural = _("reconciliations")

    def __str__(self) -> str:
        return f"{_('reconciliation')} #{self.pk}"


class AlertState(models.Model):
    """What the managers of an integration's account were last told (notifications.alerts): `ok`,
    `off`, or a kind of trouble that is mailed (`paused`, `failing`). Beat's check mails only
    when the state it finds differs from this, so each change is told once."""

    integration = models.OneToOneField(
        MindboxIntegration,
        on_delete=models.CASCADE,
        primary_key=True,
        related_name="alert_state",
        verbose_name=_("integration"),
    )
    state = models.CharField(_("state"), max_length=32)
    changed_at = models.DateTimeField(_("changed"), default=timezone.now)

    class Meta:
        verbose_name = _("alert state")
        verbose_name_plural = _("alert states")

    def __str__(self) -> str:
        return f"{self.integration_id}: {self.state}"


class DigestSent(models.Model):
    """The days whose digest of trouble went out (ALERT_DIGEST_HOUR): the unique day lets one
    beat run of many send it."""

    day = models.DateField(_("day"), unique=True)
    sent_at = models.DateTimeField(_("sent"), default=timezone.now)

    class Meta:
        verbose_name = _("digest sent")
        verbose_name_plural = _("digests sent")

    def __str__(self) -> str:
        return str(self.day)


class HourlyStats(models.Model):
    """One integration's hour, counted by the roll-up (notifications.rollup) from the raw rows
    while they are still there: the charts read these, never the raw rows, and they outlive
    RETENTION_DAYS. Only hours with something to count have a row."""

    integration = models.ForeignKey(
        MindboxIntegration, on_delete=models.CASCADE, related_name="hourly_stats", verbose_name=_("integration")
    )
    hour = models.DateTimeField(_("hour"))  # its start, on the hour in UTC
    events = models.PositiveIntegerField(_("events received"), default=0)
    delivered = models.PositiveIntegerField(_("delivered"), default=0)  # deliveries finished delivered
    retried = models.PositiveIntegerField(_("retried"), default=0)  # attempts that will be tried again
    failed = models.PositiveIntegerField(_("failed"), default=0)  # deliveries failed for good
    # Requests to Mindbox: how many, their total and longest time, and how many fell in each
    # of hourly.LATENCY_BOUNDS_MS (the last: longer than all), summable across hours.
    latency_count = models.PositiveIntegerField(default=0)
    latency_sum_ms = models.BigIntegerField(default=0)
    latency_max_ms = models.PositiveIntegerField(default=0)
    latency_buckets = models.JSONField(default=list)
    rolled_at = models.DateTimeField()  # the roll-up run that wrote it

    class Meta:
        verbose_name = _("hourly statistics")
        verbose_name_plural = _("hourly statistics")
        constraints = [models.UniqueConstraint(fields=["integration", "hour"], name="hourly_stats_integration_hour")]
        indexes = [models.Index(fields=["hour"], name="hourly_stats_hour")]

    def __str__(self) -> str:
        return f"{self.integration_id} {self.hour:%Y-%m-%d %H:00}"


class HourlyRollup(models.Model):
    """The roll-up's own state, one row: the hour of its last run, where the next one starts
    counting again (so hours missed while beat was down are counted when it is back). Its row
    lock keeps two runs from overlapping."""

    last_run_hour = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"hourly roll-up ({self.last_run_hour})"


class BulkJob(models.Model):
    """A resend or re-render of many deliveries, done by a worker in chunks (notifications.bulk_jobs),
    never inside a web request. The row is the job's state: its deliveries in the order they go,
    how far it got (a worker killed mid-way resumes from `done_count`), a cancel flag read
    between chunks, and what became of them."""

    class Kind(models.TextChoices):
        RESEND = "resend", _("resend selected deliveries")
        RERENDER = "rerender", _("re-render selected deliveries")
        RESEND_FAILED_SINCE = "resend_failed_since", _("resend failed deliveries since a time")

    class Status(models.TextChoices):
        QUEUED = "queued", pgettext_lazy("bulk job status", "queued")
        RUNNING = "running", pgettext_lazy("bulk job status", "running")
        DONE = "done", pgettext_lazy("bulk job status", "done")
        CANCELLED = "cancelled", pgettext_lazy("bulk job status", "cancelled")
        FAILED = "failed", pgettext_lazy("bulk job status", "failed")

    UNFINISHED = (Status.QUEUED, Status.RUNNING)

    kind = models.CharField(_("kind"), max_length=32, choices=Kind.choices)
    # One integration per job, so that tenancy has one account to go by (a selection across
    # integrations becomes one job for each).
    integration = models.ForeignKey(
        MindboxIntegration, on_delete=models.CASCADE, related_name="bulk_jobs", verbose_name=_("integration")
    )
    # What was asked: {"since": ISO time, "until": ISO time} for RESEND_FAILED_SINCE.
    parameters = models.JSONField(_("parameters"), default=dict, blank=True)
    # The deliveries, oldest first: a selection's when it is submitted, a "since" job's when it
    # starts (ids_fixed). Chunks are taken from here by position.
    delivery_ids = models.JSONField(default=list, blank=True, editable=False)
    ids_fixed = models.BooleanField(default=False, editable=False)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("requested by"),
    )
    requested_by_label = models.CharField(_("requested by"), max_length=150)
    status = models.CharField(_("status"), max_length=16, choices=Status.choices, default=Status.QUEUED)
    total = models.PositiveIntegerField(_("deliveries"), default=0)
    done_count = models.PositiveIntegerField(_("deliveries done"), default=0)
    skipped = models.PositiveIntegerField(_("skipped"), default=0)
    # {"queued": n, "held": n, "errors": n, "error_samples": [[delivery id, {"text", "code", "params"}], ...]}
    summary = models.JSONField(_("summary"), default=dict, blank=True)
    error = models.TextField(_("error"), blank=True)  # why it failed, English, as logged
    cancel_requested_at = models.DateTimeField(_("cancel requested"), null=True, blank=True)
    cancelled_by_label = models.CharField(_("cancelled by"), max_length=150, blank=True)
    created_at = models.DateTimeField(_("created"), default=timezone.now, db_index=True)
    started_at = models.DateTimeField(_("started"), null=True, blank=True)
    # Written with every chunk: a running job silent for long lost its worker (bulk_jobs.resume_stalled).
    progress_at = models.DateTimeField(_("last progress"), null=True, blank=True)
    # Times it was queued again with no progress since the last: past bulk_jobs.MAX_RESUMES, it
    # fails instead (an error that comes back every time would otherwise keep it running forever).
    resumes = models.PositiveIntegerField(default=0, editable=False)
    finished_at = models.DateTimeField(_("finished"), null=True, blank=True)

    class Meta:
        verbose_name = _("bulk job")
        verbose_name_plural = _("bulk jobs")
        ordering = ["-created_at", "-pk"]

    def __str__(self) -> str:
        return f"{_('bulk job')} #{self.pk}"

    @property
    def finished(self) -> bool:
        return self.status not in self.UNFINISHED
