"""What an account manager configures: accounts, their Mindbox integration, its operations
and the notifications under each operation."""

import re
import secrets
from typing import Any, TypeVar

from django.conf import settings
from django.core.validators import MinValueValidator
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from core.mnemonics import CommunicationType


def new_inbound_token() -> str:
    """Kept for migration 0001, which names it; tokens are made by crypto.new_token now."""
    return secrets.token_urlsafe(32)


def new_site_key() -> str:
    """The site script's key: public (it stands in the client's page), so it only names the account."""
    return secrets.token_urlsafe(18)


SITE_KEY_RE = re.compile(r"^[A-Za-z0-9_-]{16,32}$")  # what new_site_key makes, and what an import may bring


_M = TypeVar("_M", bound=models.Model)


class ConfigQuerySet(models.QuerySet[_M]):
    """The configuration's querysets: their bulk writes, which send no post_save, give the
    configuration a new version stamp too (mindbox_integration.versions does it for the rest)."""

    def update(self, **kwargs: Any) -> int:
        count = super().update(**kwargs)
        if count:
            _bump()
        return count

    def bulk_create(self, *args: Any, **kwargs: Any) -> list[_M]:
        created = super().bulk_create(*args, **kwargs)
        if created:
            _bump()
        return created

    def bulk_update(self, *args: Any, **kwargs: Any) -> int:
        count = super().bulk_update(*args, **kwargs)
        if count:
            _bump()
        return count


def _bump() -> None:
    from mindbox_integration.versions import bump  # versions reads these models

    bump()


class Account(models.Model):
    """A UIS client account."""

    name = models.CharField(_("name"), max_length=200)
    uis_app_id = models.CharField(_("UIS app id"), max_length=32, unique=True)
    # When uis_app_id last changed (never: null). import_integrations finds accounts by that id, so
    # a file written before the change would merge its entry into an account it did not mean.
    uis_app_id_changed_at = models.DateTimeField(null=True, blank=True, editable=False)
    # The inbound token itself is shown once and never stored: only its SHA-256 (crypto.token_hash).
    inbound_token_hash = models.CharField(max_length=64, unique=True, editable=False)
    inbound_token_hint = models.CharField(_("inbound token"), max_length=16, editable=False)
    # After a rotation the previous token works until then, so UIS can be re-pointed calmly.
    previous_token_hash = models.CharField(max_length=64, blank=True, editable=False, db_index=True)
    previous_token_valid_until = models.DateTimeField(null=True, blank=True, editable=False)
    # Names the account to the site script's endpoint; public, unlike the inbound token.
    site_key = models.CharField(_("site script key"), max_length=32, unique=True, default=new_site_key, editable=False)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    # UIS's Data API, for reconciliation (notifications.reconcile): its URL (empty: UIS's own,
    # settings.UIS_DATA_API_DEFAULT_URL) and the access token, Fernet-encrypted like the Mindbox
    # key and read only by services.data_api_token. No token: the account is not reconciled.
    data_api_url = models.CharField(_("UIS Data API URL"), max_length=300, blank=True)
    data_api_token_encrypted = models.TextField(blank=True, editable=False)
    # Staff users who see and change this account and everything under it (tenancy.py);
    # superusers see every account whether listed here or not.
    managers = models.ManyToManyField(
        settings.AUTH_USER_MODEL, blank=True, related_name="managed_accounts", verbose_name=_("account managers")
    )

    objects = ConfigQuerySet.as_manager()

    class Meta:
        verbose_name = _("account")
        verbose_name_plural = _("accounts")
        ordering = ["name"]

    def __str__(self) -> str:
        return f"{self.name} ({self.uis_app_id})"

    def __repr__(self) -> str:
        return f"<Account {self.pk} {self.uis_app_id}>"

    def save(self, *args: Any, **kwargs: Any) -> None:
        """Notes when uis_app_id changes, whoever saves it (admin, services, the shell); a
        queryset's update() is not seen here, and nothing in the portal changes the id that way."""
        update_fields = kwargs.get("update_fields")
        if self.pk is not None and (update_fields is None or "uis_app_id" in update_fields):
            stored = Account.objects.filter(pk=self.pk).values_list("uis_app_id", flat=True).first()
            if stored is not None and stored != self.uis_app_id:
                self.uis_app_id_changed_at = timezone.now()
                if update_fields is not None:
                    kwargs["update_fields"] = {*update_fields, "uis_app_id_changed_at"}
        super().save(*args, **kwargs)

    @property
    def has_data_api_token(self) -> bool:
        return bool(self.data_api_token_encrypted)

    @property
    def data_api_endpoint(self) -> str:
        """The Data API URL this account is reconciled through."""
        return self.data_api_url or settings.UIS_DATA_API_DEFAULT_URL


class MindboxIntegration(models.Model):
    account = models.OneToOneField(Account, on_delete=models.CASCADE, related_name="mindbox", verbose_name=_("account"))
    active = models.BooleanField(_("active"), default=False)
    # Fernet-encrypted (crypto.encrypt); read only by the delivery step, through services.secret_key.
    secret_key_encrypted = models.TextField(blank=True, editable=False)
    send_rate_limit = models.PositiveIntegerField(
        _("requests per second to Mindbox"),
        null=True,
        blank=True,
        validators=[MinValueValidator(1)],
        help_text=_(
            "For all workers together; empty: no limit. Deliveries over the limit wait their turn, "
            "which costs no attempt."
        ),
    )
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    objects = ConfigQuerySet.as_manager()

    class Meta:
        verbose_name = _("Mindbox integration")
        verbose_name_plural = _("Mindbox integrations")

    def __str__(self) -> str:
        return f"Mindbox: {self.account.name}"

    def __repr__(self) -> str:  # never the key
        return f"<MindboxIntegration {self.pk} account={self.account_id} active={self.active}>"

    @property
    def has_secret_key(self) -> bool:
        return bool(self.secret_key_encrypted)


