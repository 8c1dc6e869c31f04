"""Writes on the configuration side."""

from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.views.decorators.debug import sensitive_variables

from mindbox_integration import audit, crypto
from mindbox_integration.audit import Actor
from mindbox_integration.models import Account, ConfigChange, MindboxIntegration, new_site_key


def ensure_integration(*, account: Account) -> MindboxIntegration:
    integration, _ = MindboxIntegration.objects.get_or_create(account=account)
    return integration


@dataclass(frozen=True)
class NewAccount:
    account: Account
    token: str  # the inbound token in clear: shown once, stored nowhere


def _set_token(account: Account, token: str) -> None:
    account.inbound_token_hash = crypto.token_hash(token)
    account.inbound_token_hint = crypto.token_hint(token)


def assign_new_token(*, account: Account) -> str:
    """Give an unsaved account a new random token (the caller saves); returns it, to show once."""
    token = crypto.new_token()
    _set_token(account, token)
    return token


@transaction.atomic
def create_account(
    *, name: str, uis_app_id: str, actor: Actor, inbound_token: str | None = None, site_key: str | None = None
) -> NewAccount:
    """A new account with its (empty) integration; `inbound_token` and `site_key` when given (an
    import), else new random ones."""
    token = inbound_token or crypto.new_token()
    account = Account(name=name, uis_app_id=uis_app_id)
    if site_key:
        account.site_key = site_key
    _set_token(account, token)
    account.save()
    ensure_integration(account=account)  # part of the account: not a change of its own
    audit.record_saved(actor=actor, obj=account, before=None)
    return NewAccount(account=account, token=token)


_TOKEN_FIELDS = ["inbound_token_hash", "inbound_token_hint", "previous_token_hash", "previous_token_valid_until"]


def _save_token_change(
    account: Account, *, fields: list[str], before: audit.Snapshot, actor: Actor, action: ConfigChange.Action
) -> None:
    """Save the account's token fields and record the change (tokens only as "changed")."""
    account.save(update_fields=fields)
    audit.record_change(
        account=account, actor=actor, obj=account, action=action, before=before, after=audit.snapshot(account)
    )


@transaction.atomic
def set_inbound_token(*, account: Account, token: str, actor: Actor) -> bool:
    """Take a given token (an import); the old one stops at once. False when it is already the one."""
    if account.inbound_token_hash == crypto.token_hash(token):
        return False
    before = audit.snapshot(account)
    _set_token(account, token)
    account.previous_token_hash = ""
    account.previous_token_valid_until = None
    _save_token_change(
        account, fields=_TOKEN_FIELDS, before=before, actor=actor, action=ConfigChange.Action.TOKEN_REPLACED
    )
    return True


@transaction.atomic
def rotate_inbound_token(*, account: Account, actor: Actor, grace: timedelta | None = None) -> str:
    """A new token; the current one keeps working for `grace` (INBOUND_TOKEN_GRACE_HOURS by
    default; zero revokes it at once). Returns the new token, to be shown once.

    A second rotation within a grace period keeps the older token in grace, not the one just
    issued: the older one is what UIS most likely still sends (the manager rotated again because
    the new one was not copied)."""
    grace = timedelta(hours=settings.INBOUND_TOKEN_GRACE_HOURS) if grace is None else grace
    account = Account.objects.select_for_update().get(pk=account.pk)
    before = audit.snapshot(account)
    now = timezone.now()
    in_grace = bool(account.previous_token_valid_until and account.previous_token_valid_until > now)
    token = crypto.new_token()
    if grace <= timedelta(0):
        account.previous_token_hash = ""
        account.previous_token_valid_until = None
    elif not in_grace:
        account.previous_token_hash = account.inbound_token_hash
        account.previous_token_valid_until = now + grace
    _set_token(account, token)
    _save_token_change(
        account, fields=_TOKEN_FIELDS, before=before, actor=actor, action=ConfigChange.Action.TOKEN_ROTATED
    )
    return token


@transaction.atomic
def revoke_previous_token(*, account: Account, actor: Actor) -> None:
    """The token replaced by the last rotation stops at once (recorded only if there was one)."""
    account = Account.objects.select_for_update().get(pk=account.pk)
    before = audit.snapshot(account)
    account.previous_token_hash = ""
    account.previous_token_valid_until = None
    _save_token_change(
        account,
        fields=["previous_token_hash", "previous_token_valid_until"],
        before=before,
        actor=actor,
        action=ConfigChange.Action.PREVIOUS_TOKEN_REVOKED,
    )


@transaction.atomic
def rotate_site_key(*, account: Account, actor: Actor) -> str:
    """A new site script key; the old one stops at once (it is public: a stranger may be posting
    with it). The client's site needs the new snippet."""
    account = Account.objects.select_for_update().get(pk=account.pk)
    before = audit.snapshot(account)
    account.site_key = new_site_key()
    account.save(update_fields=["site_key"])
    audit.record_saved(actor=actor, obj=account, before=before)
    return account.site_key


@sensitive_variables("key")
def set_secret_key(*, integration: MindboxIntegration, key: str) -> None:
    """Encrypt and keep the key (blank clears it). The caller saves, and records the change
    (the admin's save and the import do: the log shows the key only as "changed")."""
    integration.secret_key_encrypted = crypto.encrypt(key)


@sensitive_variables()
def secret_key(*, integration: MindboxIntegration) -> str:
    """The key in clear, for the Authorization header only."""
    return crypto.decrypt(integration.secret_key_encrypted)


def reencrypt_secret_keys() -> int:
    """Re-encrypt every stored key under the newest FIELD_ENCRYPTION_KEY (after adding one).
    Not in the audit log: the keys stay the same, only their encryption changes."""
    count = 0
    for integration in MindboxIntegration.objects.exclude(secret_key_encrypted="").only("pk", "secret_key_encrypted"):
        MindboxIntegration.objects.filter(pk=integration.pk).update(
            secret_key_encrypted=crypto.reencrypt(integration.secret_key_encrypted)
        )
        count += 1
    # UIS Data API tokens are kept the same way.
    for account in Account.objects.exclude(data_api_token_encrypted="").only("pk", "data_api_token_encrypted"):
        Account.objects.filter(pk=account.pk).update(
            data_api_token_encrypted=crypto.reencrypt(account.data_api_token_encrypted)
        )
        count += 1
    return count


@sensitive_variables("token")
def set_data_api_token(*, account: Account, token: str) -> None:
    """Encrypt and keep the account's Data API token (blank clears it). The caller saves and
    records the change (shown only as "changed"). A new token lets a reconciliation that a
    refused token stopped run again."""
    account.data_api_token_encrypted = crypto.encrypt(token)
    from notifications.models import Reconciliation  # the runtime side: imported only when needed

    Reconciliation.objects.filter(account_id=account.pk).update(stopped_at=None)


@sensitive_variables()
def data_api_token(*, account: Account) -> str:
    """The token in clear, for the Data API request's params only."""
    return crypto.decrypt(account.data_api_token_encrypted)
