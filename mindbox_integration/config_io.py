"""Configuration as code: import and export accounts, integrations, operations and
notifications as JSON. Import validates everything first, then applies it in one
transaction; applying the same file twice changes nothing. Export holds no secrets (the site script's key is public: it stands in clients' pages)."""

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from django.db import transaction
from django.db.models import Model, Q
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from core.mnemonics import CommunicationType, mnemonics_for
from mindbox_integration import audit, crypto, services, validation
from mindbox_integration.audit import Actor
from mindbox_integration.models import SITE_KEY_RE, Account, MindboxIntegration, Notification, Operation

# (account id, communication type) -> the keys UIS has sent that account: they count as known
# mnemonics too. The caller passes the runtime's reader (notifications.selectors.seen_mnemonics),
# so the configuration does not import the runtime.
SeenKeys = Callable[[int, str], set[str]]


class ConfigError(ValueError):
    def __init__(self, errors: list[str]) -> None:
        super().__init__("\n".join(errors))
        self.errors = errors


@dataclass
class ImportSummary:
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    changes: list[str] = field(default_factory=list)


_ACCOUNT_KEYS: dict[str, type] = {
    "name": str,
    "uis_app_id": str,
    "inbound_token": str,
    "site_key": str,
    "uis_data_api": dict,
    "mindbox": dict,
}
# UIS's Data API access for reconciliation: the token is taken, never exported (like keys).
_DATA_API_KEYS: dict[str, type] = {"url": str, "token": str}
_MINDBOX_KEYS: dict[str, type] = {"active": bool, "secret_key": str, "send_rate_limit": int, "operations": list}
_OPERATION_KEYS: dict[str, type] = {"name": str, "notifications": list}
_NOTIFICATION_KEYS: dict[str, type] = {
    "name": str,
    "url": str,
    "communication_type": str,
    "filters": dict,
    "body": str,
    "headers": dict,
    "active": bool,
}


_NULLABLE = {"inbound_token", "secret_key", "filters", "headers", "send_rate_limit", "url", "token"}  # null: "absent"
_SECRET_KEYS = {"inbound_token", "secret_key", "token"}
MIN_TOKEN_LENGTH = 32  # characters: a given token should carry about as much as the 32 random bytes we make


def _check_shape(
    obj: Any, path: str, keys: dict[str, type], required: tuple[str, ...], errors: list[str], model: type[Model]
) -> bool:
    if not isinstance(obj, dict):
        errors.append(f"{path}: must be an object")
        return False
    for key in sorted(set(obj) - set(keys)):
        errors.append(f"{path}.{key}: unknown key; allowed: {', '.join(keys)}")
    for key in required:
        if key not in obj or obj[key] in ("", None):
            errors.append(f"{path}.{key}: required")
    for key, kind in keys.items():
        value = obj.get(key)
        reported = key in required and value in ("", None)
        if key not in obj or reported or (key in _NULLABLE and value is None):
            continue
        if not isinstance(value, kind):
            errors.append(f"{path}.{key}: must be a {kind.__name__}")
            continue
        max_length = getattr(_model_field(model, key), "max_length", None)
        if isinstance(value, str) and max_length and len(value) > max_length:
            errors.append(f"{path}.{key}: at most {max_length} characters")
    return True


def _list(obj: dict[str, Any], key: str) -> list[Any]:
    value = obj.get(key)
    return value if isinstance(value, list) else []  # a wrong type is reported by _check_shape


def _model_field(model: type[Model], name: str) -> Any:
    return next((f for f in model._meta.get_fields() if f.name == name), None)


def _unique(items: list[Any], key: str, path: str, errors: list[str]) -> None:
    seen: set[Any] = set()
    for i, item in enumerate(items):
        value = item.get(key) if isinstance(item, dict) else None
        if value is None:
            continue
        if value in seen:
            shown = "this value" if key in _SECRET_KEYS else repr(value)  # a token is never echoed
            errors.append(f"{path}[{i}].{key}: {shown} appears twice")
        seen.add(value)


