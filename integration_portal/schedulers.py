"""Beat's schedulers, each writing the heartbeat after every tick (integration_portal.heartbeat).
BEAT_SCHEDULER picks one: this file's (the schedule in a local file) or
integration_portal.locked_scheduler (the schedule in Redis behind a lock)."""

import logging
from typing import Any

from celery.beat import PersistentScheduler

from integration_portal import heartbeat

log = logging.getLogger(__name__)


def beat_ticked() -> None:
    try:
        heartbeat.record()
    except Exception as exc:  # Redis down: beat cannot send either; the stale heartbeat says so
        log.warning("beat: heartbeat not written (%s)", type(exc).__name__)


class FileScheduler(PersistentScheduler):
    """Celery's default scheduler (the schedule in a shelve file), with the heartbeat."""

    def tick(self, *args: Any, **kwargs: Any) -> float:
        interval = super().tick(*args, **kwargs)
        beat_ticked()
        return interval
