"""Bulk jobs in the admin: the list, a job's page (its progress, refreshed by the page itself
while it runs; a Cancel button; the summary once done), and the submission that the delivery
log's actions and "resend failed since" share. Who may see a job: whoever may see deliveries;
who may start or cancel one: whoever may resend (may_resend). Tenancy as everywhere."""

from typing import Any
from urllib.parse import urlencode

from django.contrib import admin, messages
from django.contrib.auth import get_permission_codename
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import URLPattern, path, reverse
from django.utils import formats, timezone
from django.utils.dateparse import parse_datetime
from django.utils.html import format_html
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_POST

from mindbox_integration.admin_base import PortalModelAdmin, VisibleAccountFilter
from mindbox_integration.models import Account, MindboxIntegration
from notifications import bulk_jobs, selectors
from notifications.error_text import StoredError, for_people
from notifications.models import BulkJob, Delivery
from notifications.tasks import start_bulk_job

REFRESH_SECONDS = 2  # how often an unfinished job's page reloads itself


def may_resend(request: HttpRequest) -> bool:
    """Deliveries are never edited; what their change permission grants is sending them again."""
    opts = Delivery._meta
    return request.user.has_perm(f"{opts.app_label}.{get_permission_codename('change', opts)}")


def may_view_deliveries(request: HttpRequest) -> bool:
    opts = Delivery._meta
    return request.user.has_perm(f"{opts.app_label}.{get_permission_codename('view', opts)}")


def job_url(job: BulkJob) -> str:
    return reverse("admin:notifications_bulkjob_change", args=[job.pk])


def submit_selection(request: HttpRequest, deliveries: "QuerySet[Delivery]", kind: str) -> HttpResponse | None:
    """The delivery log's actions: one job per integration of the selection (`deliveries` is
    scoped to the user's accounts already), then to its page (or the list, for several)."""
    by_integration, orphans = selectors.selection_by_integration(deliveries=deliveries)
    integrations = MindboxIntegration.objects.select_related("account").in_bulk(list(by_integration))
    jobs = [
        bulk_jobs.submit(
            kind=kind, integration=integrations[pk], actor=request.user, publish=start_bulk_job, delivery_ids=ids
        )
        for pk, ids in by_integration.items()
    ]
    if orphans:
        messages.warning(
            request,
            ngettext(
                "%(count)d delivery skipped: its notification was deleted.",
                "%(count)d deliveries skipped: their notification was deleted.",
                orphans,
            )
            % {"count": orphans},
        )
    if not jobs:
        return None  # back to the log, with the message above
    messages.success(
        request,
        ngettext(
            "Started in the background: %(count)d job. Its page shows how far it got.",
            "Started in the background: %(count)d jobs, one for each integration. Their pages show how far they got.",
            len(jobs),
        )
        % {"count": len(jobs)},
    )
    if len(jobs) == 1:
        return HttpResponseRedirect(job_url(jobs[0]))
    changelist = reverse("admin:notifications_bulkjob_changelist")
    return HttpResponseRedirect(f"{changelist}?{urlencode({'id__in': ','.join(str(j.pk) for j in jobs)})}")


@admin.register(BulkJob)
class BulkJobAdmin(PortalModelAdmin):
    change_form_template = "admin/notifications/bulkjob/change_form.html"
    list_display = ["number", "kind", "account", "status", "progress", "requested_by_label", "created_at"]
    list_filter = [("integration__account", VisibleAccountFilter), "status", "kind", "created_at"]
    list_select_related = ["integration__account"]
    search_fields = ["integration__account__name", "integration__account__uis_app_id", "requested_by_label"]
    # The status and counts are in the progress block above these (change_form.html).
    readonly_fields = (
        "kind",
        "account",
        "since",
        "requested_by_label",
        "created_at",
        "started_at",
        "finished_at",
        "cancelled_by_label",
    )

    def get_fields(self, request: HttpRequest, obj: BulkJob | None = None) -> tuple[str, ...]:
        fields: tuple[str, ...] = tuple(self.readonly_fields)
        if obj is None or obj.kind != BulkJob.Kind.RESEND_FAILED_SINCE:
            fields = tuple(f for f in fields if f != "since")
        if obj is None or not obj.cancelled_by_label:
            fields = tuple(f for f in fields if f != "cancelled_by_label")
        return fields

    def get_queryset(self, request: HttpRequest) -> "QuerySet[BulkJob]":
        # The ids list may be long: the list and the page need only its length (total).
        return super().get_queryset(request).defer("delivery_ids")

    def has_view_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return may_view_deliveries(request)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # started from the delivery log

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False  # history, like the deliveries

    @admin.display(description="№", ordering="pk")
    def number(self, obj: BulkJob) -> int:
        return int(obj.pk)

    @admin.display(description=_("account"), ordering="integration__account__name")
    def account(self, obj: BulkJob) -> Account:
        return obj.integration.account

    @admin.display(description=_("failed since"))
    def since(self, obj: BulkJob) -> str:
        moment = parse_datetime(obj.parameters.get("since", ""))
        return str(formats.localize(timezone.localtime(moment))) if moment else "—"

    @admin.display(description=_("progress"))
    def progress(self, obj: BulkJob) -> str:
        if not obj.ids_fixed:
            return "—"
        return format_html('<span class="job-progress">{} / {}</span>', obj.done_count, obj.total)

    def get_urls(self) -> list[URLPattern]:
        cancel = self.admin_site.admin_view(require_POST(self.cancel_view))
        own = [path("<path:object_id>/cancel/", cancel, name="notifications_bulkjob_cancel")]
        return own + super().get_urls()

    def change_view(
        self, request: HttpRequest, object_id: str, form_url: str = "", extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        job = self.get_object(request, object_id)
        context = dict(extra_context or {})
        if job is not None:
            summary = job.summary or {}
            context.update(
                job=job,
                refresh_seconds=REFRESH_SECONDS,
                can_cancel=job.status in BulkJob.UNFINISHED and job.cancel_requested_at is None and may_resend(request),
                cancelling=job.status == BulkJob.Status.RUNNING and job.cancel_requested_at is not None,
                summary=summary,
                left=max(0, job.total - job.done_count),
                error_samples=[
                    (pk, reverse("admin:notifications_delivery_change", args=[pk]), for_people(_stored(error)))
                    for pk, error in summary.get("error_samples", [])
                ],
                queued_url=(
                    reverse("admin:notifications_delivery_changelist")
                    + "?"
                    + urlencode(
                        {
                            "status__exact": Delivery.Status.PENDING.value,
                            "event__account__id__exact": job.integration.account_id,
                        }
                    )
                ),
            )
        return super().change_view(request, object_id, form_url, context)

    def cancel_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        job = self.get_object(request, object_id)
        if job is None:
            raise Http404
        if not may_resend(request):
            raise PermissionDenied
        if bulk_jobs.cancel(job=job, actor=request.user):
            messages.success(
                request, gettext("Cancelled: the job stops after the chunk in hand; what it did stays done.")
            )
        else:
            messages.info(request, gettext("The job had finished already."))
        return HttpResponseRedirect(job_url(job))


def _stored(error: Any) -> StoredError | str:
    """A sample of a job's summary: the error as stored, or the text alone (a summary written
    before errors had codes)."""
    if isinstance(error, dict):
        return StoredError(text=error.get("text", ""), code=error.get("code", ""), params=error.get("params") or {})
    return str(error)
