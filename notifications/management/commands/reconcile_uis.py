from datetime import datetime
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from mindbox_integration.models import Account
from notifications import reconcile
from notifications.tasks import enqueue_deliveries


class Command(BaseCommand):
    help = (
        "Reconcile accounts through UIS's Data API once: every call and offline request UIS never "
        "notified is taken in and sent like a notification. Prints, per account, how many "
        "communications were checked, found already received, and recovered."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--account", metavar="UIS_APP_ID", help="this account only (default: every account with a token)"
        )
        parser.add_argument("--since", help='from this time, e.g. "2026-12-01 09:00:00" (portal time zone)')
        parser.add_argument("--until", help="up to this time (default: a little before now)")

    def handle(self, *args: Any, **options: Any) -> None:
        since, until = _moment(options["since"], "--since"), _moment(options["until"], "--until")
        if since and until and since >= until:
            raise CommandError("--since must be before --until")
        if options["account"]:
            account = Account.objects.filter(uis_app_id=options["account"]).first()
            if account is None:
                raise CommandError(f"no account with UIS app id {options['account']!r}")
            if not account.has_data_api_token:
                raise CommandError(f"account {account.uis_app_id} has no Data API token")
            account_ids = [account.pk]
        else:
            account_ids = reconcile.accounts_to_reconcile()
        failed = False
        for account_id in account_ids:
            result = reconcile.reconcile_account(
                account_id=account_id, enqueue=enqueue_deliveries, since=since, until=until
            )
            if result.skipped:
                self.stdout.write(f"account {result.uis_app_id}: skipped: {result.skipped}")
                continue
            counts = result.counts
            line = (
                f"account {result.uis_app_id}: checked {counts.checked}, already received "
                f"{counts.already_received}, recovered {counts.recovered} ({result.outcome}"
            )
            line += f": {result.error})" if result.error else ")"
            if result.since and result.until and result.since < result.until:
                window = (
                    timezone.localtime(moment).strftime("%Y-%m-%d %H:%M:%S") for moment in (result.since, result.until)
                )
                line += " for {} – {}".format(*window)
            self.stdout.write(line)
            failed = failed or result.outcome != reconcile.Outcome.OK
        if not account_ids:
            self.stdout.write("no account has a Data API token")
        if failed:
            raise CommandError("reconciliation did not complete for every account")


def _moment(text: str | None, name: str) -> datetime | None:
    if not text:
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError as exc:
        raise CommandError(f'{name} takes a date and time like "2026-12-01 09:00:00", got {text!r}') from exc
    return timezone.make_aware(moment) if timezone.is_naive(moment) else moment
