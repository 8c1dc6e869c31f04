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

    def __init__(self, app: Any, **kwargs: Any) -> None:
        # redbeat looks for its Redis among the settings the app was given in code, and otherwise
        # warns that it falls back to the broker's: the settings' CELERY_REDBEAT_* are named here.
        app.conf.update({name: app.conf.get(name) for name in ("redbeat_redis_url", "redbeat_redis_options")})
        super().__init__(app, **kwargs)

    def tick(self, *args: Any, **kwargs: Any) -> float:
        interval = float(super().tick(*args, **kwargs))
        beat_ticked()
        return interval
