"""«Требует внимания», the admin's first page: each kind of trouble found and linked to where to
act, the rest counted, tenancy, a fixed number of queries however many accounts; and the
integrations list's health columns, sorted by annotation."""

import re
from datetime import timedelta

import pytest
from django.conf import settings as django_settings
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from integration_portal.admin_site import CHARTED_ROWS
from mindbox_integration.models import Account
from notifications import hourly, rollup
from notifications.models import Delivery, DeliveryAttempt, HourlyStats, InboundEvent, IntegrationHealth
from tests.browser_support import make_manager
from tests.conftest import receive_call

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def low_limits(settings):
    settings.TROUBLE_FAILURES_24H = 3
    settings.TROUBLE_BACKLOG_MINUTES = 10
    settings.TROUBLE_SILENT_WINDOW_MINUTES = 60
    settings.TROUBLE_SILENT_MIN_EVENTS = 5


def paused(account: Account) -> None:
    IntegrationHealth.objects.create(
        integration=account.mindbox, paused_at=timezone.now(), pause_reason="Mindbox refused 3 requests in a row"
    )


def roll_up() -> None:
    """Beat's roll-up: failures in 24 h are read from its hours."""
    rollup.roll_up(now=timezone.now(), retention=timedelta(days=django_settings.RETENTION_DAYS))


def failing(account: Account, count: int = 3) -> None:
    delivery = Delivery.objects.get(event_id=receive_call(account, f"fail-{account.pk}").event_id)
    for _ in range(count):
        DeliveryAttempt.objects.create(delivery=delivery, outcome=DeliveryAttempt.Outcome.RETRY, http_status=503)
    roll_up()


def backlogged(account: Account) -> None:
    receive_call(account, f"late-{account.pk}")
    Delivery.objects.filter(event__account=account).update(next_attempt_at=timezone.now() - timedelta(minutes=30))


def silent(account: Account, count: int = 5) -> None:
    """`count` events in the last hour's minutes a week ago, none since."""
    week_ago = timezone.now() - timedelta(days=7, minutes=30)
    InboundEvent.objects.bulk_create(
        InboundEvent(
            account=account, communication_type="calls", identity=f"old-{account.pk}-{n}", received_at=week_ago
        )
        for n in range(count)
    )


@pytest.fixture
def accounts(make_account, make_notification):
    made = {name: make_account(name=name) for name in ("Paused", "Failing", "Late", "Quiet", "Fine")}
    for account in made.values():
        make_notification(account)
    made["Off"] = make_account(name="Off", active=False)
    paused(made["Paused"])
    failing(made["Failing"])
    backlogged(made["Late"])
    silent(made["Quiet"])
    silent(made["Fine"], count=4)  # fewer than TROUBLE_SILENT_MIN_EVENTS a week ago: quiet is usual
    IntegrationHealth.objects.create(integration=made["Fine"].mindbox, auth_failures=1)  # one refusal: no pause
    return made


def rows(html: str) -> dict[str, str]:
    """Account name -> the kinds of trouble its row shows."""
    found = re.findall(r'data-integration="\d+" data-kinds="([^"]*)">\s*<th[^>]*>\s*<a[^>]*>([^<]+)</a>', html)
    return {name.split(" ")[0]: kinds for kinds, name in found}


def test_each_kind_of_trouble_is_listed_and_links_to_where_to_act(admin_client, accounts):
    page = admin_client.get(reverse("admin:index"))
    html = page.content.decode()
    assert page.context["title"] == "Требует внимания"
    assert rows(html) == {"Paused": "paused", "Failing": "failing", "Late": "backlog", "Quiet": "silent"}
    assert list(rows(html)) == ["Paused", "Failing", "Late", "Quiet"]  # the most urgent first
    assert 'data-fine="1"' in html and 'data-off="1"' in html  # the fine one and the switched-off one counted
    integration = reverse("admin:mindbox_integration_mindboxintegration_change", args=[accounts["Paused"].mindbox.pk])
    assert f'href="{integration}#sending"' in html  # the resume button's block
    failed = f"status__exact=failed&amp;event__account__id__exact={accounts['Failing'].pk}"
    assert failed in html
    assert f"status__exact=pending&amp;event__account__id__exact={accounts['Late'].pk}" in html
    quiet = reverse("admin:mindbox_integration_mindboxintegration_change", args=[accounts["Quiet"].mindbox.pk])
    assert f'href="{quiet}#uis-setup"' in html
    assert "Mindbox refused 3 requests in a row" in html
    assert "Аккаунты" in html  # the sections are still listed below


