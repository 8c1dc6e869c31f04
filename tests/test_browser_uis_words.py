"""Mindbox and UIS as they really are, in the editor (Debian's Chromium through Playwright): the
guide's placeholders in a URL, filter values in UIS's words, which event to subscribe, and how
often each mnemonic arrived. Screenshots under var/test-artifacts/browser/."""

import pytest
from django.urls import reverse
from playwright.sync_api import expect

from mindbox_integration.models import Notification, Operation
from tests.browser_support import log_in, make_manager

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

BODY = '{"customer": {"fullName": {{visitor_name}}, "mobilePhone": {{contact_phone_number}}}}'
# The URL as UIS's guide shows it: Mindbox's, with the device's placeholder appended.
UIS_GUIDE = (
    "https://api.s.mindbox.ru/v3/operations/async?endpointId={Идентификатор точки интеграции}"
    "&operation=Zvonok&deviceUUID={UUID устройства}"
)
FILLED = "https://api.s.mindbox.ru/v3/operations/async?endpointId=acme.Website&operation=Zvonok"


def new_call_notification(page, live_server, account) -> Operation:
    """The account's manager on a new operation's page, its first notification named, for calls."""
    operation = Operation.objects.create(integration=account.mindbox, name="Zvonok")
    make_manager(account)
    log_in(page, live_server.url, "manager")
    page.goto(reverse("admin:mindbox_integration_operation_change", args=[operation.pk]))
    page.locator("#id_notifications-0-name").fill("Входящие звонки")
    page.locator("#id_notifications-0-communication_type").select_option("calls")
    return operation


def open_operation(page, live_server, make_account, name: str = "Alpha") -> Operation:
    operation = new_call_notification(page, live_server, make_account(name=name))
    page.locator("#id_notifications-0-body").fill(BODY)
    return operation


def test_the_guides_device_placeholder_is_filled_and_said_and_others_are_named(page, shot, live_server, make_account):
    operation = open_operation(page, live_server, make_account)
    form = page.locator("#notifications-0")
    status = form.locator(".editor-check")
    url = page.locator("#id_notifications-0-url")

    # «Вставить URL из Mindbox…» with the guide's URL: the device's placeholder becomes the mnemonic, and it says so.
    form.get_by_role("button", name="Вставить URL из Mindbox…").click()
    helper = form.locator(".url-helper")
    helper.get_by_label("URL из настроек операции в Mindbox").fill(UIS_GUIDE)
    helper.get_by_label("Идентификатор точки интеграции (endpointId)").fill("acme.Website")
    helper.get_by_role("button", name="Подставить URL").click()
    expect(url).to_have_value(FILLED + "&deviceUUID={{mindbox_device_uuid}}")
    expect(form.locator(".url-helper-done")).to_contain_text(
        "deviceUUID={UUID устройства} заменён на deviceUUID={{mindbox_device_uuid}}"
    )
    expect(status).to_have_text("Проверено: ошибок нет")
    shot(page, "guide-url-filled")

    # Typed by hand with Mindbox's {sync/async}: the check names it.
    url.fill(FILLED.replace("/async?", "/{sync/async}?"))
    expect(status).to_contain_text("{sync/async}")
    expect(status).to_contain_text("заполнитель")
    shot(page, "mode-placeholder-named")

    # The guide's device placeholder typed by hand: saved as the mnemonic, and the save says so.
    url.fill(FILLED + "&deviceUUID={UUID устройства}")
    expect(status).to_have_text("Проверено: ошибок нет")
    page.get_by_role("button", name="Сохранить и продолжить редактирование").click()
    expect(page.locator(".messagelist")).to_contain_text(
        "deviceUUID={UUID устройства} заменён на deviceUUID={{mindbox_device_uuid}}"
    )
    assert Notification.objects.get(operation=operation).url == FILLED + "&deviceUUID={{mindbox_device_uuid}}"
    shot(page, "saved-and-said")


