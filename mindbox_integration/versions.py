"""The configuration's version stamp: what lets each web process keep an account's notifications
between requests (notifications.plans) and still see every change at its next request.

Every save or delete of an account, integration, operation or notification gives ConfigVersion's
one row a new random stamp, in the transaction of the change and after it. The inbound endpoint
reads the stamp with the token (or checks it in the event's write, for a token it remembers,
notifications.senders), so a process serves from its cache only what was loaded under the
stamp that is current: a change is seen by the next request in every process, exact, with no
extra query.

Why Django's post_save and post_delete signals (and the models' ConfigQuerySet for the bulk
writes that send none: update(), bulk_create(), bulk_update()), not calls in the admin, import
and services paths (the audit log's way) nor a database trigger: every ORM write of these models
passes through them, the admin's saves, inlines, deletes and bulk deletes, the import, loaddata,
a shell, the harness and the tests' fixtures alike, and cascades send them for each row deleted.
Only raw SQL gets past them; a path that writes these tables so calls bump() itself. Why a
random stamp, not a counter or max(updated_at): a counter comes back to a value already seen
when a transaction rolls back or the table is emptied (the tests do both), and a deleted row
leaves no updated_at behind. Tokens are checked in the database on every event anyway; accounts
are watched for what a process remembers of them besides (the UIS app id)."""

import secrets
from typing import Any

from django.db.models.signals import post_delete, post_save

from mindbox_integration.models import Account, ConfigVersion, MindboxIntegration, Notification, Operation

ROW = 1
WATCHED = (Account, MindboxIntegration, Operation, Notification)


def bump() -> None:
    """A new stamp: one upsert (the row is made if a flush removed it)."""
    ConfigVersion.objects.bulk_create(
        [ConfigVersion(pk=ROW, stamp=secrets.randbits(62))],
        update_conflicts=True,
        unique_fields=["id"],
        update_fields=["stamp"],
    )


def _changed(sender: type, **kwargs: Any) -> None:
    bump()


def connect() -> None:
    for model in WATCHED:
        post_save.connect(_changed, sender=model, dispatch_uid=f"config-version-save-{model.__name__}")
        post_delete.connect(_changed, sender=model, dispatch_uid=f"config-version-delete-{model.__name__}")
