import os
from typing import Any

from celery import Celery
from celery.signals import setup_logging

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "integration_portal.settings")

app = Celery("integration_portal")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@setup_logging.connect
def keep_django_logging(**kwargs: Any) -> None:
    """Celery leaves logging alone when this signal has a receiver: Django's LOGGING (JSON or
    console, request ids, masking, LOG_LEVEL) applies to workers and beat as to the web."""
