from typing import Any

from django.core.management.base import BaseCommand

from mindbox_integration import services


class Command(BaseCommand):
    help = (
        "Re-encrypt every stored Mindbox secret key with the newest FIELD_ENCRYPTION_KEY. To rotate: put a new key "
        "first in FIELD_ENCRYPTION_KEY (old keys after it), deploy, run this, then drop the old keys."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        self.stdout.write(f"{services.reencrypt_secret_keys()} secret keys re-encrypted with the newest key")
