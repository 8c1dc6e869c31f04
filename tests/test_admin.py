"""The account manager's admin flow, as UIS has it: activate, Save, then the further settings."""

import json
import re
from html import unescape

import pytest
from django.contrib.messages import get_messages
from django.urls import reverse

from mindbox_integration import crypto, services
from mindbox_integration.models import MindboxIntegration, Notification, Operation
from notifications.models import Delivery
from tests.conftest import inline_management, receive_call

pytestmark = pytest.mark.django_db

GOOD_BODY = '{"customer": {"fullName": {{visitor_name}}, "mobilePhone": {{contact_phone_number}}}}'


def integration_url(integration: MindboxIntegration) -> str:
    return reverse("admin:mindbox_integration_mindboxintegration_change", args=[integration.pk])


@pytest.fixture
def integration(admin_client) -> MindboxIntegration:
    response = admin_client.post(
        reverse("admin:mindbox_integration_account_add"), {"name": "Acme", "uis_app_id": "100500", "_save": "Save"}
    )
    integration = MindboxIntegration.objects.get(account__uis_app_id="100500")
    assert response.status_code == 302
    assert response.url == integration_url(integration)
    return integration


def activate(admin_client, integration, **extra) -> None:
    data = {"active": "on", "_save": "Save", **inline_management("operations", 0), **extra}
    response = admin_client.post(integration_url(integration), data)
    assert response.status_code == 302
    assert response.url == integration_url(integration)  # Save stays on the page, like UIS


def test_new_account_gets_an_inactive_integration_without_further_settings(admin_client, integration):
    assert integration.active is False
    page = admin_client.get(integration_url(integration)).content.decode()
    assert 'id="uis-setup"' not in page
    assert "operations-TOTAL_FORMS" not in page


def test_after_activate_and_save_the_set_up_block_and_operations_appear(admin_client, integration):
    activate(admin_client, integration)
    issued = admin_client.session[f"issued-token-{integration.account_id}"]  # when the account was added
    token = crypto.decrypt(issued["token"])
    page = admin_client.get(integration_url(integration)).content.decode()
    for kind in ("calls", "offline_requests", "taxi_requests"):
        assert f"http://testserver/api/uis/events/{kind}/?token={token}" in page
    # Shown whole once: the next view masks it.
    again = admin_client.get(integration_url(integration)).content.decode()
    assert token not in again
    assert f"/api/uis/events/calls/?token={token[:4]}…" in again
    assert "&quot;visitor_name&quot;: {{visitor_name}}" in page  # the body to paste, mnemonics unquoted
    assert "&quot;taxi_address&quot;: {{taxi_address}}" in page
    assert "{{call_session_id}}" in page  # the catalogue
    assert "operations-TOTAL_FORMS" in page
    assert "Настройка в UIS" in page  # the admin speaks Russian


def test_secret_key_is_write_only(admin_client, integration):
    activate(admin_client, integration, new_secret_key="sk-admin-secret-777")
    integration.refresh_from_db()
    assert services.secret_key(integration=integration) == "sk-admin-secret-777"
    page = admin_client.get(integration_url(integration)).content.decode()
    assert "sk-admin-secret-777" not in page
    # Saving again with the field blank keeps the key; the checkbox removes it.
    activate(admin_client, integration)
    integration.refresh_from_db()
    assert services.secret_key(integration=integration) == "sk-admin-secret-777"
    activate(admin_client, integration, clear_secret_key="on")
    integration.refresh_from_db()
    assert services.secret_key(integration=integration) == ""


def notification_post(operation: Operation, **fields: str) -> dict[str, str]:
    data = {"name": operation.name, "_save": "Save", **inline_management("notifications", 1)}
    defaults = {
        "name": "Входящие звонки",
        "url": "https://api.s.mindbox.ru/v3/operations/async?endpointId=acme.Custom&operation=Zvonok",
        "communication_type": "calls",
        "filters": '{"match": "all", "conditions": [{"field": "direction", "mode": "include", "values": ["in"]}]}',
        "body": GOOD_BODY,
        "active": "on",
    }
    data.update({f"notifications-0-{k}": v for k, v in {**defaults, **fields}.items()})
    return data


