import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from mindbox_integration.config_io import ConfigError, import_config
from notifications.selectors import seen_mnemonics


class Command(BaseCommand):
    help = "Import accounts, Mindbox integrations, operations and notifications from a JSON file."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", help="JSON file in the shape export_integrations writes")
        parser.add_argument(
            "--replace-tokens",
            action="store_true",
            help="also set the given inbound_token of accounts that exist already (by default a token is taken "
            "only when the import creates the account: an old file must not bring back a rotated token)",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            with open(options["file"], encoding="utf-8") as fh:
                data = json.load(fh)
        except OSError as exc:
            raise CommandError(f"cannot read {options['file']}: {exc.strerror}") from None
        except json.JSONDecodeError as exc:
            raise CommandError(
                f"{options['file']} is not JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}"
            ) from None
        except RecursionError:  # json.load recurses once per level
            raise CommandError(f"{options['file']} nests objects and arrays too deep to be a configuration") from None
        try:
            summary = import_config(
                data, actor="import_integrations", seen=_seen, replace_tokens=options["replace_tokens"]
            )
        except ConfigError as exc:
            raise CommandError("nothing imported; fix these first:\n" + "\n".join(exc.errors)) from None
        for line in summary.changes:
            self.stdout.write(line)
        self.stdout.write(
            self.style.SUCCESS(f"created {summary.created}, updated {summary.updated}, unchanged {summary.unchanged}")
        )


def _seen(account_id: int, communication_type: str) -> set[str]:
    return seen_mnemonics(account_id=account_id, communication_type=communication_type)
