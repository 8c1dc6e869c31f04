"""Three queues: first attempts, retries (the sweeper's and countdowns) and replays, so that a
backlog in one does not hold up the others."""

import base64
import json
import math
import os
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
import redis
from django.db import connection
from django.utils import timezone

from harness.mindbox_standin import Planned
from notifications import dispatch, doorbell, tasks
from notifications.models import Delivery
from notifications.tasks import enqueue_deliveries, enqueue_replays, sweep_due_deliveries
from tests.conftest import wait_for, woken

QUEUES = ("deliveries", "retries", "replays")
CALL_VALUES = {"call_session_id": "q-1", "notification_mnemonic": "call_finished", "visitor_name": "Анна"}


CALLS = [doorbell.calls_key(queue) for queue in QUEUES]


@pytest.fixture
def broker() -> Iterator[redis.Redis]:
    connection = redis.Redis.from_url(os.environ["REDIS_URL"])
    connection.delete(*QUEUES, *CALLS)
    yield connection
    connection.delete(*QUEUES, *CALLS)


def receive(account, session: str) -> None:
    """A call event for `account`, through intake, waking its queue as the endpoint does."""
    dispatch.receive_event(
        account=account,
        communication_type="calls",
        raw="{}",
        values={**CALL_VALUES, "call_session_id": session},
        enqueue=enqueue_deliveries,
    )


def queued(broker: redis.Redis) -> dict[str, int]:
    """The calls waiting in each queue's list: one at most."""
    return {queue: broker.llen(doorbell.calls_key(queue)) for queue in QUEUES}


@pytest.mark.django_db
def test_fresh_events_retries_and_replays_each_go_to_their_queue(
    broker, make_account, make_notification, django_capture_on_commit_callbacks
):
    account = make_account()
    make_notification(account)
    with django_capture_on_commit_callbacks(execute=True):
        result = dispatch.receive_event(
            account=account, communication_type="calls", raw="{}", values=CALL_VALUES, enqueue=enqueue_deliveries
        )
    assert queued(broker) == {"deliveries": 1, "retries": 0, "replays": 0}

    # The message was lost (say); once its queue lease ends, the sweeper queues it as a retry.
    Delivery.objects.filter(event_id=result.event_id).update(queued_until=timezone.now())
    assert sweep_due_deliveries() == 1
    assert queued(broker) == {"deliveries": 1, "retries": 1, "replays": 0}
    assert Delivery.objects.get(event_id=result.event_id).queue == "retries"  # the sweeper's take is a retry

    enqueue_replays([Delivery.objects.get(event_id=result.event_id).pk])
    assert queued(broker) == {"deliveries": 1, "retries": 1, "replays": 1}
    assert {queue: broker.llen(queue) for queue in QUEUES} == {"deliveries": 0, "retries": 0, "replays": 0}


@pytest.mark.django_db
def test_a_wake_up_due_later_is_a_celery_message_that_calls_when_it_comes(broker, settings):
    at = time.time() + 30
    tasks.wake("retries", at=at)
    tasks.wake("retries", at=at)  # the same time: its bell is rung, nothing more is published
    assert broker.llen("retries") == 1
    message = json.loads(broker.lindex("retries", 0))
    assert message["headers"]["task"] == "notifications.tasks.deliver_due"
    assert datetime.fromisoformat(message["headers"]["eta"]) == datetime.fromtimestamp(math.ceil(at * 100) / 100, UTC)
    assert json.loads(base64.b64decode(message["body"]))[0] == ["retries"]
    assert queued(broker)["retries"] == 0

    tasks.deliver_due("retries")  # the message, come due: it calls a worker of its queue
    assert queued(broker) == {"deliveries": 0, "retries": 1, "replays": 0}
    tasks.deliver_due("retries")  # the bell is rung: the call waiting covers this one too
    assert queued(broker)["retries"] == 1


@pytest.mark.django_db
def test_one_wake_up_per_queue_however_many_events(
    broker, make_account, make_notification, django_capture_on_commit_callbacks
):
    account = make_account()
    make_notification(account)
    for n in range(20):
        with django_capture_on_commit_callbacks(execute=True):
            receive(account, f"bell-{n}")
    # No worker has answered the bell: the first message covers all twenty deliveries.
    assert queued(broker) == {"deliveries": 1, "retries": 0, "replays": 0}
    assert woken(broker, "deliveries") == list(
        Delivery.objects.filter(event__account=account).order_by("created_at", "pk").values_list("pk", flat=True)
    )


@pytest.mark.django_db(transaction=True)
def test_a_fresh_event_is_not_held_up_by_a_backlog_of_retries(
    broker, celery_worker, mindbox, make_account, make_notification
):
    # Each answer takes half a second: the backlog takes seconds to send, a fresh event should not.
    mindbox.plan(*[Planned(delay=0.5)] * 450)
    backlog_account = make_account(name="Backlog")
    make_notification(backlog_account)
    fresh_account = make_account(name="Fresh")
    make_notification(fresh_account)
    backlog = []
    for n in range(400):
        values = {**CALL_VALUES, "call_session_id": f"backlog-{n}"}
        result = dispatch.receive_event(
            account=backlog_account, communication_type="calls", raw="{}", values=values, enqueue=lambda ids: None
        )
        backlog.append(Delivery.objects.get(event_id=result.event_id).pk)
    Delivery.objects.filter(pk__in=backlog).update(queue=Delivery.Queue.RETRIES)
    enqueue_deliveries(backlog, queue="retries")
    fresh = dispatch.receive_event(
        account=fresh_account, communication_type="calls", raw="{}", values=CALL_VALUES, enqueue=enqueue_deliveries
    )
    fresh_delivery = Delivery.objects.get(event_id=fresh.event_id)

    wait_for(lambda: Delivery.objects.get(pk=fresh_delivery.pk).status == Delivery.Status.DELIVERED, timeout=60)
    still_waiting = Delivery.objects.filter(pk__in=backlog, status=Delivery.Status.PENDING).count()
    # Served in turn with the retries, not after them: most of the backlog is still to go.
    assert still_waiting > 200, still_waiting
    wait_for(lambda: not Delivery.objects.filter(pk__in=backlog, status=Delivery.Status.PENDING).exists(), timeout=120)


@pytest.mark.django_db(transaction=True)
def test_a_busy_queue_gathers_the_events_of_its_linger_into_one_batch(
    broker, make_account, make_notification, mindbox, settings
):
    settings.DELIVERY_LINGER_MS = 1000
    account = make_account()
    make_notification(account)
    tasks.answer_bell("deliveries")  # the bell answered just now: the queue counts as busy
    # The bell rung, its call taken by the worker below.
    assert broker.set(doorbell.KEY_PREFIX + "deliveries", "1", nx=True, px=10_000)

    def worker() -> None:
        try:
            tasks.answer_bell("deliveries")
        finally:
            connection.close()

    lingering = threading.Thread(target=worker)
    lingering.start()
    for n in range(3):  # committed while it lingers: each rings, and finds the bell rung
        receive(account, f"linger-{n}")
    lingering.join()
    assert queued(broker)["deliveries"] == 0  # no call left for them
    assert len(mindbox.succeeded()) == 3  # one batch took all three
    assert set(Delivery.objects.values_list("status", flat=True)) == {"delivered"}
