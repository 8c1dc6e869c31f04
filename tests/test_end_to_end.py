"""The whole way through real processes: HTTP into the live server, PostgreSQL, a Celery
worker on Redis, and the stand-in Mindbox."""

import time
from datetime import timedelta

import pytest
import requests
from django.utils import timezone

from harness.mindbox_standin import Planned
from notifications import dispatch
from notifications.models import Delivery, DeliveryAttempt
from notifications.tasks import sweep_due_deliveries
from tests.conftest import wait_for

pytestmark = pytest.mark.django_db(transaction=True)

CALL = {
    "call_session_id": "5550001",
    "notification_mnemonic": "call_finished",
    "visitor_name": "Анна",
    "contact_phone_number": "79161234567",
    "virtual_phone_number": "74951234567",
}


def post_event(live_server, account, payload=CALL) -> dict:
    response = requests.post(
        f"{live_server.url}/api/uis/events/calls/?token={account.inbound_token}", json=payload, timeout=10
    )
    assert response.status_code == 202, response.text
    return response.json()


def finished(delivery_id: int) -> Delivery | None:
    delivery = Delivery.objects.get(pk=delivery_id)
    return delivery if delivery.status != Delivery.Status.PENDING else None


def test_event_is_delivered_to_mindbox(celery_worker, live_server, mindbox, make_account, make_notification):
    account = make_account(secret_key="sk-e2e")
    make_notification(account)
    result = post_event(live_server, account)
    delivery = Delivery.objects.get(event_id=result["event_id"])
    done = wait_for(lambda: finished(delivery.pk))
    assert done.status == Delivery.Status.DELIVERED
    (request,) = mindbox.received(transactionId=str(delivery.transaction_id))
    assert request.path == "/v3/operations/async"
    assert request.query["operation"] == "Zvonok"
    assert request.headers["Authorization"] == "SecretKey sk-e2e"
    assert request.json == {
        "customer": {"fullName": "Анна", "mobilePhone": "79161234567"},
        "comment": "Звонок на 74951234567",
    }


def test_retry_then_success_keeps_one_transaction_id(
    celery_worker, live_server, mindbox, make_account, make_notification
):
    account = make_account()
    make_notification(account)
    mindbox.plan(Planned(status=503, payload={"status": "InternalServerError"}), Planned(status=504, payload={}))
    result = post_event(live_server, account, {**CALL, "call_session_id": "5550002"})
    delivery = Delivery.objects.get(event_id=result["event_id"])
    done = wait_for(lambda: finished(delivery.pk), timeout=30)
    assert done.status == Delivery.Status.DELIVERED
    assert done.attempts == 3
    sent = mindbox.received(transactionId=str(delivery.transaction_id))
    assert len(sent) == 3
    assert len({r.query["transactionId"] for r in mindbox.requests}) == 1
    outcomes = list(
        DeliveryAttempt.objects.filter(delivery=delivery).order_by("started_at").values_list("outcome", "http_status")
    )
    assert outcomes == [("retry", 503), ("retry", 504), ("delivered", 200)]


def test_validation_error_is_not_retried(celery_worker, live_server, mindbox, make_account, make_notification):
    account = make_account()
    make_notification(account)
    mindbox.plan(
        Planned(
            payload={
                "status": "ValidationError",
                "validationMessages": [{"message": "Некорректный email", "location": "/customer/email"}],
            }
        )
    )
    result = post_event(live_server, account, {**CALL, "call_session_id": "5550003"})
    delivery = Delivery.objects.get(event_id=result["event_id"])
    done = wait_for(lambda: finished(delivery.pk))
    assert done.status == Delivery.Status.FAILED
    assert "/customer/email: Некорректный email" in done.last_error
    time.sleep(2.5)  # the worker's retry schedule is 1 s: a wrong retry would have happened by now
    assert len(mindbox.received(transactionId=str(delivery.transaction_id))) == 1
    assert DeliveryAttempt.objects.filter(delivery=delivery).count() == 1


def test_sweeper_sends_a_delivery_whose_message_was_lost(
    celery_worker, live_server, mindbox, make_account, make_notification
):
    account = make_account()
    make_notification(account)
    lost: list[list[int]] = []  # the enqueue step "loses" the message
    result = dispatch.receive_event(
        account=account,
        communication_type="calls",
        raw="{}",
        values={**CALL, "call_session_id": "5550004"},
        enqueue=lost.append,
    )
    assert lost and result.deliveries == 1
    delivery = Delivery.objects.get(event_id=result.event_id)
    assert sweep_due_deliveries() == 0  # its message may still be in the queue
    Delivery.objects.filter(pk=delivery.pk).update(queued_until=timezone.now() - timedelta(seconds=1))
    assert sweep_due_deliveries() == 1
    done = wait_for(lambda: finished(delivery.pk))
    assert done.status == Delivery.Status.DELIVERED
    assert len(mindbox.received(transactionId=str(delivery.transaction_id))) == 1
