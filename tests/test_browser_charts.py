"""The hourly charts and the logs' date range in Debian's Chromium, as a manager uses them: the
last 24 hours at first, 7 days a click away (no script), under the admin's policy; the date
range narrows the delivery log."""

import random
from datetime import datetime, time, timedelta

import pytest
from django.urls import reverse
from django.utils import timezone
from playwright.sync_api import expect

from notifications import rollup
from notifications.models import Delivery, DeliveryAttempt, InboundEvent
from tests.browser_support import DESKTOP, TABLET, log_in, make_manager

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def a_week_of_traffic(account, notification) -> None:
    """A few events an hour over a week, most delivered, some retried, a failing spell yesterday."""
    rng = random.Random(16)
    now = timezone.now()
    n = 0
    events, deliveries, attempts = [], [], []
    for hours_ago in range(7 * 24):
        hour = now - timedelta(hours=hours_ago)
        for _ in range(rng.randint(2, 9) if 8 <= hour.hour <= 20 else rng.randint(0, 2)):
            n += 1
            at = hour - timedelta(minutes=rng.randint(0, 50))
            events.append(InboundEvent(account=account, communication_type="calls", identity=f"c{n}", received_at=at))
    InboundEvent.objects.bulk_create(events)
    for event in events:
        failed = spell_of(now, event.received_at) and rng.random() < 0.5
        deliveries.append(
            Delivery(
                event=event,
                notification=notification,
                url="u",
                body="{}",
                status="failed" if failed else "delivered",
                created_at=event.received_at,
                finished_at=event.received_at + timedelta(seconds=rng.randint(1, 30)),
            )
        )
    Delivery.objects.bulk_create(deliveries)
    for delivery in deliveries:
        if delivery.status == "failed" or rng.random() < 0.1:
            attempts.append(
                DeliveryAttempt(
                    delivery=delivery,
                    started_at=delivery.created_at,
                    outcome="retry",
                    duration_ms=rng.randint(900, 5000),
                )
            )
        attempts.append(
            DeliveryAttempt(
                delivery=delivery,
                started_at=delivery.finished_at,
                outcome="failed" if delivery.status == "failed" else "delivered",
                duration_ms=rng.randint(60, 400),
            )
        )
    DeliveryAttempt.objects.bulk_create(attempts)


def spell_of(now, at) -> bool:
    return timedelta(hours=20) <= now - at <= timedelta(hours=23)


def test_a_manager_reads_the_integrations_week_on_its_page(page, live_server, shot, make_account, make_notification):
    account = make_account(name="Альфа")
    a_week_of_traffic(account, make_notification(account))
    rollup.roll_up(now=timezone.now(), retention=timedelta(days=30))
    make_manager(account)
    violations: list[str] = []
    page.on("console", lambda m: violations.append(m.text) if "Content Security Policy" in m.text else None)

    log_in(page, live_server.url, "manager")
    page.goto(reverse("admin:mindbox_integration_mindboxintegration_change", args=[account.mindbox.pk]))
    charts = page.locator(f"#hourly-charts-integration-{account.mindbox.pk}")
    day, week = charts.locator('.chart-span[data-span="day"]'), charts.locator('.chart-span[data-span="week"]')
    expect(day.locator("svg.chart-traffic")).to_be_visible()
    expect(week).to_be_hidden()
    box = day.locator("svg.chart-traffic").bounding_box()
    assert box is not None and box["width"] > 600 and box["height"] > 150
    # The bars are drawn in their colours (the stylesheet's, by class).
    fill = day.locator("rect.chart-delivered").first.evaluate("e => getComputedStyle(e).fill")
    assert fill == "rgb(46, 125, 50)"
    charts.scroll_into_view_if_needed()
    shot(page, "integration-charts-24h")
    charts.screenshot(path=str(shot.folder / "charts-24h-alone.png"))  # the README's picture

    charts.get_by_text("7 дней", exact=True).click()
    expect(week.locator("svg.chart-latency")).to_be_visible()
    expect(day).to_be_hidden()
    assert week.locator("svg.chart-traffic text.chart-hour").count() == 7  # a label a day
    charts.locator("details.chart-table summary").nth(1).click()
    expect(week.locator("table tbody tr").first).to_be_visible()
    shot(page, "integration-charts-7d")
    # Keyboard: back to 24 hours with an arrow key, as radios go.
    charts.locator('input[value="week"]').focus()
    page.keyboard.press("ArrowLeft")
    expect(day).to_be_visible()
    assert not violations, violations
    # On a tablet the charts shrink with the page, which does not scroll sideways.
    page.set_viewport_size(TABLET)
    page.reload()
    assert page.evaluate("document.documentElement.scrollWidth - window.innerWidth") <= 0
    box = day.locator("svg.chart-traffic").bounding_box()
    assert box is not None and box["width"] < TABLET["width"]

    # The delivery log from the yesterday's failing spell on: fewer than all.
    page.set_viewport_size(DESKTOP)
    page.goto(reverse("admin:notifications_delivery_changelist"))
    total = Delivery.objects.count()
    since = (timezone.localtime() - timedelta(days=1)).date()
    page.locator("#created_at__from").fill(since.isoformat())
    page.get_by_role("button", name="Показать").click()
    page.wait_for_url(f"**created_at__from={since.isoformat()}**")
    expected = Delivery.objects.filter(created_at__gte=timezone.make_aware(datetime.combine(since, time.min))).count()
    assert 0 < expected < total
    expect(page.locator("#changelist-form .paginator")).to_contain_text(str(expected))
    shot(page, "delivery-log-date-range")
    assert not violations, violations
