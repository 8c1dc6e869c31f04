"""The audit log of configuration changes (ConfigChange): who changed what, when, and each
field before and after. Written by the services and admin paths that change configuration
(not by signals: a queryset update or a migration is not somebody's change). Secret fields
(keys, token hashes and hints) are never written, not even hashed: only the marker "changed".
A test send from the notification editor is recorded here too (record_test_send): it acts
with the integration's key on Mindbox, so who did it, and when, is worth keeping."""

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from django.apps import apps
from django.contrib.auth.base_user import AbstractBaseUser
from django.contrib.auth.models import AnonymousUser
from django.core.exceptions import FieldDoesNotExist
from django.db import models
from django.db.models import Model
from django.utils import formats, timezone
from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext, pgettext
from django.utils.translation import gettext_lazy as _

if TYPE_CHECKING:
    from notifications.models import BulkJob
from mindbox_integration.models import Account, ConfigChange, MindboxIntegration, Notification, Operation

# A user, or the name of what acted without one (a management command).
Actor = AbstractBaseUser | AnonymousUser | str
Snapshot = dict[str, Any]
Action = ConfigChange.Action

CHANGED = "changed"  # all that is ever recorded of a secret field

OBJECT_TYPES: dict[type[Model], ConfigChange.ObjectType] = {
    Account: ConfigChange.ObjectType.ACCOUNT,
    MindboxIntegration: ConfigChange.ObjectType.INTEGRATION,
    Operation: ConfigChange.ObjectType.OPERATION,
    Notification: ConfigChange.ObjectType.NOTIFICATION,
}

# Secret columns, by model, under the name the log shows them by (a token's hash and hint are
# one "inbound token").
SECRET_COLUMNS: dict[type[Model], dict[str, str]] = {
    Account: {
        "inbound_token_hash": "inbound_token",
        "inbound_token_hint": "inbound_token",
        "previous_token_hash": "previous_token",
        "data_api_token_encrypted": "data_api_token",
    },
    MindboxIntegration: {"secret_key_encrypted": "secret_key"},
}
SECRET_LABELS = {
    "inbound_token": _("inbound token"),
    "previous_token": _("previous inbound token"),
    "secret_key": _("secret key"),
    "data_api_token": _("UIS Data API token"),
}
# Fields not in any form, so without a verbose name of their own.
FIELD_LABELS = {"previous_token_valid_until": _("previous token valid until")}
# Bookkeeping that changes with every save and says nothing of the configuration.
SKIPPED_COLUMNS = {"id", "created_at", "updated_at", "uis_app_id_changed_at"}
EMPTY: tuple[Any, ...] = (None, "", [], {})


@dataclass(frozen=True)
class Secret:
    """A secret column's value, held in memory only to tell whether it changed."""

    value: tuple[str, ...] = field(repr=False)

    @property
    def is_set(self) -> bool:
        return any(self.value)


def is_audited(model: type[Model]) -> bool:
    return model in OBJECT_TYPES


def account_of(obj: Model) -> Account:
    if isinstance(obj, Account):
        return obj
    if isinstance(obj, MindboxIntegration):
        return obj.account
    if isinstance(obj, Operation):
        return obj.integration.account
    if isinstance(obj, Notification):
        return obj.operation.integration.account
    raise TypeError(f"{type(obj).__name__} is not configuration")


def snapshot(obj: Model) -> Snapshot:
    """The object's configuration as JSON values (foreign keys and many-to-many by name);
    secret columns as Secret, which record_change turns into the marker."""
    values: Snapshot = {}
    hidden: dict[str, list[str]] = {}
    secrets = SECRET_COLUMNS.get(type(obj), {})
    for column in obj._meta.concrete_fields:
        if column.name in SKIPPED_COLUMNS:
            continue
        if column.attname in secrets:
            hidden.setdefault(secrets[column.attname], []).append(str(column.value_from_object(obj) or ""))
        elif column.is_relation:
            related_id = column.value_from_object(obj)
            values[column.name] = None if related_id is None else str(getattr(obj, column.name))
        else:
            values[column.name] = _json_value(column.value_from_object(obj))
    for name, parts in hidden.items():
        values[name] = Secret(tuple(parts))
    for many in obj._meta.many_to_many:
        values[many.name] = sorted(str(o) for o in getattr(obj, many.name).all()) if obj.pk else []
    return values


def stored_snapshot(obj: Model) -> Snapshot | None:
    """What the database holds for obj now (before a form's values are saved over it)."""
    stored = type(obj)._default_manager.filter(pk=obj.pk).first() if obj.pk else None
    return snapshot(stored) if stored is not None else None


