"""Admin for what account managers configure. The flow mirrors UIS: turn the integration on,
Save, and only then do the UIS set-up block and the operations appear."""

import time
from datetime import timedelta
from typing import Any
from urllib.parse import urlencode

from django.conf import settings
from django.contrib import admin, messages
from django.contrib.admin.views.main import ChangeList
from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.loader import render_to_string
from django.urls import URLPattern, path, reverse
from django.utils import formats, timezone
from django.utils.decorators import method_decorator
from django.utils.html import format_html
from django.utils.safestring import SafeString
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_POST

from mindbox_integration import audit, crypto, selectors, services
from mindbox_integration.admin_base import (
    AuditedModelAdmin,
    PortalModelAdmin,
    PortalStackedInline,
    PortalTabularInline,
    VisibleAccountFilter,
)
from mindbox_integration.admin_editor import editor_urls
from mindbox_integration.forms import AccountForm, MindboxIntegrationForm, NotificationForm, OperationInlineForm
from mindbox_integration.models import Account, ConfigChange, MindboxIntegration, Notification, Operation
from notifications import attention, breaker
from notifications import selectors as delivery_selectors
from notifications.admin import ACCOUNT_LOOKUP, changelist_url
from notifications.admin_bulk_jobs import may_resend
from notifications.models import Delivery
from notifications.tasks import enqueue_replays

SENDING_WORDS = {
    attention.SENDING_PAUSED: _("paused"),
    attention.SENDING_BACKING_OFF: _("backing off"),
    attention.SENDING_ON: _("sending"),
    attention.SENDING_OFF: _("off"),
}
ISSUED_TOKEN_SHOWN_FOR = 600  # seconds: after that the manager issues a new token instead
RECENT_CHANGES = 20  # on the account page; the rest in the changes list it links to


def show_token_once(request: HttpRequest, account: Account, token: str) -> None:
    """The integration page shows the whole inbound URLs once, within ISSUED_TOKEN_SHOWN_FOR.
    Until then the token waits in the session encrypted (the database keeps only its hash)."""
    request.session[f"issued-token-{account.pk}"] = {"token": crypto.encrypt(token), "at": time.time()}


def take_issued_token(request: HttpRequest, account: Account) -> str | None:
    issued = request.session.pop(f"issued-token-{account.pk}", None)
    if not isinstance(issued, dict) or time.time() - float(issued.get("at", 0)) > ISSUED_TOKEN_SHOWN_FOR:
        return None
    try:
        return crypto.decrypt(str(issued.get("token", "")))
    except crypto.KeyUnavailable:
        return None


def _integration_url(integration: MindboxIntegration) -> str:
    return reverse("admin:mindbox_integration_mindboxintegration_change", args=[integration.pk])


def delivery_log_url(request: HttpRequest, account_id: int) -> str:
    """The delivery log filtered to the account, for those who may read it."""
    if not request.user.has_perm("notifications.view_delivery"):
        return ""
    return changelist_url(**{ACCOUNT_LOOKUP: account_id})