@pytest.fixture
def operation(admin_client, integration) -> Operation:
    activate(admin_client, integration)
    data = {"active": "on", "_save": "Save", **inline_management("operations", 1), "operations-0-name": "Zvonok"}
    assert admin_client.post(integration_url(integration), data).status_code == 302
    return Operation.objects.get(integration=integration, name="Zvonok")


def save_notification(admin_client, operation, **fields):
    url = reverse("admin:mindbox_integration_operation_change", args=[operation.pk])
    return admin_client.post(url, notification_post(operation, **fields))


def errors_of(response) -> list[str]:
    return re.findall(r'<ul class="errorlist[^"]*"[^>]*>\s*<li>(.*?)</li>', response.content.decode(), re.S)


def test_a_valid_notification_is_saved_under_its_operation(admin_client, operation):
    response = save_notification(admin_client, operation)
    assert response.status_code == 302, errors_of(response)
    notification = Notification.objects.get(operation=operation)
    assert notification.communication_type == "calls"
    assert notification.filters["conditions"][0]["field"] == "direction"


def test_a_blank_notification_form_only_for_an_operation_without_any(admin_client, operation):
    url = f"/admin/mindbox_integration/operation/{operation.pk}/change/"
    assert 'name="notifications-TOTAL_FORMS" value="1"' in admin_client.get(url).content.decode()
    save_notification(admin_client, operation)
    assert 'name="notifications-TOTAL_FORMS" value="1"' in admin_client.get(url).content.decode()  # the saved one
    assert Notification.objects.filter(operation=operation).count() == 1


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        (
            {"url": "http://api.s.mindbox.ru/v3/operations/async?endpointId=acme.Custom&operation=Zvonok"},
            "URL: должен начинаться с https://",
        ),
        ({"url": "https://api.s.mindbox.ru/v3/operations/async?endpointId=acme.Custom&operation=Other"}, "Other"),
        (
            {
                "url": "https://api.s.mindbox.ru/v3/operations/async?endpointId={Идентификатор точки интеграции}&operation=Zvonok"
            },
            "endpointId",
        ),
        ({"body": '{"customer": {"fullName": {{visitor_nme}}}}'}, "{{visitor_nme}}"),
        ({"body": '{"customer": {"fullName": }}'}, "JSON"),
        ({"filters": '{"conditions": [{"field": "nope", "mode": "include", "values": ["x"]}]}'}, "nope"),
    ],
)
def test_invalid_notification_is_refused_with_a_message(admin_client, operation, fields, message):
    response = save_notification(admin_client, operation, **fields)
    assert response.status_code == 200
    errors = errors_of(response)
    assert any(message in e.replace("&quot;", '"').replace("&#x27;", "'") for e in errors), errors
    assert not Notification.objects.exists()


UIS_GUIDE_URL = (
    "https://api.s.mindbox.ru/v3/operations/async?endpointId=acme.Custom&operation=Zvonok&deviceUUID={UUID устройства}"
)


def test_the_device_placeholder_of_uiss_guide_becomes_the_mnemonic_on_save_and_is_said(admin_client, operation):
    response = save_notification(admin_client, operation, url=UIS_GUIDE_URL)
    assert response.status_code == 302, errors_of(response)
    notification = Notification.objects.get(operation=operation)
    assert notification.url.endswith("&deviceUUID={{mindbox_device_uuid}}")
    said = [str(m) for m in get_messages(response.wsgi_request)]
    assert "URL: deviceUUID={UUID устройства} заменён на deviceUUID={{mindbox_device_uuid}}" in said


@pytest.mark.parametrize(
    ("url", "named"),
    [
        (
            "https://api.s.mindbox.ru/v3/operations/{sync/async}?endpointId=acme.Custom&operation=Zvonok",
            "{sync/async}",
        ),
        (
            "https://api.s.mindbox.ru/v3/operations/async?endpointId=acme.Custom&operation=Zvonok&customer={Номер}",
            "{Номер}",
        ),
    ],
)
def test_any_other_placeholder_is_refused_by_name(admin_client, operation, url, named):
    response = save_notification(admin_client, operation, url=url)
    assert response.status_code == 200
    assert any(named in e and "заполнитель" in e for e in errors_of(response)), errors_of(response)
    assert not Notification.objects.exists()


