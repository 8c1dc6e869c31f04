"""BEAT_SCHEDULER=redis: celery-redbeat keeps the schedule in Redis, and only the beat holding its
lock schedules; another beat started beside it waits for the lock and takes over when the holder
stops renewing it (BEAT_LOCK_TIMEOUT). Kept apart from integration_portal.schedulers because
importing redbeat connects its lock-taking to every beat's start."""

from typing import Any

from redbeat import RedBeatScheduler

from integration_portal.schedulers import beat_ticked


class RedisScheduler(RedBeatScheduler):
    """redbeat's scheduler, with the heartbeat: written only by the beat that holds the lock, since
    a standby waits for the lock before its first tick."""

    def tick(self, *args: Any, **kwargs: Any) -> float:
        interval = float(super().tick(*args, **kwargs))
        beat_ticked()
        return interval
