from typing import Any

from django.core.management.base import BaseCommand, CommandError

from integration_portal import heartbeat


class Command(BaseCommand):
    help = (
        "Exit 0 when beat ticked within BEAT_HEARTBEAT_MAX_AGE seconds, else say how stale it is and "
        "exit 1 (compose's health check for beat)."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        fresh, said = heartbeat.status()
        if not fresh:
            raise CommandError(f"beat: {said}")
        self.stdout.write(f"beat: {said}")
