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


def open_operation(page, live_server, make_account, name: str = "Alpha") -> Operation:
    account = make_account(name=name)
    operation = Operation.objects.create(integration=account.mindbox, name="Zvonok")
    make_manager(account)
    log_in(page, live_server.url, "manager")
    page.goto(reverse("admin:mindbox_integration_operation_change", args=[operation.pk]))
    page.locator("#id_notifications-0-name").fill("Входящие звонки")
    page.locator("#id_notifications-0-communication_type").select_option("calls")
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
