import os
from typing import Any

from celery import Celery, bootsteps
from celery.signals import setup_logging, worker_ready

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "integration_portal.settings")

app = Celery("integration_portal")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@setup_logging.connect
def keep_django_logging(**kwargs: Any) -> None:
    """Celery leaves logging alone when this signal has a receiver: Django's LOGGING (JSON or
    console, request ids, masking, LOG_LEVEL) applies to workers and beat as to the web."""


class AnswerDoorbells(bootsteps.StartStopStep):
    """In each worker process with Redis: the thread that answers the doorbells of the delivery
    queues this worker serves (notifications.bells), with as many threads as the worker's. It
    starts taking calls once the worker is ready, as Celery starts taking messages then."""

    requires = ("celery.worker.components:Pool",)

    def start(self, worker: Any) -> None:
        if self.obj is not None:
            worker_ready.connect(lambda **kwargs: self.obj.start(), weak=False)

    def create(self, worker: Any) -> Any:
        from django.conf import settings

        from notifications import bells, tasks
        from notifications.models import Delivery

        queues = [name for name in worker.app.amqp.queues.consume_from if name in Delivery.Queue.values]
        if not settings.REDIS_URL or not queues:
            return None
        return bells.Bells(url=settings.REDIS_URL, queues=queues, threads=worker.concurrency, answer=tasks.answer_bell)


app.steps["worker"].add(AnswerDoorbells)
