"""Bulk jobs through real processes: 20,000 failed deliveries resent from the admin's action by a
real Celery worker on PostgreSQL and Redis, its progress read from the job's page, cancelled
half-way; a "resend failed since" that runs to its summary and reaches the stand-in Mindbox
with every delivery's own transactionId; and a job whose worker died, resumed where it was.

Where the job stands is made certain, not timed: the test holds a row lock on one delivery
(its own PostgreSQL connection), so the worker's chunk that holds it waits right there."""

import re
from collections.abc import Iterator
from datetime import timedelta

import psycopg
import pytest
import redis
from django.conf import settings as django_settings
from django.db import connection
from django.test import Client
from django.urls import resolve, reverse
from django.utils import timezone

from harness import processes
from harness.mindbox_standin import MindboxStandIn
from mindbox_integration.models import ConfigChange, MindboxIntegration, Notification
from notifications import bulk_jobs, replay
from notifications.models import BulkJob, Delivery
from notifications.tasks import enqueue_replays, start_bulk_job
from tests.conftest import receive_call, running_worker, suite_database_url, wait_for

pytestmark = pytest.mark.django_db(transaction=True)

CHANGELIST = "admin:notifications_delivery_changelist"
CHUNK = 500
FAILED_ERROR = "HTTP 500 (bulk test)"


@pytest.fixture(scope="module")
def bulk_worker(django_db_setup: None, standin: MindboxStandIn) -> Iterator[processes.Proc]:
    """A real worker, with the chunk size these tests count on."""
    with running_worker(standin, name="bulk-worker", BULK_JOB_CHUNK_SIZE=str(CHUNK)) as worker:
        yield worker


def failed_deliveries(notification: Notification, count: int, *, failed_ago: timedelta, prefix: str) -> list[int]:
    """`count` events of the notification's account, each with one delivery that failed
    `failed_ago`: written by two statements, not 40,000 saves. Ids in order of creation."""
    body = '{"customer": {"fullName": "bulk"}}'
    with connection.cursor() as cursor:
        cursor.execute(
            """
            WITH events AS (
                INSERT INTO notifications_inboundevent
                    (account_id, communication_type, raw, "values", identity, received_at, note, request_id,
                     recovered_from)
                SELECT %(account)s, 'calls', '{}', jsonb_build_object('call_session_id', %(prefix)s || g),
                       %(prefix)s || g, now(), '', '', ''
                FROM generate_series(1, %(count)s) AS g
                RETURNING id
            )
            INSERT INTO notifications_delivery
                (event_id, notification_id, url, body, headers, status, attempts, queue, transaction_id,
                 last_error, created_at, finished_at)
            SELECT id, %(notification)s, %(url)s, %(body)s, '{}', 'failed', 1, 'deliveries', gen_random_uuid(),
                   %(error)s, now(), now() - %(ago)s
            FROM events
            RETURNING id
            """,
            {
                "account": notification.operation.integration.account_id,
                "notification": notification.pk,
                "prefix": prefix,
                "count": count,
                "url": notification.url,
                "body": body,
                "error": FAILED_ERROR,
                "ago": failed_ago,
            },
        )
        return sorted(row[0] for row in cursor.fetchall())


class RowLock:
    """A delivery's row locked FOR UPDATE from a connection of the test's own, until released."""

    def __init__(self, delivery_id: int) -> None:
        self.connection = psycopg.connect(suite_database_url())
        self.connection.execute("SELECT id FROM notifications_delivery WHERE id = %s FOR UPDATE", [delivery_id])

    def release(self) -> None:
        self.connection.rollback()
        self.connection.close()


def job_of(response) -> BulkJob:
    assert response.status_code == 302, response
    match = resolve(response.url)
    assert match.url_name == "notifications_bulkjob_change", response.url
    return BulkJob.objects.get(pk=match.kwargs["object_id"])


def job_page(client: Client, job: BulkJob) -> str:
    response = client.get(reverse("admin:notifications_bulkjob_change", args=[job.pk]))
    assert response.status_code == 200
    return response.content.decode()


def progress(client: Client, job: BulkJob) -> tuple[str, int, int]:
    """(status, done, total) as the job's page shows them."""
    found = re.search(
        r'id="bulk-job"[^>]* data-status="(\w+)" data-done="(\d+)" data-total="(\d+)"', job_page(client, job)
    )
    assert found, "no progress on the job's page"
    return found.group(1), int(found.group(2)), int(found.group(3))


def summary(client: Client, job: BulkJob) -> dict[str, int]:
    return {k: int(v) for k, v in re.findall(r'<dd data-summary="(\w+)">(\d+)</dd>', job_page(client, job))}