@admin.register(Account)
class AccountAdmin(AuditedModelAdmin):
    form = AccountForm
    change_form_template = "admin/mindbox_integration/account/change_form.html"
    list_display = ["name", "uis_app_id", "integration_state"]
    search_fields = ["name", "uis_app_id"]
    readonly_fields = ["integration_link", "created_at", "data_api_token_state"]
    filter_horizontal = ["managers"]

    def get_form(self, request: HttpRequest, obj: Account | None = None, change: bool = False, **kwargs: Any) -> Any:
        help_texts = {
            "uis_app_id": _(
                "The id of the client's account in UIS: UIS sends it in notifications as {{app_id}}. "
                "It names the account here and in configuration files."
            )
        }
        return super().get_form(request, obj, change, help_texts=help_texts, **kwargs)

    def get_fields(self, request: HttpRequest, obj: Account | None = None) -> tuple[str, ...]:
        if obj is None:
            fields: tuple[str, ...] = ("name", "uis_app_id")
        else:
            token = (
                ("new_data_api_token", "clear_data_api_token") if obj.has_data_api_token else ("new_data_api_token",)
            )
            fields = (
                "name",
                "uis_app_id",
                "integration_link",
                "created_at",
                "data_api_url",
                "data_api_token_state",
                *token,
            )
        # Who manages an account is the superusers' decision; a field left out of the form is
        # also ignored when posted.
        return (*fields, "managers") if request.user.is_superuser else fields

    def get_readonly_fields(self, request: HttpRequest, obj: Account | None = None) -> list[str]:
        fields = list(super().get_readonly_fields(request, obj))
        # import_integrations finds accounts by their UIS app id: a manager who could change it
        # could take over the next client imported with that id (its key, its operations).
        if obj is not None and not request.user.is_superuser:
            fields.append("uis_app_id")
        return fields

    def has_add_permission(self, request: HttpRequest) -> bool:
        # A new account would be nobody's: only superusers create accounts and assign them.
        return request.user.is_superuser and super().has_add_permission(request)

    def formfield_for_manytomany(self, db_field: Any, request: HttpRequest, **kwargs: Any) -> Any:
        if db_field.name == "managers":
            kwargs["queryset"] = get_user_model().objects.filter(is_staff=True, is_active=True).order_by("username")
        return super().formfield_for_manytomany(db_field, request, **kwargs)

    @admin.display(description=_("UIS Data API token"))
    def data_api_token_state(self, obj: Account) -> str:
        return gettext("set (hidden)") if obj.has_data_api_token else gettext("not set")

    @method_decorator(sensitive_post_parameters("new_data_api_token"))
    def changeform_view(self, *args: Any, **kwargs: Any) -> HttpResponse:
        return super().changeform_view(*args, **kwargs)

    @admin.display(description=_("Mindbox integration"))
    def integration_state(self, obj: Account) -> str:
        integration = getattr(obj, "mindbox", None)
        return gettext("on") if integration and integration.active else gettext("off")

    @admin.display(description=_("Mindbox integration"))
    def integration_link(self, obj: Account) -> str:
        integration = services.ensure_integration(account=obj)
        state = gettext("on") if integration.active else gettext("off")
        return format_html('<a href="{}">{} ({})</a>', _integration_url(integration), gettext("Open settings"), state)

    def change_view(
        self, request: HttpRequest, object_id: str, form_url: str = "", extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        account = self.get_object(request, object_id)
        context = dict(extra_context or {})
        if account is not None:
            context["delivery_log_url"] = delivery_log_url(request, account.pk)
            # The guided flow starts here: the integration's state, and the way to its settings.
            integration = services.ensure_integration(account=account)
            context["glance"] = delivery_selectors.integration_glance(integration_id=integration.pk, now=timezone.now())
            context["integration_url"] = _integration_url(integration)
        if account is not None and request.user.has_perm("mindbox_integration.view_configchange"):
            context["config_changes"] = [
                {"change": change, "fields": audit.describe(change)}
                for change in selectors.recent_changes(account=account, limit=RECENT_CHANGES)
            ]
            context["config_changes_url"] = (
                f"{reverse('admin:mindbox_integration_configchange_changelist')}?"
                f"{urlencode({'account__id__exact': account.pk})}"
            )
        return super().change_view(request, object_id, form_url, context)

    def save_model(self, request: HttpRequest, obj: Account, form: Any, change: bool) -> None:
        token = None if change else services.assign_new_token(account=obj)
        super().save_model(request, obj, form, change)
        services.ensure_integration(account=obj)
        if token:
            show_token_once(request, obj, token)

    def response_add(self, request: HttpRequest, obj: Account, post_url_continue: str | None = None) -> HttpResponse:
        if "_addanother" in request.POST or "_continue" in request.POST:
            return super().response_add(request, obj, post_url_continue)
        messages.success(request, gettext("Account created. Turn the Mindbox integration on and press Save."))
        return HttpResponseRedirect(_integration_url(services.ensure_integration(account=obj)))


class OperationInline(PortalTabularInline):
    model = Operation
    form = OperationInlineForm
    extra = 1
    show_change_link = True
    fields = ["name", "notification_count"]
    readonly_fields = ["notification_count"]

    @admin.display(description=_("notifications"))
    def notification_count(self, obj: Operation) -> int:
        return obj.notifications.count() if obj.pk else 0


def more_held_follow() -> str:
    return gettext("More held deliveries are queued in the background, oldest first, within %(seconds)d seconds.") % {
        "seconds": int(settings.CELERY_BEAT_SCHEDULE["sweep-due-deliveries"]["schedule"])
    }


class IntegrationChangeList(ChangeList):
    """The integrations list: its rows carry the health columns, annotations it sorts by in its
    one query. Only here: the change page, the autocomplete and ModelAdmin.get_queryset read the
    plain integrations, without the subqueries."""

    def get_queryset(self, request: HttpRequest, exclude_parameters: list[str | None] | None = None) -> "QuerySet[Any]":
        plain = self.root_queryset
        self.root_queryset = attention.with_health_columns(plain, now=timezone.now())
        try:
            return super().get_queryset(request, exclude_parameters)
        finally:
            self.root_queryset = plain  # its count of all rows stays plain


@admin.register(MindboxIntegration)
class MindboxIntegrationAdmin(AuditedModelAdmin):
    form = MindboxIntegrationForm
    change_form_template = "admin/mindbox_integration/mindboxintegration/change_form.html"
    list_display = ["account", "active", "sending", "failures_24h", "oldest_due", "updated_at"]
    list_filter = ["active"]
    search_fields = ["account__name", "account__uis_app_id"]
    ordering = ["account__name", "pk"]  # also orders the autocomplete's pages and the choice lists
    readonly_fields = ["secret_key_state"]

    def get_changelist(self, request: HttpRequest, **kwargs: Any) -> type[ChangeList]:
        return IntegrationChangeList

    @admin.display(description=_("Sending"), ordering="sending_rank")
    def sending(self, obj: MindboxIntegration) -> str:
        return str(SENDING_WORDS[getattr(obj, "sending_rank", attention.SENDING_ON)])

    @admin.display(description=_("failures in 24 h"), ordering="failures_24h")
    def failures_24h(self, obj: MindboxIntegration) -> int:
        return int(getattr(obj, "failures_24h", 0))

    @admin.display(description=_("oldest due delivery"), ordering="oldest_due_at", empty_value="—")
    def oldest_due(self, obj: MindboxIntegration) -> str | None:
        due = getattr(obj, "oldest_due_at", None)
        return formats.date_format(timezone.localtime(due), "DATETIME_FORMAT") if due else None

    def get_fields(self, request: HttpRequest, obj: MindboxIntegration | None = None) -> tuple[str, ...]:
        key = (
            ("secret_key_state", "new_secret_key", "clear_secret_key")
            if obj and obj.has_secret_key
            else ("secret_key_state", "new_secret_key")
        )
        return ("account", "active", *key, "send_rate_limit")

    def get_readonly_fields(self, request: HttpRequest, obj: MindboxIntegration | None = None) -> list[str]:
        return ["account", "secret_key_state"] if obj else ["secret_key_state"]

    @admin.display(description=_("secret key"))
    def secret_key_state(self, obj: MindboxIntegration) -> str:
        return gettext("set (hidden)") if obj.has_secret_key else gettext("not set")

    @method_decorator(sensitive_post_parameters("new_secret_key"))
    def changeform_view(self, *args: Any, **kwargs: Any) -> HttpResponse:
        return super().changeform_view(*args, **kwargs)

    def get_inlines(self, request: HttpRequest, obj: MindboxIntegration | None) -> list[type]:
        return [OperationInline] if obj and obj.active else []

    def change_view(
        self, request: HttpRequest, object_id: str, form_url: str = "", extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        integration = self.get_object(request, object_id)
        context = dict(extra_context or {})
        if integration is not None and integration.active:
            base_url = settings.PUBLIC_BASE_URL or request.build_absolute_uri("/")
            # Taken from the session only when the page is shown, not when a POST is handled.
            token = take_issued_token(request, integration.account) if request.method == "GET" else None
            context["uis_setup"] = selectors.uis_setup(base_url=base_url, account=integration.account, token=token)
            context["site_script"] = selectors.site_script(base_url=base_url, account=integration.account)
            context["site_script"]["rotate_url"] = (
                reverse("admin:mindbox_integration_mindboxintegration_rotate_site_key", args=[integration.pk])
                if self.has_change_permission(request, integration)
                else ""
            )
            context["token"] = {
                "just_issued": bool(token),
                "previous_valid_until": integration.account.previous_token_valid_until
                if integration.account.previous_token_valid_until
                and integration.account.previous_token_valid_until > timezone.now()
                else None,
                "rotate_url": reverse(
                    "admin:mindbox_integration_mindboxintegration_rotate_token", args=[integration.pk]
                )
                if self.has_change_permission(request, integration)
                else "",
                "grace_hours": settings.INBOUND_TOKEN_GRACE_HOURS,
            }
        if integration is not None:
            context["delivery_log_url"] = delivery_log_url(request, integration.account_id)
            context["sending"] = self.sending_state(request, integration)
            context["glance"] = delivery_selectors.integration_glance(integration_id=integration.pk, now=timezone.now())
        return super().change_view(request, object_id, form_url, context)

    def sending_state(self, request: HttpRequest, integration: MindboxIntegration) -> dict[str, Any]:
        """What the "Sending" block shows: pause, back-off, what waits or failed, and the ways out."""
        health = delivery_selectors.integration_health(integration_id=integration.pk)
        counts = delivery_selectors.delivery_counts(integration_id=integration.pk)
        paused = health is not None and health.paused_at is not None
        backing_off = health is not None and health.backoff_until is not None and health.backoff_until > timezone.now()
        # Resuming also clears a back-off and releases what is held, so it is offered for those too.
        resumable = paused or backing_off or counts[Delivery.Status.HELD] > 0
        return {
            "health": health,
            "paused": paused,
            "backing_off": backing_off,
            "held": counts[Delivery.Status.HELD],
            "pending": counts[Delivery.Status.PENDING],
            "failed": counts[Delivery.Status.FAILED],
            "failed_url": changelist_url(
                status__exact=Delivery.Status.FAILED.value, **{ACCOUNT_LOOKUP: integration.account_id}
            ),
            "resend_failed_url": (
                f"{reverse('admin:notifications_delivery_resend_failed')}?{urlencode({'integration': integration.pk})}"
                if may_resend(request)
                else ""
            ),
            "resume_url": (
                reverse("admin:mindbox_integration_mindboxintegration_resume", args=[integration.pk])
                if resumable and self.has_change_permission(request, integration)
                else ""
            ),
        }

    def get_urls(self) -> list[URLPattern]:
        # Before the defaults, whose "<path:object_id>/" would take this path too.
        resume = self.admin_site.admin_view(require_POST(self.resume_view))
        rotate = self.admin_site.admin_view(require_POST(self.rotate_token_view))
        rotate_site_key = self.admin_site.admin_view(require_POST(self.rotate_site_key_view))
        own = [
            path("<path:object_id>/resume/", resume, name="mindbox_integration_mindboxintegration_resume"),
            path("<path:object_id>/rotate-token/", rotate, name="mindbox_integration_mindboxintegration_rotate_token"),
            path(
                "<path:object_id>/rotate-site-key/",
                rotate_site_key,
                name="mindbox_integration_mindboxintegration_rotate_site_key",
            ),
        ]
        return own + super().get_urls()

    def resume_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        if not self.has_change_permission(request):
            raise PermissionDenied
        integration = self.get_object(request, object_id)
        if integration is None:
            raise Http404
        # A chunk at most inside the request; the sweeper releases the rest within its interval.
        limit = settings.BULK_JOB_CHUNK_SIZE
        queued = breaker.resume(integration_id=integration.pk, enqueue=enqueue_replays, limit=limit)
        if queued >= limit and breaker.has_held(integration_id=integration.pk):
            messages.info(request, more_held_follow())
        if integration.active:
            messages.success(
                request,
                ngettext(
                    "Sending resumed: %(count)d held delivery queued.",
                    "Sending resumed: %(count)d held deliveries queued.",
                    queued,
                )
                % {"count": queued},
            )
        else:
            messages.warning(
                request,
                gettext(
                    "Sending resumed, but the integration is switched off: "
                    "its held deliveries go once it is switched on."
                ),
            )
        return HttpResponseRedirect(_integration_url(integration))

    def rotate_site_key_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        integration = self.get_object(request, object_id)
        if integration is None:
            raise Http404
        if not self.has_change_permission(request, integration):
            raise PermissionDenied
        services.rotate_site_key(account=integration.account, actor=request.user)
        messages.warning(
            request,
            gettext("New site key: the old one stops now. Put the new site script on the client's site."),
        )
        return HttpResponseRedirect(_integration_url(integration))

    def rotate_token_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        """POST mode=grace: a new token, the old one valid for INBOUND_TOKEN_GRACE_HOURS;
        mode=now: a new token, the old one (and any earlier one in its grace) stops at once;
        mode=revoke-previous: only the token replaced by the last rotation stops now."""
        integration = self.get_object(request, object_id)
        if integration is None:
            raise Http404
        if not self.has_change_permission(request, integration):
            raise PermissionDenied
        account = integration.account
        mode = request.POST.get("mode")
        if mode == "revoke-previous":
            services.revoke_previous_token(account=account, actor=request.user)
            messages.success(request, gettext("The previous inbound token no longer works."))
        elif mode in ("grace", "now"):
            grace = None if mode == "grace" else timedelta(0)
            token = services.rotate_inbound_token(account=account, actor=request.user, grace=grace)
            show_token_once(request, account, token)
            messages.warning(
                request,
                gettext("New inbound token: copy the inbound URLs into UIS now, they are shown whole only this once."),
            )
        else:
            return HttpResponse(status=400)
        return HttpResponseRedirect(_integration_url(integration))

    def save_model(self, request: HttpRequest, obj: MindboxIntegration, form: Any, change: bool) -> None:
        super().save_model(request, obj, form, change)
        if change and obj.active and "active" in form.changed_data:
            # Switched on: what it held goes now rather than at the sweeper's next run.
            limit = settings.BULK_JOB_CHUNK_SIZE  # the rest: the sweeper, in a worker
            queued = breaker.switched_on(integration_id=obj.pk, enqueue=enqueue_replays, limit=limit)
            if queued >= limit and breaker.has_held(integration_id=obj.pk):
                messages.info(request, more_held_follow())
            if queued:
                messages.info(
                    request,
                    ngettext(
                        "%(count)d held delivery queued.",
                        "%(count)d held deliveries queued.",
                        queued,
                    )
                    % {"count": queued},
                )

    def response_change(self, request: HttpRequest, obj: MindboxIntegration) -> HttpResponse:
        # Like UIS: Save keeps the manager on the page, where the further settings now show.
        if "_save" in request.POST:
            messages.success(request, gettext("Saved."))
            return HttpResponseRedirect(request.path)
        return super().response_change(request, obj)

    def response_add(
        self, request: HttpRequest, obj: MindboxIntegration, post_url_continue: str | None = None
    ) -> HttpResponse:
        if "_save" in request.POST:
            return HttpResponseRedirect(_integration_url(obj))
        return super().response_add(request, obj, post_url_continue)


def _say_notes(request: HttpRequest, form: Any) -> None:
    """What saving a notification put in place of what was typed (deviceUUID's placeholder), and
    what it saved that is likely not what was meant (a filter value that never matches)."""
    for note in getattr(form, "notes", []):
        messages.info(request, note)
    for warning in getattr(form, "warnings", []):
        messages.warning(request, warning)


class NotificationInline(PortalStackedInline):
    model = Notification
    form = NotificationForm
    fields = ["name", "url", "communication_type", "filters", "body", "headers", "active"]

    def get_extra(self, request: HttpRequest, obj: Operation | None = None, **kwargs: Any) -> int:
        """A blank form only for an operation without notifications; else "Add another" makes one."""
        return 0 if obj is not None and obj.notifications.exists() else 1


@admin.register(Operation)
class OperationAdmin(AuditedModelAdmin):
    list_display = ["name", "integration"]
    search_fields = ["name", "integration__account__name"]
    fields = ["integration", "name"]
    inlines = [NotificationInline]
    autocomplete_fields = ["integration"]  # served by /admin/autocomplete/, scoped like every queryset

    def get_readonly_fields(self, request: HttpRequest, obj: Operation | None = None) -> list[str]:
        return ["integration"] if obj else []

    def save_formset(self, request: HttpRequest, form: Any, formset: Any, change: bool) -> None:
        super().save_formset(request, form, formset, change)
        for notification_form in formset.forms:
            _say_notes(request, notification_form)


@admin.register(Notification)
class NotificationAdmin(AuditedModelAdmin):
    form = NotificationForm
    list_display = ["name", "operation", "communication_type", "active"]
    list_filter = ["communication_type", "active"]
    search_fields = ["name", "operation__name", "operation__integration__account__name"]
    autocomplete_fields = ["operation"]  # served by /admin/autocomplete/, scoped like every queryset

    def save_model(self, request: HttpRequest, obj: Notification, form: Any, change: bool) -> None:
        super().save_model(request, obj, form, change)
        _say_notes(request, form)

    def get_urls(self) -> list[URLPattern]:
        # The editor's JSON endpoints (palette, check, preview), before the defaults' "<path:object_id>/".
        return editor_urls(self) + super().get_urls()


@admin.register(ConfigChange)
class ConfigChangeAdmin(PortalModelAdmin):
    """The audit log, read only for everyone: written by mindbox_integration.audit alone."""

    list_display = ["at", "account_label", "actor_label", "object_type", "object_label", "action", "field_changes"]
    list_filter = [("account", VisibleAccountFilter), "action", "object_type"]
    search_fields = ["account_label", "object_label", "actor_label"]
    date_hierarchy = "at"
    fields = readonly_fields = (
        "at",
        "account_label",
        "actor_label",
        "object_type",
        "object_id",
        "object_label",
        "action",
        "field_changes",
    )

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False  # retention (AUDIT_RETENTION_DAYS) alone removes entries

    @admin.display(description=_("changes"))
    def field_changes(self, obj: ConfigChange) -> SafeString:
        return render_to_string(
            "admin/mindbox_integration/configchange/field_changes.html", {"fields": audit.describe(obj)}
        )
