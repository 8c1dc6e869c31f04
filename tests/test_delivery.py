"""One delivery attempt in-process against the stand-in Mindbox: claim, send, record, schedule."""

import random
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from harness.mindbox_standin import Planned, already_processed, proxy_page, throttled
from mindbox_integration.mindbox import MindboxClient
from notifications import dispatch
from notifications.claims import claim, take_due
from notifications.delivery import attempt_delivery, retry_delay
from notifications.models import Delivery, DeliveryAttempt
from tests.conftest import wait_for

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


def test_a_throttled_protocol_error_is_retried_not_failed(delivery, client, mindbox):
    # Mindbox's 429 carries a ProtocolError envelope: the HTTP code decides, Retry-After is honoured.
    mindbox.plan(throttled(status=429, retry_after="90"))
    result = attempt_delivery(delivery_id=delivery.pk, client=client)
    assert result.status == "pending" and result.retry_in == 90
    delivery.refresh_from_db()
    assert delivery.status == Delivery.Status.PENDING
    assert delivery.last_error == "Mindbox answered HTTP 429; Mindbox ProtocolError: Too many requests"


def test_unavailable_with_a_protocol_error_is_retried(delivery, client, mindbox):
    mindbox.plan(throttled(status=503))
    assert attempt_delivery(delivery_id=delivery.pk, client=client).status == "pending"


def test_already_processed_under_a_conflict_is_delivered_and_the_attempt_says_so(delivery, client, mindbox):
    # A retry after a lost answer: Mindbox has the data, so the delivery is done.
    mindbox.plan(already_processed(status=409))
    result = attempt_delivery(delivery_id=delivery.pk, client=client)
    assert result.status == "delivered"
    delivery.refresh_from_db()
    assert delivery.status == Delivery.Status.DELIVERED and delivery.finished_at is not None
    (attempt,) = DeliveryAttempt.objects.filter(delivery=delivery)
    assert attempt.outcome == "delivered" and attempt.http_status == 409
    assert attempt.error == "Mindbox already had this transaction (HTTP 409)"


def test_a_proxy_page_under_200_is_kept_and_retried(delivery, client, mindbox):
    mindbox.plan(proxy_page(), Planned())
    result = attempt_delivery(delivery_id=delivery.pk, client=client)
    assert result.status == "pending"
    (attempt,) = DeliveryAttempt.objects.filter(delivery=delivery)
    assert attempt.outcome == "retry" and attempt.http_status == 200
    assert "<h1>Вход в сеть</h1>" in attempt.response_body
    assert attempt.error == "the answer is not Mindbox's JSON (HTTP 200, text/html)"
    Delivery.objects.filter(pk=delivery.pk).update(next_attempt_at=timezone.now())
    assert attempt_delivery(delivery_id=delivery.pk, client=client).status == "delivered"
    # The retry went under the same transactionId: Mindbox de-duplicates it if the page hid a delivery.
    assert len({r.query["transactionId"] for r in mindbox.requests}) == 1


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


def test_the_sweeper_takes_due_deliveries_whose_message_lease_ran_out(delivery, settings):
    now = timezone.now()
    assert take_due(now=now, limit=10) == []  # its message was queued on commit
    settings.DELIVERY_QUEUE_LEASE = 60
    later = delivery.queued_until + timedelta(seconds=1)
    assert take_due(now=later, limit=10) == [delivery.pk]
    assert take_due(now=later, limit=10) == []  # queued again: leased for another minute
    delivery.refresh_from_db()
    assert delivery.queued_until == later + timedelta(seconds=60)
    much_later = later + timedelta(seconds=61)
    assert claim(delivery_id=delivery.pk, now=much_later)
    assert take_due(now=much_later, limit=10) == []  # held by a worker
    Delivery.objects.filter(pk=delivery.pk).update(
        claimed_until=None, next_attempt_at=much_later + timedelta(minutes=5)
    )
    assert take_due(now=much_later, limit=10) == []  # not due


def test_a_long_wait_is_left_to_the_sweeper_and_a_short_one_to_a_countdown(delivery, client, mindbox, settings):
    settings.DELIVERY_COUNTDOWN_MAX = 30
    mindbox.plan(Planned(status=503, payload={}))
    short = attempt_delivery(delivery_id=delivery.pk, client=client)
    assert short.requeue_in == short.retry_in
    delivery.refresh_from_db()
    assert delivery.queued_until > delivery.next_attempt_at  # the countdown message covers it
    Delivery.objects.filter(pk=delivery.pk).update(next_attempt_at=timezone.now())
    mindbox.plan(Planned(status=503, payload={}))
    long = attempt_delivery(delivery_id=delivery.pk, client=client)  # second step: 60 s > 30 s
    assert long.retry_in > 30 and long.requeue_in is None
    delivery.refresh_from_db()
    assert delivery.queued_until is None  # the sweeper takes it as soon as it is due
    assert take_due(now=delivery.next_attempt_at, limit=10) == [delivery.pk]


