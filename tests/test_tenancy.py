"""Tenancy in the admin: a manager of account A, in the "Account managers" group, sees and
changes A and everything under it, and nothing of account B, on every page, action and JSON
endpoint; forged ids get a 404. The superuser still sees both. Through the test client on the
real database; nothing of the project is mocked."""

import os
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta

import pytest
import redis
from django.conf import settings as django_settings
from django.contrib.auth.models import User
from django.db.models import Model
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from mindbox_integration import services, tenancy
from mindbox_integration.models import Account, ConfigChange, MindboxIntegration, Notification, Operation
from notifications import bulk_jobs, dispatch
from notifications.models import BulkJob, Delivery, DeliveryAttempt, InboundEvent
from notifications.tasks import enqueue_replays
from tests.conftest import woken

pytestmark = pytest.mark.django_db


@dataclass
class Tenant:
    account: Account
    integration: MindboxIntegration
    operation: Operation
    notification: Notification
    event: InboundEvent
    delivery: Delivery
    attempt: DeliveryAttempt
    change: ConfigChange  # the account's creation, recorded by services.create_account


@pytest.fixture(autouse=True)
def broker() -> Iterator[redis.Redis]:
    """The test Redis's task queue emptied around each test: resends publish there."""
    connection = redis.Redis.from_url(os.environ["REDIS_URL"])
    connection.delete(*django_settings.ALL_QUEUES)
    yield connection
    connection.delete(*django_settings.ALL_QUEUES)


def make_tenant(make_account, make_notification, name: str) -> Tenant:
    account = make_account(name=name)
    notification = make_notification(account, name=f"{name} calls")
    result = dispatch.receive_event(
        account=account,
        communication_type="calls",
        raw="{}",
        values={"call_session_id": f"{name}-1", "visitor_name": name},
        enqueue=lambda ids: None,
    )
    delivery = Delivery.objects.get(event_id=result.event_id)
    Delivery.objects.filter(pk=delivery.pk).update(
        status=Delivery.Status.FAILED, attempts=1, last_error="HTTP 500", finished_at=timezone.now()
    )
    delivery.refresh_from_db()
    attempt = DeliveryAttempt.objects.create(delivery=delivery, outcome=DeliveryAttempt.Outcome.FAILED, error="500")
    return Tenant(
        account=account,
        integration=account.mindbox,
        operation=notification.operation,
        notification=notification,
        event=delivery.event,
        delivery=delivery,
        attempt=attempt,
        change=ConfigChange.objects.get(account=account),
    )


@pytest.fixture
def tenant_a(make_account, make_notification) -> Tenant:
    return make_tenant(make_account, make_notification, "Alpha")


@pytest.fixture
def tenant_b(make_account, make_notification) -> Tenant:
    return make_tenant(make_account, make_notification, "Beta")


@pytest.fixture
def manager_user(tenant_a) -> User:
    user = User.objects.create_user(username="manager-a", password="x", is_staff=True)
    user.groups.add(tenancy.ensure_managers_group())
    tenant_a.account.managers.add(user)
    return user


@pytest.fixture
def manager(manager_user) -> Client:
    client = Client()
    client.force_login(manager_user)
    return client


# Every model with an admin page, with what of a tenant it shows and its search term for B.
ADMIN_MODELS = [
    ("mindbox_integration", "account", "account"),
    ("mindbox_integration", "mindboxintegration", "integration"),
    ("mindbox_integration", "operation", "operation"),
    ("mindbox_integration", "notification", "notification"),
    ("notifications", "inboundevent", "event"),
    ("notifications", "delivery", "delivery"),
]
CHANGEABLE = ADMIN_MODELS[:4]
# The audit log: listed and searched like the rest, but nobody may delete from it (below).
LISTED = [*ADMIN_MODELS, ("mindbox_integration", "configchange", "change")]


def url(app: str, model: str, view: str, obj: Model | None = None) -> str:
    return reverse(f"admin:{app}_{model}_{view}", args=[obj.pk] if obj is not None else [])


def pks(response) -> set[int]:
    return {row.pk for row in response.context["cl"].result_list}


