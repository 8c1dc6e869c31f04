"""Read-only views of what UIS sent and what became of it, and the dead-letter tools: resend,
re-render, and resend everything an integration failed since a given time. A single delivery's
buttons act at once; a selection or "since" becomes a bulk job (admin_bulk_jobs), done in the
background."""

import json
from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.db.models.fields.related import RelatedField
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import URLPattern, path, reverse
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.html import format_html, format_html_join
from django.utils.text import Truncator
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_POST

from core.rendering import pretty_json
from mindbox_integration import tenancy
from mindbox_integration.admin_base import PortalModelAdmin, PortalTabularInline, VisibleAccountFilter
from mindbox_integration.mindbox import request
from mindbox_integration.models import Account, MindboxIntegration, Notification, Operation
from notifications import bulk_jobs, replay, selectors
from notifications.admin_bulk_jobs import job_url, may_resend, submit_selection
from notifications.date_range import DateRangeFilter
from notifications.error_text import for_people
from notifications.forms import ResendFailedForm
from notifications.models import BulkJob, Delivery, InboundEvent
from notifications.tasks import enqueue_replays, start_bulk_job

# The account filter's query parameter: the account and integration pages link to the log with it.
ACCOUNT_LOOKUP = "event__account__id__exact"
ERRORS_LISTED = 10  # a re-render of hundreds must not flood the page with messages
LAST_ERROR_CHARS = 80


class ReadOnlyAdmin(PortalModelAdmin):
    class Media:
        css = {"all": ["notifications/date_range.css"]}

    def has_add_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


class LastErrorText:
    """The stored error (English, as logged) in the admin's language."""

    @admin.display(description=_("last error"))
    def last_error_text(self, obj: Delivery) -> str:
        return for_people(selectors.delivery_error(obj))


class DeliveryInline(LastErrorText, PortalTabularInline):
    model = Delivery
    fields = readonly_fields = ("delivery", "notification", "status", "attempts", "next_attempt_at", "last_error_text")
    extra = 0
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    # A link of its own rather than Django's change link, which says "Change" to whoever may
    # resend: a delivery is only ever viewed.
    @admin.display(description=_("delivery"))
    def delivery(self, obj: Delivery) -> str:
        return format_html('<a href="{}">{}</a>', reverse("admin:notifications_delivery_change", args=[obj.pk]), obj)


class EventValuesSearchAdmin(ReadOnlyAdmin):
    """The search also finds what the event named: the customer's phone (any formatting),
    e-mail, call session or communication id (selectors.naming), besides search_fields."""

    event_values_path: str  # the lookup path from the listed model to InboundEvent.values

    @admin.display(description="№", ordering="pk")
    def number(self, obj: Any) -> int:
        return int(obj.pk)

    def get_search_results(
        self, request: HttpRequest, queryset: "QuerySet[Any]", search_term: str
    ) -> tuple["QuerySet[Any]", bool]:
        # `queryset` is already scoped by tenancy.
        found, may_have_duplicates = super().get_search_results(request, queryset, search_term)
        condition = selectors.naming(search_term, values=self.event_values_path)
        if condition is not None:
            found = found | queryset.filter(condition)
        return found, may_have_duplicates


class MadeNoDeliveryFilter(admin.SimpleListFilter):
    """Events that made no delivery carry a note saying why; this finds them."""

    title = _("made no delivery")
    parameter_name = "made_no_delivery"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, Any]]:
        return [("yes", _("Yes")), ("no", _("No"))]

    def queryset(self, request: HttpRequest, queryset: "QuerySet[Any]") -> "QuerySet[Any]":
        if self.value() not in ("yes", "no"):
            return queryset
        return selectors.events_by_outcome(events=queryset, made_delivery=self.value() == "no")


class RecoveredFilter(admin.SimpleListFilter):
    """Events reconciliation created because UIS never posted them (notifications.reconcile)."""

    title = _("recovered through the Data API")
    parameter_name = "recovered"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, Any]]:
        return [("yes", _("Yes")), ("no", _("No"))]

    def queryset(self, request: HttpRequest, queryset: "QuerySet[Any]") -> "QuerySet[Any]":
        if self.value() == "yes":
            return queryset.exclude(recovered_from="")
        if self.value() == "no":
            return queryset.filter(recovered_from="")
        return queryset


