"""Writes on the configuration side."""

from django.db import transaction

from mindbox_integration.models import Account, MindboxIntegration


def ensure_integration(*, account: Account) -> MindboxIntegration:
    integration, _ = MindboxIntegration.objects.get_or_create(account=account)
    return integration


@transaction.atomic
def create_account(*, name: str, uis_app_id: str, inbound_token: str | None = None) -> Account:
    account = Account(name=name, uis_app_id=uis_app_id)
    if inbound_token:
        account.inbound_token = inbound_token
    account.save()
    ensure_integration(account=account)
    return account