@pytest.mark.parametrize(("app", "model", "attr"), LISTED)
def test_lists_and_search_show_only_the_managed_account(manager, admin_client, tenant_a, tenant_b, app, model, attr):
    a, b = getattr(tenant_a, attr), getattr(tenant_b, attr)
    changelist = url(app, model, "changelist")
    response = manager.get(changelist)
    assert response.status_code == 200
    assert pks(response) == {a.pk}
    assert pks(manager.get(changelist, {"q": "Beta"})) == set()
    assert pks(manager.get(changelist, {"q": "Alpha"})) == {a.pk}
    # The same searches find B for the superuser: what the manager misses is scoped away.
    assert pks(admin_client.get(changelist)) == {a.pk, b.pk}
    assert pks(admin_client.get(changelist, {"q": "Beta"})) == {b.pk}


@pytest.mark.parametrize(("app", "model", "attr"), ADMIN_MODELS)
def test_another_accounts_pages_are_404(manager, admin_client, tenant_a, tenant_b, app, model, attr):
    a, b = getattr(tenant_a, attr), getattr(tenant_b, attr)
    for view in ("change", "delete", "history"):
        assert manager.get(url(app, model, view, b)).status_code == 404, view
        assert admin_client.get(url(app, model, view, b)).status_code == 200, view
    assert manager.get(url(app, model, "change", a)).status_code == 200
    assert manager.get(url(app, model, "history", a)).status_code == 200
    # An id of no row at all gets the same answer.
    assert manager.get(reverse(f"admin:{app}_{model}_change", args=[999999])).status_code == 404


@pytest.mark.parametrize(("app", "model", "attr"), CHANGEABLE)
def test_posting_to_another_accounts_change_or_delete_page_is_404(manager, tenant_b, app, model, attr):
    b = getattr(tenant_b, attr)
    before = type(b).objects.filter(pk=b.pk).values().get()
    data = {"name": "Hijacked", "uis_app_id": "666", "active": "", "_save": "Save"}
    assert manager.post(url(app, model, "change", b), data).status_code == 404
    assert manager.post(url(app, model, "delete", b), {"post": "yes"}).status_code == 404
    assert type(b).objects.filter(pk=b.pk).values().get() == before


@pytest.mark.parametrize(("app", "model", "attr"), [CHANGEABLE[2], CHANGEABLE[3]])
def test_bulk_delete_leaves_another_accounts_rows(manager, tenant_a, tenant_b, app, model, attr):
    a, b = getattr(tenant_a, attr), getattr(tenant_b, attr)
    data = {"action": "delete_selected", "_selected_action": [str(a.pk), str(b.pk)], "post": "yes", "index": "0"}
    assert manager.post(url(app, model, "changelist"), data).status_code == 302
    assert not type(a).objects.filter(pk=a.pk).exists()  # the action ran, on A's row only
    assert type(b).objects.filter(pk=b.pk).exists()


@pytest.mark.parametrize("action", ["resend_selected", "rerender_selected"])
def test_replay_actions_leave_another_accounts_deliveries(
    manager, tenant_a, tenant_b, broker, action, django_capture_on_commit_callbacks
):
    data = {"action": action, "_selected_action": [str(tenant_a.delivery.pk), str(tenant_b.delivery.pk)], "index": "0"}
    with django_capture_on_commit_callbacks(execute=True):
        assert manager.post(url("notifications", "delivery", "changelist"), data).status_code == 302
    # One bulk job, of A's integration and A's delivery alone; run as the worker would.
    (job,) = BulkJob.objects.all()
    assert (job.integration_id, job.delivery_ids) == (tenant_a.integration.pk, [tenant_a.delivery.pk])
    with django_capture_on_commit_callbacks(execute=True):
        bulk_jobs.run(job_id=job.pk, enqueue=enqueue_replays, chunk_size=100)
    assert Delivery.objects.get(pk=tenant_a.delivery.pk).status == Delivery.Status.PENDING
    assert Delivery.objects.get(pk=tenant_b.delivery.pk).status == Delivery.Status.FAILED
    assert tenant_b.delivery.pk not in queued(broker)
    assert tenant_a.delivery.pk in queued(broker)


def queued(broker: redis.Redis) -> list[int]:
    return woken(broker, "replays")


def test_per_delivery_and_integration_buttons_are_404_for_another_account(manager, tenant_a, tenant_b):
    b = tenant_b
    token_before = Account.objects.get(pk=b.account.pk).inbound_token_hash
    for view in ("resend", "rerender"):
        assert manager.post(url("notifications", "delivery", view, b.delivery)).status_code == 404
    for view in ("resume", "rotate_token"):
        target = url("mindbox_integration", "mindboxintegration", view, b.integration)
        assert manager.post(target, {"mode": "now"}).status_code == 404
    assert Delivery.objects.get(pk=b.delivery.pk).status == Delivery.Status.FAILED
    assert Account.objects.get(pk=b.account.pk).inbound_token_hash == token_before
    # The same buttons work on A's own rows.
    assert manager.post(url("notifications", "delivery", "resend", tenant_a.delivery)).status_code == 302
    rotate = url("mindbox_integration", "mindboxintegration", "rotate_token", tenant_a.integration)
    assert manager.post(rotate, {"mode": "now"}).status_code == 302