@admin.register(InboundEvent)
class InboundEventAdmin(EventValuesSearchAdmin):
    list_display = ["number", "account", "communication_type", "identity", "note", "received_at"]
    list_filter = [
        ("account", VisibleAccountFilter),
        "communication_type",
        MadeNoDeliveryFilter,
        RecoveredFilter,
        ("received_at", DateRangeFilter),
    ]
    search_fields = ["identity", "account__name", "account__uis_app_id"]
    search_help_text = _("A phone number, e-mail, call session id or communication id of the event; or an account")
    event_values_path = "values"
    list_select_related = ["account"]
    fields = readonly_fields = (
        "account",
        "communication_type",
        "identity",
        "received_at",
        "recovered_from",
        "note",
        "same_call",
        "values",
        "raw",
    )
    inlines = [DeliveryInline]

    @admin.display(description=_("same call"))
    def same_call(self, obj: InboundEvent) -> str:
        """Other UIS event types of this call session: a UIS notification subscribed to several
        posts the same customer once for each."""
        others = selectors.same_call_events(event=obj)
        if not others:
            return "—"
        links = format_html_join(
            ", ",
            '<a href="{}">№{} {}</a>',
            (
                (reverse("admin:notifications_inboundevent_change", args=[o.pk]), o.pk, o.identity.rsplit(":", 1)[-1])
                for o in others
            ),
        )
        return format_html(
            '<span class="same-call">{} {}</span>',
            ngettext(
                "This call also brought %(count)d event of another type:",
                "This call also brought %(count)d events of other types:",
                len(others),
            )
            % {"count": len(others)},
            links,
        ) + format_html(
            '<p class="help">{}</p>',
            gettext(
                "In UIS, subscribe the notification to one event only («Завершение звонка»), or the customer "
                "reaches Mindbox once for each."
            ),
        )


class OperationListFilter(admin.RelatedFieldListFilter):
    """Deliveries by operation: only the operations of the user's accounts, and of the chosen
    account alone once one is chosen. Names repeat across accounts, so each says its account."""

    def field_choices(self, field: "RelatedField[Any, Any]", request: HttpRequest, model_admin: Any) -> list[Any]:
        chosen = request.GET.get(ACCOUNT_LOOKUP, "")
        operations = selectors.operations_by_account(account_id=int(chosen) if chosen.isdigit() else None)
        return [
            (operation.pk, f"{operation.name} ({operation.integration.account.name})")
            for operation in tenancy.scope(operations, user=request.user)
        ]


def scoped_integrations(request: HttpRequest) -> "QuerySet[MindboxIntegration]":
    return tenancy.scope(selectors.integrations_by_name(), user=request.user)


def report_resend(request: HttpRequest, result: replay.Replayed) -> None:
    if result.queued:
        count = len(result.queued)
        messages.success(
            request,
            ngettext(
                "%(count)d delivery queued to be sent again.", "%(count)d deliveries queued to be sent again.", count
            )
            % {"count": count},
        )
    if result.skipped:
        messages.warning(
            request,
            ngettext(
                "%(count)d delivery skipped: only failed deliveries whose notification still exists are resent.",
                "%(count)d deliveries skipped: only failed deliveries whose notification still exists are resent.",
                result.skipped,
            )
            % {"count": result.skipped},
        )


def report_rerender(request: HttpRequest, result: replay.Replayed) -> None:
    if result.queued:
        count = len(result.queued)
        messages.success(
            request,
            ngettext(
                "%(count)d delivery re-rendered and queued to be sent again.",
                "%(count)d deliveries re-rendered and queued to be sent again.",
                count,
            )
            % {"count": count},
        )
    if result.held:
        count = len(result.held)
        messages.info(
            request,
            ngettext(
                "%(count)d held delivery re-rendered: it is sent once its integration may send again.",
                "%(count)d held deliveries re-rendered: they are sent once their integration may send again.",
                count,
            )
            % {"count": count},
        )
    if result.skipped:
        messages.warning(
            request,
            ngettext(
                "%(count)d delivery skipped: only failed or held deliveries whose notification still exists are "
                "re-rendered.",
                "%(count)d deliveries skipped: only failed or held deliveries whose notification still exists are "
                "re-rendered.",
                result.skipped,
            )
            % {"count": result.skipped},
        )
    for delivery_id, error in list(result.errors.items())[:ERRORS_LISTED]:
        messages.error(
            request,
            gettext("Delivery #%(id)d still cannot be rendered (%(error)s): fix its notification and re-render again.")
            % {"id": delivery_id, "error": for_people(error)},
        )
    more = len(result.errors) - ERRORS_LISTED
    if more > 0:
        messages.error(
            request,
            ngettext(
                "%(count)d more delivery cannot be rendered either.",
                "%(count)d more deliveries cannot be rendered either.",
                more,
            )
            % {"count": more},
        )