def _validate_notification(
    notification: dict[str, Any],
    path: str,
    operation_name: str,
    account_id: int | None,
    errors: list[str],
    seen: SeenKeys,
) -> None:
    required = ("name", "url", "communication_type", "body")
    if not _check_shape(notification, path, _NOTIFICATION_KEYS, required, errors, Notification):
        return
    ctype = notification.get("communication_type")
    if ctype not in CommunicationType.values:
        errors.append(f"{path}.communication_type: must be one of {', '.join(CommunicationType.values)}")
        return
    found = validation.notification_errors(
        operation_name=operation_name,
        communication_type=ctype,
        url=str(notification.get("url") or ""),
        body=str(notification.get("body") or ""),
        filters=notification.get("filters") or {},
        known_mnemonics=set(mnemonics_for(ctype)) | (seen(account_id, ctype) if account_id is not None else set()),
        headers=notification.get("headers") or {},
    )
    for key, messages in found.items():
        errors.extend(f"{path}.{key}: {m}" for m in messages)


def _written_at(data: dict[str, Any], errors: list[str]) -> datetime | None:
    """When the file was exported (`exported_at`); None for a file written by hand."""
    value = data.get("exported_at")
    if value is None:
        return None
    written = parse_datetime(value) if isinstance(value, str) else None
    if written is None or timezone.is_naive(written):
        errors.append("$.exported_at: a date and time with its offset, as exported (2026-12-04T15:00:00+00:00)")
        return None
    return written


def _repointed(account: Account, written: datetime | None) -> str:
    """Why merging a file's entry into `account` would be a mistake: its UIS app id is not the one
    it had when the file was written (a file without exported_at cannot say, so it is refused too)."""
    changed = account.uis_app_id_changed_at
    if changed is None or (written is not None and written >= changed):
        return ""
    when = f"exported_at is {written.isoformat()}" if written else "the file has no exported_at"
    return (
        f"account {account.name!r} got this UIS app id on {changed.astimezone(UTC):%Y-%m-%d %H:%M} UTC, after this "
        f"file was written ({when}): importing would merge this entry into it. If the entry means that account, "
        "export again and edit the new export; if it is another client, it needs its own UIS app id"
    )


def validate_config(data: Any, *, seen: SeenKeys) -> list[str]:
    errors: list[str] = []
    if not isinstance(data, dict) or not isinstance(data.get("accounts"), list):
        return ['$: must be an object {"accounts": [...]}']
    for key in sorted(set(data) - {"accounts", "exported_at"}):
        errors.append(f"$.{key}: unknown key; allowed: accounts, exported_at")
    written = _written_at(data, errors)
    accounts = data["accounts"]
    _unique(accounts, "uis_app_id", "$.accounts", errors)
    _unique(accounts, "inbound_token", "$.accounts", errors)
    _unique(accounts, "site_key", "$.accounts", errors)
    for a, account in enumerate(accounts):
        path = f"$.accounts[{a}]"
        if not _check_shape(account, path, _ACCOUNT_KEYS, ("name", "uis_app_id"), errors, Account):
            continue
        existing = (
            Account.objects.filter(uis_app_id=account.get("uis_app_id"))
            .only("pk", "name", "uis_app_id_changed_at")
            .first()
        )
        if existing is not None and (repointed := _repointed(existing, written)):
            errors.append(f"{path}.uis_app_id: {repointed}")
        token = account.get("inbound_token")
        if isinstance(token, str) and token:
            digest = crypto.token_hash(token)
            if len(token) < MIN_TOKEN_LENGTH or not token.isprintable() or " " in token:
                errors.append(
                    f"{path}.inbound_token: too weak; use at least {MIN_TOKEN_LENGTH} random characters without spaces"
                )
            elif (
                Account.objects.filter(Q(inbound_token_hash=digest) | Q(previous_token_hash=digest))
                .exclude(uis_app_id=account.get("uis_app_id"))
                .exists()
            ):
                errors.append(f"{path}.inbound_token: already used by another account")
        # The site script's key stands in clients' pages: carried over, a moved portal keeps them working.
        site_key = account.get("site_key")
        if isinstance(site_key, str):
            if not SITE_KEY_RE.match(site_key):
                errors.append(f"{path}.site_key: 16 to 32 letters, digits, _ or -, as exported")
            elif Account.objects.filter(site_key=site_key).exclude(uis_app_id=account.get("uis_app_id")).exists():
                errors.append(f"{path}.site_key: already used by another account")
        errors.extend(_data_api_errors(account.get("uis_data_api"), f"{path}.uis_data_api"))
        mindbox = account.get("mindbox")
        if mindbox is None or not _check_shape(
            mindbox, f"{path}.mindbox", _MINDBOX_KEYS, (), errors, MindboxIntegration
        ):
            continue
        errors.extend(
            f"{path}.mindbox.secret_key: {m}" for m in validation.validate_secret_key(mindbox.get("secret_key") or "")
        )
        rate = mindbox.get("send_rate_limit")
        if isinstance(rate, bool) or (isinstance(rate, int) and not 1 <= rate <= 2_147_483_647):  # others: _check_shape
            errors.append(f"{path}.mindbox.send_rate_limit: a whole number of requests per second, at least 1, or null")
        operations = _list(mindbox, "operations")
        _unique(operations, "name", f"{path}.mindbox.operations", errors)
        for o, operation in enumerate(operations):
            opath = f"{path}.mindbox.operations[{o}]"
            if not _check_shape(operation, opath, _OPERATION_KEYS, ("name",), errors, Operation):
                continue
            notifications = _list(operation, "notifications")
            _unique(notifications, "name", f"{opath}.notifications", errors)
            for n, notification in enumerate(notifications):
                _validate_notification(
                    notification,
                    f"{opath}.notifications[{n}]",
                    str(operation.get("name")),
                    existing.pk if existing else None,
                    errors,
                    seen,
                )
    return errors


