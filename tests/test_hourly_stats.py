"""The hourly roll-up (notifications.rollup) on the real database, and the charts it feeds on
the integration and account pages, scoped by tenancy."""

from datetime import UTC, datetime, timedelta

import pytest
from django.conf import settings as django_settings
from django.contrib.auth.models import User
from django.contrib.postgres.operations import AddIndexConcurrently
from django.core.management import call_command
from django.db import connection
from django.db.migrations.loader import MigrationLoader
from django.template import Context, Template
from django.test import Client
from django.utils import timezone

from mindbox_integration import tenancy
from mindbox_integration.models import MindboxIntegration
from notifications import hourly, retention, rollup, selectors, tasks
from notifications.models import Delivery, DeliveryAttempt, HourlyRollup, HourlyStats, InboundEvent

pytestmark = pytest.mark.django_db

T = datetime(2026, 12, 4, 10, tzinfo=UTC)  # an hour's start
NOW = T + timedelta(minutes=30)
MONTH = timedelta(days=30)
COLUMNS = ("events", "delivered", "retried", "failed", "latency_count", "latency_sum_ms", "latency_max_ms")


class Raw:
    """Raw rows of one account at chosen times, as intake and the workers write them."""

    def __init__(self, account, notification):
        self.account, self.notification, self.n = account, notification, 0

    def event(self, at: datetime) -> InboundEvent:
        self.n += 1
        return InboundEvent.objects.create(
            account=self.account, communication_type="calls", identity=f"call:{self.n}:x", received_at=at
        )

    def delivery(self, at: datetime, status: str = "pending", finished: datetime | None = None) -> Delivery:
        return Delivery.objects.create(
            event=self.event(at),
            notification=self.notification,
            url="u",
            body="{}",
            status=status,
            finished_at=finished,
        )

    @staticmethod
    def attempt(delivery: Delivery, at: datetime, outcome: str, ms: int | None, error: str = "") -> None:
        DeliveryAttempt.objects.create(delivery=delivery, started_at=at, outcome=outcome, duration_ms=ms, error=error)


@pytest.fixture
def raw(make_account, make_notification):
    account = make_account()
    return Raw(account, make_notification(account))


def stats(integration: MindboxIntegration) -> dict[datetime, dict]:
    return {
        row.hour: {**{c: getattr(row, c) for c in COLUMNS}, "buckets": row.latency_buckets}
        for row in HourlyStats.objects.filter(integration=integration)
    }


def bucket_list(**counts: int) -> list[int]:
    names = [f"le_{bound}" for bound in hourly.LATENCY_BOUNDS_MS] + ["over"]
    return [counts.get(name, 0) for name in names]


def test_the_roll_up_counts_each_hour_of_each_integration(raw, make_account, make_notification):
    other = Raw(make_account(), None)
    # Hour 9 ends a microsecond before 10:00; 10:00 itself is hour 10.
    raw.event(T - timedelta(microseconds=1))
    raw.event(T)
    delivered = raw.delivery(T + timedelta(minutes=1), "delivered", finished=T + timedelta(minutes=2))
    raw.attempt(delivered, T + timedelta(minutes=2) - timedelta(milliseconds=300), "delivered", 300)
    failed = raw.delivery(T - timedelta(minutes=30), "failed", finished=T - timedelta(seconds=1))
    raw.attempt(failed, T - timedelta(seconds=10), "interrupted", None)  # retried, no time
    retrying = raw.delivery(T + timedelta(minutes=3))
    raw.attempt(retrying, T + timedelta(minutes=4), "retry", 100, "HTTP 503")
    refused = raw.delivery(T + timedelta(minutes=5), "failed", finished=T + timedelta(minutes=5))
    raw.attempt(refused, T + timedelta(minutes=5), "failed", 0, "refused: host not allowed")  # made no request
    other.event(T + timedelta(minutes=10))
    raw.event(NOW + timedelta(hours=1))  # not yet: later than now

    written = rollup.roll_up(now=NOW, retention=MONTH)

    assert written == 3
    assert stats(raw.account.mindbox) == {
        T - hourly.HOUR: {
            **dict.fromkeys(COLUMNS, 0),
            "events": 2,  # the 09:59:59.999999 event and the failed delivery's (09:30)
            "retried": 1,
            "failed": 1,
            "buckets": [],
        },
        T: {
            "events": 4,
            "delivered": 1,
            "retried": 1,
            "failed": 1,
            "latency_count": 2,
            "latency_sum_ms": 400,
            "latency_max_ms": 300,
            "buckets": bucket_list(le_100=1, le_500=1),
        },
    }
    assert stats(other.account.mindbox) == {T: {**dict.fromkeys(COLUMNS, 0), "events": 1, "buckets": []}}
    assert HourlyRollup.objects.get().last_run_hour == T


