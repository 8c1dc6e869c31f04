"""An account's UIS app id names it to import_integrations, so only superusers change it, and an
import whose entry would merge into an account whose id changed since the file was written says
so and stops. Through the admin (test client) and the management commands on the real database."""

import json
from io import StringIO

import pytest
from django.contrib.auth.models import User
from django.core.management import CommandError, call_command
from django.test import Client
from django.urls import reverse

from mindbox_integration import tenancy
from mindbox_integration.models import Account, ConfigChange

pytestmark = pytest.mark.django_db

NEW_CLIENT = {
    "accounts": [
        {
            "name": "New client",
            "uis_app_id": "777001",
            "mindbox": {"active": True, "secret_key": "sk-new-client-key", "operations": []},
        }
    ]
}


@pytest.fixture
def manager(make_account) -> tuple[Client, Account]:
    account = make_account(name="Managed")
    user = User.objects.create_user(username="manager-id", password="x", is_staff=True)
    user.groups.add(tenancy.ensure_managers_group())
    account.managers.add(user)
    client = Client()
    client.force_login(user)
    return client, account


def change_url(account: Account) -> str:
    return reverse("admin:mindbox_integration_account_change", args=[account.pk])


def run_import(tmp_path, data) -> str:
    path = tmp_path / "config.json"
    path.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    out = StringIO()
    call_command("import_integrations", str(path), stdout=out)
    return out.getvalue()


def test_a_manager_cannot_change_the_uis_app_id(manager):
    client, account = manager
    page = client.get(change_url(account))
    assert "uis_app_id" not in page.context["adminform"].form.fields  # shown, not editable
    assert account.uis_app_id in page.content.decode()
    response = client.post(change_url(account), {"name": "Renamed", "uis_app_id": "777001", "_save": "1"})
    assert response.status_code == 302
    account.refresh_from_db()
    assert (account.name, account.uis_app_id) == ("Renamed", account.uis_app_id)
    assert account.uis_app_id != "777001"
    assert account.uis_app_id_changed_at is None


def test_a_superuser_changes_it_and_the_change_is_noted(admin_client, make_account):
    account = make_account()
    response = admin_client.post(change_url(account), {"name": account.name, "uis_app_id": "777001", "_save": "1"})
    assert response.status_code == 302
    account.refresh_from_db()
    assert account.uis_app_id == "777001"
    assert account.uis_app_id_changed_at is not None
    change = ConfigChange.objects.filter(account=account, action="changed").get()
    assert set(change.changes) == {"uis_app_id"}  # the bookkeeping column is not a change of its own


def test_an_import_into_an_account_whose_id_changed_since_the_file_was_written_stops(
    tmp_path, admin_client, make_account
):
    # The operator writes the new client's file (by hand: no exported_at); meanwhile an account
    # is re-pointed at that id. The import must not merge the client into it.
    account = make_account(name="Re-pointed")
    admin_client.post(change_url(account), {"name": account.name, "uis_app_id": "777001", "_save": "1"})
    with pytest.raises(CommandError) as refused:
        run_import(tmp_path, NEW_CLIENT)
    message = str(refused.value)
    assert "nothing imported" in message
    assert f"$.accounts[0].uis_app_id: account {account.name!r} got this UIS app id on" in message
    assert "the file has no exported_at" in message
    assert "sk-new-client-key" not in message
    account.refresh_from_db()
    assert account.name.startswith("Re-pointed") and not account.mindbox.has_secret_key

    # An export written before the change is refused the same way, saying when it was written.
    older = {**NEW_CLIENT, "exported_at": "2020-01-01T00:00:00+00:00"}
    with pytest.raises(CommandError, match=r"exported_at is 2020-01-01T00:00:00\+00:00"):
        run_import(tmp_path, older)

    # An export written after the change means that account: it is imported.
    exported = StringIO()
    call_command("export_integrations", stdout=exported)
    current = json.loads(exported.getvalue())
    current["accounts"][0]["name"] = "Re-pointed, confirmed"
    assert "updated account 777001: name" in run_import(tmp_path, current)


def test_an_account_whose_id_never_changed_imports_as_before(tmp_path, make_account):
    account = make_account(name="Steady")
    entry = {"name": "Steady, renamed", "uis_app_id": account.uis_app_id}
    assert "updated account" in run_import(tmp_path, {"accounts": [entry]})
    assert Account.objects.get(pk=account.pk).name == "Steady, renamed"


def test_a_malformed_exported_at_or_unknown_top_level_key_is_refused(tmp_path):
    with pytest.raises(CommandError) as refused:
        run_import(tmp_path, {**NEW_CLIENT, "exported_at": "yesterday", "extra": 1})
    assert "$.exported_at: a date and time with its offset" in str(refused.value)
    assert "$.extra: unknown key" in str(refused.value)
    assert not Account.objects.filter(uis_app_id="777001").exists()
