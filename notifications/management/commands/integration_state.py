from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from mindbox_integration.models import MindboxIntegration
from notifications import selectors


class Command(BaseCommand):
    help = (
        "Show an account's Mindbox integration at a glance: switched on or off, paused (and why), "
        "backing off, held / pending / failed deliveries, the last event and the last delivery's outcome."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("uis_app_id", help="the account's UIS app id")

    def handle(self, *args: Any, **options: Any) -> None:
        integration = (
            MindboxIntegration.objects.select_related("account")
            .filter(account__uis_app_id=options["uis_app_id"])
            .first()
        )
        if integration is None:
            raise CommandError(f"no account with UIS app id {options['uis_app_id']!r}")
        state = selectors.integration_state(integration_id=integration.pk)
        lines = [
            f"account: {integration.account.name} ({integration.account.uis_app_id})",
            f"integration: {'on' if integration.active else 'off'}",
        ]
        health = state.health
        if health and health.paused_at:
            lines.append(
                f"sending: paused since {timezone.localtime(health.paused_at):%Y-%m-%d %H:%M} ({health.pause_reason})"
            )
        elif health and health.backoff_until and health.backoff_until > timezone.now():
            lines.append(
                f"sending: backing off until {timezone.localtime(health.backoff_until):%H:%M:%S} "
                f"after {health.failure_streak} temporary failures"
            )
        else:
            lines.append("sending: normal")
        lines.append("deliveries: " + ", ".join(f"{status} {count}" for status, count in state.counts.items()))
        lines.append(f"last event: {_when(state.last_event_at)}")
        if state.last_delivery is None:
            lines.append("last delivery: none")
        else:
            last = state.last_delivery
            error = f" ({last.last_error})" if last.last_error else ""
            lines.append(f"last delivery: #{last.pk} {last.status} at {_when(last.created_at)}{error}")
        self.stdout.write("\n".join(lines))


def _when(moment: Any) -> str:
    return f"{timezone.localtime(moment):%Y-%m-%d %H:%M:%S}" if moment else "none"