def test_a_bulk_resend_of_20000_runs_in_the_background_shows_progress_and_can_be_cancelled(
    bulk_worker, admin_client, admin_user, make_account, make_notification
):
    account = make_account()
    notification = make_notification(account)
    ids = failed_deliveries(notification, 20_000, failed_ago=timedelta(minutes=5), prefix="bulk-")
    # Switched off: what is resent is held for the integration, as it would be today, and goes nowhere.
    MindboxIntegration.objects.filter(pk=account.mindbox.pk).update(active=False)

    first_stop = RowLock(ids[1000])  # the third chunk waits here: 1,000 done
    # "Select all" of the account's failed deliveries in the log, and the action.
    log_url = f"{reverse(CHANGELIST)}?event__account__id__exact={account.pk}&status__exact=failed"
    data = {"action": "resend_selected", "select_across": "1", "index": "0", "_selected_action": [str(ids[0])]}
    response = admin_client.post(log_url, data)
    job = job_of(response)
    assert (job.kind, job.total, job.delivery_ids) == ("resend", 20_000, ids)

    polls = [wait_for(lambda: (p := progress(admin_client, job)) == ("running", 1000, 20_000) and p)]
    page = job_page(admin_client, job)
    assert '<meta http-equiv="refresh"' in page  # it refreshes itself while it runs
    assert '<progress max="20000" value="1000">' in page

    second_stop = RowLock(ids[3000])
    first_stop.release()
    polls.append(wait_for(lambda: (p := progress(admin_client, job)) == ("running", 3000, 20_000) and p))

    # Cancel: a POST with the page's CSRF token, refused without it.
    manager_client = Client(enforce_csrf_checks=True)
    manager_client.force_login(admin_user)
    cancel_url = reverse("admin:notifications_bulkjob_cancel", args=[job.pk])
    assert manager_client.post(cancel_url).status_code == 403
    page = job_page(manager_client, job)
    form = re.search(rf'<form method="post" action="{cancel_url}" id="cancel-job">.*?</form>', page, re.S)
    assert form
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', form.group(0)).group(1)
    assert manager_client.post(cancel_url, {"csrfmiddlewaretoken": token}).status_code == 302
    assert 'id="cancel-job"' not in job_page(admin_client, job)  # asked once; it stops after its chunk

    second_stop.release()
    wait_for(lambda: progress(admin_client, job)[0] == "cancelled")
    job.refresh_from_db()
    assert (job.done_count, job.total, job.skipped) == (3500, 20_000, 0)  # the chunk in hand, then no more
    assert job.finished_at is not None and job.cancelled_by_label == admin_user.username
    assert summary(admin_client, job) == {"queued": 3500, "skipped": 0, "left": 16_500}
    assert '<meta http-equiv="refresh"' not in job_page(admin_client, job)

    # The rest untouched: still failed, with their attempt and error.
    rest = Delivery.objects.filter(pk__in=ids[3500:])
    assert rest.filter(status=Delivery.Status.FAILED, attempts=1, last_error=FAILED_ERROR).count() == 16_500
    # The resent ones went the usual way: queued, then held by the worker for the switched-off integration.
    resent = Delivery.objects.filter(pk__in=ids[:3500])
    assert not resent.filter(status=Delivery.Status.FAILED).exists()
    wait_for(lambda: resent.filter(status=Delivery.Status.HELD).count() == 3500, timeout=60)

    audited = ConfigChange.objects.filter(account=account, object_id=account.mindbox.pk).values_list(
        "action", "changes"
    )
    assert {action: changes for action, changes in audited if action.startswith("bulk_job")} == {
        "bulk_job_started": {"job": job.pk, "kind": "resend", "deliveries": 20_000},
        "bulk_job_cancelled": {"job": job.pk, "kind": "resend", "deliveries": 20_000},
    }


def test_a_resend_of_failures_since_runs_to_its_summary_and_keeps_transaction_ids(
    bulk_worker, admin_client, mindbox, make_account, make_notification
):
    account = make_account()
    notification = make_notification(account)
    ids = failed_deliveries(notification, 1200, failed_ago=timedelta(hours=1), prefix="recent-")
    old = failed_deliveries(notification, 3, failed_ago=timedelta(days=3), prefix="old-")
    transaction_ids = {str(t) for t in Delivery.objects.filter(pk__in=ids).values_list("transaction_id", flat=True)}

    since = timezone.localtime(timezone.now() - timedelta(days=1)).strftime("%Y-%m-%dT%H:%M")
    url = reverse("admin:notifications_delivery_resend_failed")
    response = admin_client.post(url, {"integration": account.mindbox.pk, "since": since, "confirm": "1"})
    job = job_of(response)

    wait_for(lambda: progress(admin_client, job)[0] == "done", timeout=60)
    job.refresh_from_db()
    assert (job.total, job.done_count, job.skipped, job.delivery_ids) == (1200, 1200, 0, ids)
    assert job.started_at is not None and job.finished_at is not None
    assert summary(admin_client, job) == {"queued": 1200, "skipped": 0}
    page = job_page(admin_client, job)
    assert 'id="cancel-job"' not in page and '<meta http-equiv="refresh"' not in page

    # Sent as a resend sends: each once, under its own transactionId; the old failures stay.
    wait_for(lambda: Delivery.objects.filter(pk__in=ids, status=Delivery.Status.DELIVERED).count() == 1200, timeout=90)
    sent = [r.query["transactionId"] for r in mindbox.received()]
    assert sorted(sent) == sorted(transaction_ids)
    assert set(Delivery.objects.filter(pk__in=old).values_list("status", flat=True)) == {"failed"}
    started = ConfigChange.objects.get(account=account, action=ConfigChange.Action.BULK_JOB_STARTED)
    assert started.changes["job"] == job.pk and started.changes["kind"] == "resend_failed_since"


