"""Hourly series for the charts: what one hour counted, the hours of a window in order (hours
with no row count zero), the sum of several integrations' hours, and the latency percentiles
the buckets allow. Pure: no models, no database."""

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

HOUR = timedelta(hours=1)
# Upper bounds of the latency buckets, in milliseconds; a last bucket holds what took longer.
# Fixed: stored rows' bucket lists are read against them (a list of another length is ignored).
LATENCY_BOUNDS_MS: tuple[int, ...] = (25, 50, 100, 250, 500, 1000, 2500, 5000, 10_000, 20_000)


# The counts of an hour, as Hour and the roll-up's HourlyStats both name them.
COUNTS = (
    "events",
    "delivered",
    "retried",
    "failed",
    "latency_count",
    "latency_sum_ms",
    "latency_max_ms",
    "latency_buckets",
)


@dataclass(frozen=True)
class Hour:
    """One hour's counts: events received, deliveries delivered and failed for good, attempts
    that will be retried, and the time of the requests to Mindbox."""

    start: datetime  # aware
    events: int = 0
    delivered: int = 0
    retried: int = 0
    failed: int = 0
    latency_count: int = 0
    latency_sum_ms: int = 0
    latency_max_ms: int = 0
    latency_buckets: tuple[int, ...] = field(default=())

    @property
    def deliveries(self) -> int:
        return self.delivered + self.retried + self.failed

    @property
    def mean_ms(self) -> float | None:
        return self.latency_sum_ms / self.latency_count if self.latency_count else None

    def quantile_ms(self, q: float) -> float | None:
        return quantile(self.latency_buckets, q, longest=self.latency_max_ms)

    def __add__(self, other: "Hour") -> "Hour":
        return Hour(
            start=self.start,
            events=self.events + other.events,
            delivered=self.delivered + other.delivered,
            retried=self.retried + other.retried,
            failed=self.failed + other.failed,
            latency_count=self.latency_count + other.latency_count,
            latency_sum_ms=self.latency_sum_ms + other.latency_sum_ms,
            latency_max_ms=max(self.latency_max_ms, other.latency_max_ms),
            latency_buckets=add_buckets(self.latency_buckets, other.latency_buckets),
        )


def floor_hour(at: datetime) -> datetime:
    """The start of `at`'s hour, in UTC (hours are whole in UTC whatever the local zone)."""
    return at.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


def window(*, now: datetime, hours: int) -> list[datetime]:
    """The starts of the last `hours` hours, the current (unfinished) one last."""
    last = floor_hour(now)
    return [last - HOUR * (hours - 1 - n) for n in range(hours)]


def series(rows: Iterable[Hour], *, now: datetime, hours: int) -> list[Hour]:
    """The window's hours in order, each the sum of `rows` of that hour (several integrations'),
    zero where there is none; rows outside the window are left out."""
    starts = window(now=now, hours=hours)
    by_start = {start: Hour(start=start) for start in starts}
    for row in rows:
        start = floor_hour(row.start)
        if start in by_start:
            by_start[start] = by_start[start] + row
    return [by_start[start] for start in starts]


def add_buckets(a: Sequence[int], b: Sequence[int]) -> tuple[int, ...]:
    if not a:
        return tuple(b)
    if not b:
        return tuple(a)
    if len(a) != len(b):  # rows written under other bounds: neither is comparable
        return ()
    return tuple(x + y for x, y in zip(a, b, strict=True))


def buckets_from_cumulative(cumulative: Sequence[int], total: int) -> tuple[int, ...]:
    """Per-bucket counts from the counts at or under each bound, and the total."""
    counts, below = [], 0
    for at_or_under in cumulative:
        counts.append(at_or_under - below)
        below = at_or_under
    counts.append(total - below)
    return tuple(counts)


def quantile(buckets: Sequence[int], q: float, *, longest: int = 0) -> float | None:
    """The q-quantile (0 < q < 1) estimated from bucket counts, as Prometheus' histogram_quantile
    does: linear within the bucket it falls in; in the last, open bucket, up to the longest
    request seen. None without counts (or with buckets of other bounds)."""
    if len(buckets) != len(LATENCY_BOUNDS_MS) + 1:
        return None
    total = sum(buckets)
    if total <= 0:
        return None
    rank = q * total
    seen = 0
    for index, count in enumerate(buckets):
        if count and seen + count >= rank:
            lower = LATENCY_BOUNDS_MS[index - 1] if index else 0
            upper = LATENCY_BOUNDS_MS[index] if index < len(LATENCY_BOUNDS_MS) else max(longest, lower)
            return float(lower + (upper - lower) * (rank - seen) / count)
        seen += count
    return float(longest or LATENCY_BOUNDS_MS[-1])
