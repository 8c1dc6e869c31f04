"""A token bucket per caller, kept in Redis so that every web process shares it.

One Lua script refills the bucket, takes a token and answers how long to wait, atomically, on
Redis's clock (every process reads the same one) unless a time is given (tests). A bucket holds
`burst` tokens, refills at `rate` a second, and expires once it would be full again, so the keys
of callers who went quiet leave Redis by themselves.

Without Redis there is no limit: when REDIS_URL is empty (the embedded local set-up) nothing is
asked, and when Redis cannot be reached the request goes through (the endpoint must keep
accepting events), with a warning at most once a minute."""

import logging
import math
import time
from dataclasses import dataclass

import redis
from django.conf import settings
from redis.backoff import NoBackoff
from redis.commands.core import Script
from redis.retry import Retry

log = logging.getLogger(__name__)

KEY_PREFIX = "portal:inbound-rate:"
TIMEOUT = 0.5  # seconds to connect or to answer; a slower Redis counts as unreachable
# Seconds without asking a Redis that failed: a hung one costs one timeout, not one per request.
PAUSE_AFTER_FAILURE = 5.0
WARN_EVERY = 60.0

# KEYS[1]: the bucket. ARGV: rate (tokens a second), burst (capacity), now (seconds; empty: Redis's
# clock). Answers the seconds to wait as text ("0": allowed; Redis would cut a number to an
# integer). A refused request takes nothing; a clock that went back refills nothing.
_TAKE = """
local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local now = tonumber(ARGV[3])
if now == nil then
  local t = redis.call('TIME')
  now = tonumber(t[1]) + tonumber(t[2]) / 1000000
end
local state = redis.call('HMGET', KEYS[1], 'tokens', 'at')
local tokens = tonumber(state[1])
local at = tonumber(state[2])
if tokens == nil or at == nil then
  tokens, at = burst, now
elseif now > at then
  tokens, at = math.min(burst, tokens + (now - at) * rate), now
end
local wait = 0
if tokens >= 1 then
  tokens = tokens - 1
else
  wait = (1 - tokens) / rate
end
redis.call('HSET', KEYS[1], 'tokens', tokens, 'at', at)
redis.call('PEXPIRE', KEYS[1], math.ceil((burst - tokens) / rate * 1000) + 1000)
return tostring(wait)
"""


@dataclass
class _Redis:
    script: Script
    down_until: float = 0.0  # time.monotonic() before which this Redis is not asked
    warned_at: float = -math.inf


_connections: dict[str, _Redis] = {}


def _redis(url: str) -> _Redis:
    connection = _connections.get(url)
    if connection is None:
        client = redis.Redis.from_url(
            url, socket_connect_timeout=TIMEOUT, socket_timeout=TIMEOUT, retry=Retry(NoBackoff(), 0)
        )
        connection = _connections.setdefault(url, _Redis(script=client.register_script(_TAKE)))
    return connection


def take(*, key: str, rate: float, burst: int, now: float | None = None) -> float:
    """Take a token from `key`'s bucket: 0 when the request may go on, else the seconds until a
    token is there. `now` (seconds) stands in for Redis's clock. Always 0 without Redis."""
    if rate <= 0 or burst < 1:
        raise ValueError(f"a bucket needs a positive rate and a burst of at least 1, got {rate} and {burst}")
    url = settings.REDIS_URL
    if not url:
        return 0.0  # the embedded local set-up has no Redis, and so no rate limit
    connection = _redis(url)
    clock = time.monotonic()
    if clock < connection.down_until:
        return 0.0
    try:
        wait = connection.script(keys=[KEY_PREFIX + key], args=[rate, burst, "" if now is None else now])
    except redis.RedisError as exc:
        connection.down_until = clock + PAUSE_AFTER_FAILURE
        if clock - connection.warned_at >= WARN_EVERY:
            connection.warned_at = clock
            log.warning("inbound rate limit not applied: Redis unreachable (%s); requests go through", exc)
        return 0.0
    return float(wait)
