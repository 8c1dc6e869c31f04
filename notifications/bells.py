"""A worker process's answer to its queues' doorbells (notifications.doorbell): one thread waits
on the queues' lists of calls, and each call runs a batch (tasks.answer_bell) on a pool of
threads of its own.

A call costs the worker one BLPOP, where a Celery message cost a receipt, a late acknowledgement
kept in Redis and the task's tracing: the largest share of a worker's CPU at a moderate rate. No
call is taken while every thread is busy, so calls wait in Redis for a worker with room, as
Celery's prefetch of one would. A warm shutdown takes no more calls and waits for the batches
under way; a call lost with a killed worker is the bell's lease and the sweeper's to cover.

Workers start it by a bootstep (integration_portal.celery) when REDIS_URL is set; without Redis
every wake-up is a Celery message."""

import logging
import math
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor

import redis
from django.db import close_old_connections

from notifications import doorbell

log = logging.getLogger(__name__)

POLL = 1.0  # seconds one wait on the lists lasts: how soon a stop is noticed
PAUSE_AFTER_FAILURE = 1.0  # seconds before asking a Redis that failed again
WARN_EVERY = 60.0


class Bells:
    def __init__(self, *, url: str, queues: Sequence[str], threads: int, answer: Callable[[str], None]) -> None:
        if not queues or threads < 1:
            raise ValueError(f"bells need a queue and a thread, got {list(queues)} and {threads}")
        self.queues = list(queues)
        self.answer = answer
        # A socket timeout beyond the wait's: a wait that ends without a call is not a failure.
        self.client = redis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=POLL + 5)
        self.free = threading.Semaphore(threads)
        self.pool = ThreadPoolExecutor(threads, thread_name_prefix="bells")
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._listen, name="bells", daemon=True)
        self.warned_at = -math.inf

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        """Warm shutdown: take no more calls, and let the batches under way finish."""
        self.stopping.set()
        if self.thread.is_alive():  # not started when the worker stops before it was ready
            self.thread.join()
        self.pool.shutdown(wait=True)
        self.client.close()

    def terminate(self) -> None:
        """Cold shutdown: take no more calls; the batches under way end with the process, and
        their claims are the sweeper's once they lapse."""
        self.stopping.set()
        self.pool.shutdown(wait=False, cancel_futures=True)

    def _listen(self) -> None:
        keys = [doorbell.calls_key(queue) for queue in self.queues]
        while not self.stopping.is_set():
            if not self.free.acquire(timeout=POLL):
                continue
            try:
                popped = self.client.blpop(keys, timeout=POLL)
            except redis.RedisError as exc:
                self.free.release()
                self._warn(exc)
                self.stopping.wait(PAUSE_AFTER_FAILURE)
                continue
            if popped is None:
                self.free.release()
                continue
            try:
                self.pool.submit(self._answer, doorbell.queue_of(popped[0]))
            except RuntimeError:  # a cold shutdown closed the pool: the bell's lease covers this call
                self.free.release()
                return

    def _answer(self, queue: str) -> None:
        try:
            self.answer(queue)
        except Exception:
            log.exception("a batch of the %s queue failed; its claims lapse and it is tried again", queue)
        finally:
            close_old_connections()  # back to the pool, as Celery does after a task
            self.free.release()

    def _warn(self, exc: Exception) -> None:
        clock = time.monotonic()
        if clock - self.warned_at >= WARN_EVERY:
            self.warned_at = clock
            log.warning("cannot wait for the doorbells' calls: Redis unreachable (%s); trying again", exc)