def stored_snapshots(model: type[Model], *, pks: Iterable[Any]) -> dict[Any, Snapshot]:
    return {pk: snapshot(obj) for pk, obj in model._default_manager.in_bulk([pk for pk in pks if pk]).items()}


def _json_value(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    return json.loads(json.dumps(value, default=str))  # a copy: a JSON field's dict may be changed in place


def diff(*, before: Snapshot | None, after: Snapshot | None) -> dict[str, Any]:
    """{field: {"before": .., "after": ..}} for what differs; {field: "changed"} for a secret.
    A created object lists what it was created with, a deleted one what it had (not secrets)."""
    old_values, new_values = before or {}, after or {}
    changes: dict[str, Any] = {}
    for name in dict.fromkeys([*old_values, *new_values]):
        old, new = old_values.get(name), new_values.get(name)
        if isinstance(old, Secret) or isinstance(new, Secret):
            old_set = isinstance(old, Secret) and old.is_set
            new_set = isinstance(new, Secret) and new.is_set
            if after is not None and (old_set or new_set) and old != new:
                changes[name] = CHANGED
            continue
        if old == new or (before is None and new in EMPTY) or (after is None and old in EMPTY):
            continue
        changes[name] = {"before": old, "after": new}
    return changes


def who(actor: Actor) -> tuple[Any, str]:
    """The actor's user id (None for a command) and the label the log keeps."""
    if isinstance(actor, str):
        return None, actor
    if actor.is_authenticated:
        return actor.pk, actor.get_username()
    return None, "anonymous"


def record_change(
    *,
    account: Account | None,
    actor: Actor,
    obj: Model,
    action: str,
    before: Snapshot | None,
    after: Snapshot | None,
) -> ConfigChange | None:
    """One row for one object's change; none when nothing changed (a save of the same values)."""
    changes = diff(before=before, after=after)
    if not changes and action not in (Action.CREATED, Action.DELETED):
        return None
    actor_id, actor_label = who(actor)
    return ConfigChange.objects.create(
        account=account,
        account_label=str(account) if account is not None else "",
        actor_id=actor_id,
        actor_label=actor_label[:150],
        object_type=OBJECT_TYPES[type(obj)],
        object_id=obj.pk,
        object_label=str(obj)[:250],
        action=action,
        changes=changes,
    )


def record_saved(*, actor: Actor, obj: Model, before: Snapshot | None) -> ConfigChange | None:
    """After obj was saved: created when there was no before, else changed."""
    action = Action.CHANGED if before is not None else Action.CREATED
    return record_change(
        account=account_of(obj), actor=actor, obj=obj, action=action, before=before, after=snapshot(obj)
    )


def record_deletions(*, actor: Actor, objs: Iterable[Model]) -> int:
    """Before objs are deleted: a row for each, and for the configuration deleted with them
    (an operation's notifications; an integration's operations; an account's integration)."""
    count = 0
    for obj in objs:
        # Children first, so that newest first shows the object the user deleted on top.
        for doomed in [*_deleted_with(obj), obj]:
            record_change(
                account=account_of(doomed),
                actor=actor,
                obj=doomed,
                action=Action.DELETED,
                before=snapshot(doomed),
                after=None,
            )
            count += 1
    return count


def _deleted_with(obj: Model) -> list[Model]:
    """The configuration a delete of obj cascades to (models.py's CASCADEs), deepest first."""
    notifications = Notification.objects.select_related("operation__integration__account").order_by("pk")
    operations = Operation.objects.select_related("integration__account").order_by("pk")
    if isinstance(obj, Account):
        return [
            *notifications.filter(operation__integration__account=obj),
            *operations.filter(integration__account=obj),
            *MindboxIntegration.objects.filter(account=obj),
        ]
    if isinstance(obj, MindboxIntegration):
        return [*notifications.filter(operation__integration=obj), *operations.filter(integration=obj)]
    if isinstance(obj, Operation):
        return list(notifications.filter(operation=obj))
    return []


def record_test_send(
    *,
    actor: Actor,
    operation: Operation,
    notification: Notification | None,
    name: str,
    outcome: str,
    http_status: int | None,
) -> ConfigChange:
    """A test send from the editor: who, when, from which notification (a draft not saved yet:
    its operation, and the name typed), Mindbox's verdict and HTTP status. Never the rendered
    body or its values (they may hold a customer's data), nor the key."""
    actor_id, actor_label = who(actor)
    account = operation.integration.account
    obj: Model = notification if notification is not None else operation
    label = str(notification) if notification is not None else f"{operation}: {name.strip() or '—'}"
    return ConfigChange.objects.create(
        account=account,
        account_label=str(account),
        actor_id=actor_id,
        actor_label=actor_label[:150],
        object_type=OBJECT_TYPES[type(obj)],
        object_id=obj.pk,
        object_label=label[:250],
        action=Action.TEST_SENT,
        changes={"outcome": outcome, "http_status": http_status},
    )


def record_bulk_job(*, actor: Actor, job: "BulkJob", action: str) -> ConfigChange:
    """A bulk job started or cancelled (notifications.bulk_jobs), recorded against its
    integration: which job, its kind and what it takes (the deliveries' count, or since when)."""
    actor_id, actor_label = who(actor)
    integration = job.integration
    details: dict[str, Any] = {"job": job.pk, "kind": job.kind}
    if job.ids_fixed:
        details["deliveries"] = job.total
    if "since" in job.parameters:
        details["since"] = job.parameters["since"]
    return ConfigChange.objects.create(
        account=integration.account,
        account_label=str(integration.account),
        actor_id=actor_id,
        actor_label=actor_label[:150],
        object_type=ConfigChange.ObjectType.INTEGRATION,
        object_id=integration.pk,
        object_label=str(integration)[:250],
        action=action,
        changes=details,
    )


OUTCOMES = {
    "delivered": _("accepted by Mindbox"),
    "failed": _("refused by Mindbox"),
    "retry": _("temporary failure"),
}


@dataclass(frozen=True)
class FieldChange:
    label: str
    before: str
    after: str
    secret: bool
    plain: bool = False  # a value, not a change (a test send's outcome)


BULK_JOB_ACTIONS = (Action.BULK_JOB_STARTED, Action.BULK_JOB_CANCELLED)


def _describe_bulk_job(changes: dict[str, Any]) -> list[FieldChange]:
    from notifications.models import BulkJob  # notifications' models import this app's

    kind = changes.get("kind", "")
    described = [
        FieldChange(gettext("bulk job"), "", f"№{changes.get('job', '—')}", secret=False, plain=True),
        FieldChange(gettext("kind"), "", str(dict(BulkJob.Kind.choices).get(kind, kind)), secret=False, plain=True),
    ]
    if "deliveries" in changes:
        described.append(FieldChange(gettext("deliveries"), "", str(changes["deliveries"]), secret=False, plain=True))
    if "since" in changes:
        since = parse_datetime(str(changes["since"]))
        shown = str(formats.localize(timezone.localtime(since))) if since else str(changes["since"])
        described.append(FieldChange(gettext("failed since"), "", shown, secret=False, plain=True))
    return described


def describe(change: ConfigChange) -> list[FieldChange]:
    """A change's fields for people: labels and values as the admin shows them."""
    if change.action == Action.TEST_SENT:
        outcome, status = (change.changes or {}).get("outcome", ""), (change.changes or {}).get("http_status")
        return [
            FieldChange(gettext("outcome"), "", str(OUTCOMES.get(outcome, outcome)), secret=False, plain=True),
            FieldChange(gettext("HTTP status"), "", "—" if status is None else str(status), secret=False, plain=True),
        ]
    if change.action in BULK_JOB_ACTIONS:
        return _describe_bulk_job(change.changes or {})
    model = apps.get_model("mindbox_integration", change.object_type)
    described = []
    for name, value in (change.changes or {}).items():
        if name in SECRET_LABELS:
            described.append(
                FieldChange(str(SECRET_LABELS[name]), "", pgettext("secret field", "changed"), secret=True)
            )
            continue
        column = _field(model, name)
        label = str(FIELD_LABELS.get(name) or (column.verbose_name if column is not None else name))
        if not isinstance(value, dict):
            continue  # no other shape is written
        described.append(
            FieldChange(label, _shown(column, value.get("before")), _shown(column, value.get("after")), secret=False)
        )
    return described


def _field(model: type[Model], name: str) -> Any:
    try:
        return model._meta.get_field(name)
    except FieldDoesNotExist:  # a field since removed: shown by its name
        return None


def _shown(column: Any, value: Any) -> str:
    if value in EMPTY:
        return "—"
    if isinstance(value, bool):
        return gettext("yes") if value else gettext("no")
    if isinstance(value, list):
        return ", ".join(str(v) for v in value)
    if isinstance(value, dict):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(column, models.DateTimeField) and isinstance(value, str):
        parsed = parse_datetime(value)
        return str(formats.localize(timezone.localtime(parsed))) if parsed else value
    choices = dict(getattr(column, "flatchoices", None) or [])
    return str(choices.get(value, value))