def test_a_backing_off_integration_is_listed(admin_client, make_account):
    account = make_account(name="Shaky")
    IntegrationHealth.objects.create(
        integration=account.mindbox, failure_streak=6, backoff_until=timezone.now() + timedelta(minutes=2)
    )
    html = admin_client.get(reverse("admin:index")).content.decode()
    assert rows(html) == {"Shaky": "backing_off"}
    assert "Mindbox отвечает с ошибками: отправка отложена до" in html


def test_a_manager_sees_only_their_accounts_trouble(accounts):
    user = make_manager(accounts["Failing"])
    client = Client()
    client.force_login(user)
    html = client.get(reverse("admin:index")).content.decode()
    assert rows(html) == {"Failing": "failing"}
    assert "Paused" not in html and "Mindbox refused" not in html
    assert 'data-fine="0"' in html and 'data-off="0"' in html


def test_nothing_in_trouble_says_so(admin_client, make_account):
    make_account(name="Calm")
    html = admin_client.get(reverse("admin:index")).content.decode()
    assert 'data-rows="0"' in html and 'data-fine="1"' in html
    assert "Ничего не требует внимания" in html


def index_queries(client: Client) -> int:
    with CaptureQueriesContext(connection) as queries:
        assert client.get(reverse("admin:index")).status_code == 200
    return len(queries)


def test_the_overview_costs_the_same_queries_for_five_accounts_or_twenty(
    admin_client, accounts, make_account, make_notification
):
    few = index_queries(admin_client)
    for n in range(15):
        account = make_account(name=f"More{n}")
        make_notification(account)
        [paused, failing, backlogged, silent][n % 4](account)
    assert len(rows(admin_client.get(reverse("admin:index")).content.decode())) == 4 + 15
    assert index_queries(admin_client) == few


def test_the_integrations_list_shows_health_and_sorts_by_it(admin_client, accounts, make_account, make_notification):
    def extra(n: int) -> Account:
        account = make_account(name=f"Extra{n}")
        make_notification(account)
        return account

    for n in range(10):
        failing(extra(n), count=n)
    url = reverse("admin:mindbox_integration_mindboxintegration_changelist")
    page = admin_client.get(url)
    html = page.content.decode()
    assert "Отправка" in html and "Ошибок за 24 ч" in html
    with CaptureQueriesContext(connection) as few:
        admin_client.get(url)
    # By the sending column (list_display's third): paused first, switched off last.
    names = [str(obj.account.name).split(" ")[0] for obj in admin_client.get(f"{url}?o=3").context["cl"].result_list]
    assert names[0] == "Paused" and names[-1] == "Off"
    # By failures, most first; the counts are the annotation's.
    listed = admin_client.get(f"{url}?o=-4").context["cl"].result_list
    assert [obj.failures_24h for obj in listed[:3]] == [9, 8, 7]
    # By the oldest due delivery: the late one has one, the others none.
    listed = admin_client.get(f"{url}?o=5").context["cl"].result_list
    assert str(listed[0].account.name).startswith("Late")
    for n in range(10, 20):
        failing(extra(n), count=1)
    with CaptureQueriesContext(connection) as more:
        admin_client.get(f"{url}?o=-4")
    assert len(more) == len(few)


