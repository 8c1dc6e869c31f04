"""Retention prunes old events and attempts in batches, and never an unfinished delivery."""

from datetime import timedelta

import pytest
from django.utils import timezone

from notifications import dispatch, retention
from notifications.models import Delivery, DeliveryAttempt, InboundEvent

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
