"""Test send from the notification editor (mindbox_integration.send_test): the draft rendered
and sent for real to the stand-in Mindbox through the delivery's own client and guard; the
answer shown with the key masked and validation messages mapped to the template. Nothing stored."""

import json

import pytest
from django.contrib.auth.models import Permission, User
from django.test import Client, override_settings
from django.urls import reverse

from core.rendering import template_at
from harness.mindbox_standin import Planned
from mindbox_integration import send_test, tenancy
from mindbox_integration.editor import preview_values
from mindbox_integration.models import Operation
from notifications.delivery import default_client, outbound_policy
from notifications.models import Delivery, DeliveryAttempt

pytestmark = pytest.mark.django_db

KEY = "sk-test-send-4242"
BODY = '{"customer": {"fullName": {{visitor_name}}, "mobilePhone": {{contact_phone_number}}, "ids": [{{visitor_id}}]}}'
VALIDATION = {
    "status": "ValidationError",
    "validationMessages": [
        {"message": "Неверный формат телефона", "location": "/customer/mobilePhone"},
        {"message": "Нет такого поля", "location": "/customer/unknown"},
    ],
}


def send(account, mindbox, **draft):
    return send_test.send_draft(
        integration=account.mindbox,
        operation_name=draft.get("operation_name", "Zvonok"),
        communication_type="calls",
        url=draft.get("url", mindbox.url("Zvonok")),
        body=draft.get("body", BODY),
        values=draft.get("values", preview_values(communication_type="calls")),
        client=default_client(),
        policy=outbound_policy(),
        headers=draft.get("headers"),
    )


def test_the_guides_device_placeholder_and_the_optional_headers_go_as_a_delivery_would(mindbox, make_account):
    account = make_account(secret_key=KEY)
    values = preview_values(communication_type="calls")
    result = send(
        account,
        mindbox,
        url=mindbox.url("Zvonok") + "&deviceUUID={UUID устройства}",
        headers={"User-Agent": "Acme/1.0"},
    )
    (request,) = mindbox.requests
    assert request.query["deviceUUID"] == values["mindbox_device_uuid"]
    assert request.headers["User-Agent"] == "Acme/1.0" and result.request_headers["User-Agent"] == "Acme/1.0"


def test_the_draft_is_sent_for_real_and_shown_with_the_key_masked(mindbox, make_account):
    account = make_account(secret_key=KEY)
    result = send(account, mindbox)
    (request,) = mindbox.requests
    assert request.headers["Authorization"] == f"SecretKey {KEY}"
    assert request.json == {"customer": {"fullName": "Анна Петрова", "mobilePhone": "79161234567", "ids": ["1234567"]}}
    assert result.sent and result.outcome == "delivered" and result.http_status == 200
    assert result.request_body == request.body.decode()
    assert result.request_url.endswith(f"transactionId={request.query['transactionId']}")
    assert result.request_headers["Authorization"] == "SecretKey ••••••••"
    assert KEY not in json.dumps(result.__dict__, default=str)
    assert not Delivery.objects.exists() and not DeliveryAttempt.objects.exists()


def test_validation_messages_are_mapped_to_the_templates_mnemonics(mindbox, make_account):
    mindbox.plan(Planned(payload=VALIDATION))
    result = send(make_account(), mindbox)
    assert result.outcome == "failed"
    assert [(f.location, f.template, f.message) for f in result.fields] == [
        ("/customer/mobilePhone", "{{contact_phone_number}}", "Неверный формат телефона"),
        ("/customer/unknown", None, "Нет такого поля"),
    ]
    assert "Authorization" not in result.request_headers  # no key set, none sent


def test_a_url_the_guard_refuses_is_not_requested(mindbox, make_account):
    account = make_account()
    result = send(account, mindbox, url="https://evil.example.com/v3/operations/async?endpointId=x&operation=Zvonok")
    assert not result.sent and "evil.example.com" in result.error and mindbox.requests == []
    assert "JSON" in send(account, mindbox, body="{").error
    # The guard itself, at send time: the stand-in's host, but no longer allowed to be private.
    with override_settings(MINDBOX_ALLOW_PRIVATE_NETWORKS=[]):
        guarded = send_test.send_draft(
            integration=account.mindbox,
            operation_name="Zvonok",
            communication_type="calls",
            url=mindbox.url("Zvonok"),
            body=BODY,
            values=preview_values(communication_type="calls"),
            client=default_client(),
            policy=outbound_policy(),
        )
    assert not guarded.sent and guarded.error.startswith("refused:") and mindbox.requests == []


@pytest.mark.parametrize(
    ("path_and_query", "said"),
    [
        # Saving refuses each of these; so does a test send, before any request with the key.
        ("/v3/customers/export?endpointId=acme.Custom&operation=Zvonok", "путь должен быть"),
        ("/v3/operations/async?endpointId=acme.Custom&operation=DeleteCustomer", "указано DeleteCustomer"),
        ("/v3/operations/async?endpointId=acme.Custom&operation=Zvonok&transactionId=fixed", "удалите transactionId"),
        ("/v3/operations/async?operation=Zvonok", "не указан endpointId"),
        (
            "/v3/operations/async?endpointId=acme.Custom&operation=Zvonok&x={{no_such}}",
            "неизвестные мнемоники {{no_such}}",
        ),
    ],
)
def test_a_test_send_applies_the_checks_saving_applies(mindbox, accounts, path_and_query, said):
    own, _ = accounts
    draft = {
        "operation": own.pk,
        "communication_type": "calls",
        "url": f"http://{mindbox.host}{path_and_query}",
        "body": BODY,
    }
    answer = manager_of(own).post(
        reverse("admin:mindbox_integration_notification_test_send"), json.dumps(draft), content_type="application/json"
    )
    assert answer.status_code == 200
    assert answer.json()["sent"] is False
    assert said in answer.json()["error"]
    assert mindbox.requests == []


