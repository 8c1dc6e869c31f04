"""The portal's admin site: its first page is «Требует внимания», the integrations in trouble
among those the user may see (tenancy), each with a link to where to act, above the usual list
of sections."""

from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from django.contrib import admin
from django.http import HttpRequest
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from mindbox_integration import tenancy
from mindbox_integration.models import MindboxIntegration
from notifications import attention, hourly, selectors, trouble_words
from notifications.models import Delivery
from notifications.trouble import Facts, Limits, Target, Trouble

# Rows of the overview drawn with their chart (four SVGs and a table, some 90 KB each): when
# Mindbox is down for everyone, hundreds of rows would make a page of tens of megabytes. The rest
# link to the chart on their integration's page.
CHARTED_ROWS = 20


@dataclass(frozen=True)
class Shown:
    trouble: Trouble
    label: str
    text: str
    action: str  # what the link opens
    url: str  # where to act; empty when the user may not open it


@dataclass(frozen=True)
class ShownRow:
    facts: Facts
    integration_url: str
    troubles: list[Shown]
    hours: list[hourly.Hour]  # its chart's, from the hourly roll-up
    charted: bool  # drawn here (the first CHARTED_ROWS), else linked to
    chart_url: str  # the chart on the integration's page; empty when the user may not open it


def target_url(target: Target, facts: Facts, request: HttpRequest) -> str:
    """Where a manager acts on a trouble of `facts`' integration, if they may open it."""
    user = request.user
    integration = reverse("admin:mindbox_integration_mindboxintegration_change", args=[facts.integration_id])
    if target == Target.SENDING:
        return f"{integration}#sending" if user.has_perm("mindbox_integration.view_mindboxintegration") else ""
    if target == Target.UIS_SETUP:
        return f"{integration}#uis-setup" if user.has_perm("mindbox_integration.view_mindboxintegration") else ""
    if target == Target.EVENTS:
        if not user.has_perm("notifications.view_inboundevent"):
            return ""
        return f"{reverse('admin:notifications_inboundevent_changelist')}?{urlencode({'account__id__exact': facts.account_id})}"
    if not user.has_perm("notifications.view_delivery"):
        return ""
    from notifications.admin import ACCOUNT_LOOKUP  # registers with this site: not at its import

    status = Delivery.Status.FAILED if target == Target.FAILED_DELIVERIES else Delivery.Status.PENDING
    query = urlencode({"status__exact": status.value, ACCOUNT_LOOKUP: facts.account_id})
    return f"{reverse('admin:notifications_delivery_changelist')}?{query}"


class PortalAdminSite(admin.AdminSite):
    site_header = _("UIS → Mindbox portal")
    site_title = _("UIS → Mindbox portal")
    index_title = _("Needs attention")
    site_url = None  # the portal is its admin: no "View site" link to a root that is no page
    index_template = "admin/portal_index.html"

    def index(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> TemplateResponse:
        integrations = tenancy.scope(MindboxIntegration.objects.all(), user=request.user)
        limits = attention.limits()
        found = attention.overview(integrations=integrations, now=timezone.now(), limits=limits)
        may_open = request.user.has_perm("mindbox_integration.view_mindboxintegration")
        now = timezone.now()
        # The charted rows' charts from one read of the roll-up (a week: the longest span a chart shows).
        hours = selectors.hourly_rows_by_integration(
            integration_ids=[row.facts.integration_id for row in found.rows[:CHARTED_ROWS]],
            since=hourly.window(now=now, hours=7 * 24)[0],
        )
        rows = [
            shown_row(
                row,
                request,
                limits=limits,
                may_open=may_open,
                charted=index < CHARTED_ROWS,
                hours=hours.get(row.facts.integration_id, []),
            )
            for index, row in enumerate(found.rows)
        ]
        context = {
            "attention": {
                "rows": rows,
                "integrations": integrations,  # the summed chart's, scoped by tenancy
                "fine": len(found.fine),
                "off": len(found.off),
                "integrations_url": reverse("admin:mindbox_integration_mindboxintegration_changelist")
                if may_open
                else "",
            },
            **(extra_context or {}),
        }
        return super().index(request, context)


def shown_row(
    row: attention.Row,
    request: HttpRequest,
    *,
    limits: Limits,
    may_open: bool,
    charted: bool,
    hours: list[hourly.Hour],
) -> ShownRow:
    integration_id = row.facts.integration_id
    integration_url = (
        reverse("admin:mindbox_integration_mindboxintegration_change", args=[integration_id]) if may_open else ""
    )
    return ShownRow(
        facts=row.facts,
        integration_url=integration_url,
        troubles=[
            Shown(
                trouble=t,
                label=str(trouble_words.KIND_LABELS.get(t.kind, t.kind)),
                text=trouble_words.describe(t, limits),
                action=str(trouble_words.TARGET_LABELS[t.target]),
                url=target_url(t.target, row.facts, request),
            )
            for t in row.troubles
        ],
        hours=hours,
        charted=charted,
        # The integration page's chart: {% hourly_charts %} keys it by the integration.
        chart_url=f"{integration_url}#hourly-charts-integration-{integration_id}" if integration_url else "",
    )
