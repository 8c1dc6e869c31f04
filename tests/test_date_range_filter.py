"""The from-to date filter of the delivery and event logs (notifications.date_range): it
narrows the list together with the other filters, the search and tenancy."""

import re
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.contrib.auth.models import User
from django.test import Client

from mindbox_integration import tenancy
from notifications.models import Delivery, InboundEvent

pytestmark = pytest.mark.django_db

MOSCOW = ZoneInfo("Europe/Moscow")
DELIVERIES = "/admin/notifications/delivery/"
EVENTS = "/admin/notifications/inboundevent/"


def at(day: int, hour: int = 12, minute: int = 0) -> datetime:
    return datetime(2026, 11, day, hour, minute, tzinfo=MOSCOW)


@pytest.fixture
def log(make_account, make_notification):
    """Two accounts' deliveries and events on 20, 21 (at its first and last minute, Moscow time)
    and 23 November; the 21st's late one failed."""
    rows = {}
    for name in ("Alpha", "Beta"):
        account = make_account(name=name)
        notification = make_notification(account)
        for key, when, status in (
            ("20", at(20), "delivered"),
            ("21-first", at(21, 0, 0), "delivered"),
            ("21-last", at(21, 23, 59), "failed"),
            ("23", at(23), "delivered"),
        ):
            event = InboundEvent.objects.create(
                account=account, communication_type="calls", identity=f"{name}-{key}", received_at=when
            )
            delivery = Delivery.objects.create(
                event=event, notification=notification, url="u", body="{}", status=status, created_at=when
            )
            rows[(name, key)] = (event, delivery)
    return rows


def listed(client: Client, url: str, **params: str) -> set[int]:
    response = client.get(url, params)
    assert response.status_code == 200
    return {row.pk for row in response.context["cl"].result_list}


def pks(log, index: int, *keys: tuple[str, str]) -> set[int]:
    return {log[key][index].pk for key in keys}


def test_the_range_narrows_both_logs_by_local_days_both_ends_included(admin_client, log):
    only_21 = {"created_at__from": "2026-11-21", "created_at__to": "2026-11-21"}
    expected = pks(log, 1, ("Alpha", "21-first"), ("Alpha", "21-last"), ("Beta", "21-first"), ("Beta", "21-last"))
    assert listed(admin_client, DELIVERIES, **only_21) == expected
    events = {"received_at__from": "2026-11-21", "received_at__to": "2026-11-21"}
    assert listed(admin_client, EVENTS, **events) == pks(
        log, 0, ("Alpha", "21-first"), ("Alpha", "21-last"), ("Beta", "21-first"), ("Beta", "21-last")
    )
    # Open-ended either way.
    assert listed(admin_client, DELIVERIES, created_at__from="2026-11-22") == pks(
        log, 1, ("Alpha", "23"), ("Beta", "23")
    )
    assert listed(admin_client, DELIVERIES, created_at__to="2026-11-20") == pks(log, 1, ("Alpha", "20"), ("Beta", "20"))


def test_the_range_works_with_the_other_filters_and_the_search(admin_client, log):
    alpha = log[("Alpha", "20")][0].account
    params = {
        "created_at__from": "2026-11-20",
        "created_at__to": "2026-11-21",
        "event__account__id__exact": str(alpha.pk),
    }
    assert listed(admin_client, DELIVERIES, **params) == pks(
        log, 1, ("Alpha", "20"), ("Alpha", "21-first"), ("Alpha", "21-last")
    )
    assert listed(admin_client, DELIVERIES, **params, status__exact="failed") == pks(log, 1, ("Alpha", "21-last"))
    assert listed(admin_client, EVENTS, received_at__from="2026-11-21", q="Beta") == pks(
        log, 0, ("Beta", "21-first"), ("Beta", "21-last"), ("Beta", "23")
    )
    # The filter's form carries the other filters along, and not its own dates twice.
    page = admin_client.get(DELIVERIES, {**params, "status__exact": "failed"}).content.decode()
    page = re.search(r'<form method="get" action="" class="date-range-form">.*?</form>', page, re.S).group(0)
    assert '<input type="hidden" name="status__exact" value="failed">' in page
    assert f'<input type="hidden" name="event__account__id__exact" value="{alpha.pk}">' in page
    assert 'type="hidden" name="created_at__from"' not in page
    assert 'type="date" id="created_at__from" name="created_at__from" value="2026-11-20"' in page


def test_a_manager_sees_only_their_accounts_in_a_range(log):
    user = User.objects.create_user(username="manager", password="x", is_staff=True)
    user.groups.add(tenancy.ensure_managers_group())
    log[("Alpha", "20")][0].account.managers.add(user)
    client = Client()
    client.force_login(user)
    assert listed(client, DELIVERIES, created_at__from="2026-11-21", created_at__to="2026-11-23") == pks(
        log, 1, ("Alpha", "21-first"), ("Alpha", "21-last"), ("Alpha", "23")
    )
    assert listed(client, EVENTS, received_at__to="2026-11-20") == pks(log, 0, ("Alpha", "20"))


def test_a_bad_date_or_a_reversed_range_is_said_and_left_out(admin_client, log):
    everything = {delivery.pk for _, delivery in log.values()}
    response = admin_client.get(DELIVERIES, {"created_at__from": "21.11.2026"}, follow=True)
    page = response.content.decode()
    assert {row.pk for row in response.context["cl"].result_list} == everything
    assert "«21.11.2026» в поле «с» — не дата: напишите её как ГГГГ-ММ-ДД, например 2026-12-01." in page
    response = admin_client.get(DELIVERIES, {"created_at__from": "2026-11-23", "created_at__to": "2026-11-20"})
    assert {row.pk for row in response.context["cl"].result_list} == everything
    assert "Период кончается (2026-11-20) раньше, чем начинается (2026-11-23): поменяйте даты местами." in (
        response.content.decode()
    )


def test_quick_ranges_end_today(admin_client, log):
    page = admin_client.get(DELIVERIES).content.decode()
    assert "Последние 7 дней" in page and "Любая дата" in page
    today = datetime.now(MOSCOW).date()
    week_ago = today - timedelta(days=6)
    assert f"created_at__from={week_ago.isoformat()}&amp;created_at__to={today.isoformat()}" in page


@pytest.mark.parametrize(
    ("params", "said"),
    [
        ({"created_at__from": "0001-01-01"}, "«0001-01-01» в поле «с»"),
        ({"created_at__to": "9999-12-31"}, "«9999-12-31» в поле «по»"),
    ],
)
def test_a_date_beyond_what_can_be_counted_is_said_and_left_out(admin_client, log, params, said):
    everything = {delivery.pk for _, delivery in log.values()}
    response = admin_client.get(DELIVERIES, params)
    assert response.status_code == 200
    assert {row.pk for row in response.context["cl"].result_list} == everything
    assert f"{said} — за пределами допустимых дат: выберите дату с 0002-01-01 по 9998-12-31." in (
        response.content.decode()
    )
    # The edges themselves are days like any other.
    assert (
        admin_client.get(DELIVERIES, {"created_at__from": "0002-01-01", "created_at__to": "9998-12-31"}).status_code
        == 200
    )
