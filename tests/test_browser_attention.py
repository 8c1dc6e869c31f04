"""A manager logs in and finds their paused integration at the top of «Требует внимания», with
its hourly chart showing the refused requests; its link leads to the Sending block, whose button resumes it, and the overview then has nothing to
show. Another manager's paused account is not on the page."""

import re
from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from harness.mindbox_standin import Planned
from notifications import delivery, rollup
from notifications.models import Delivery, IntegrationHealth
from tests.browser_support import DESKTOP, TABLET, log_in, make_manager
from tests.conftest import receive_call

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def pause(account, mindbox) -> None:
    """A real pause: the stand-in refuses the key until the delivery step pauses the integration."""
    mindbox.plan(*[Planned(status=401, payload={"status": "Unauthorized"})] * 3)
    for n in range(3):
        receive_call(account, f"refused-{account.pk}-{n}")
    delivery.deliver_due(queue=Delivery.Queue.FIRST_ATTEMPTS, limit=50)
    assert IntegrationHealth.objects.get(pk=account.mindbox.pk).paused_at is not None


def test_a_paused_integration_tops_its_managers_overview(
    page, shot, live_server, make_account, make_notification, mindbox, settings
):
    settings.DELIVERY_PAUSE_AFTER = 3
    alpha, beta, gamma = (make_account(name=name, secret_key="sk-wrong") for name in ("Alpha", "Beta", "Gamma"))
    for account in (alpha, beta, gamma):
        make_notification(account)
    make_manager(alpha)
    beta.managers.add(alpha.managers.get())
    pause(alpha, mindbox)
    pause(gamma, mindbox)  # someone else's account
    rollup.roll_up(now=timezone.now(), retention=timedelta(days=settings.RETENTION_DAYS))  # beat's task

    log_in(page, live_server.url, "manager")
    expect(page.locator("#content h1")).to_have_text("Требует внимания")
    first = page.locator(".attention-row").first
    expect(first).to_contain_text("Alpha")
    expect(first).to_have_attribute("data-kinds", "paused")
    expect(first).to_contain_text("Отправка приостановлена")
    expect(page.locator("#attention")).not_to_contain_text("Gamma")
    expect(page.locator(".attention-summary")).to_contain_text("1 интеграция в порядке")
    # The row's chart: its events and the refused requests of this hour, drawn from the roll-up.
    chart = first.locator('.chart-span[data-span="day"] svg.chart-traffic')
    expect(chart).to_be_visible()
    assert chart.locator(".chart-bars rect").count() >= 1
    expect(chart.locator("polyline.chart-events")).to_have_count(1)
    expect(page.locator("#attention-totals svg.chart-traffic").first).to_be_visible()
    expect(page.get_by_role("link", name="Аккаунты").first).to_be_visible()  # the sections stay below
    shot(page, "overview")
    page.set_viewport_size(TABLET)
    shot(page, "overview-tablet")
    page.set_viewport_size(DESKTOP)

    first.get_by_role("link", name=re.compile("Отправка: продолжить")).click()
    expect(page.locator("#sending")).to_have_attribute("data-paused", "yes")
    page.get_by_role("button", name="Возобновить отправку").click()
    expect(page.locator("#sending")).to_have_attribute("data-paused", "no")
    page.goto("/admin/")
    expect(page.locator("#attention")).to_have_attribute("data-rows", "0")
    expect(page.locator(".attention-none")).to_be_visible()
    shot(page, "overview-after-resume")