def test_resend_failed_offers_and_accepts_only_managed_integrations(manager, tenant_a, tenant_b):
    page = reverse("admin:notifications_delivery_resend_failed")
    choices = manager.get(page).context["form"].fields["integration"].queryset
    assert list(choices) == [tenant_a.integration]
    since = (timezone.localtime() - timedelta(days=1)).strftime("%Y-%m-%dT%H:%M")
    response = manager.post(page, {"integration": tenant_b.integration.pk, "since": since, "confirm": "1"})
    assert response.status_code == 200
    assert "integration" in response.context["form"].errors
    assert Delivery.objects.get(pk=tenant_b.delivery.pk).status == Delivery.Status.FAILED
    # A's integration the same way resends A's failure.
    response = manager.post(page, {"integration": tenant_a.integration.pk, "since": since, "confirm": "1"})
    assert response.status_code == 302
    (job,) = BulkJob.objects.all()
    assert job.integration_id == tenant_a.integration.pk
    bulk_jobs.run(job_id=job.pk, enqueue=enqueue_replays, chunk_size=100)
    assert Delivery.objects.get(pk=tenant_a.delivery.pk).status == Delivery.Status.PENDING


def test_the_account_filter_lists_only_managed_accounts(
    manager, manager_user, admin_client, tenant_a, tenant_b, make_account, make_notification
):
    # A second account of the manager's: the filter shows only when it has two choices.
    tenant_c = make_tenant(make_account, make_notification, "Gamma")
    tenant_c.account.managers.add(manager_user)
    changelist = url("notifications", "delivery", "changelist")
    lookup = "event__account__id__exact"

    def account_choices(client) -> set[int]:
        (spec,) = [s for s in client.get(changelist).context["cl"].filter_specs if lookup in s.expected_parameters()]
        return {pk for pk, _ in spec.lookup_choices}

    assert account_choices(manager) == {tenant_a.account.pk, tenant_c.account.pk}
    assert account_choices(admin_client) == {tenant_a.account.pk, tenant_b.account.pk, tenant_c.account.pk}
    # Filtering by B's account from the URL finds nothing.
    assert pks(manager.get(changelist, {lookup: tenant_b.account.pk})) == set()


def test_foreign_key_choices_list_only_managed_rows(manager, tenant_a, tenant_b):
    form = manager.get(url("mindbox_integration", "notification", "add")).context["adminform"].form
    assert list(form.fields["operation"].queryset) == [tenant_a.operation]
    form = manager.get(url("mindbox_integration", "operation", "add")).context["adminform"].form
    assert list(form.fields["integration"].queryset) == [tenant_a.integration]


def notification_data(operation: Operation, name: str = "Forged") -> dict[str, str]:
    return {
        "operation": str(operation.pk),
        "name": name,
        "url": f"https://api.s.mindbox.ru/v3/operations/async?endpointId=x&operation={operation.name}",
        "communication_type": "calls",
        "filters": "",
        "body": '{"customer": {"fullName": {{visitor_name}}}}',
        "active": "on",
        "_save": "Save",
    }


def test_another_accounts_operation_cannot_be_posted_as_a_notifications_operation(manager, tenant_a, tenant_b):
    add = url("mindbox_integration", "notification", "add")
    response = manager.post(add, notification_data(tenant_b.operation))
    assert response.status_code == 200
    assert "operation" in response.context["adminform"].form.errors
    assert not Notification.objects.filter(name="Forged").exists()
    # Moving A's notification under B's operation is refused the same way.
    change = url("mindbox_integration", "notification", "change", tenant_a.notification)
    response = manager.post(change, notification_data(tenant_b.operation, name=tenant_a.notification.name))
    assert response.status_code == 200
    assert "operation" in response.context["adminform"].form.errors
    assert Notification.objects.get(pk=tenant_a.notification.pk).operation_id == tenant_a.operation.pk
    # And A's own operation is accepted: the manager can work.
    assert manager.post(add, notification_data(tenant_a.operation)).status_code == 302
    assert Notification.objects.get(name="Forged").operation_id == tenant_a.operation.pk