def test_a_second_run_writes_the_same_numbers_and_follows_what_changed(raw, make_account):
    other = Raw(make_account(), None)
    failed = raw.delivery(T - timedelta(minutes=50), "failed", finished=T - timedelta(minutes=40))
    gone = other.event(T + timedelta(minutes=1))
    rollup.roll_up(now=NOW, retention=MONTH)
    first = stats(raw.account.mindbox)
    ids = set(HourlyStats.objects.values_list("pk", flat=True))

    rollup.roll_up(now=NOW, retention=MONTH)
    assert stats(raw.account.mindbox) == first
    assert set(HourlyStats.objects.values_list("pk", flat=True)) == ids  # updated in place, not added

    # The failed delivery is resent and delivered in hour 10; the other account's only event goes.
    Delivery.objects.filter(pk=failed.pk).update(status="delivered", finished_at=T + timedelta(minutes=20))
    gone.delete()
    rollup.roll_up(now=NOW + timedelta(minutes=5), retention=MONTH)
    now = stats(raw.account.mindbox)
    assert (now[T - hourly.HOUR]["failed"], now[T - hourly.HOUR]["events"]) == (0, 1)
    assert now[T]["delivered"] == 1
    assert not HourlyStats.objects.filter(integration=other.account.mindbox).exists()


def test_hours_missed_while_beat_was_down_are_counted_when_it_is_back(raw):
    rollup.roll_up(now=NOW, retention=MONTH)
    raw.event(T + timedelta(hours=2, minutes=5))
    raw.event(T + timedelta(hours=5, minutes=5))
    rollup.roll_up(now=T + timedelta(hours=7), retention=MONTH)
    assert {hour: row["events"] for hour, row in stats(raw.account.mindbox).items()} == {
        T + timedelta(hours=2): 1,
        T + timedelta(hours=5): 1,
    }


def test_a_first_run_counts_the_history_still_there_but_no_hour_retention_has_begun_to_delete(raw):
    raw.event(T - timedelta(days=2))
    raw.event(T - timedelta(hours=23, minutes=10))  # in the hour the day's retention is deleting
    raw.event(T - timedelta(hours=22))
    rollup.roll_up(now=NOW, retention=timedelta(days=1))
    assert {hour: row["events"] for hour, row in stats(raw.account.mindbox).items()} == {T - timedelta(hours=22): 1}


def test_counted_hours_outlive_the_raw_rows(raw):
    raw.event(T + timedelta(minutes=1))
    raw.delivery(T + timedelta(minutes=2), "delivered", finished=T + timedelta(minutes=3))
    rollup.roll_up(now=NOW, retention=timedelta(days=1))
    before = stats(raw.account.mindbox)
    assert before[T]["events"] == 2

    # A day later retention deletes the hour's raw rows; the next runs do not count it again.
    later = NOW + timedelta(days=1)
    assert retention.prune(older_than=later - timedelta(days=1) + hourly.HOUR).events == 2
    rollup.roll_up(now=later, retention=timedelta(days=1))
    rollup.roll_up(now=later + timedelta(minutes=5), retention=timedelta(days=1))
    assert stats(raw.account.mindbox) == before


