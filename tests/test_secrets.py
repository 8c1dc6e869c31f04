"""Secret keys encrypted at rest and rotatable; inbound tokens kept only as hashes, rotated with
a grace period, revoked at once; and a known key found nowhere the flow writes."""

from datetime import timedelta

import pytest
import requests
from cryptography.fernet import Fernet
from django.apps import apps
from django.contrib.sessions.models import Session
from django.core.management import call_command
from django.db import connection
from django.urls import reverse
from django.utils import timezone

from harness.mindbox_standin import Planned
from mindbox_integration import crypto, services
from mindbox_integration.models import Account, MindboxIntegration
from notifications.api.authentication import account_for_token
from notifications.delivery import attempt_delivery
from notifications.models import Delivery
from tests.conftest import KNOWN_SECRET, wait_for

CALL = {"call_session_id": "9990001", "notification_mnemonic": "call_finished", "visitor_name": "Анна"}


def raw_column(table: str, column: str, pk: int) -> str:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {column} FROM {table} WHERE id = %s", [pk])
        return str(cursor.fetchone()[0])


@pytest.mark.django_db
def test_the_key_is_stored_encrypted_and_read_back_only_for_sending(make_account):
    account = make_account(secret_key="sk-at-rest-123")
    stored = raw_column("mindbox_integration_mindboxintegration", "secret_key_encrypted", account.mindbox.pk)
    assert "sk-at-rest-123" not in stored and stored.startswith("gAAAA")  # a Fernet token
    integration = MindboxIntegration.objects.get(pk=account.mindbox.pk)
    assert services.secret_key(integration=integration) == "sk-at-rest-123"
    assert "sk-at-rest" not in repr(integration) and "sk-at-rest" not in str(integration)


@pytest.mark.django_db
def test_encryption_keys_rotate(make_account, settings, make_notification, mindbox):
    old_key = settings.FIELD_ENCRYPTION_KEYS[0]
    account = make_account(secret_key="sk-rotate-1")
    new_key = Fernet.generate_key().decode()
    settings.FIELD_ENCRYPTION_KEYS = [new_key, old_key]  # the new key first, the old one still listed
    integration = MindboxIntegration.objects.get(pk=account.mindbox.pk)
    assert services.secret_key(integration=integration) == "sk-rotate-1"
    call_command("reencrypt_secrets", stdout=open("/dev/null", "w"))  # noqa: SIM115
    settings.FIELD_ENCRYPTION_KEYS = [new_key]  # the old key dropped
    integration.refresh_from_db()
    assert services.secret_key(integration=integration) == "sk-rotate-1"

    # A key FIELD_ENCRYPTION_KEY no longer lists: the delivery fails with a reason, nothing is sent.
    settings.FIELD_ENCRYPTION_KEYS = [Fernet.generate_key().decode()]
    make_notification(account)
    from notifications import dispatch

    result = dispatch.receive_event(
        account=account, communication_type="calls", raw="{}", values=CALL, enqueue=lambda ids: None
    )
    delivery = Delivery.objects.get(event_id=result.event_id)
    assert attempt_delivery(delivery_id=delivery.pk).status == "failed"
    delivery.refresh_from_db()
    assert "FIELD_ENCRYPTION_KEY" in delivery.last_error and mindbox.requests == []


@pytest.mark.django_db
def test_the_inbound_token_is_stored_only_as_a_hash(make_account):
    account = make_account()
    token = account.inbound_token
    assert len(token) >= 43  # 32 random bytes, URL-safe base64
    for column in ("inbound_token_hash", "inbound_token_hint"):
        assert token not in raw_column("mindbox_integration_account", column, account.pk)
    assert account_for_token(token) == account
    assert account_for_token(token[:-1]) is None and account_for_token("") is None


@pytest.mark.django_db
def test_rotation_keeps_the_old_token_for_the_grace_period_and_revocation_stops_it(make_account, client):
    account = make_account()
    old = account.inbound_token

    def answer(token: str) -> int:
        return client.post(f"/api/uis/events/calls/?token={token}", CALL, content_type="application/json").status_code

    new = services.rotate_inbound_token(account=account, actor="tests", grace=timedelta(hours=24))
    assert answer(old) == 202 and answer(new) == 200  # the old still works; the same event again
    Account.objects.filter(pk=account.pk).update(previous_token_valid_until=timezone.now() - timedelta(seconds=1))
    assert answer(old) == 401  # the grace is over

    newer = services.rotate_inbound_token(account=Account.objects.get(pk=account.pk), actor="tests")
    assert answer(new) == 200
    services.revoke_previous_token(account=Account.objects.get(pk=account.pk), actor="tests")
    assert answer(new) == 401 and answer(newer) == 200

    newest = services.rotate_inbound_token(
        account=Account.objects.get(pk=account.pk), actor="tests", grace=timedelta(0)
    )
    assert answer(newer) == 401 and answer(newest) == 200