def test_template_at_follows_json_pointers():
    assert template_at(BODY, "/customer/mobilePhone") == "{{contact_phone_number}}"
    assert template_at(BODY, "/customer/ids/0") == "{{visitor_id}}"
    assert template_at('{"a": {"b/c": "x {{n}}"}}', "/a/b~1c") == "x {{n}}"
    assert template_at(BODY, "/customer") is not None
    assert template_at(BODY, "/customer/ids/5") is None
    assert template_at("{", "/a") is None


# --- The endpoint


@pytest.fixture
def accounts(make_account, make_notification):
    a, b = make_account(name="Alpha", secret_key=KEY), make_account(name="Beta")
    return make_notification(a).operation, make_notification(b).operation


def manager_of(operation: Operation, *, may_change: bool = True) -> Client:
    user = User.objects.create_user(username=f"m{operation.pk}{may_change}", password="x", is_staff=True)
    if may_change:
        user.groups.add(tenancy.ensure_managers_group())
    else:
        user.user_permissions.add(Permission.objects.get(codename="view_notification"))
    operation.integration.account.managers.add(user)
    client = Client()
    client.force_login(user)
    return client


def post(client, operation, mindbox):
    draft = {"operation": operation.pk, "communication_type": "calls", "url": mindbox.url("Zvonok"), "body": BODY}
    return client.post(
        reverse("admin:mindbox_integration_notification_test_send"), json.dumps(draft), content_type="application/json"
    )


def test_the_endpoint_sends_for_a_manager_of_the_account_only(mindbox, accounts):
    own, other = accounts
    manager = manager_of(own)
    answer = post(manager, own, mindbox)
    assert answer.status_code == 200
    assert answer.json()["outcome"] == "delivered"
    assert KEY not in answer.content.decode()
    assert '"fullName": "Анна Петрова"' in answer.json()["request_body"]  # indented for reading
    assert post(manager, other, mindbox).status_code == 404
    assert len(mindbox.requests) == 1
    # Seeing notifications is not enough: it sends with the integration's key.
    assert post(manager_of(own, may_change=False), own, mindbox).status_code == 403
    assert len(mindbox.requests) == 1


# --- The audit log


def test_a_test_send_is_recorded_in_the_audit_log_without_the_body_or_the_key(mindbox, accounts):
    from mindbox_integration import audit
    from mindbox_integration.models import ConfigChange

    own, other = accounts
    manager = manager_of(own)
    saved = own.notifications.get()
    url = reverse("admin:mindbox_integration_notification_test_send")

    def send_draft(**draft):
        draft = {
            "operation": own.pk,
            "communication_type": "calls",
            "url": mindbox.url("Zvonok"),
            "body": BODY,
            **draft,
        }
        return manager.post(url, json.dumps(draft), content_type="application/json")

    # From a saved notification (the editor has its id from the form): accepted.
    from mindbox_integration.forms import NotificationForm

    assert f'data-notification="{saved.pk}"' in str(NotificationForm(instance=saved)["body"])
    assert "data-notification" not in str(NotificationForm()["body"])
    assert send_draft(notification=saved.pk, name=saved.name).json()["outcome"] == "delivered"
    sends = ConfigChange.objects.filter(action="test_sent")  # the accounts' creation is logged too
    (row,) = sends.all()
    assert (row.action, row.actor_label, row.account_id) == ("test_sent", f"m{own.pk}True", own.integration.account_id)
    assert (row.object_type, row.object_id, row.object_label) == ("notification", saved.pk, saved.name)
    assert row.changes == {"outcome": "delivered", "http_status": 200}
    assert [(f.label, f.after) for f in audit.describe(row)] == [
        ("результат", "принято Mindbox"),
        ("HTTP-статус", "200"),
    ]

    # From a draft not saved yet (or naming another account's notification): its operation.
    mindbox.plan(Planned(status=400, payload=VALIDATION))
    assert send_draft(name="Новое", notification=other.notifications.get().pk).json()["outcome"] == "failed"
    latest = sends.first()
    assert (latest.object_type, latest.object_id, latest.object_label) == ("operation", own.pk, "Zvonok: Новое")
    assert latest.changes == {"outcome": "failed", "http_status": 400}

    # Nothing sent, nothing recorded: a draft without its URL.
    assert send_draft(url="").json()["sent"] is False
    assert sends.count() == 2
    # Never the rendered values (a customer's data) or the key.
    recorded = json.dumps(list(ConfigChange.objects.values()), default=str, ensure_ascii=False)
    for secret in ("Анна Петрова", "79161234567", KEY, "fullName"):
        assert secret not in recorded
    # The manager finds them in the log of changes.
    page = manager.get(reverse("admin:mindbox_integration_configchange_changelist")).content.decode()
    assert "тестовая отправка в Mindbox" in page and "принято Mindbox" in page
