"""Who sees what: the one place that decides an admin user's scope. Superusers see every
account; any other user sees the accounts they manage (Account.managers) and everything under
them. The admin (admin_base.PortalModelAdmin) filters every queryset, choice list and filter
through `scope`, so a model missing from ACCOUNT_PATHS fails loudly instead of showing all."""

from collections.abc import Mapping
from typing import Any, TypeVar

from django.contrib.auth.base_user import AbstractBaseUser
from django.contrib.auth.models import AnonymousUser, Group, Permission
from django.db.models import Model, QuerySet

from mindbox_integration.models import Account, ConfigChange, MindboxIntegration, Notification, Operation
from notifications.models import BulkJob, Delivery, DeliveryAttempt, HourlyStats, InboundEvent

M = TypeVar("M", bound=Model)

# How each admin model reaches its account.
ACCOUNT_PATHS: dict[type[Model], str] = {
    Account: "pk",
    MindboxIntegration: "account",
    Operation: "integration__account",
    Notification: "operation__integration__account",
    InboundEvent: "account",
    Delivery: "event__account",
    DeliveryAttempt: "delivery__event__account",
    HourlyStats: "integration__account",
    BulkJob: "integration__account",
    # Changes of a deleted account have none: superusers alone see them.
    ConfigChange: "account",
}

MANAGERS_GROUP = "Account managers"
# What a manager may do, by model. No add or delete on accounts and integrations: superusers
# create accounts (each gets its integration) and assign their managers. Events and attempts
# are history; a delivery's change permission is what lets it be sent again (notifications.admin.may_resend).
# The audit log is read only for everyone (ConfigChangeAdmin); managers read their accounts' part.
MANAGER_PERMISSIONS: dict[tuple[str, str], tuple[str, ...]] = {
    ("mindbox_integration", "account"): ("view", "change"),
    ("mindbox_integration", "mindboxintegration"): ("view", "change"),
    ("mindbox_integration", "operation"): ("view", "add", "change", "delete"),
    ("mindbox_integration", "notification"): ("view", "add", "change", "delete"),
    ("notifications", "inboundevent"): ("view",),
    ("notifications", "delivery"): ("view", "change"),
    ("notifications", "deliveryattempt"): ("view",),
    ("mindbox_integration", "configchange"): ("view",),
}

User = AbstractBaseUser | AnonymousUser


def visible_accounts(*, user: User) -> "QuerySet[Account]":
    if not user.is_active:
        return Account.objects.none()
    if getattr(user, "is_superuser", False):
        return Account.objects.all()
    return Account.objects.filter(managers__pk=user.pk)


def is_scoped(model: type[Model]) -> bool:
    return model in ACCOUNT_PATHS


def scope(queryset: "QuerySet[M]", *, user: User) -> "QuerySet[M]":
    """The rows of `queryset` under accounts the user may see."""
    if getattr(user, "is_superuser", False) and user.is_active:
        return queryset
    path = ACCOUNT_PATHS[queryset.model]  # KeyError: a new model needs its path here
    return queryset.filter(**{f"{path}__in": visible_accounts(user=user)})


def ensure_managers_group(
    *,
    group_model: Any = Group,
    permission_model: Any = Permission,
    permissions: Mapping[tuple[str, str], tuple[str, ...]] = MANAGER_PERMISSIONS,
) -> Any:
    """The "Account managers" group with exactly `permissions` (MANAGER_PERMISSIONS). Idempotent;
    a data migration passes its historical models and its own copy of the permissions (the
    models of later migrations do not exist yet when it runs on a new database)."""
    group, _ = group_model.objects.get_or_create(name=MANAGERS_GROUP)
    wanted = [
        permission_model.objects.get(
            content_type__app_label=app_label, content_type__model=model, codename=f"{action}_{model}"
        )
        for (app_label, model), actions in permissions.items()
        for action in actions
    ]
    group.permissions.set(wanted)
    return group