@pytest.mark.django_db
def test_the_admin_shows_a_rotated_token_once(admin_client, make_account):
    account = make_account()
    old = account.inbound_token
    page_url = reverse("admin:mindbox_integration_mindboxintegration_change", args=[account.mindbox.pk])
    rotate_url = reverse("admin:mindbox_integration_mindboxintegration_rotate_token", args=[account.mindbox.pk])
    page = admin_client.get(page_url).content.decode()
    assert old not in page and f"?token={old[:4]}…" in page
    assert admin_client.get(rotate_url).status_code == 405
    assert admin_client.post(rotate_url, {"mode": "grace"}).status_code == 302
    account.refresh_from_db()
    assert account_for_token(old) == account  # in its grace
    shown = admin_client.get(page_url).content.decode()
    assert 'data-just-issued="yes"' in shown and 'class="previous-token"' in shown
    token = shown.split("/api/uis/events/calls/?token=")[1].split("<")[0]
    assert account_for_token(token) == account and crypto.token_hash(token) == account.inbound_token_hash
    assert token not in admin_client.get(page_url).content.decode()  # once only
    assert admin_client.post(rotate_url, {"mode": "revoke-previous"}).status_code == 302
    assert account_for_token(old) is None


@pytest.mark.django_db
def test_staff_without_the_permission_cannot_rotate(client, django_user_model, make_account):
    account = make_account()
    clerk = django_user_model.objects.create_user("clerk", password="x", is_staff=True)
    account.managers.add(clerk)  # their account: refused for the permission, not for tenancy
    client.force_login(clerk)
    url = reverse("admin:mindbox_integration_mindboxintegration_rotate_token", args=[account.mindbox.pk])
    assert client.post(url, {"mode": "now"}).status_code == 403
    assert account_for_token(account.inbound_token) is not None


@pytest.mark.django_db(transaction=True)
def test_a_known_key_reaches_mindbox_and_nothing_else(
    admin_client, celery_worker, live_server, mindbox, make_account, make_notification, tmp_path
):
    account = make_account()
    integration_url = reverse("admin:mindbox_integration_mindboxintegration_change", args=[account.mindbox.pk])
    form = {"active": "on", "_save": "Save", "new_secret_key": KNOWN_SECRET}
    form.update({"operations-TOTAL_FORMS": "0", "operations-INITIAL_FORMS": "0"})
    assert admin_client.post(integration_url, form).status_code == 302
    make_notification(account)
    mindbox.plan(Planned(status=500, payload={"status": "InternalServerError"}), Planned(status=401, payload={}))
    response = requests.post(
        f"{live_server.url}/api/uis/events/calls/?token={account.inbound_token}", json=CALL, timeout=10
    )
    delivery = Delivery.objects.get(event_id=response.json()["event_id"])
    wait_for(lambda: Delivery.objects.get(pk=delivery.pk).status == Delivery.Status.DELIVERED, timeout=30)
    assert {r.headers["Authorization"] for r in mindbox.requests} == {f"SecretKey {KNOWN_SECRET}"}  # it was used
    call_command("export_integrations", str(tmp_path / "export.json"))
    assert KNOWN_SECRET not in (tmp_path / "export.json").read_text()
    assert KNOWN_SECRET not in admin_client.get(integration_url).content.decode()

    # Every row of every table, sessions decoded: the key is nowhere in clear.
    for model in apps.get_models():
        for row in model.objects.values():
            assert KNOWN_SECRET not in repr(row), model.__name__
    for session in Session.objects.all():
        assert KNOWN_SECRET not in repr(session.get_decoded())
    # Log files are checked when the run ends (tests/conftest.py), once every process has written.


@pytest.mark.django_db
def test_a_second_rotation_within_the_grace_keeps_the_older_token(make_account):
    account = make_account()
    first = account.inbound_token
    services.rotate_inbound_token(account=account, actor="tests")  # the new one was not copied, say
    services.rotate_inbound_token(account=Account.objects.get(pk=account.pk), actor="tests")
    assert account_for_token(first) == account  # what UIS still sends keeps working


@pytest.mark.django_db
def test_the_shown_once_token_waits_encrypted_and_not_for_long(admin_client):
    admin_client.post(
        reverse("admin:mindbox_integration_account_add"), {"name": "Acme", "uis_app_id": "7", "_save": "1"}
    )
    account = Account.objects.get(uis_app_id="7")
    stored = admin_client.session[f"issued-token-{account.pk}"]
    token = crypto.decrypt(stored["token"])
    assert account_for_token(token) == account
    raw = Session.objects.get(session_key=admin_client.session.session_key).session_data
    assert token not in raw and token not in repr(Session.objects.get().get_decoded())
    # Older than ten minutes: not shown any more (a new token can be issued instead).
    session = admin_client.session
    session[f"issued-token-{account.pk}"] = {**stored, "at": stored["at"] - 601}
    session.save()
    services.ensure_integration(account=account)
    MindboxIntegration.objects.filter(account=account).update(active=True)
    page = admin_client.get(
        reverse("admin:mindbox_integration_mindboxintegration_change", args=[account.mindbox.pk])
    ).content.decode()
    assert token not in page and 'data-just-issued="no"' in page


def test_a_malformed_encryption_key_is_reported_at_start_up(settings):
    from mindbox_integration.checks import field_encryption_keys_are_fernet_keys

    assert field_encryption_keys_are_fernet_keys() == []
    settings.FIELD_ENCRYPTION_KEYS = [settings.FIELD_ENCRYPTION_KEYS[0], "not-a-key"]
    (error,) = field_encryption_keys_are_fernet_keys()
    assert error.id == "mindbox_integration.E002" and "key 2" in error.msg
