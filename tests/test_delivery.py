"""One delivery attempt in-process against the stand-in Mindbox: claim, send, record, schedule."""

import random
from datetime import timedelta

import pytest
from django.utils import timezone

from mindbox_integration.mindbox import MindboxClient
from notifications import dispatch, selectors
from notifications.delivery import attempt_delivery, claim, retry_delay
from notifications.models import Delivery, DeliveryAttempt
from tests.mindbox_standin import Planned

pytestmark = pytest.mark.django_db

KEY = "sk-live-do-not-leak-4242"
CALL = {"call_session_id": "1", "visitor_name": "Анна", "contact_phone_number": "79161234567"}


@pytest.fixture
def client() -> MindboxClient:
    return MindboxClient(connect_timeout=2, read_timeout=2)


@pytest.fixture
def delivery(make_account, make_notification, settings) -> Delivery:
    settings.DELIVERY_RETRY_SCHEDULE = [10, 60, 300]
    account = make_account(secret_key=KEY)
    make_notification(account)
    queued: list[list[int]] = []
    result = dispatch.receive_event(
        account=account, communication_type="calls", raw="{}", values=CALL, enqueue=queued.append
    )
    return Delivery.objects.get(event_id=result.event_id)


def test_success_is_recorded_with_one_attempt(delivery, client, mindbox):
    result = attempt_delivery(delivery_id=delivery.pk, client=client)
    assert result.sent and result.status == "delivered"
    delivery.refresh_from_db()
    assert delivery.status == Delivery.Status.DELIVERED
    assert delivery.attempts == 1
    assert delivery.finished_at is not None
    (request,) = mindbox.requests
    assert request.query["transactionId"] == str(delivery.transaction_id)
    assert request.headers["Authorization"] == f"SecretKey {KEY}"
    assert request.json == {"customer": {"fullName": "Анна", "mobilePhone": "79161234567"}, "comment": "Звонок на "}
    (attempt,) = DeliveryAttempt.objects.filter(delivery=delivery)
    assert attempt.outcome == "delivered" and attempt.http_status == 200 and attempt.duration_ms is not None


def test_temporary_failure_schedules_a_retry_with_jitter(delivery, client, mindbox):
    mindbox.plan(Planned(status=503, payload={"status": "InternalServerError"}))
    before = timezone.now()
    result = attempt_delivery(delivery_id=delivery.pk, client=client)
    assert result.status == "pending"
    assert 8 <= result.retry_in <= 12
    delivery.refresh_from_db()
    assert delivery.attempts == 1
    assert before + timedelta(seconds=8) <= delivery.next_attempt_at <= timezone.now() + timedelta(seconds=12)
    assert delivery.claimed_until is None
    assert "HTTP 503" in delivery.last_error
    # Not due yet: a second message for it does nothing.
    assert attempt_delivery(delivery_id=delivery.pk, client=client).sent is False
    assert len(mindbox.requests) == 1


def test_retry_after_longer_than_the_schedule_is_honoured(delivery, client, mindbox):
    mindbox.plan(Planned(status=429, payload={}, headers={"Retry-After": "90"}))
    assert attempt_delivery(delivery_id=delivery.pk, client=client).retry_in == 90


def test_permanent_failure_is_not_retried_and_keeps_mindbox_messages(delivery, client, mindbox):
    mindbox.plan(
        Planned(
            payload={
                "status": "ValidationError",
                "validationMessages": [{"message": "Неверный формат телефона", "location": "/customer/mobilePhone"}],
            }
        )
    )
    result = attempt_delivery(delivery_id=delivery.pk, client=client)
    assert result.status == "failed" and result.retry_in is None
    delivery.refresh_from_db()
    assert delivery.status == Delivery.Status.FAILED
    assert "/customer/mobilePhone: Неверный формат телефона" in delivery.last_error
    assert "Неверный формат телефона" in DeliveryAttempt.objects.get(delivery=delivery).response_body