def changelist_url(**params: object) -> str:
    return f"{reverse('admin:notifications_delivery_changelist')}?{urlencode(params)}"


DELIVERY_FIELDS = (
    "status",
    "account",
    "operation",
    "notification",
    "attempts",
    "next_attempt_at",
    "transaction_id",
    "last_error_text",
    "created_at",
    "finished_at",
)
EVENT_FIELDS = ("event", "event_type", "event_identity", "event_received_at", "event_values")
REQUEST_FIELDS = ("request_sent", "url", "body")


@admin.register(Delivery)
class DeliveryAdmin(LastErrorText, EventValuesSearchAdmin):
    list_display = [
        "number",
        "status",
        "account",
        "operation",
        "notification",
        "attempts",
        "short_last_error",
        "created_at",
    ]
    list_filter = [
        ("event__account", VisibleAccountFilter),
        "status",
        "event__communication_type",
        ("notification__operation", OperationListFilter),
        ("created_at", DateRangeFilter),
    ]
    search_fields = ["transaction_id", "event__identity", "event__account__name", "event__account__uis_app_id"]
    search_help_text = _(
        "A phone number, e-mail, call session id or communication id of the event; a transaction id or an account"
    )
    event_values_path = "event__values"
    list_select_related = ["event__account", "notification__operation"]
    # The delivery, then the event it came of, then the request; the attempts' timeline comes
    # after the first of these (change_form.html).
    fieldsets = (
        (None, {"fields": DELIVERY_FIELDS}),
        (_("Event"), {"fields": EVENT_FIELDS}),
        (_("Request"), {"fields": REQUEST_FIELDS}),
    )
    readonly_fields = (*DELIVERY_FIELDS, *EVENT_FIELDS, *REQUEST_FIELDS)
    actions = ["resend_selected", "rerender_selected"]

    def has_resend_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return may_resend(request)

    @admin.display(description=_("account"), ordering="event__account__name")
    def account(self, obj: Delivery) -> Account:
        return obj.event.account

    @admin.display(description=_("operation"), ordering="notification__operation__name")
    def operation(self, obj: Delivery) -> Operation | None:
        notification: Notification | None = obj.notification
        return notification.operation if notification else None

    @admin.display(description=_("communication type"))
    def event_type(self, obj: Delivery) -> str:
        return obj.event.get_communication_type_display()

    @admin.display(description=_("identity"))
    def event_identity(self, obj: Delivery) -> str:
        return obj.event.identity

    @admin.display(description=_("received"))
    def event_received_at(self, obj: Delivery) -> str:
        # Formatted here: the admin shows a method's datetime as it is, in UTC.
        return date_format(timezone.localtime(obj.event.received_at), "DATETIME_FORMAT")

    @admin.display(description=_("request, as sent"))
    def request_sent(self, obj: Delivery) -> str:
        """The rendered request for reading, as every attempt sends it (mindbox.request), the key
        masked: method, URL, headers and the body indented."""
        rendered = request.Rendered(url=obj.url, body=obj.body, headers=obj.headers or {})
        # Not the key itself: only whether the request carries one, to mask it.
        has_key = obj.notification is not None and obj.notification.operation.integration.has_secret_key
        key = request.KEY_STAND_IN if has_key else ""
        sent = request.finalize(rendered=rendered, secret_key=key, transaction_id=str(obj.transaction_id)).shown()
        headers = "".join(f"\n{name}: {value}" for name, value in sent.headers.items())
        return format_html(
            '<pre class="rendered-request">POST {}{}\n\n{}</pre>', sent.url, headers, pretty_json(sent.body)
        )

    @admin.display(description=_("event values"))
    def event_values(self, obj: Delivery) -> str:
        return format_html(
            '<pre class="event-values">{}</pre>', json.dumps(obj.event.values, ensure_ascii=False, indent=2)
        )

    @admin.display(description=_("last error"))
    def short_last_error(self, obj: Delivery) -> str:
        return Truncator(for_people(selectors.delivery_error(obj))).chars(LAST_ERROR_CHARS)

    # A selection may be every failed delivery of the log ("select all"): a bulk job does it,
    # in the background (admin_bulk_jobs); the action only records what was selected.
    @admin.action(description=_("Resend selected failed deliveries"), permissions=["resend"])
    def resend_selected(self, request: HttpRequest, queryset: "QuerySet[Delivery]") -> HttpResponse | None:
        return submit_selection(request, queryset, BulkJob.Kind.RESEND)

    @admin.action(description=_("Re-render from the event and resend"), permissions=["resend"])
    def rerender_selected(self, request: HttpRequest, queryset: "QuerySet[Delivery]") -> HttpResponse | None:
        return submit_selection(request, queryset, BulkJob.Kind.RERENDER)

    def get_urls(self) -> list[URLPattern]:
        # Before the defaults: their "<path:object_id>/" would take these paths too. Sending
        # again changes state, so the per-delivery buttons take POST only (and CSRF, via admin_view).
        view = self.admin_site.admin_view
        own = [
            path("resend-failed/", view(self.resend_failed_view), name="notifications_delivery_resend_failed"),
            path(
                "<path:object_id>/resend/",
                view(require_POST(self.resend_one_view)),
                name="notifications_delivery_resend",
            ),
            path(
                "<path:object_id>/rerender/",
                view(require_POST(self.rerender_one_view)),
                name="notifications_delivery_rerender",
            ),
        ]
        return own + super().get_urls()

    def changelist_view(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> HttpResponse:
        context = {**(extra_context or {}), "can_resend": self.has_resend_permission(request)}
        return super().changelist_view(request, context)

    def change_view(
        self, request: HttpRequest, object_id: str, form_url: str = "", extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        delivery = self.get_object(request, object_id)
        context = dict(extra_context or {})
        if delivery is not None:
            context["timeline"] = selectors.delivery_timeline(delivery=delivery)
        if delivery is not None and self.has_resend_permission(request):
            context["can_resend"] = delivery.status in replay.RESENDABLE
            context["can_rerender"] = delivery.status in replay.RERENDERABLE
        return super().change_view(request, object_id, form_url, context)

    def _replay_one(
        self,
        request: HttpRequest,
        object_id: str,
        run: Callable[..., replay.Replayed],
        report: Callable[[HttpRequest, replay.Replayed], None],
    ) -> HttpResponse:
        if not self.has_resend_permission(request):
            raise PermissionDenied
        delivery = self.get_object(request, object_id)
        if delivery is None:
            raise Http404
        report(request, run(delivery_ids=[delivery.pk], enqueue=enqueue_replays))
        return HttpResponseRedirect(reverse("admin:notifications_delivery_change", args=[delivery.pk]))

    def resend_one_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        return self._replay_one(request, object_id, replay.resend, report_resend)

    def rerender_one_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        return self._replay_one(request, object_id, replay.rerender, report_rerender)

    def resend_failed_view(self, request: HttpRequest) -> HttpResponse:
        """GET: the form; POST "preview": how many would go; POST "confirm": resend them."""
        if not self.has_resend_permission(request):
            raise PermissionDenied
        if request.method != "POST":
            form = ResendFailedForm(
                initial={"integration": request.GET.get("integration")}, integrations=scoped_integrations(request)
            )
            return self._render_resend_failed(request, form)
        form = ResendFailedForm(request.POST, integrations=scoped_integrations(request))
        if not form.is_valid():
            return self._render_resend_failed(request, form)
        integration, since = form.cleaned_data["integration"], form.cleaned_data["since"]
        if "confirm" not in request.POST:
            preview = replay.failed_since(integration_id=integration.pk, since=since).count()
            return self._render_resend_failed(request, form, preview=preview)
        # Tens of thousands, maybe: a bulk job finds and resends them in the background.
        job = bulk_jobs.submit(
            kind=BulkJob.Kind.RESEND_FAILED_SINCE,
            integration=integration,
            since=since,
            actor=request.user,
            publish=start_bulk_job,
        )
        messages.success(request, gettext("Started in the background: this page shows how far it got."))
        return HttpResponseRedirect(job_url(job))

    def _render_resend_failed(
        self, request: HttpRequest, form: ResendFailedForm, preview: int | None = None
    ) -> HttpResponse:
        context = {
            **self.admin_site.each_context(request),
            "title": gettext("Resend failed deliveries of an integration"),
            "opts": self.opts,
            "form": form,
            "preview": preview,
        }
        return render(request, "admin/notifications/delivery/resend_failed.html", context)