@pytest.mark.django_db
def test_a_job_whose_worker_died_is_queued_again_and_resumes_where_it_was(
    make_account, make_notification, django_capture_on_commit_callbacks
):
    account = make_account()
    make_notification(account)
    ids = []
    for n in range(5):
        delivery = Delivery.objects.get(event_id=receive_call(account, f"s{n}").event_id)
        Delivery.objects.filter(pk=delivery.pk).update(
            status=Delivery.Status.FAILED, attempts=1, finished_at=timezone.now()
        )
        ids.append(delivery.pk)
    job = bulk_jobs.submit(
        kind=BulkJob.Kind.RESEND, integration=account.mindbox, actor="tests", publish=lambda pk: None, delivery_ids=ids
    )
    # As a worker killed after its first chunk of two leaves it: those two resent, the count at
    # two, and no sign of life for ten minutes.
    replay.resend(delivery_ids=ids[:2], enqueue=lambda pks: None)
    long_ago = timezone.now() - timedelta(minutes=10)
    BulkJob.objects.filter(pk=job.pk).update(
        status=BulkJob.Status.RUNNING, done_count=2, summary={"queued": 2}, started_at=long_ago, progress_at=long_ago
    )
    Delivery.objects.filter(pk__in=ids[:2]).update(status=Delivery.Status.DELIVERED)  # sent meanwhile

    broker = redis.Redis.from_url(django_settings.CELERY_BROKER_URL)
    broker.delete(django_settings.QUEUE_REPLAYS)
    now = timezone.now()
    assert bulk_jobs.resume_stalled(now=now, stall_seconds=300, publish=start_bulk_job) == [job.pk]
    assert bulk_jobs.resume_stalled(now=now, stall_seconds=300, publish=start_bulk_job) == []  # once per stall
    (message,) = broker.lrange(django_settings.QUEUE_REPLAYS, 0, -1)
    assert b"notifications.tasks.run_bulk_job" in message
    broker.delete(django_settings.QUEUE_REPLAYS)

    with django_capture_on_commit_callbacks(execute=False):
        done = bulk_jobs.run(job_id=job.pk, enqueue=enqueue_replays, chunk_size=2)
    assert done is not None
    assert (done.status, done.done_count, done.skipped, done.summary["queued"]) == ("done", 5, 0, 5)
    statuses = dict(Delivery.objects.filter(pk__in=ids).values_list("pk", "status"))
    assert [statuses[pk] for pk in ids] == ["delivered", "delivered", "pending", "pending", "pending"]
    # Its first message, redelivered late by the broker, finds nothing left to do.
    assert bulk_jobs.run(job_id=job.pk, enqueue=enqueue_replays, chunk_size=2) is None


def test_a_job_that_never_moves_again_fails_after_its_resumes_instead_of_running_forever(
    make_account, make_notification
):
    account = make_account()
    make_notification(account)
    job = bulk_jobs.submit(
        kind=BulkJob.Kind.RESEND, integration=account.mindbox, actor="tests", publish=lambda pk: None, delivery_ids=[1]
    )
    published: list[int] = []
    start = timezone.now() - timedelta(hours=2)
    BulkJob.objects.filter(pk=job.pk).update(status=BulkJob.Status.RUNNING, progress_at=start)
    # Each stall period it is queued again, and nothing comes of it (an error that comes back).
    for n in range(bulk_jobs.MAX_RESUMES):
        now = start + timedelta(seconds=301 * (n + 1))
        assert bulk_jobs.resume_stalled(now=now, stall_seconds=300, publish=published.append) == [job.pk]
    now += timedelta(seconds=301)
    assert bulk_jobs.resume_stalled(now=now, stall_seconds=300, publish=published.append) == []
    job.refresh_from_db()
    assert len(published) == bulk_jobs.MAX_RESUMES
    assert job.status == BulkJob.Status.FAILED and "no progress" in job.error and job.finished_at == now