def test_a_manager_lists_only_their_integrations_health(accounts):
    user = make_manager(accounts["Paused"])
    client = Client()
    client.force_login(user)
    page = client.get(reverse("admin:mindbox_integration_mindboxintegration_changelist") + "?o=-4")
    assert [obj.account_id for obj in page.context["cl"].result_list] == [accounts["Paused"].pk]


def test_the_health_columns_are_computed_for_the_list_alone(admin_client, accounts):
    """The change page (and whatever else reads the admin's queryset: the autocomplete, the
    actions) reads the plain integrations, without the columns' subqueries."""
    failing_one = accounts["Failing"].mindbox
    with CaptureQueriesContext(connection) as listed:
        admin_client.get(reverse("admin:mindbox_integration_mindboxintegration_changelist"))
    assert any('"failures_24h"' in query["sql"] for query in listed.captured_queries)
    with CaptureQueriesContext(connection) as changed:
        page = admin_client.get(reverse("admin:mindbox_integration_mindboxintegration_change", args=[failing_one.pk]))
    assert page.status_code == 200
    assert not any(
        '"failures_24h"' in query["sql"] or '"sending_rank"' in query["sql"] for query in changed.captured_queries
    )


def test_failures_in_24_hours_are_read_from_the_roll_up(admin_client, make_account, make_notification):
    account = make_account(name="Late")
    make_notification(account)
    delivery = Delivery.objects.get(event_id=receive_call(account, "unrolled").event_id)
    for _ in range(3):
        DeliveryAttempt.objects.create(delivery=delivery, outcome=DeliveryAttempt.Outcome.RETRY, http_status=503)
    url = reverse("admin:mindbox_integration_mindboxintegration_changelist")
    assert rows(admin_client.get(reverse("admin:index")).content.decode()) == {}  # not rolled up yet
    assert [obj.failures_24h for obj in admin_client.get(url).context["cl"].result_list] == [0]
    roll_up()
    assert rows(admin_client.get(reverse("admin:index")).content.decode()) == {"Late": "failing"}
    assert [obj.failures_24h for obj in admin_client.get(url).context["cl"].result_list] == [3]


def test_only_the_first_rows_draw_their_chart_the_rest_link_to_it(admin_client, make_account):
    for n in range(CHARTED_ROWS + 5):
        paused(make_account(name=f"Down{n:02d}"))
    html = admin_client.get(reverse("admin:index")).content.decode()
    assert len(rows(html)) == CHARTED_ROWS + 5
    assert html.count('<div class="attention-chart">') == CHARTED_ROWS
    links = re.findall(r'<p class="attention-chart-link"><a href="([^"]+)">график на странице интеграции</a>', html)
    assert len(links) == 5
    last = Account.objects.get(name__startswith=f"Down{CHARTED_ROWS + 4:02d}").mindbox.pk
    change = reverse("admin:mindbox_integration_mindboxintegration_change", args=[last])
    assert links[-1] == f"{change}#hourly-charts-integration-{last}"
    page = admin_client.get(change).content.decode()
    assert f'id="hourly-charts-integration-{last}"' in page  # where the link lands


def totals(html: str) -> list[int]:
    """The events column of the overview's summed chart's tables (24 hours, then 7 days)."""
    summed = html[html.index('id="attention-totals"') :]
    return [int(n) for n in re.findall(r'<tr><th scope="row">[^<]+</th><td>(\d+)</td>', summed)]


def test_the_summed_chart_counts_only_the_managers_own_accounts(admin_client, make_account):
    mine, theirs = make_account(name="Mine"), make_account(name="Theirs")
    now = timezone.now()
    for account, events in ((mine, 3), (theirs, 40)):  # as the roll-up writes them
        HourlyStats.objects.create(
            integration=account.mindbox, hour=hourly.floor_hour(now), events=events, delivered=events, rolled_at=now
        )
    client = Client()
    client.force_login(make_manager(mine))
    assert totals(client.get(reverse("admin:index")).content.decode()) == [3, 3]
    assert totals(admin_client.get(reverse("admin:index")).content.decode()) == [43, 43]  # a superuser: all