MAX_DATA_API_TOKEN = 500


def _data_api_errors(data_api: Any, path: str) -> list[str]:
    """The shape of "uis_data_api": {"url"?, "token"?}; the token is never echoed."""
    errors: list[str] = []
    if data_api is None or not _check_shape(data_api, path, _DATA_API_KEYS, (), errors, Account):
        return errors
    url = data_api.get("url")
    if isinstance(url, str) and url and (not url.startswith(("https://", "http://")) or len(url) > 300):
        errors.append(f"{path}.url: an http(s) URL of at most 300 characters, e.g. https://dataapi.uiscom.ru/v2.0")
    token = data_api.get("token")
    if isinstance(token, str) and (
        len(token) > MAX_DATA_API_TOKEN or not token.isascii() or not token.isprintable() or " " in token
    ):
        errors.append(f"{path}.token: printable characters without spaces, at most {MAX_DATA_API_TOKEN}")
    return errors


def _apply_data_api(
    account: Account, data_api: dict[str, Any], summary: ImportSummary, label: str, actor: Actor
) -> None:
    """Like _assign; the token is compared in clear and stored encrypted (never in a change list).
    An absent url or token keeps the stored one: exports carry no token."""
    before = audit.snapshot(account)
    changed = []
    url = data_api.get("url")
    if url is not None and account.data_api_url != url.strip():
        account.data_api_url = url.strip()
        changed.append("data_api_url")
    token = data_api.get("token")
    if token is not None and token != services.data_api_token(account=account):
        services.set_data_api_token(account=account, token=token)
        changed.append("data_api_token_encrypted")
    if not changed:
        return
    account.save(update_fields=changed)
    audit.record_saved(actor=actor, obj=account, before=before)
    summary.updated += 1
    summary.changes.append(
        f"updated {label}: {', '.join('data_api_token' if c.endswith('encrypted') else c for c in changed)}"
    )


def _assign(obj: Model, values: dict[str, Any], summary: ImportSummary, label: str, actor: Actor) -> None:
    """Set fields that differ and save only then, so a repeated import writes nothing."""
    if obj.pk is None:
        for key, value in values.items():
            setattr(obj, key, value)
        obj.save()
        audit.record_saved(actor=actor, obj=obj, before=None)
        summary.created += 1
        summary.changes.append(f"created {label}")
        return
    changed = [key for key, value in values.items() if getattr(obj, key) != value]
    if not changed:
        summary.unchanged += 1
        return
    before = audit.snapshot(obj)
    for key in changed:
        setattr(obj, key, values[key])
    obj.save(update_fields=changed)
    audit.record_saved(actor=actor, obj=obj, before=before)
    summary.updated += 1
    summary.changes.append(f"updated {label}: {', '.join(changed)}")


def _apply_integration(
    integration: MindboxIntegration, mindbox: dict[str, Any], summary: ImportSummary, label: str, actor: Actor
) -> None:
    """Like _assign; the key is compared in clear and stored encrypted (never in a change list)."""
    before = audit.snapshot(integration)
    changed = []
    active = bool(mindbox.get("active", False))
    if integration.active != active:
        integration.active = active
        changed.append("active")
    rate = mindbox.get("send_rate_limit")  # absent or null: no limit
    if integration.send_rate_limit != rate:
        integration.send_rate_limit = rate
        changed.append("send_rate_limit")
    key = mindbox.get("secret_key")  # absent keeps the stored key: exports carry none
    if key is not None and key != services.secret_key(integration=integration):
        services.set_secret_key(integration=integration, key=key)
        changed.append("secret_key_encrypted")
    if not changed:
        summary.unchanged += 1
        return
    integration.save(update_fields=changed)
    audit.record_saved(actor=actor, obj=integration, before=before)
    summary.updated += 1
    summary.changes.append(f"updated {label}: {', '.join(changed)}")