def test_an_operation_cannot_be_added_to_another_accounts_integration(manager, tenant_b):
    add = url("mindbox_integration", "operation", "add")
    data = {"integration": str(tenant_b.integration.pk), "name": "Forged", "_save": "Save"}
    data.update({"notifications-TOTAL_FORMS": "0", "notifications-INITIAL_FORMS": "0"})
    response = manager.post(add, data)
    assert response.status_code == 200
    assert "integration" in response.context["adminform"].form.errors
    assert not Operation.objects.filter(name="Forged").exists()


@pytest.mark.parametrize(
    ("model", "field", "attr"),
    [("notification", "operation", "operation"), ("operation", "integration", "integration")],
)
def test_autocomplete_returns_only_managed_rows(manager, admin_client, tenant_a, tenant_b, model, field, attr):
    params = {"app_label": "mindbox_integration", "model_name": model, "field_name": field, "term": ""}

    def ids(client) -> set[str]:
        response = client.get(reverse("admin:autocomplete"), params)
        assert response.status_code == 200
        return {row["id"] for row in response.json()["results"]}

    a, b = getattr(tenant_a, attr), getattr(tenant_b, attr)
    assert ids(manager) == {str(a.pk)}
    assert ids(admin_client) == {str(a.pk), str(b.pk)}
    params["term"] = "Beta"
    assert ids(manager) == set()


def test_managers_cannot_add_accounts_or_assign_managers(manager, manager_user, tenant_a):
    assert manager.get(url("mindbox_integration", "account", "add")).status_code == 403
    assert not manager.get(url("mindbox_integration", "account", "changelist")).context["has_add_permission"]
    change = url("mindbox_integration", "account", "change", tenant_a.account)
    form = manager.get(change).context["adminform"].form
    assert "managers" not in form.fields
    intruder = User.objects.create_user(username="intruder", is_staff=True)
    data = {"name": "Alpha renamed", "uis_app_id": tenant_a.account.uis_app_id, "managers": [intruder.pk]}
    assert manager.post(change, {**data, "_save": "Save"}).status_code == 302
    account = Account.objects.get(pk=tenant_a.account.pk)
    assert account.name == "Alpha renamed"  # their account is theirs to change
    assert list(account.managers.all()) == [manager_user]


def test_the_superuser_assigns_managers(admin_client, manager_user, tenant_b):
    change = url("mindbox_integration", "account", "change", tenant_b.account)
    form = admin_client.get(change).context["adminform"].form
    assert manager_user in form.fields["managers"].queryset
    data = {"name": tenant_b.account.name, "uis_app_id": tenant_b.account.uis_app_id, "managers": [manager_user.pk]}
    assert tenant_b.account not in tenancy.visible_accounts(user=manager_user)
    assert admin_client.post(change, {**data, "_save": "Save"}).status_code == 302
    assert tenant_b.account in tenancy.visible_accounts(user=manager_user)


def test_delivery_page_shows_only_its_own_attempts(manager, tenant_a, tenant_b):
    page = manager.get(url("notifications", "delivery", "change", tenant_a.delivery))
    attempts = [entry for entry in page.context["timeline"] if entry.kind == "attempt"]
    assert [entry.at for entry in attempts] == [tenant_a.attempt.started_at]


def test_an_inactive_or_unassigned_user_sees_nothing(tenant_a, tenant_b):
    user = User.objects.create_user(username="nobody", is_staff=True)
    user.groups.add(tenancy.ensure_managers_group())
    for model in (
        Account,
        MindboxIntegration,
        Operation,
        Notification,
        InboundEvent,
        Delivery,
        DeliveryAttempt,
        ConfigChange,
        BulkJob,
    ):
        assert not tenancy.scope(model.objects.all(), user=user).exists(), model
    tenant_a.account.managers.add(user)
    User.objects.filter(pk=user.pk).update(is_active=False)
    user.refresh_from_db()
    assert not tenancy.scope(Delivery.objects.all(), user=user).exists()


def test_the_managers_group_has_exactly_what_a_manager_needs():
    codenames = {p.codename for p in tenancy.ensure_managers_group().permissions.all()}
    assert "add_account" not in codenames and "delete_account" not in codenames
    assert "add_mindboxintegration" not in codenames and "delete_mindboxintegration" not in codenames
    assert {"change_delivery", "view_deliveryattempt", "add_notification", "delete_operation"} <= codenames
    assert "view_configchange" in codenames
    assert not {"add_configchange", "change_configchange", "delete_configchange"} & codenames


