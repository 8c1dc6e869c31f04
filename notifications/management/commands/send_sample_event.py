import uuid
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from core.mnemonics import CommunicationType, sample_values
from mindbox_integration.models import Account
from notifications.dispatch import receive_event
from notifications.tasks import enqueue_deliveries


class Command(BaseCommand):
    help = (
        "Feed one sample UIS event to an account, as if UIS had posted it: the catalogue's sample values "
        "(with a fresh call_session_id / communication_id), overridden by --set. It is matched, rendered "
        "and queued for delivery like a real one, so it reaches the account's Mindbox."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("uis_app_id", help="the account's UIS app id")
        parser.add_argument(
            "--type", default=CommunicationType.CALLS, choices=CommunicationType.values, help="communication type"
        )
        parser.add_argument(
            "--set", action="append", default=[], metavar="NAME=VALUE", help="a value to send; repeat as needed"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        account = Account.objects.filter(uis_app_id=options["uis_app_id"]).first()
        if account is None:
            raise CommandError(f"no account with UIS app id {options['uis_app_id']!r}")
        values = {k: v for k, v in sample_values(options["type"]).items() if v is not None}
        fresh = uuid.uuid4().hex[:12]
        values.update(call_session_id=fresh, communication_id=fresh)  # a new event each time
        for pair in options["set"]:
            name, sep, value = pair.partition("=")
            if not sep or not name:
                raise CommandError(f"--set takes NAME=VALUE, got {pair!r}")
            values[name] = value
        result = receive_event(
            account=account,
            communication_type=options["type"],
            raw="",
            values=values,
            enqueue=enqueue_deliveries,
            request_id=f"sample-{fresh}",
        )
        self.stdout.write(f"event {result.event_id}: {result.deliveries} deliveries queued (request id sample-{fresh})")