def import_config(data: Any, *, actor: Actor, seen: SeenKeys, replace_tokens: bool = False) -> ImportSummary:
    """`actor` goes into the audit log: the command's name, or a user."""
    errors = validate_config(data, seen=seen)
    if errors:
        raise ConfigError(errors)
    summary = ImportSummary()
    with transaction.atomic():
        for item in data["accounts"]:
            label = f"account {item['uis_app_id']}"
            account = Account.objects.filter(uis_app_id=item["uis_app_id"]).first()
            if account is None:
                account = services.create_account(
                    name=item["name"],
                    uis_app_id=item["uis_app_id"],
                    actor=actor,
                    inbound_token=item.get("inbound_token"),
                    site_key=item.get("site_key"),
                ).account
                summary.created += 1
                summary.changes.append(f"created {label}")
            else:
                _assign(
                    account,
                    {"name": item["name"], "site_key": item.get("site_key") or account.site_key},
                    summary,
                    label,
                    actor,
                )
                # An existing account's token changes only on request: re-importing an old file
                # must not bring back a token that was rotated or revoked in the admin since.
                if (
                    replace_tokens
                    and item.get("inbound_token")
                    and services.set_inbound_token(account=account, token=item["inbound_token"], actor=actor)
                ):
                    summary.updated += 1
                    summary.changes.append(f"updated {label}: inbound token")
            if isinstance(item.get("uis_data_api"), dict):
                _apply_data_api(account, item["uis_data_api"], summary, f"{label} uis_data_api", actor)
            mindbox = item.get("mindbox")
            if mindbox is None:
                continue
            integration = services.ensure_integration(account=account)
            _apply_integration(integration, mindbox, summary, f"{label} integration", actor)
            for op in mindbox.get("operations") or []:
                operation = Operation.objects.filter(integration=integration, name=op["name"]).first()
                op_label = f"{label} operation {op['name']}"
                if operation is None:
                    operation = Operation(integration=integration)
                    _assign(operation, {"name": op["name"]}, summary, op_label, actor)
                else:
                    summary.unchanged += 1
                for nt in op.get("notifications") or []:
                    notification = Notification.objects.filter(operation=operation, name=nt["name"]).first()
                    url, note = validation.fill_url(nt["url"])
                    said = [note] if note else []
                    said += validation.filter_warnings(nt.get("filters"), communication_type=nt["communication_type"])
                    summary.changes += [f"{op_label} notification {nt['name']}: {line}" for line in said]
                    _assign(
                        notification or Notification(operation=operation),
                        {
                            "name": nt["name"],
                            "url": url,
                            "communication_type": nt["communication_type"],
                            "filters": nt.get("filters") or {},
                            "body": nt["body"],
                            "headers": nt.get("headers") or {},
                            "active": nt.get("active", True),
                        },
                        summary,
                        f"{op_label} notification {nt['name']}",
                        actor,
                    )
    return summary


def export_config() -> dict[str, Any]:
    """`exported_at` lets an import tell an account whose UIS app id changed since (_repointed)."""
    exported_at = timezone.now().astimezone(UTC).isoformat()  # to the microsecond: a change is too
    accounts = []
    for account in Account.objects.select_related("mindbox").order_by("uis_app_id"):
        item: dict[str, Any] = {"name": account.name, "uis_app_id": account.uis_app_id, "site_key": account.site_key}
        if account.data_api_url or account.has_data_api_token:
            item["uis_data_api"] = {"url": account.data_api_url}  # never the token
        integration: MindboxIntegration | None = getattr(account, "mindbox", None)
        if integration is not None:
            item["mindbox"] = {
                "active": integration.active,
                "send_rate_limit": integration.send_rate_limit,
                "operations": [
                    {
                        "name": operation.name,
                        "notifications": [
                            {
                                "name": n.name,
                                "url": n.url,
                                "communication_type": n.communication_type,
                                "filters": n.filters,
                                "body": n.body,
                                "active": n.active,
                            }
                            | ({"headers": n.headers} if n.headers else {})  # optional: absent when none
                            for n in operation.notifications.order_by("name")
                        ],
                    }
                    for operation in integration.operations.order_by("name").prefetch_related("notifications")
                ],
            }
        accounts.append(item)
    return {"exported_at": exported_at, "accounts": accounts}