def test_a_filter_value_in_uiss_words_is_saved_but_warned_about(admin_client, operation):
    filters = '{"conditions": [{"field": "direction", "mode": "include", "values": ["Входящий"]}]}'
    response = save_notification(admin_client, operation, filters=filters)
    assert response.status_code == 302, errors_of(response)
    said = [str(m) for m in get_messages(response.wsgi_request)]
    assert any("«Входящий» никогда не совпадёт с полем direction" in m and "in (Входящий)" in m for m in said), said
    # Codes are what is stored and what matches: no warning for them.
    admin_client.get(reverse("admin:index"))  # the messages above are shown, so gone
    response = save_notification(admin_client, operation, name="Другое", filters=filters.replace("Входящий", "in"))
    assert not any("никогда не совпадёт" in str(m) for m in get_messages(response.wsgi_request))


def test_optional_headers_are_saved_and_refused_like_the_rest(admin_client, operation):
    response = save_notification(admin_client, operation, headers='{"Authorization": "SecretKey x"}')
    assert response.status_code == 200
    assert any("Authorization" in e for e in errors_of(response)), errors_of(response)
    headers = '{"User-Agent": "Acme/1.0", "X-Customer-IP": "{{visitor_id}}"}'
    response = save_notification(admin_client, operation, headers=headers)
    assert response.status_code == 302, errors_of(response)
    assert Notification.objects.get(operation=operation).headers == {
        "User-Agent": "Acme/1.0",
        "X-Customer-IP": "{{visitor_id}}",
    }


def test_the_set_up_block_says_which_uis_event_to_subscribe_per_type(admin_client, integration):
    activate(admin_client, integration)
    page = admin_client.get(integration_url(integration)).content.decode()
    advice = dict(re.findall(r'<p class="subscribe-advice" data-type="(\w+)">(.*?)</p>', page, re.S))
    assert "«Завершение звонка»" in advice["calls"] and "по разу на каждое" in advice["calls"]
    assert "«Офлайн-заявка»" in advice["offline_requests"]
    assert "«Заявка такси»" in advice["taxi_requests"]


def test_the_event_log_shows_a_call_that_brought_several_event_types(admin_client, operation, client):
    token = services.rotate_inbound_token(account=operation.integration.account, actor="tests")
    url = f"/api/uis/events/calls/?token={token}"
    ids = []
    for kind in ("incoming_call", "call_finished"):
        values = {"call_session_id": 998677427, "notification_mnemonic": kind, "direction": "in"}
        response = client.post(url, json.dumps(values), content_type="application/json")
        assert response.status_code == 202, response.content
        ids.append(response.json()["event_id"])
    other = client.post(
        url,
        json.dumps({"call_session_id": 5, "notification_mnemonic": "call_finished"}),
        content_type="application/json",
    )
    page = admin_client.get(reverse("admin:notifications_inboundevent_change", args=[ids[1]])).content.decode()
    assert "Этот звонок принёс ещё 1 событие другого типа" in page
    assert f"№{ids[0]} incoming_call" in page and "Завершение звонка" in page
    alone = admin_client.get(reverse("admin:notifications_inboundevent_change", args=[other.json()["event_id"]]))
    assert "Этот звонок принёс" not in alone.content.decode()


def test_saving_warns_when_the_body_relies_on_a_mnemonic_that_never_arrived(admin_client, operation):
    receive_call(operation.integration.account, "s1", visitor_name="Анна")  # no phone, no e-mail
    response = save_notification(admin_client, operation)  # GOOD_BODY uses the name and the phone
    assert response.status_code == 302, errors_of(response)
    said = [str(m) for m in get_messages(response.wsgi_request)]
    assert any(m.startswith("{{contact_phone_number}} не пришла со значением ни в одном из 1 последних") for m in said)
    assert not any("{{visitor_name}}" in m for m in said), said


def test_keys_sent_by_uis_become_usable_mnemonics(admin_client, operation, client):
    body = '{"customer": {"customFields": {"source": {{my_custom_field}}}}}'
    assert save_notification(admin_client, operation, body=body).status_code == 200  # unknown yet
    token = services.rotate_inbound_token(account=operation.integration.account, actor="tests")
    response = client.post(
        f"/api/uis/events/calls/?token={token}", {"my_custom_field": "x"}, content_type="application/json"
    )
    assert response.status_code == 202
    assert save_notification(admin_client, operation, body=body).status_code == 302


