"""The admin's Content-Security-Policy in a real browser (Debian's Chromium): every page a
manager or an operator opens works under it, and the browser reports no violation (no inline
script or style, nothing from elsewhere), with the editor's check, preview and palette, the
autocomplete, the managers' picker and the date drill-down in use."""

import re

import pytest
from django.contrib.auth.models import User
from django.urls import reverse
from playwright.sync_api import expect

from integration_portal.csp import ADMIN_POLICY
from notifications import bulk_jobs
from notifications.models import BulkJob, Delivery
from tests.browser_support import log_in
from tests.conftest import receive_call

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PASSWORD = "csp-operator-password-1"


def test_every_admin_page_works_under_the_policy_without_a_violation(
    page, live_server, make_account, make_notification
):
    account = make_account(name="Alpha")
    notification = make_notification(account)
    delivery = Delivery.objects.get(event_id=receive_call(account, "csp-1").event_id)
    User.objects.create_superuser(username="operator", password=PASSWORD)
    job = bulk_jobs.submit(  # queued, never run: its page reloads itself
        kind=BulkJob.Kind.RESEND,
        integration=account.mindbox,
        actor="tests",
        publish=lambda job_id: None,
        delivery_ids=[delivery.pk],
    )
    violations: list[str] = []
    page.on(
        "console",
        lambda m: violations.append(m.text) if "Content Security Policy" in m.text or "Refused to" in m.text else None,
    )
    policies: list[str] = []
    page.on(
        "response",
        lambda r: (
            policies.append(r.headers.get("content-security-policy", ""))
            if "/admin/" in r.url and r.request.resource_type == "document"
            else None
        ),
    )

    log_in(page, live_server.url, "operator", PASSWORD)
    pages = [
        reverse("admin:index"),
        reverse("admin:mindbox_integration_account_change", args=[account.pk]),  # the managers' picker
        reverse("admin:mindbox_integration_mindboxintegration_change", args=[account.mindbox.pk]),
        reverse("admin:mindbox_integration_notification_change", args=[notification.pk]),
        reverse("admin:notifications_delivery_change", args=[delivery.pk]),
        reverse("admin:notifications_delivery_changelist"),
        reverse("admin:notifications_inboundevent_changelist"),
        reverse("admin:mindbox_integration_configchange_changelist"),  # the date drill-down
        reverse("admin:notifications_bulkjob_changelist"),
        reverse("admin:notifications_bulkjob_change", args=[job.pk]),  # progress, Cancel, its <meta> refresh
    ]
    for url in pages:
        page.goto(url)
        expect(page.locator("#content")).to_be_visible()

    # The editor's scripts at work under the policy: its check as you type, the palette, the preview.
    page.goto(reverse("admin:mindbox_integration_notification_change", args=[notification.pk]))
    body = page.locator("textarea[name=body]")
    body.fill('{"customer": {"fullName": {{no_such_mnemonic}}}}')
    expect(page.locator(".notification-editor")).to_contain_text("no_such_mnemonic")
    page.get_by_role("button", name=re.compile("Предпросмотр")).click()
    # The operation's autocomplete (select2) opens its list.
    page.locator(".select2-selection").first.click()
    expect(page.locator(".select2-results")).to_be_visible()

    assert violations == []
    assert policies and all(policy == ADMIN_POLICY for policy in policies), policies
