"""Dead letters: resend keeps the transaction id and the history; re-render takes the fixed
template and a new transaction id; nothing else is touched."""

from datetime import timedelta

import pytest
from django.utils import timezone

from harness.mindbox_standin import Planned
from mindbox_integration.mindbox import MindboxClient
from notifications import replay
from notifications.delivery import attempt_delivery
from notifications.models import Delivery, DeliveryAttempt
from tests.conftest import receive_call

pytestmark = pytest.mark.django_db

INVALID = Planned(payload={"status": "ValidationError", "validationMessages": [{"message": "bad", "location": "/x"}]})


@pytest.fixture
def client() -> MindboxClient:
    return MindboxClient(connect_timeout=2, read_timeout=2)


def receive(account, session: str) -> Delivery:
    return Delivery.objects.get(event_id=receive_call(account, session, visitor_name="Анна").event_id)


def test_resend_keeps_the_transaction_id_and_the_attempts(
    make_account, make_notification, client, mindbox, django_capture_on_commit_callbacks
):
    account = make_account()
    make_notification(account)
    failed, delivered = receive(account, "1"), receive(account, "2")
    mindbox.plan(INVALID)
    attempt_delivery(delivery_id=failed.pk, client=client)
    attempt_delivery(delivery_id=delivered.pk, client=client)
    queued: list[int] = []
    with django_capture_on_commit_callbacks(execute=True):
        result = replay.resend(delivery_ids=[failed.pk, delivered.pk], enqueue=queued.extend)
    assert result.queued == queued == [failed.pk]
    assert result.skipped == 1  # a delivered one is not sent again
    failed.refresh_from_db()
    assert failed.status == Delivery.Status.PENDING and failed.attempts == 0 and failed.last_error == ""

    assert attempt_delivery(delivery_id=failed.pk, client=client).status == "delivered"
    ids = [r.query["transactionId"] for r in mindbox.received(operation="Zvonok")]
    assert ids.count(str(failed.transaction_id)) == 2  # Mindbox can de-duplicate the resend
    assert list(DeliveryAttempt.objects.filter(delivery=failed).values_list("outcome", flat=True)) == [
        "failed",
        "delivered",
    ]


def test_rerender_after_a_template_fix_sends_a_new_request(
    make_account, make_notification, client, mindbox, django_capture_on_commit_callbacks
):
    account = make_account()
    notification = make_notification(account, body='{"customer": {"fullName": {{visitor_name}}')  # broken
    delivery = receive(account, "1")
    assert delivery.status == Delivery.Status.FAILED
    old_id = delivery.transaction_id

    still = replay.rerender(delivery_ids=[delivery.pk], enqueue=lambda ids: None)
    assert still.queued == [] and delivery.pk in still.errors

    notification.body = '{"customer": {"fullName": {{visitor_name}}}}'
    notification.save()
    queued: list[int] = []
    with django_capture_on_commit_callbacks(execute=True):
        result = replay.rerender(delivery_ids=[delivery.pk], enqueue=queued.extend)
    assert queued == [delivery.pk]
    delivery.refresh_from_db()
    assert delivery.transaction_id != old_id
    assert attempt_delivery(delivery_id=delivery.pk, client=client).status == "delivered"
    (request,) = mindbox.requests
    assert request.json == {"customer": {"fullName": "Анна"}}
    assert request.query["transactionId"] == str(delivery.transaction_id)
    assert result.errors == {}


def test_failed_since_picks_one_integration_from_a_time(make_account, make_notification, client, mindbox):
    mine, other = make_account(), make_account()
    make_notification(mine)
    make_notification(other)
    old, new, foreign = receive(mine, "1"), receive(mine, "2"), receive(other, "3")
    now = timezone.now()
    Delivery.objects.filter(pk__in=[old.pk, new.pk, foreign.pk]).update(status=Delivery.Status.FAILED, finished_at=now)
    Delivery.objects.filter(pk=old.pk).update(finished_at=now - timedelta(days=2))
    # Created long ago, failed recently (after a day of retries): it counts.
    Delivery.objects.filter(pk=new.pk).update(created_at=now - timedelta(days=3))
    assert list(replay.failed_since(integration_id=mine.mindbox.pk, since=now - timedelta(days=1))) == [new]


def test_rerender_of_an_unchanged_request_keeps_its_transaction_id(make_account, make_notification, client, mindbox):
    account = make_account()
    make_notification(account)
    delivery = receive(account, "1")
    mindbox.plan(Planned(status=500, payload={}))
    attempt_delivery(delivery_id=delivery.pk, client=client)
    Delivery.objects.filter(pk=delivery.pk).update(status=Delivery.Status.FAILED)  # as if retries ran out
    result = replay.rerender(delivery_ids=[delivery.pk], enqueue=lambda ids: None)
    assert result.queued == [delivery.pk]
    # Mindbox may have processed the timed-out request: the same body goes under the same id.
    assert Delivery.objects.get(pk=delivery.pk).transaction_id == delivery.transaction_id