def test_event_and_delivery_pages_render(admin_client, operation, client):
    assert save_notification(admin_client, operation).status_code == 302
    token = services.rotate_inbound_token(account=operation.integration.account, actor="tests")
    client.post(
        f"/api/uis/events/calls/?token={token}",
        {"direction": "in", "visitor_name": "Анна"},
        content_type="application/json",
    )
    for name in ("inboundevent", "delivery"):
        changelist = admin_client.get(reverse(f"admin:notifications_{name}_changelist"))
        assert changelist.status_code == 200
    delivery = Delivery.objects.get()
    page = admin_client.get(reverse("admin:notifications_delivery_change", args=[delivery.pk]))
    assert page.status_code == 200
    assert str(delivery.transaction_id) in page.content.decode()


def test_secret_key_cannot_be_probed_through_changelist_filters(admin_client, integration):
    activate(admin_client, integration, new_secret_key="sk-probe-1")
    for url, lookup in [
        (reverse("admin:mindbox_integration_mindboxintegration_changelist"), "secret_key__startswith"),
        (reverse("admin:mindbox_integration_account_changelist"), "inbound_token__startswith"),
        (reverse("admin:notifications_inboundevent_changelist"), "account__inbound_token__startswith"),
    ]:
        assert admin_client.get(url, {lookup: "x"}).status_code == 400


def test_a_key_that_http_cannot_carry_is_refused(admin_client, integration):
    data = {"active": "on", "_save": "Save", **inline_management("operations", 0), "new_secret_key": "ключ"}
    response = admin_client.post(integration_url(integration), data)
    assert response.status_code == 200
    assert "new_secret_key" in response.context["adminform"].form.errors
    integration.refresh_from_db()
    assert services.secret_key(integration=integration) == ""


def test_emptied_filter_conditions_save_as_no_conditions(admin_client, operation):
    response = save_notification(admin_client, operation, filters="")
    assert response.status_code == 302, errors_of(response)
    assert Notification.objects.get().filters == {}


def test_operation_added_without_integration_gets_a_message_not_a_crash(admin_client):
    data = notification_post(Operation(name="Zvonok"))
    response = admin_client.post(reverse("admin:mindbox_integration_operation_add"), data)
    assert response.status_code == 200
    assert errors_of(response)
    assert not Operation.objects.exists()


def test_renaming_an_operation_on_the_integration_page_keeps_urls_consistent(admin_client, operation):
    assert save_notification(admin_client, operation).status_code == 302
    integration = operation.integration
    data = {
        "active": "on",
        "_save": "Save",
        **inline_management("operations", 1, initial=1),
        "operations-0-id": str(operation.pk),
        "operations-0-integration": str(integration.pk),
        "operations-0-name": "Website.Call",
    }
    response = admin_client.post(integration_url(integration), data)
    assert response.status_code == 200
    assert any("Входящие звонки" in e for e in errors_of(response)), errors_of(response)
    operation.refresh_from_db()
    assert operation.name == "Zvonok"


def test_titles_and_messages_read_right_in_russian(admin_client, operation):
    """Django's own phrases put the name in the wrong case ("Изменить операция", "Добавить еще
    один Уведомление"); the portal's say it plainly."""
    url = f"/admin/mindbox_integration/operation/{operation.pk}/change/"
    page = admin_client.get(url).content.decode()
    assert "<h1>Операция</h1>" in page
    (formset,) = re.findall(r'data-inline-formset="([^"]*)"', page)
    assert json.loads(unescape(formset))["options"]["addText"] == "Добавить ещё: Уведомление"
    assert "<h1>Доставки</h1>" in admin_client.get("/admin/notifications/delivery/").content.decode()
    assert (
        "<h1>Новая запись: операция</h1>"
        in admin_client.get("/admin/mindbox_integration/operation/add/").content.decode()
    )
    data = {"name": "Zvonok", "_continue": "1", **inline_management("notifications", 0)}
    followed = admin_client.post(url, data, follow=True).content.decode()
    assert "Сохранено: операция «" in followed and "Ниже можно продолжить правку." in followed


def test_lists_number_their_rows_and_the_account_form_says_where_the_app_id_comes_from(admin_client, operation):
    receive_call(operation.integration.account, "1")
    events = admin_client.get("/admin/notifications/inboundevent/").content.decode()
    assert 'class="sortable column-number' in events and ">№<" in events
    add = admin_client.get("/admin/mindbox_integration/account/add/").content.decode()
    assert "{{app_id}}" in add and "ID аккаунта клиента в UIS" in add