def test_another_accounts_changes_are_404_and_the_log_is_read_only(manager, tenant_a, tenant_b):
    for view in ("change", "delete", "history"):
        assert manager.get(url("mindbox_integration", "configchange", view, tenant_b.change)).status_code == 404, view
    assert manager.get(url("mindbox_integration", "configchange", "change", tenant_a.change)).status_code == 200
    assert manager.get(url("mindbox_integration", "configchange", "delete", tenant_a.change)).status_code == 403
    assert (
        manager.post(url("mindbox_integration", "configchange", "delete", tenant_a.change), {"post": "yes"}).status_code
        == 403
    )
    assert ConfigChange.objects.filter(pk=tenant_a.change.pk).exists()


def test_the_account_page_shows_only_its_own_changes(manager, manager_user, tenant_a, tenant_b):
    # The manager's own change of A, and the superuser's of B (through the same services).
    rotate = url("mindbox_integration", "mindboxintegration", "rotate_token", tenant_a.integration)
    assert manager.post(rotate, {"mode": "now"}).status_code == 302
    services.rotate_inbound_token(account=tenant_b.account, actor="beta-operator")
    response = manager.get(url("mindbox_integration", "account", "change", tenant_a.account))
    shown = [item["change"] for item in response.context["config_changes"]]
    assert [(c.action, c.actor_label) for c in shown] == [("token_rotated", "manager-a"), ("created", "tests")]
    assert shown[0].actor_id == manager_user.pk
    assert "beta-operator" not in response.content.decode()
    # The list it links to, filtered by A; forged to B, it is empty; the filter offers A only.
    listed = manager.get(response.context["config_changes_url"])
    assert pks(listed) == {c.pk for c in shown}
    forged = manager.get(
        url("mindbox_integration", "configchange", "changelist"), {"account__id__exact": tenant_b.account.pk}
    )
    assert pks(forged) == set()
    (spec,) = [s for s in listed.context["cl"].filter_specs if hasattr(s, "lookup_choices")]
    assert {pk for pk, _ in spec.lookup_choices} == {tenant_a.account.pk}


def test_a_deleted_accounts_changes_are_the_superusers_only(manager, manager_user, admin_client, tenant_a):
    tenant_a.account.delete()  # its rows stay, with no account (SET_NULL)
    assert ConfigChange.objects.filter(pk=tenant_a.change.pk, account=None).exists()
    assert pks(manager.get(url("mindbox_integration", "configchange", "changelist"))) == set()
    assert tenant_a.change.pk in pks(admin_client.get(url("mindbox_integration", "configchange", "changelist")))


def bulk_job(tenant: Tenant) -> BulkJob:
    """A bulk resend of the tenant's failed delivery, not started."""
    return bulk_jobs.submit(
        kind=BulkJob.Kind.RESEND,
        integration=tenant.integration,
        actor="tests",
        publish=lambda job_id: None,
        delivery_ids=[tenant.delivery.pk],
    )


def test_another_accounts_bulk_jobs_are_hidden_404_and_cannot_be_cancelled(manager, admin_client, tenant_a, tenant_b):
    a, b = bulk_job(tenant_a), bulk_job(tenant_b)
    changelist = url("notifications", "bulkjob", "changelist")
    assert pks(manager.get(changelist)) == {a.pk}
    assert pks(manager.get(changelist, {"q": "Beta"})) == set()
    assert pks(admin_client.get(changelist)) == {a.pk, b.pk}
    assert manager.get(url("notifications", "bulkjob", "change", b)).status_code == 404
    assert manager.post(url("notifications", "bulkjob", "cancel", b)).status_code == 404
    assert BulkJob.objects.get(pk=b.pk).status == BulkJob.Status.QUEUED
    assert admin_client.get(url("notifications", "bulkjob", "change", b)).status_code == 200
    # Their own: shown, with its Cancel button, which works (and is audited against A's account).
    page = manager.get(url("notifications", "bulkjob", "change", a)).content.decode()
    assert 'id="cancel-job"' in page
    assert manager.post(url("notifications", "bulkjob", "cancel", a)).status_code == 302
    assert BulkJob.objects.get(pk=a.pk).status == BulkJob.Status.CANCELLED
    cancelled = ConfigChange.objects.get(action=ConfigChange.Action.BULK_JOB_CANCELLED)
    assert (cancelled.account_id, cancelled.actor_label) == (tenant_a.account.pk, "manager-a")
