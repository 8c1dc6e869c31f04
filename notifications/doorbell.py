"""A doorbell per delivery queue: at most one waiting call per queue asks a worker to claim that
queue's due deliveries, however many events arrive meanwhile.

The delivery rows are the durable record; a call only says "look now". Intake rings after each
commit: the first ring sets a key in Redis and leaves a call in the queue's list of calls (one
script, one round trip); later rings see the key and leave nothing. Every worker process waits
on the lists of its queues (notifications.bells) and answers a call by deleting the key *before*
it claims, so a delivery committed after the claim rings anew, and one committed before it is
claimed. A list holds one call at most.

A wake-up at a later time (a retry's countdown, a rate limit's slot) is a Celery message with an
ETA, rung under a key per time; when it comes due, the task rings the queue's bell.

The key expires after DOORBELL_LEASE, so a call lost with a killed worker silences the bell for
that long at most; the sweeper covers the deliveries meanwhile. Without Redis (the local embedded
set-up) there are no lists: every wake-up is a Celery message, and every ring publishes one.
"""

import contextlib

import redis
from django.conf import settings

from notifications.ratelimit import redis_for

KEY_PREFIX = "portal:doorbell:"
DOORBELL_LEASE = 10.0  # seconds a rung bell stays rung without an answer

# KEYS[1]: the bell, KEYS[2]: the queue's calls. ARGV: the lease (ms), "1" to call whatever the
# bell says. Answers 1 when it called, 0 when the bell was rung already (a call is waiting, or
# a worker is about to answer it).
_CALL = """
if ARGV[2] == '1' then
  redis.call('SET', KEYS[1], '1', 'PX', ARGV[1])
elseif not redis.call('SET', KEYS[1], '1', 'NX', 'PX', ARGV[1]) then
  return 0
end
redis.call('LPUSH', KEYS[2], '1')
redis.call('LTRIM', KEYS[2], 0, 0)
redis.call('PEXPIRE', KEYS[2], ARGV[1])
return 1
"""


def _key(queue: str, at: int | None) -> str:
    """`at`: the wake-up's time in hundredths of a second since the epoch; None: now."""
    return KEY_PREFIX + queue if at is None else f"{KEY_PREFIX}{queue}:{at}"


def calls_key(queue: str) -> str:
    """The list a worker waits on for `queue`'s calls."""
    return f"{KEY_PREFIX}{queue}:calls"


def queue_of(key: bytes | str) -> str:
    """The queue whose calls list is `key`."""
    text = key.decode() if isinstance(key, bytes) else key
    return text.removeprefix(KEY_PREFIX).removesuffix(":calls")


def call(*, queue: str, force: bool = False) -> bool:
    """Ring the bell of `queue` and, when it was silent (or `force`), leave a call for a worker:
    True when a call was left. Raises redis.RedisError when Redis does not answer."""
    lease = str(int(DOORBELL_LEASE * 1000))
    script = redis_for(settings.REDIS_URL).script(_CALL)
    return bool(script(keys=[_key(queue, None), calls_key(queue)], args=[lease, "1" if force else "0"]))


def ring(*, queue: str, at: int, ttl: float) -> bool:
    """Ring the bell of `queue` for a wake-up at `at`: True when the caller must publish the
    message (the bell was silent), False when one is already on its way."""
    if not settings.REDIS_URL:
        return True
    try:
        client = redis_for(settings.REDIS_URL).client
        return bool(client.set(_key(queue, at), "1", nx=True, px=max(1, int(ttl * 1000))))
    except redis.RedisError:
        return True  # publishing more than needed is harmless; the publish says if the broker is down


def answer(*, queue: str, at: int | None = None) -> None:
    """A worker took the call (or it could not be made): later rings call again."""
    if not settings.REDIS_URL:
        return
    with contextlib.suppress(redis.RedisError):  # the key expires by itself
        redis_for(settings.REDIS_URL).client.delete(_key(queue, at))
