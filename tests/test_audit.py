"""The audit log of configuration changes: every write path (admin pages, inlines, deletes,
the bulk delete, token buttons, secret keys, managers, import) leaves one row with who, what
and each field before and after; secrets only as "changed", their material nowhere in the
table; nothing when nothing changed. Through the test client and the real commands, on the
real database; nothing of the project is mocked."""

import json
from io import StringIO
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.core.management import call_command
from django.db import connection
from django.urls import reverse

from mindbox_integration import crypto, services
from mindbox_integration.models import Account, ConfigChange, MindboxIntegration, Notification, Operation
from tests.conftest import inline_management

pytestmark = pytest.mark.django_db

URL = "https://api.s.mindbox.ru/v3/operations/async?endpointId=acme.Custom&operation=Zvonok"
BODY = '{"customer": {"fullName": {{visitor_name}}}}'
SECRET = "sk-audit-secret-4711"


def admin_url(model: str, view: str, *args: Any) -> str:
    return reverse(f"admin:mindbox_integration_{model}_{view}", args=list(args))


def log() -> list[ConfigChange]:
    return list(ConfigChange.objects.order_by("pk"))


def table_text() -> str:
    """Every column of every audit row, as PostgreSQL holds it."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT * FROM mindbox_integration_configchange")
        return repr(cursor.fetchall())


@pytest.fixture
def account(make_account) -> Account:
    account = make_account(active=True)
    ConfigChange.objects.all().delete()  # the fixture's own creation is not what these tests look at
    return account


@pytest.fixture
def operation(account: Account) -> Operation:
    operation = Operation.objects.create(integration=account.mindbox, name="Zvonok")
    ConfigChange.objects.all().delete()
    return operation


@pytest.fixture
def notification(operation: Operation) -> Notification:
    notification = Notification.objects.create(
        operation=operation, name="Входящие", url=URL, communication_type="calls", body=BODY
    )
    ConfigChange.objects.all().delete()
    return notification


def post_integration(client, integration: MindboxIntegration, operations: list[dict[str, str]] | None = None, **extra):
    operations = operations or []
    initial = sum(1 for op in operations if op.get("id"))
    data = {"active": "on", "_save": "Save", **inline_management("operations", len(operations), initial), **extra}
    for i, op in enumerate(operations):
        data.update({f"operations-{i}-{k}": v for k, v in {"integration": str(integration.pk), **op}.items()})
    response = client.post(admin_url("mindboxintegration", "change", integration.pk), data)
    assert response.status_code == 302, response.content.decode()[:3000]


def test_the_secret_key_is_recorded_only_as_changed(admin_client, admin_user, make_account):
    account = make_account(active=False)
    ConfigChange.objects.all().delete()
    post_integration(admin_client, account.mindbox, new_secret_key=SECRET)
    (row,) = log()
    assert (row.account_id, row.actor_id, row.actor_label) == (account.pk, admin_user.pk, "admin")
    assert (row.object_type, row.object_id, row.action) == ("mindboxintegration", account.mindbox.pk, "changed")
    assert row.changes == {"active": {"before": False, "after": True}, "secret_key": "changed"}
    ciphertext = MindboxIntegration.objects.get(pk=account.mindbox.pk).secret_key_encrypted
    text = table_text()
    assert SECRET not in text and ciphertext not in text and crypto.token_hash(SECRET) not in text

    # Removing it is a change too, again without the key; the page says "изменён", not the key.
    post_integration(admin_client, account.mindbox, clear_secret_key="on")
    assert log()[-1].changes == {"secret_key": "changed"}
    page = admin_client.get(admin_url("account", "change", account.pk)).content.decode()
    assert 'id="config-changes"' in page and 'секретный ключ: <em class="secret">изменён</em>' in page
    assert SECRET not in page


def test_saving_the_same_values_records_nothing(admin_client, account):
    post_integration(admin_client, account.mindbox)  # active already, no key given: nothing changes
    data = {"name": account.name, "uis_app_id": account.uis_app_id, "_save": "Save"}
    assert admin_client.post(admin_url("account", "change", account.pk), data).status_code == 302
    assert log() == []


def test_adding_an_account_records_it_without_token_material(admin_client, admin_user):
    data = {"name": "Acme", "uis_app_id": "777", "_save": "Save"}
    assert admin_client.post(admin_url("account", "add"), data).status_code == 302
    account = Account.objects.get(uis_app_id="777")
    (row,) = log()
    assert (row.action, row.object_type, row.account_id, row.actor_id) == (
        "created",
        "account",
        account.pk,
        admin_user.pk,
    )
    assert row.changes == {
        "name": {"before": None, "after": "Acme"},
        "uis_app_id": {"before": None, "after": "777"},
        "inbound_token": "changed",
        "site_key": {"before": None, "after": account.site_key},  # public: clients' pages hold it
    }
    token = crypto.decrypt(admin_client.session[f"issued-token-{account.pk}"]["token"])
    text = table_text()
    assert token not in text and account.inbound_token_hash not in text and account.inbound_token_hint not in text


def test_renaming_an_account_and_assigning_managers(admin_client, account):
    manager = User.objects.create_user(username="olga", is_staff=True)
    data = {"name": "Acme renamed", "uis_app_id": account.uis_app_id, "managers": [manager.pk], "_save": "Save"}
    assert admin_client.post(admin_url("account", "change", account.pk), data).status_code == 302
    (row,) = log()
    assert row.action == "changed" and row.account_label == f"Acme renamed ({account.uis_app_id})"
    assert row.changes == {
        "name": {"before": account.name, "after": "Acme renamed"},
        "managers": {"before": [], "after": ["olga"]},
    }
    data["managers"] = []
    assert admin_client.post(admin_url("account", "change", account.pk), data).status_code == 302
    assert log()[-1].changes == {"managers": {"before": ["olga"], "after": []}}


def test_operations_inline_on_the_integration_page(admin_client, account, operation):
    # Rename the existing one and add another in one save: two rows.
    post_integration(
        admin_client,
        account.mindbox,
        [{"id": str(operation.pk), "name": "Zvonok2"}, {"name": "Zakaz"}],
    )
    renamed, added = log()
    assert (renamed.object_type, renamed.object_id, renamed.action) == ("operation", operation.pk, "changed")
    assert renamed.changes == {"name": {"before": "Zvonok", "after": "Zvonok2"}}
    assert (added.action, added.object_label, added.account_id) == ("created", "Zakaz", account.pk)
    assert added.changes["name"] == {"before": None, "after": "Zakaz"}
    # Deleted from the inline.
    zakaz = Operation.objects.get(name="Zakaz")
    post_integration(
        admin_client,
        account.mindbox,
        [{"id": str(operation.pk), "name": "Zvonok2"}, {"id": str(zakaz.pk), "name": "Zakaz", "DELETE": "on"}],
    )
    deleted = log()[-1]
    assert (deleted.action, deleted.object_id, deleted.object_label) == ("deleted", zakaz.pk, "Zakaz")
    assert deleted.changes == {
        "name": {"before": "Zakaz", "after": None},
        "integration": {"before": str(account.mindbox), "after": None},
    }
    assert len(log()) == 3


def notification_form(i: int, **fields: str) -> dict[str, str]:
    values = {
        "name": "Входящие",
        "url": URL,
        "communication_type": "calls",
        "filters": "",
        "body": BODY,
        "active": "on",
    }
    return {f"notifications-{i}-{k}": v for k, v in {**values, **fields}.items()}


def test_notifications_inline_under_the_operation(admin_client, operation):
    page = admin_url("operation", "change", operation.pk)
    data = {"name": "Zvonok", "_save": "Save", **inline_management("notifications", 1), **notification_form(0)}
    assert admin_client.post(page, data).status_code == 302
    notification = Notification.objects.get(operation=operation)
    (created,) = log()
    assert (created.object_type, created.object_id, created.action) == ("notification", notification.pk, "created")
    assert created.changes["body"] == {"before": None, "after": BODY}
    assert created.changes["active"] == {"before": None, "after": True}
    assert "filters" not in created.changes  # created empty: nothing to say

    new_body = '{"customer": {"fullName": {{visitor_name}}, "mobilePhone": {{contact_phone_number}}}}'
    data = {"name": "Zvonok", "_save": "Save", **inline_management("notifications", 1, 1)}
    data.update(notification_form(0, id=str(notification.pk), operation=str(operation.pk), body=new_body, active=""))
    assert admin_client.post(page, data).status_code == 302
    changed = log()[-1]
    assert changed.changes == {
        "body": {"before": BODY, "after": new_body},
        "active": {"before": True, "after": False},
    }
    data.update({"notifications-0-DELETE": "on"})
    assert admin_client.post(page, data).status_code == 302
    assert not Notification.objects.exists()
    assert [r.action for r in log()] == ["created", "changed", "deleted"]


def test_a_notifications_own_page_records_filters_as_json(admin_client, notification):
    filters = {"match": "all", "conditions": [{"field": "direction", "mode": "include", "values": ["in"]}]}
    data = {
        "operation": str(notification.operation_id),
        "name": notification.name,
        "url": URL,
        "communication_type": "calls",
        "filters": json.dumps(filters),
        "body": BODY,
        "active": "on",
        "_save": "Save",
    }
    assert admin_client.post(admin_url("notification", "change", notification.pk), data).status_code == 302
    (row,) = log()
    assert row.changes == {"filters": {"before": {}, "after": filters}}


def test_deleting_an_operation_records_its_notifications_too(admin_client, admin_user, notification):
    operation = notification.operation
    response = admin_client.post(admin_url("operation", "delete", operation.pk), {"post": "yes"})
    assert response.status_code == 302
    child, parent = log()
    assert (child.object_type, child.object_id, child.action) == ("notification", notification.pk, "deleted")
    assert child.changes["url"] == {"before": URL, "after": None}
    assert (parent.object_type, parent.object_id, parent.action) == ("operation", operation.pk, "deleted")
    assert parent.actor_id == admin_user.pk and parent.account_id == operation.integration.account_id


def test_the_bulk_delete_action_is_recorded(admin_client, notification):
    other = Notification.objects.create(
        operation=notification.operation, name="Другие", url=URL, communication_type="calls", body=BODY
    )
    data = {
        "action": "delete_selected",
        "_selected_action": [str(notification.pk), str(other.pk)],
        "post": "yes",
        "index": "0",
    }
    assert admin_client.post(admin_url("notification", "changelist"), data).status_code == 302
    assert not Notification.objects.exists()
    assert sorted((r.object_id, r.action, r.actor_label) for r in log()) == [
        (notification.pk, "deleted", "admin"),
        (other.pk, "deleted", "admin"),
    ]


def test_a_deleted_accounts_changes_stay_for_superusers(admin_client, notification):
    account = notification.operation.integration.account
    assert admin_client.post(admin_url("account", "delete", account.pk), {"post": "yes"}).status_code == 302
    assert not Account.objects.filter(pk=account.pk).exists()
    rows = log()
    assert [r.object_type for r in rows] == ["notification", "operation", "mindboxintegration", "account"]
    assert {r.account_id for r in rows} == {None}  # SET_NULL: the rows outlive the account
    assert {r.account_label for r in rows} == {str(account)}
    listed = admin_client.get(admin_url("configchange", "changelist")).context["cl"].result_list
    assert {r.pk for r in listed} == {r.pk for r in rows}


def test_token_rotation_and_revocation_are_recorded_without_token_material(admin_client, admin_user, account):
    rotate = admin_url("mindboxintegration", "rotate_token", account.mindbox.pk)
    old_hash = account.inbound_token_hash
    assert admin_client.post(rotate, {"mode": "grace"}).status_code == 302
    (rotated,) = log()
    assert (rotated.action, rotated.actor_id, rotated.object_type) == ("token_rotated", admin_user.pk, "account")
    assert rotated.changes["inbound_token"] == "changed" and rotated.changes["previous_token"] == "changed"
    assert rotated.changes["previous_token_valid_until"]["before"] is None
    assert rotated.changes["previous_token_valid_until"]["after"]  # the grace's end
    assert set(rotated.changes) == {"inbound_token", "previous_token", "previous_token_valid_until"}

    assert admin_client.post(rotate, {"mode": "revoke-previous"}).status_code == 302
    revoked = log()[-1]
    assert revoked.action == "previous_token_revoked" and set(revoked.changes) == {
        "previous_token",
        "previous_token_valid_until",
    }
    assert admin_client.post(rotate, {"mode": "revoke-previous"}).status_code == 302
    assert len(log()) == 2  # nothing left to revoke: no row
    page = admin_client.get(admin_url("account", "change", account.pk)).content.decode()
    assert "предыдущий токен действует до: <span" in page
    assert "предыдущий токен входящих запросов отозван" in page and "новый токен входящих запросов" in page

    token = crypto.decrypt(admin_client.session[f"issued-token-{account.pk}"]["token"])
    current = Account.objects.get(pk=account.pk)
    text = table_text()
    for material in (account.inbound_token, token, old_hash, current.inbound_token_hash, current.inbound_token_hint):
        assert material not in text


def test_import_is_recorded_under_the_commands_name(tmp_path):
    config = {
        "accounts": [
            {
                "name": "Acme",
                "uis_app_id": "100500",
                "inbound_token": "given-token-0123456789-abcdefghijklmnop",
                "mindbox": {
                    "active": True,
                    "secret_key": SECRET,
                    "operations": [
                        {
                            "name": "Zvonok",
                            "notifications": [
                                {"name": "Входящие", "url": URL, "communication_type": "calls", "body": BODY}
                            ],
                        }
                    ],
                },
            }
        ]
    }
    path = tmp_path / "config.json"

    def run(data: dict[str, Any], *args: str) -> None:
        path.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
        call_command("import_integrations", str(path), *args, stdout=StringIO())

    run(config)
    rows = log()
    assert [(r.object_type, r.action) for r in rows] == [
        ("account", "created"),
        ("mindboxintegration", "changed"),
        ("operation", "created"),
        ("notification", "created"),
    ]
    assert {(r.actor_id, r.actor_label) for r in rows} == {(None, "import_integrations")}
    assert rows[1].changes == {"active": {"before": False, "after": True}, "secret_key": "changed"}

    run(config)  # the same file again changes nothing, and so records nothing
    assert len(log()) == 4

    config["accounts"][0]["mindbox"]["secret_key"] = "sk-audit-secret-other"
    config["accounts"][0]["inbound_token"] = "another-token-0123456789-abcdefghijklmnop"
    config["accounts"][0]["mindbox"]["operations"][0]["notifications"][0]["active"] = False
    run(config, "--replace-tokens")
    new = {(r.object_type, r.action): r for r in log()[4:]}
    assert len(log()) == 7
    assert new["mindboxintegration", "changed"].changes == {"secret_key": "changed"}
    assert new["account", "token_replaced"].changes == {"inbound_token": "changed"}
    assert new["notification", "changed"].changes == {"active": {"before": True, "after": False}}
    text = table_text()
    for material in (SECRET, "sk-audit-secret-other", "given-token-0123456789", "another-token-0123456789"):
        assert material not in text


def test_the_log_is_read_only_even_for_superusers(admin_client, account):
    services.rotate_inbound_token(account=account, actor="tests")
    (row,) = log()
    assert row.actor_label == "tests" and row.actor_id is None
    assert admin_client.get(admin_url("configchange", "add")).status_code == 403
    page = admin_client.get(admin_url("configchange", "change", row.pk))
    assert page.status_code == 200 and not page.context["has_change_permission"]
    assert admin_client.post(admin_url("configchange", "change", row.pk), {"action": "created"}).status_code == 403
    assert admin_client.post(admin_url("configchange", "delete", row.pk), {"post": "yes"}).status_code == 403
    bulk = {"action": "delete_selected", "_selected_action": [str(row.pk)], "post": "yes", "index": "0"}
    admin_client.post(admin_url("configchange", "changelist"), bulk)
    assert ConfigChange.objects.filter(pk=row.pk, action="token_rotated").exists()