def test_the_retention_task_rolls_up_before_it_deletes_and_prunes_old_hours(raw, settings):
    settings.RETENTION_DAYS = 1
    now = timezone.now()
    raw.event(now - timedelta(minutes=1))
    old = HourlyStats.objects.create(
        integration=raw.account.mindbox,
        hour=hourly.floor_hour(now - timedelta(days=settings.STATS_RETENTION_DAYS + 1)),
        events=5,
        rolled_at=now,
    )
    tasks.prune_old_records()
    assert stats(raw.account.mindbox) == {
        hourly.floor_hour(now - timedelta(minutes=1)): {**dict.fromkeys(COLUMNS, 0), "events": 1, "buckets": []}
    }
    assert not HourlyStats.objects.filter(pk=old.pk).exists()


def test_beat_runs_the_roll_up_on_the_maintenance_queue(raw):
    schedule = django_settings.CELERY_BEAT_SCHEDULE["roll-up-hourly-stats"]
    assert schedule["task"] == "notifications.tasks.roll_up_hourly_stats"
    assert schedule["schedule"] == django_settings.STATS_ROLLUP_INTERVAL
    assert schedule["options"] == {"expires": django_settings.STATS_ROLLUP_INTERVAL}  # no pile-up after an outage
    assert django_settings.CELERY_TASK_ROUTES[schedule["task"]] == {"queue": "maintenance"}
    raw.event(timezone.now())
    assert tasks.roll_up_hourly_stats() == 1


def integration_page(client: Client, integration: MindboxIntegration) -> str:
    response = client.get(f"/admin/mindbox_integration/mindboxintegration/{integration.pk}/change/")
    assert response.status_code == 200
    return response.content.decode()


def test_the_integration_and_account_pages_show_the_charts(admin_client, raw):
    integration = raw.account.mindbox
    page = integration_page(admin_client, integration)
    assert f'id="hourly-charts-integration-{integration.pk}"' in page and 'data-has-data="no"' in page
    assert "За последние 7 дней данных пока нет: часы подсчитываются каждые 5 минут." in page
    assert 'class="hourly-chart' not in page

    now = timezone.now()
    delivered = raw.delivery(now - timedelta(minutes=3), "delivered", finished=now - timedelta(minutes=2))
    raw.attempt(delivered, now - timedelta(minutes=2), "delivered", 120)
    raw.event(now - timedelta(days=3))  # in the week, not in the day
    rollup.roll_up(now=now, retention=MONTH)

    page = integration_page(admin_client, integration)
    assert 'data-has-data="yes"' in page
    assert page.count('<svg class="hourly-chart chart-traffic"') == 2  # 24 hours and 7 days
    assert page.count('<svg class="hourly-chart chart-latency"') == 2
    assert "Всего событий получено: 1; доставки: доставлено 1" in page  # the day
    assert "Всего событий получено: 2; доставки: доставлено 1" in page  # the week
    assert (
        f'id="chart-span-integration-{integration.pk}-day" value="day" form="chart-spans-integration-{integration.pk}-unposted" checked'
        in page
    )
    assert "Числа по часам" in page

    account_page = admin_client.get(f"/admin/mindbox_integration/account/{raw.account.pk}/change/").content.decode()
    assert f'id="hourly-charts-integration-{integration.pk}"' in account_page
    assert "Всего событий получено: 1; доставки: доставлено 1" in account_page


