"""Rate limits kept in Redis, so that every process on every machine shares them: a token
bucket per inbound caller (`take`), and a schedule of send slots per Mindbox integration
(`reserve`, `reserve_many`).

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
from dataclasses import dataclass, field

import redis
from django.conf import settings
from redis.backoff import NoBackoff
from redis.commands.core import Script
from redis.retry import Retry

log = logging.getLogger(__name__)

KEY_PREFIX = "portal:inbound-rate:"
OUTBOUND_PREFIX = "portal:outbound-rate:"
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

# GCRA: KEYS[1] holds the theoretical arrival time (TAT) of the next request. ARGV: rate, burst,
# horizon (seconds), now (empty: Redis's clock), count (callers at once). Every caller is given
# its own slot: the first `burst` go at once, then one each 1/rate s, so waiting callers come
# back one by one instead of all at once. Answers the callers' waits in seconds, comma-separated,
# stopping at the first slot more than `horizon` away (it and later callers reserve nothing).
_RESERVE_MANY = """
local interval = 1 / tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local horizon = tonumber(ARGV[3])
local now = tonumber(ARGV[4])
local count = tonumber(ARGV[5])
if now == nil then
  local t = redis.call('TIME')
  now = tonumber(t[1]) + tonumber(t[2]) / 1000000
end
local tat = tonumber(redis.call('GET', KEYS[1]))
if tat == nil or tat < now then
  tat = now
end
local waits = {}
for i = 1, count do
  local new_tat = tat + interval
  local wait = new_tat - burst * interval - now
  if wait < 0 then
    wait = 0
  end
  if wait > horizon then
    break
  end
  tat = new_tat
  waits[#waits + 1] = tostring(wait)
end
if #waits > 0 then
  redis.call('SET', KEYS[1], tostring(tat), 'PX', math.ceil((tat - now) * 1000) + 1000)
end
return table.concat(waits, ',')
"""


@dataclass
class _Redis:
    client: redis.Redis
    scripts: dict[str, Script] = field(default_factory=dict)  # by source, registered on first use
    down_until: float = 0.0  # time.monotonic() before which this Redis is not asked
    warned_at: float = -math.inf

    def script(self, source: str) -> Script:
        if source not in self.scripts:
            self.scripts[source] = self.client.register_script(source)
        return self.scripts[source]


_connections: dict[str, _Redis] = {}


def redis_for(url: str) -> _Redis:
    """The process's client for the portal's small state in Redis (rate limits, doorbells): short
    timeouts and no retries, so a hung Redis costs a request half a second, not more."""
    connection = _connections.get(url)
    if connection is None:
        client = redis.Redis.from_url(
            url, socket_connect_timeout=TIMEOUT, socket_timeout=TIMEOUT, retry=Retry(NoBackoff(), 0)
        )
        connection = _connections.setdefault(url, _Redis(client=client))
    return connection


def _ask(what: str, source: str, key: str, args: list[str | float]) -> str | None:
    """Run a Lua script on `key`; None (go on, no limit) without Redis or while it is unreachable."""
    url = settings.REDIS_URL
    if not url:
        return None  # the embedded local set-up has no Redis, and so no rate limit
    connection = redis_for(url)
    clock = time.monotonic()
    if clock < connection.down_until:
        return None
    try:
        answer = connection.script(source)(keys=[key], args=args)
    except redis.RedisError as exc:
        connection.down_until = clock + PAUSE_AFTER_FAILURE
        if clock - connection.warned_at >= WARN_EVERY:
            connection.warned_at = clock
            log.warning("%s rate limit not applied: Redis unreachable (%s); requests go through", what, exc)
        return None
    return answer.decode() if isinstance(answer, bytes) else str(answer)


def take(*, key: str, rate: float, burst: int, now: float | None = None) -> float:
    """Take a token from `key`'s bucket: 0 when the request may go on, else the seconds until a
    token is there. `now` (seconds) stands in for Redis's clock. Always 0 without Redis."""
    if rate <= 0 or burst < 1:
        raise ValueError(f"a bucket needs a positive rate and a burst of at least 1, got {rate} and {burst}")
    answer = _ask("inbound", _TAKE, KEY_PREFIX + key, [rate, burst, "" if now is None else now])
    return 0.0 if answer is None else float(answer)


def reserve(*, key: str, rate: float, burst: int, horizon: float, now: float | None = None) -> float | None:
    """Reserve the next send slot of `key`: 0 to send now, else the seconds until the reserved
    slot (send then, without asking again), or None when the next slot is more than `horizon`
    seconds away (nothing reserved; ask again later). Always 0 without Redis."""
    return reserve_many(key=key, rate=rate, burst=burst, horizon=horizon, count=1, now=now)[0]


def reserve_many(
    *, key: str, rate: float, burst: int, horizon: float, count: int, now: float | None = None
) -> list[float | None]:
    """`reserve` for `count` callers at once, in one round trip: each caller's wait, None for those
    whose slot would be beyond the horizon. All zeros without Redis."""
    if rate <= 0 or burst < 1:
        raise ValueError(f"a schedule needs a positive rate and a burst of at least 1, got {rate} and {burst}")
    if count < 1:
        return []
    args: list[str | float] = [rate, burst, horizon, "" if now is None else now, count]
    answer = _ask("outbound", _RESERVE_MANY, OUTBOUND_PREFIX + key, args)
    if answer is None:
        return [0.0] * count
    waits: list[float | None] = [float(part) for part in answer.split(",") if part]
    return waits + [None] * (count - len(waits))