def test_an_attempt_a_killed_worker_left_counts_and_ends_a_crash_loop(delivery, client, mindbox, settings):
    settings.DELIVERY_RETRY_SCHEDULE = [1, 1]
    # Two workers died mid-send: their attempts were written, never completed, and their claims expired.
    for _ in range(2):
        DeliveryAttempt.objects.create(delivery=delivery)
    assert attempt_delivery(delivery_id=delivery.pk, client=client).status == "delivered"
    outcomes = list(DeliveryAttempt.objects.filter(delivery=delivery).values_list("outcome", flat=True))
    assert outcomes == ["interrupted", "interrupted", "delivered"]
    delivery.refresh_from_db()
    assert delivery.attempts == 3

    third = Delivery.objects.create(
        event=delivery.event, notification=None, url="", body="", next_attempt_at=timezone.now()
    )
    assert attempt_delivery(delivery_id=third.pk, client=client).status == "failed"  # notification deleted
    third.refresh_from_db()
    assert "deleted" in third.last_error


def test_a_delivery_that_kills_its_worker_every_time_gives_up(delivery, client, mindbox, settings):
    settings.DELIVERY_RETRY_SCHEDULE = [1, 1]
    for _ in range(3):
        DeliveryAttempt.objects.create(delivery=delivery)
    result = attempt_delivery(delivery_id=delivery.pk, client=client)
    assert result.status == "failed" and result.sent is False
    assert mindbox.requests == []
    delivery.refresh_from_db()
    assert "worker stopped 3 times" in delivery.last_error


def test_the_secret_key_is_in_no_stored_row(delivery, client, mindbox):
    mindbox.plan(Planned(status=500, payload={"status": "InternalServerError"}), Planned(status=401, payload={}))
    attempt_delivery(delivery_id=delivery.pk, client=client)
    Delivery.objects.filter(pk=delivery.pk).update(next_attempt_at=timezone.now())
    attempt_delivery(delivery_id=delivery.pk, client=client)
    rows = [*Delivery.objects.values(), *DeliveryAttempt.objects.values()]
    assert len(rows) == 3
    assert KEY not in repr(rows)
    assert attempts_sent_with(delivery) == {str(delivery.transaction_id)}


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


def attempts_sent_with(delivery: Delivery) -> set[str]:
    return {str(t) for t in DeliveryAttempt.objects.filter(delivery=delivery).values_list("transaction_id", flat=True)}


@pytest.mark.django_db(transaction=True)
def test_an_answer_after_the_claim_expired_changes_nothing(make_account, make_notification, mindbox, settings):
    settings.DELIVERY_CLAIM_SECONDS = 1
    account = make_account()
    make_notification(account)
    result = dispatch.receive_event(
        account=account, communication_type="calls", raw="{}", values=CALL, enqueue=lambda ids: None
    )
    delivery = Delivery.objects.get(event_id=result.event_id)
    # Worker A gets a slow 503; its claim runs out meanwhile and worker B delivers.
    mindbox.plan(Planned(status=503, payload={}, delay=2.0), Planned())

    def worker_a():
        try:
            return attempt_delivery(delivery_id=delivery.pk, client=MindboxClient(connect_timeout=2, read_timeout=5))
        finally:
            connection.close()

    with ThreadPoolExecutor(1) as pool:
        slow = pool.submit(worker_a)
        wait_for(lambda: mindbox.requests, timeout=5)
        time.sleep(1.2)  # past A's one-second claim
        assert (
            attempt_delivery(delivery_id=delivery.pk, client=MindboxClient(connect_timeout=2, read_timeout=5)).status
            == "delivered"
        )
        late = slow.result()
    assert late.sent and late.status == ""  # A's answer was not applied
    delivery.refresh_from_db()
    assert delivery.status == Delivery.Status.DELIVERED and delivery.attempts == 2
    attempts = list(DeliveryAttempt.objects.filter(delivery=delivery).values_list("outcome", "error"))
    assert attempts[1] == ("delivered", "")
    assert attempts[0][0] == "retry" and "after the claim expired" in attempts[0][1]
    assert {r.query["transactionId"] for r in mindbox.requests} == {str(delivery.transaction_id)}


def test_the_notifications_optional_headers_are_sent_as_rendered(make_account, make_notification, client, mindbox):
    # X-Customer-IP and User-Agent, as a Mindbox operation's spec may ask: fixed or from a mnemonic.
    account = make_account(secret_key=KEY)
    notification = make_notification(account)
    notification.headers = {"User-Agent": "Acme-UIS/1.0", "X-Customer-IP": "{{customer_ip}}"}
    notification.save()
    sent = {}
    for session, ip in (("h1", "203.0.113.7"), ("h2", None), ("h3", "not an address")):
        values = {**CALL, "call_session_id": session, "customer_ip": ip}
        result = dispatch.receive_event(
            account=account, communication_type="calls", raw="{}", values=values, enqueue=lambda ids: None
        )
        delivery = Delivery.objects.get(event_id=result.event_id)
        assert attempt_delivery(delivery_id=delivery.pk, client=client).status == "delivered"
        sent[session] = mindbox.requests[-1].headers
    assert sent["h1"]["User-Agent"] == "Acme-UIS/1.0" and sent["h1"]["X-Customer-IP"] == "203.0.113.7"
    # No value, or one a header cannot carry as an address: left out, as an empty URL parameter is.
    assert "X-Customer-IP" not in sent["h2"] and "X-Customer-IP" not in sent["h3"]
    # They never stand in for the key or the content type.
    assert sent["h1"]["Authorization"] == f"SecretKey {KEY}"
    assert sent["h1"]["Content-Type"] == "application/json; charset=utf-8"