class Operation(models.Model):
    """A Mindbox operation, by its system name (e.g. `Zvonok`)."""

    integration = models.ForeignKey(
        MindboxIntegration, on_delete=models.CASCADE, related_name="operations", verbose_name=_("integration")
    )
    name = models.CharField(_("operation system name"), max_length=200)

    objects = ConfigQuerySet.as_manager()

    class Meta:
        verbose_name = _("operation")
        verbose_name_plural = _("operations")
        ordering = ["name"]
        constraints = [models.UniqueConstraint(fields=["integration", "name"], name="operation_unique_name")]

    def __str__(self) -> str:
        return self.name


class Notification(models.Model):
    """Which UIS events go to an operation, and the body they are rendered into."""

    operation = models.ForeignKey(
        Operation, on_delete=models.CASCADE, related_name="notifications", verbose_name=_("operation")
    )
    name = models.CharField(_("name"), max_length=200)
    url = models.CharField(_("URL"), max_length=2000)
    communication_type = models.CharField(_("communication type"), max_length=32, choices=CommunicationType.choices)
    filters = models.JSONField(_("filter conditions"), default=dict, blank=True)
    body = models.TextField(_("body"))
    # Optional headers an operation's spec may ask for (X-Customer-IP, User-Agent): name -> fixed
    # text or text with mnemonics.
    headers = models.JSONField(_("optional headers"), default=dict, blank=True)
    active = models.BooleanField(_("active"), default=True)

    objects = ConfigQuerySet.as_manager()

    class Meta:
        verbose_name = _("notification")
        verbose_name_plural = _("notifications")
        ordering = ["name"]
        constraints = [models.UniqueConstraint(fields=["operation", "name"], name="notification_unique_name")]

    def __str__(self) -> str:
        return self.name


class ConfigChange(models.Model):
    """One configuration change: who, when, which object, and each field before and after.
    Written by mindbox_integration.audit only; secret fields appear only as "changed"."""

    class Action(models.TextChoices):
        CREATED = "created", pgettext_lazy("audit action", "created")
        CHANGED = "changed", pgettext_lazy("audit action", "changed")
        DELETED = "deleted", pgettext_lazy("audit action", "deleted")
        TOKEN_ROTATED = "token_rotated", _("inbound token rotated")
        TOKEN_REPLACED = "token_replaced", _("inbound token replaced")
        PREVIOUS_TOKEN_REVOKED = "previous_token_revoked", _("previous inbound token revoked")
        TEST_SENT = "test_sent", _("test send to Mindbox")
        BULK_JOB_STARTED = "bulk_job_started", _("bulk job started")
        BULK_JOB_CANCELLED = "bulk_job_cancelled", _("bulk job cancelled")

    class ObjectType(models.TextChoices):
        ACCOUNT = "account", _("account")
        INTEGRATION = "mindboxintegration", _("Mindbox integration")
        OPERATION = "operation", _("operation")
        NOTIFICATION = "notification", _("notification")

    # SET_NULL, not CASCADE: deleting an account is itself a change worth keeping (who did it,
    # and what the account was), so its rows outlive it, named by account_label; with no
    # account they are shown to superusers only (tenancy.scope). AUDIT_RETENTION_DAYS ends them.
    account = models.ForeignKey(
        Account,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("account"),
        db_index=False,  # the (account, -at) index below serves lookups by account
    )
    account_label = models.CharField(_("account"), max_length=250)
    # The user, while it exists; the label says who it was after (or which command it was).
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("user"),
    )
    actor_label = models.CharField(_("who"), max_length=150)
    at = models.DateTimeField(_("when"), default=timezone.now, db_index=True)
    object_type = models.CharField(_("object type"), max_length=32, choices=ObjectType.choices)
    object_id = models.BigIntegerField(_("object id"), null=True, blank=True)
    object_label = models.CharField(_("object"), max_length=250)
    action = models.CharField(_("action"), max_length=32, choices=Action.choices)
    # {field: {"before": value, "after": value}}, or {field: "changed"} for a secret field.
    changes = models.JSONField(_("changes"), default=dict, blank=True)

    class Meta:
        verbose_name = _("configuration change")
        verbose_name_plural = _("configuration changes")
        ordering = ["-at", "-pk"]
        indexes = [models.Index(fields=["account", "-at"], name="configchange_account_at")]

    def __str__(self) -> str:
        return f"{self.get_action_display()}: {self.object_label}"


class ConfigVersion(models.Model):
    """One row (id 1) whose stamp changes with every change of what the inbound endpoint reads
    (integrations, operations, notifications), in the same transaction: each web process caches
    that configuration and compares this stamp, read with the token in one query, on every
    request (mindbox_integration.versions, notifications.plans)."""

    stamp = models.BigIntegerField()

    def __str__(self) -> str:
        return f"{self.stamp:x}"