def test_fails_after_the_last_scheduled_retry(delivery, client, mindbox):
    mindbox.plan(*[Planned(status=502, payload={})] * 4)
    for _ in range(4):
        Delivery.objects.filter(pk=delivery.pk).update(next_attempt_at=timezone.now())
        result = attempt_delivery(delivery_id=delivery.pk, client=client)
    delivery.refresh_from_db()
    assert result.status == "failed"
    assert delivery.attempts == 4
    assert "gave up after 4 attempts" in delivery.last_error
    transaction_ids = {r.query["transactionId"] for r in mindbox.requests}
    assert transaction_ids == {str(delivery.transaction_id)}


def test_a_claimed_delivery_is_not_sent_by_another_worker(delivery, client, mindbox):
    assert claim(delivery_id=delivery.pk, now=timezone.now())
    assert attempt_delivery(delivery_id=delivery.pk, client=client).sent is False
    assert mindbox.requests == []
    # Once the claim expires (its worker died), the delivery can be taken again.
    Delivery.objects.filter(pk=delivery.pk).update(claimed_until=timezone.now() - timedelta(seconds=1))
    assert attempt_delivery(delivery_id=delivery.pk, client=client).sent is True


def test_due_deliveries_are_found_for_the_sweeper(delivery):
    now = timezone.now()
    assert selectors.due_delivery_ids(now=now, limit=10) == [delivery.pk]
    assert selectors.due_delivery_ids(now=now, due_before=now - timedelta(minutes=1), limit=10) == []
    assert claim(delivery_id=delivery.pk, now=now)
    assert selectors.due_delivery_ids(now=now, limit=10) == []  # held by a worker
    Delivery.objects.filter(pk=delivery.pk).update(claimed_until=None)
    Delivery.objects.filter(pk=delivery.pk).update(next_attempt_at=now + timedelta(minutes=5))
    assert selectors.due_delivery_ids(now=now, limit=10) == []


def test_the_secret_key_is_in_no_stored_row(delivery, client, mindbox):
    mindbox.plan(Planned(status=500, payload={"status": "InternalServerError"}), Planned(status=401, payload={}))
    attempt_delivery(delivery_id=delivery.pk, client=client)
    Delivery.objects.filter(pk=delivery.pk).update(next_attempt_at=timezone.now())
    attempt_delivery(delivery_id=delivery.pk, client=client)
    rows = [*Delivery.objects.values(), *DeliveryAttempt.objects.values()]
    assert len(rows) == 3
    assert KEY not in repr(rows)


def test_retry_delay_follows_the_schedule():
    rng = random.Random(1)
    schedule = [10, 60]
    assert 8 <= retry_delay(attempts_done=1, schedule=schedule, retry_after=None, rng=rng) <= 12
    assert 48 <= retry_delay(attempts_done=2, schedule=schedule, retry_after=None, rng=rng) <= 72
    assert retry_delay(attempts_done=3, schedule=schedule, retry_after=None, rng=rng) is None
    assert retry_delay(attempts_done=1, schedule=schedule, retry_after=600, rng=rng) == 600


def test_a_body_that_cannot_render_is_a_visible_failed_delivery(make_account, make_notification):
    account = make_account()
    make_notification(account, body='{"broken": ')  # saved around validation, as an old row might be
    result = dispatch.receive_event(
        account=account, communication_type="calls", raw="{}", values=CALL, enqueue=lambda ids: None
    )
    delivery = Delivery.objects.get(event_id=result.event_id)
    assert delivery.status == Delivery.Status.FAILED
    assert delivery.last_error.startswith("cannot render:")


def test_a_key_that_cannot_be_sent_fails_without_leaking(make_account, make_notification, client, mindbox, caplog):
    key = "sk-секрет-42"  # not Latin-1: the HTTP header cannot carry it (saved around validation)
    account = make_account(secret_key=key)
    make_notification(account)
    result = dispatch.receive_event(
        account=account, communication_type="calls", raw="{}", values=CALL, enqueue=lambda ids: None
    )
    delivery = Delivery.objects.get(event_id=result.event_id)
    assert attempt_delivery(delivery_id=delivery.pk, client=client).status == "failed"
    delivery.refresh_from_db()
    assert delivery.claimed_until is None
    assert "UnicodeEncodeError" in delivery.last_error
    rows = [*Delivery.objects.values(), *DeliveryAttempt.objects.values()]
    assert "секрет" not in repr(rows)
    assert "секрет" not in caplog.text
