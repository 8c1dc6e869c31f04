import json
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from mindbox_integration.config_io import export_config


class Command(BaseCommand):
    help = "Export the configuration as JSON (to FILE, or stdout). Secret keys and tokens are never exported."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", nargs="?", help="where to write; stdout when absent")

    def handle(self, *args: Any, **options: Any) -> None:
        text = json.dumps(export_config(), ensure_ascii=False, indent=2) + "\n"
        if options["file"]:
            with open(options["file"], "w", encoding="utf-8") as fh:
                fh.write(text)
        else:
            self.stdout.write(text, ending="")
