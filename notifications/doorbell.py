"""A doorbell per delivery queue: at most one waiting Celery message per queue asks a worker to
claim that queue's due deliveries, however many events arrive meanwhile.

The delivery rows are the durable record; a message only says "look now". Intake rings after
each commit: the first ring sets a key in Redis and publishes a message, later rings see the
key and publish nothing. The task answers the bell (deletes the key) *before* it claims, so a
delivery committed after the claim rings anew, and one committed before it is claimed. A
wake-up at a later time (a retry's countdown, a rate limit's slot) has a key per time.

The key expires after DOORBELL_LEASE, so a lost message (a killed worker holds it until the
broker's visibility timeout) silences the bell for that long at most; the sweeper covers the
deliveries meanwhile. Without Redis (the local embedded set-up) or while it is unreachable,
every ring publishes.
"""

import contextlib

import redis
from django.conf import settings

from notifications.ratelimit import redis_for

KEY_PREFIX = "portal:doorbell:"
DOORBELL_LEASE = 10.0  # seconds a rung bell stays rung without an answer


def _key(queue: str, at: int | None) -> str:
    """`at`: the wake-up's time in hundredths of a second since the epoch; None: now."""
    return KEY_PREFIX + queue if at is None else f"{KEY_PREFIX}{queue}:{at}"


def ring(*, queue: str, at: int | None = None, ttl: float = DOORBELL_LEASE) -> bool:
    """Ring the bell of `queue` (for a wake-up at `at`, or now): True when the caller must
    publish the message (the bell was silent), False when one is already on its way."""
    if not settings.REDIS_URL:
        return True
    try:
        client = redis_for(settings.REDIS_URL).client
        return bool(client.set(_key(queue, at), "1", nx=True, px=max(1, int(ttl * 1000))))
    except redis.RedisError:
        return True  # publishing more than needed is harmless; the publish says if the broker is down


def answer(*, queue: str, at: int | None = None) -> None:
    """A worker took the message (or it could not be published): later rings publish again."""
    if not settings.REDIS_URL:
        return
    with contextlib.suppress(redis.RedisError):  # the key expires by itself
        redis_for(settings.REDIS_URL).client.delete(_key(queue, at))