def test_a_manager_sees_the_charts_of_their_accounts_only(raw, make_account, make_notification):
    theirs = Raw(make_account(name="Beta"), None)
    now = timezone.now()
    raw.event(now)
    for _ in range(7):
        theirs.event(now)
    rollup.roll_up(now=now, retention=MONTH)
    user = User.objects.create_user(username="manager", password="x", is_staff=True)
    user.groups.add(tenancy.ensure_managers_group())
    raw.account.managers.add(user)
    client = Client()
    client.force_login(user)

    page = integration_page(client, raw.account.mindbox)
    assert "Всего событий получено: 1;" in page and "Всего событий получено: 7;" not in page
    other = client.get(f"/admin/mindbox_integration/mindboxintegration/{theirs.account.mindbox.pk}/change/")
    assert other.status_code == 404
    assert client.get(f"/admin/mindbox_integration/account/{theirs.account.pk}/change/").status_code == 404

    # The summed chart (for an overview): of the integrations the caller scoped.
    summed = Template("{% load hourly_charts %}{% hourly_charts integrations key='all' %}")
    mine = summed.render(Context({"integrations": tenancy.scope(MindboxIntegration.objects.all(), user=user)}))
    assert "Всего событий получено: 1;" in mine
    everyone = summed.render(Context({"integrations": MindboxIntegration.objects.all()}))
    assert "Всего событий получено: 8;" in everyone and 'id="hourly-charts-all"' in everyone
    assert tenancy.scope(HourlyStats.objects.all(), user=user).count() == 1
    # Many integrations' hours in one read, each passed on its own.
    by_integration = selectors.hourly_rows_by_integration(
        integration_ids=[raw.account.mindbox.pk, theirs.account.mindbox.pk], since=now - timedelta(days=7)
    )
    assert {pk: [h.events for h in hours] for pk, hours in by_integration.items()} == {
        raw.account.mindbox.pk: [1],
        theirs.account.mindbox.pk: [7],
    }
    alone = Template("{% load hourly_charts %}{% hourly_charts hours key='b' %}").render(
        Context({"hours": by_integration[theirs.account.mindbox.pk]})
    )
    assert "Всего событий получено: 7;" in alone and 'id="hourly-charts-b"' in alone


def index_valid() -> bool | None:
    """Whether the roll-up's index on deliveries is there and valid (None: not there)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT indisvalid FROM pg_index WHERE indexrelid = to_regclass('delivery_finished')")
        found = cursor.fetchone()
    return None if found is None else bool(found[0])


@pytest.mark.django_db(transaction=True)
def test_the_roll_ups_index_on_deliveries_is_built_without_blocking_inserts():
    """CREATE INDEX CONCURRENTLY, in a migration of its own outside a transaction; a database
    that has the index already keeps it, and one a failed concurrent build left invalid is built again."""
    (migration,) = [
        migration
        for (app, _name), migration in MigrationLoader(connection).disk_migrations.items()
        if app == "notifications"
        and any(getattr(op, "index", None) and op.index.name == "delivery_finished" for op in migration.operations)
    ]
    assert not migration.atomic
    assert all(isinstance(op, AddIndexConcurrently) for op in migration.operations)
    assert index_valid() is True
    previous = migration.dependencies[0]
    try:
        call_command("migrate", *previous, verbosity=0)
        assert index_valid() is None
        with connection.cursor() as cursor:  # as a database that built it within 0011 has it, then left invalid
            cursor.execute(
                "CREATE INDEX delivery_finished ON notifications_delivery (finished_at) WHERE finished_at IS NOT NULL"
            )
            cursor.execute("UPDATE pg_index SET indisvalid = false WHERE indexrelid = to_regclass('delivery_finished')")
        call_command("migrate", "notifications", migration.name, verbosity=0)
        assert index_valid() is True
        call_command("migrate", *previous, verbosity=0)
        with connection.cursor() as cursor:  # built within 0011, valid: kept as it is
            cursor.execute(
                "CREATE INDEX delivery_finished ON notifications_delivery (finished_at) WHERE finished_at IS NOT NULL"
            )
    finally:
        call_command("migrate", verbosity=0)
    assert index_valid() is True