def test_filter_conditions_in_uiss_words_store_codes_and_warn(page, shot, live_server, make_account):
    import json

    operation = open_operation(page, live_server, make_account)
    page.locator("#id_notifications-0-url").fill(FILLED)
    form = page.locator("#notifications-0")
    status = form.locator(".editor-check")
    builder = form.locator(".filter-builder")
    filters = page.locator("#id_notifications-0-filters")

    # UIS's own example: «Направление звонка: Включить Входящий» И «Статус звонка: Включить Потерянный».
    builder.get_by_role("button", name="Добавить условие").click()
    row = builder.locator(".filter-row").nth(0)
    row.get_by_label("Поле").select_option("direction")
    expect(row.get_by_label("Значения через запятую")).to_be_hidden()  # the values are offered instead
    row.get_by_label("Входящий (in)").check()
    builder.get_by_role("button", name="Добавить условие").click()
    row = builder.locator(".filter-row").nth(1)
    row.get_by_label("Поле").select_option("call_status")
    expect(row).to_contain_text("выводится из talk_time_duration")
    row.get_by_label("Потерянный (lost)").check()
    assert json.loads(filters.input_value()) == {
        "match": "all",
        "conditions": [
            {"field": "direction", "mode": "include", "values": ["in"]},
            {"field": "call_status", "mode": "include", "values": ["lost"]},
        ],
    }
    expect(status).to_have_text("Проверено: ошибок нет")
    shot(page, "uis-example-as-rows")

    # A manager who types UIS's word in the JSON is warned before saving, and on save.
    builder.get_by_role("button", name="Показать JSON").click()
    filters.fill(json.dumps({"conditions": [{"field": "direction", "mode": "include", "values": ["Входящий"]}]}))
    expect(status).to_contain_text("«Входящий» никогда не совпадёт с полем direction")
    shot(page, "label-typed-warned")
    page.get_by_role("button", name="Сохранить и продолжить редактирование").click()
    expect(page.locator(".messagelist .warning")).to_contain_text("«Входящий» никогда не совпадёт")
    assert Notification.objects.get(operation=operation).filters["conditions"][0]["values"] == ["Входящий"]
    shot(page, "saved-with-warning")


def test_which_uis_event_to_subscribe_and_a_call_that_brought_several(page, shot, live_server, make_account):
    import requests

    account = make_account(name="Alpha")
    make_manager(account)
    log_in(page, live_server.url, "manager")
    page.goto(reverse("admin:mindbox_integration_mindboxintegration_change", args=[account.mindbox.pk]))
    advice = page.locator('.subscribe-advice[data-type="calls"]')
    expect(advice).to_contain_text("Событие, на которое подписать уведомление в UIS: «Завершение звонка»")
    expect(advice).to_contain_text("по разу на каждое")
    expect(page.locator('.subscribe-advice[data-type="taxi_requests"]')).to_contain_text("«Заявка такси»")
    advice.scroll_into_view_if_needed()
    shot(page, "set-up-advice")

    # UIS subscribed to two events of one call: the event log says so, with a link to the other.
    url = f"{live_server.url}/api/uis/events/calls/?token={account.inbound_token}"
    ids = [
        requests.post(url, json={"call_session_id": 998677427, "notification_mnemonic": kind}, timeout=10).json()[
            "event_id"
        ]
        for kind in ("incoming_call", "call_finished")
    ]
    page.goto(reverse("admin:notifications_inboundevent_change", args=[ids[1]]))
    same = page.locator(".same-call")
    expect(same).to_contain_text("Этот звонок принёс ещё 1 событие другого типа")
    expect(page.locator(".field-same_call")).to_contain_text("«Завершение звонка»")
    shot(page, "same-call-events")
    same.get_by_role("link", name=f"№{ids[0]} incoming_call").click()
    expect(page.locator(".field-same_call")).to_contain_text(f"№{ids[1]} call_finished")


def test_the_palette_and_save_say_which_mnemonics_actually_arrive(page, shot, live_server, make_account):
    from tests.conftest import receive_call

    account = make_account(name="Alpha")
    for n in range(3):
        receive_call(account, f"s{n}", visitor_name="Анна")  # as public call bodies: a name, no phone
    operation = new_call_notification(page, live_server, account)
    page.locator("#id_notifications-0-url").fill(FILLED)
    form = page.locator("#notifications-0")
    palette = form.locator(".palette-list")
    expect(palette.locator('li[data-name="visitor_name"] .arrived')).to_have_text("в 3 из 3 последних")
    expect(palette.locator('li[data-name="contact_phone_number"] .arrived.never')).to_have_text("в 0 из 3 последних")
    page.locator("#id_notifications-0-body").fill(BODY)
    status = form.locator(".editor-check")
    expect(status).to_contain_text("{{contact_phone_number}} не пришла со значением ни в одном из 3 последних")
    expect(status).not_to_contain_text("{{visitor_name}}")
    shot(page, "arrivals-in-palette-and-check")
    page.get_by_role("button", name="Сохранить и продолжить редактирование").click()
    expect(page.locator(".messagelist .warning")).to_contain_text("{{contact_phone_number}} не пришла")
    assert Notification.objects.filter(operation=operation).exists()
    shot(page, "saved-with-arrival-warning")
