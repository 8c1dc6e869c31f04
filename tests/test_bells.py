"""A worker's answer to its queues' doorbells (notifications.bells): calls left in Redis lists,
taken by a thread, answered on a bounded pool."""

import os
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import pytest
import redis

from notifications import bells, doorbell
from notifications.models import Delivery
from tests.conftest import receive_call, running_worker, wait_for


class Answers:
    """What the bells answered, each answer held until `go` is set."""

    def __init__(self) -> None:
        self.started: list[str] = []
        self.finished: list[str] = []
        self.go = threading.Event()
        self.go.set()

    def __call__(self, queue: str) -> None:
        self.started.append(queue)
        self.go.wait(10)
        self.finished.append(queue)


@contextmanager
def listening(answers: Callable[[str], None], queues: list[str], threads: int) -> Iterator[bells.Bells]:
    listener = bells.Bells(url=os.environ["REDIS_URL"], queues=queues, threads=threads, answer=answers)
    listener.start()
    try:
        yield listener
    finally:
        if listener.thread.is_alive():
            listener.stop()


def calls(queue: str) -> int:
    return redis.Redis.from_url(os.environ["REDIS_URL"]).llen(doorbell.calls_key(queue))


def test_a_call_is_answered_once_for_its_queue_and_others_are_left_alone():
    answers = Answers()
    with listening(answers, ["t-a", "t-b"], threads=2):
        assert doorbell.call(queue="t-b")
        assert doorbell.call(queue="t-other")
        wait_for(lambda: answers.finished == ["t-b"], timeout=5)
        assert calls("t-b") == 0
        assert calls("t-other") == 1  # not this worker's queue


def test_no_call_is_taken_while_every_thread_is_busy():
    answers = Answers()
    answers.go.clear()
    with listening(answers, ["t-a", "t-b"], threads=1):
        doorbell.call(queue="t-a")
        wait_for(lambda: answers.started == ["t-a"], timeout=5)
        doorbell.call(queue="t-b")
        time.sleep(bells.POLL * 1.5)  # long enough for the listener to come round more than once
        assert calls("t-b") == 1  # left in Redis for a worker with room
        answers.go.set()
        wait_for(lambda: answers.finished == ["t-a", "t-b"], timeout=5)


def test_a_warm_stop_takes_no_more_calls_and_waits_for_the_batch_under_way():
    answers = Answers()
    answers.go.clear()
    with listening(answers, ["t-a", "t-b"], threads=2) as listener:
        doorbell.call(queue="t-a")
        wait_for(lambda: answers.started == ["t-a"], timeout=5)
        stopping = threading.Thread(target=listener.stop)
        stopping.start()
        wait_for(lambda: listener.stopping.is_set(), timeout=5)
        listener.thread.join(bells.POLL * 2)
        assert not listener.thread.is_alive()
        doorbell.call(queue="t-b")
        stopping.join(0.5)
        assert stopping.is_alive()  # still waiting for the batch
        answers.go.set()
        stopping.join(10)
        assert not stopping.is_alive()
        assert answers.finished == ["t-a"]
        assert calls("t-b") == 1  # for the next worker


def test_a_failing_batch_frees_its_thread():
    answered: list[str] = []

    def answer(queue: str) -> None:
        answered.append(queue)
        raise RuntimeError("the database went away")

    with listening(answer, ["t-a"], threads=1):
        doorbell.call(queue="t-a")
        wait_for(lambda: len(answered) == 1, timeout=5)
        doorbell.answer(queue="t-a")
        doorbell.call(queue="t-a")
        wait_for(lambda: len(answered) == 2, timeout=5)


@pytest.mark.django_db(transaction=True)
def test_a_worker_answers_the_calls_of_the_queues_it_serves(standin, mindbox, make_account, make_notification):
    account = make_account()
    make_notification(account)
    with running_worker(standin, name="worker-retries", WORKER_QUEUES="retries"):
        delivery_id = Delivery.objects.get(event_id=receive_call(account, "bells-1").event_id).pk
        doorbell.call(queue="deliveries")
        time.sleep(bells.POLL * 2)
        assert calls("deliveries") == 1  # not a queue this worker serves
        assert Delivery.objects.get(pk=delivery_id).status == Delivery.Status.PENDING
        Delivery.objects.filter(pk=delivery_id).update(queue=Delivery.Queue.RETRIES)
        doorbell.call(queue="retries")
        wait_for(lambda: Delivery.objects.get(pk=delivery_id).status == Delivery.Status.DELIVERED, timeout=30)
        assert calls("retries") == 0
