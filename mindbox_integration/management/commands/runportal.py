import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandParser


class Command(BaseCommand):
    help = "Run the whole portal for local use: web app, a Celery worker and Celery beat."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("addrport", nargs="?", default="127.0.0.1:8000")

    def handle(self, *args: Any, **options: Any) -> None:
        # Counters start from zero with the portal; files of earlier processes would add up.
        metrics_dir = Path(settings.PROMETHEUS_MULTIPROC_DIR)
        for stale in metrics_dir.glob("*.db"):
            stale.unlink()
        celery = [sys.executable, "-m", "celery", "-A", "integration_portal"]
        children = [
            subprocess.Popen([*celery, "worker", "--loglevel=INFO", "--pool=threads", "--concurrency=4"]),
            subprocess.Popen([*celery, "beat", "--loglevel=INFO"]),
        ]
        # `kill` (SIGTERM) should stop the children too, as Ctrl-C does.
        signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
        try:
            self.stdout.write(f"Portal: http://{options['addrport']}/admin/")
            # --insecure serves the admin's static files without DEBUG; this is the local set-up.
            call_command("runserver", options["addrport"], use_reloader=False, insecure_serving=True)
        finally:
            for child in children:
                child.terminate()
            for child in children:
                child.wait(timeout=30)
