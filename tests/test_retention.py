"""Retention prunes old events and attempts in batches, and never an unfinished delivery; old
admin login records and audit entries too."""

import os
import subprocess
import sys
from datetime import timedelta

import pytest
from axes.models import AccessAttempt, AccessFailureLog, AccessLog
from django.utils import timezone

from mindbox_integration import services
from mindbox_integration.models import ConfigChange
from notifications import bulk_jobs, dispatch, retention, tasks
from notifications.models import BulkJob, Delivery, DeliveryAttempt, InboundEvent

pytestmark = pytest.mark.django_db


def test_old_finished_events_and_old_attempts_go_unfinished_ones_stay(make_account, make_notification):
    account = make_account()
    make_notification(account)
    ids = [
        dispatch.receive_event(
            account=account,
            communication_type="calls",
            raw="{}",
            values={"call_session_id": str(n)},
            enqueue=lambda ids: None,
        ).event_id
        for n in range(5)
    ]
    long_ago = timezone.now() - timedelta(days=40)
    old_delivered, old_failed, old_pending, old_held = ids[:4]
    InboundEvent.objects.filter(pk__in=ids[:4]).update(received_at=long_ago)
    Delivery.objects.filter(event_id=old_delivered).update(status=Delivery.Status.DELIVERED)
    Delivery.objects.filter(event_id=old_failed).update(status=Delivery.Status.FAILED)
    Delivery.objects.filter(event_id=old_held).update(status=Delivery.Status.HELD)
    for delivery in Delivery.objects.all():
        DeliveryAttempt.objects.create(delivery=delivery, started_at=long_ago)
        DeliveryAttempt.objects.create(delivery=delivery)

    pruned = retention.prune(older_than=timezone.now() - timedelta(days=30), batch=2)
    assert pruned.events == 2
    assert pruned.attempts == 2  # old attempts of finished deliveries; unfinished ones keep their history
    assert set(InboundEvent.objects.values_list("pk", flat=True)) == {old_pending, old_held, ids[4]}
    assert DeliveryAttempt.objects.count() == 6  # two each for the pending, held and recent deliveries
    assert retention.prune(older_than=timezone.now() - timedelta(days=30)) == retention.Pruned(events=0, attempts=0)


def test_old_login_records_and_audit_entries_go_recent_ones_stay(make_account, settings):
    settings.LOGIN_RECORDS_RETENTION_DAYS = 30
    settings.AUDIT_RETENTION_DAYS = 365
    now = timezone.now()
    for model, extra in ((AccessAttempt, {"failures_since_start": 1}), (AccessFailureLog, {}), (AccessLog, {})):
        for n in range(3):
            model.objects.create(username=f"old-{n}", ip_address="10.0.0.1", user_agent="ua", **extra)
        model.objects.filter(username__startswith="old-").update(attempt_time=now - timedelta(days=31))
        model.objects.create(username="recent", ip_address="10.0.0.2", user_agent="ua", **extra)
    account = make_account()  # records its creation
    services.rotate_inbound_token(account=account, actor="tests")
    services.rotate_inbound_token(account=account, actor="tests")
    old, kept, recent = ConfigChange.objects.order_by("pk")
    ConfigChange.objects.filter(pk=old.pk).update(at=now - timedelta(days=366))
    ConfigChange.objects.filter(pk=kept.pk).update(at=now - timedelta(days=364))

    assert retention.prune_login_records(older_than=now - timedelta(days=30), batch=2) == 9
    tasks.prune_old_records()  # what beat runs hourly, with the settings above
    for model in (AccessAttempt, AccessFailureLog, AccessLog):
        assert list(model.objects.values_list("username", flat=True)) == ["recent"], model.__name__
    assert set(ConfigChange.objects.values_list("pk", flat=True)) == {kept.pk, recent.pk}


def test_finished_bulk_jobs_go_after_the_retention_unfinished_ones_stay(make_account, settings):
    settings.RETENTION_DAYS = 30
    account = make_account()
    now = timezone.now()

    def job(status: str, finished_days_ago: int | None) -> BulkJob:
        made = bulk_jobs.submit(
            kind=BulkJob.Kind.RESEND, integration=account.mindbox, actor="tests", publish=lambda pk: None
        )
        finished_at = now - timedelta(days=finished_days_ago) if finished_days_ago is not None else None
        BulkJob.objects.filter(pk=made.pk).update(status=status, finished_at=finished_at)
        return made

    old_done, old_cancelled = job("done", 31), job("cancelled", 31)
    recent, running = job("done", 29), job("running", None)
    tasks.prune_old_records()
    assert set(BulkJob.objects.values_list("pk", flat=True)) == {recent.pk, running.pk}
    assert not BulkJob.objects.filter(pk__in=[old_done.pk, old_cancelled.pk]).exists()


def test_login_records_must_outlast_the_lockout():
    """A retention shorter than the cool-off would lift lockouts early: refused at start-up."""
    env = {**os.environ, "LOGIN_RECORDS_RETENTION_DAYS": "1", "AXES_COOLOFF_MINUTES": str(2 * 24 * 60)}
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            "import django, os; os.environ['DJANGO_SETTINGS_MODULE']='integration_portal.settings'; django.setup()",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0 and "LOGIN_RECORDS_RETENTION_DAYS must outlast" in result.stderr
