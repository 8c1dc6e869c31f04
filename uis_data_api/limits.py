"""The Data API's allowance (`metadata.limits` in every answer, errors too): points per day and
per minute, one point a call. Pure functions deciding how much of it reconciliation may spend."""

import math
from dataclasses import dataclass
from typing import Any

_FIELDS = ("day_limit", "day_remaining", "day_reset", "minute_limit", "minute_remaining", "minute_reset")


@dataclass(frozen=True)
class Limits:
    day_limit: int | None = None
    day_remaining: int | None = None
    day_reset: int | None = None  # seconds until the day's allowance is renewed
    minute_limit: int | None = None
    minute_remaining: int | None = None
    minute_reset: int | None = None


def _number(value: Any) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return int(value)


def parse(metadata: Any) -> Limits | None:
    """`metadata.limits` of an answer, or None when it has none (UIS omits it where limits do not apply)."""
    if not isinstance(metadata, dict) or not isinstance(metadata.get("limits"), dict):
        return None
    raw = metadata["limits"]
    return Limits(**{name: _number(raw.get(name)) for name in _FIELDS})


def day_reserve(*, limits: Limits, reserve_percent: float) -> int:
    """Points of the day left alone for the account's own use of the API (its CRM, its reports)."""
    if limits.day_limit is None:
        return 0
    return math.ceil(limits.day_limit * reserve_percent / 100)


def may_spend(*, limits: Limits | None, reserve_percent: float, points: int = 1) -> bool:
    """Whether `points` more calls keep the day's reserve untouched. Unknown limits: yes (the
    first answer tells; a refusal stops the run anyway)."""
    if limits is None or limits.day_remaining is None:
        return True
    return limits.day_remaining - points >= day_reserve(limits=limits, reserve_percent=reserve_percent)


def minute_wait(*, limits: Limits | None) -> float:
    """Seconds to wait before the next call so as not to hit the minute's limit (0: go on)."""
    if limits is None or limits.minute_remaining is None or limits.minute_remaining > 0:
        return 0.0
    return float(max(limits.minute_reset or 1, 1))
