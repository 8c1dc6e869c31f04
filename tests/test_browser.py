"""The account manager's admin in a real browser (Debian's Chromium through Playwright): the
walk a manager takes, with a screenshot of each step under var/test-artifacts/browser/."""

import re

import pytest
from playwright.sync_api import expect

from mindbox_integration import crypto
from notifications.error_text import for_people
from notifications.selectors import attempt_error
from tests.browser_support import DESKTOP, TABLET, log_in, make_manager

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_a_manager_logs_in_through_the_login_page_and_sees_only_their_account(page, shot, live_server, make_account):
    mine = make_account(name="Alpha", active=False)
    make_account(name="Beta", active=False)
    make_manager(mine)
    page.goto("/admin/")
    expect(page).to_have_url(re.compile(r"/admin/login/"))
    shot(page, "login-page")
    log_in(page, live_server.url, "manager")
    shot(page, "index")
    page.get_by_role("link", name="Аккаунты").first.click()
    expect(page.locator("#result_list")).to_contain_text("Alpha")
    expect(page.locator("#result_list")).not_to_contain_text("Beta")
    shot(page, "accounts")
    page.set_viewport_size(TABLET)
    shot(page, "accounts-tablet")


GOOD_URL = "https://api.s.mindbox.ru/v3/operations/async?endpointId=acme.Website&operation=Zvonok"
PLACEHOLDER_URL = (
    "https://api.s.mindbox.ru/v3/operations/async?endpointId={Идентификатор точки интеграции}&operation=Zvonok"
)
GOOD_BODY = '{"customer": {"fullName": {{visitor_name}}, "mobilePhone": {{contact_phone_number}}}}'


def open_integration(page, account_name: str) -> None:
    """From the admin's index, as a manager finds it: Аккаунты → the account → Открыть настройки."""
    page.goto("/admin/")
    page.get_by_role("link", name="Аккаунты").first.click()
    page.get_by_role("link", name=re.compile(account_name)).click()
    expect(page.locator("#integration-glance")).to_be_visible()  # the guided flow starts on the account page
    page.get_by_role("link", name=re.compile("Открыть настройки")).click()
    expect(page.locator("#integration-glance")).to_be_visible()


def test_guided_set_up_activate_save_copy_add_an_operation_and_a_notification(page, shot, live_server, make_account):
    account = make_account(name="Alpha", active=False)
    make_manager(account)
    log_in(page, live_server.url, "manager")
    open_integration(page, "Alpha")

    # The state at a glance: off, nothing yet, and what to do next. No set-up before Save.
    glance = page.locator("#integration-glance")
    expect(glance.locator(".glance-active")).to_contain_text("выключена")
    expect(glance.locator(".glance-last-event")).to_contain_text("пока нет")
    expect(glance.locator(".next-step")).to_contain_text("отметьте «Активность»")
    expect(page.locator("#uis-setup")).to_have_count(0)
    shot(page, "integration-off")

    page.get_by_label("Активность").check()
    page.get_by_role("button", name="Сохранить", exact=True).click()
    expect(page.locator(".messagelist")).to_contain_text("Сохранено.")
    expect(glance.locator(".glance-active")).to_contain_text("включена")
    setup = page.locator("#uis-setup")
    expect(setup).to_be_visible()
    shot(page, "activated-set-up-block")

    # The account's token was issued when a superuser created it: here it is masked, and a
    # masked URL is nothing to copy into UIS. A new token shows the URLs whole, once.
    expect(setup.locator(".masked-url-help").first).to_contain_text("выпустите новый токен")
    expect(setup.get_by_role("button", name="Копировать адрес (Звонки)")).to_have_count(0)
    setup.get_by_role("button", name="Новый токен, старый отключается сразу").click()
    expect(page.locator(".messagelist")).to_contain_text("Новый токен входящих запросов")
    shot(page, "new-token")

    # Copy the inbound URL for calls: the clipboard holds exactly what the page shows, and
    # the token in it is the account's.
    url_text = page.locator("#inbound-url-calls").inner_text().strip()
    assert "/api/uis/events/calls/?token=" in url_text and "…" not in url_text
    account.refresh_from_db()
    assert crypto.token_hash(url_text.split("token=", 1)[1]) == account.inbound_token_hash
    setup.get_by_role("button", name="Копировать адрес (Звонки)").click()
    expect(setup.locator(".copy-feedback").first).to_have_text("Скопировано")
    assert page.evaluate("navigator.clipboard.readText()") == url_text
    shot(page, "url-copied")
    # The body to paste, by keyboard: the button takes the focus and Enter.
    setup.get_by_role("button", name="Копировать тело (Звонки)").focus()
    page.keyboard.press("Enter")
    pasted = page.evaluate("navigator.clipboard.readText()")
    assert '"visitor_name": {{visitor_name}}' in pasted
    expect(glance.locator(".next-step")).to_contain_text("добавьте операцию")

    # An operation, then its page for the notifications.
    page.locator("#id_operations-0-name").fill("Zvonok")
    page.get_by_role("button", name="Сохранить", exact=True).click()
    expect(page.locator(".messagelist")).to_contain_text("Сохранено.")
    expect(glance.locator(".next-step")).to_contain_text("добавьте её уведомления")
    shot(page, "operation-added")
    page.locator("#operations-0 a.inlinechangelink").click()
    expect(page.locator("h1")).to_have_text("Операция")
    expect(page.locator(".field-name .readonly, #id_name").first).to_be_visible()

    # A notification with the URL as Mindbox shows it, placeholder and all: refused, saying why.
    page.locator("#id_notifications-0-name").fill("Входящие звонки")
    page.locator("#id_notifications-0-url").fill(PLACEHOLDER_URL)
    page.locator("#id_notifications-0-communication_type").select_option("calls")
    page.locator("#id_notifications-0-body").fill(GOOD_BODY)
    shot(page, "notification-filled-wrong-url")
    page.get_by_role("button", name="Сохранить и продолжить редактирование").click()
    errors = page.locator("#notifications-0 .errorlist")
    expect(errors).to_contain_text("endpointId")
    expect(errors).to_contain_text("Идентификатор точки интеграции")
    # Only the field in error is painted red, not the editor's own search box.
    red = page.locator("#id_notifications-0-url").evaluate("e => getComputedStyle(e).borderTopColor")
    search = page.locator("#notifications-0 .palette-search").evaluate("e => getComputedStyle(e).borderTopColor")
    assert search != red
    shot(page, "wrong-url-refused")

    # URL fixed, a mistyped mnemonic in the body: refused, naming it.
    page.locator("#id_notifications-0-url").fill(GOOD_URL)
    page.locator("#id_notifications-0-body").fill('{"customer": {"fullName": {{visitor_nme}}}}')
    page.get_by_role("button", name="Сохранить и продолжить редактирование").click()
    expect(page.locator("#notifications-0 .errorlist")).to_contain_text("{{visitor_nme}}")
    expect(page.locator("#notifications-0 .errorlist")).not_to_contain_text("endpointId")
    shot(page, "unknown-mnemonic-refused")

    page.locator("#id_notifications-0-body").fill(GOOD_BODY)
    page.get_by_role("button", name="Сохранить и продолжить редактирование").click()
    expect(page.locator(".messagelist .success")).to_be_visible()
    expect(page.locator("#notifications-0 .errorlist")).to_have_count(0)
    shot(page, "notification-saved")

    # Back on the integration page: nothing left to do; the page at tablet width too.
    open_integration(page, "Alpha")
    expect(page.locator("#integration-glance .next-step")).to_have_count(0)
    shot(page, "integration-ready")
    page.set_viewport_size(TABLET)
    shot(page, "integration-ready-tablet")


def test_notification_editor_palette_check_as_you_type_and_preview(page, shot, live_server, make_account):
    from django.urls import reverse

    from mindbox_integration.models import Notification, Operation
    from tests.conftest import receive_call

    account = make_account(name="Alpha")
    operation = Operation.objects.create(integration=account.mindbox, name="Zvonok")
    receive_call(account, "101", visitor_name="Ольга Real")
    make_manager(account)
    log_in(page, live_server.url, "manager")
    page.goto(reverse("admin:mindbox_integration_operation_change", args=[operation.pk]))

    form = page.locator("#notifications-0")
    body = page.locator("#id_notifications-0-body")
    palette = form.locator(".mnemonic-palette")
    status = form.locator(".editor-check")
    expect(palette).to_contain_text("Выберите тип коммуникации")
    page.locator("#id_notifications-0-name").fill("Входящие звонки")
    page.locator("#id_notifications-0-url").fill(GOOD_URL)
    page.locator("#id_notifications-0-communication_type").select_option("calls")
    expect(palette).to_contain_text("Мнемоники типа «Звонки»")
    expect(palette.get_by_role("button", name=re.compile(r"^Вставить visitor_name: Имя посетителя"))).to_be_visible()
    shot(page, "palette-for-calls")

    # JSON checked as you type: the error names its line and column, and says what is wrong.
    body.fill('{"customer": {"fullName": }}')
    expect(status).to_contain_text("строка 1, столбец 27: некорректный JSON: здесь ожидается значение")
    shot(page, "json-error-as-you-type")

    # A click on the palette inserts at the cursor; the check then passes.
    body.evaluate("el => el.setSelectionRange(26, 26)")
    palette.get_by_role("button", name=re.compile(r"^Вставить visitor_name:")).click()
    expect(body).to_have_value('{"customer": {"fullName": {{visitor_name}}}}')
    expect(status).to_have_text("Проверено: ошибок нет")
    shot(page, "mnemonic-inserted")

    # By keyboard: the search narrows the palette, Tab reaches a button, Enter inserts.
    body.evaluate(
        "el => { const at = el.value.length - 2;"
        """ el.setRangeText(', "mobilePhone": ', at, at, 'end'); }"""
    )
    search = palette.get_by_role("searchbox")
    search.fill("телефон")
    expect(palette.locator("li:not([hidden])").first).to_contain_text("телефон", ignore_case=True)
    expect(palette.locator("li[data-name=visitor_name]")).to_be_hidden()
    search.press("Tab")
    focused = page.evaluate("document.activeElement.dataset.mnemonic")
    page.keyboard.press("Enter")
    expect(body).to_have_value('{"customer": {"fullName": {{visitor_name}}, "mobilePhone": {{' + focused + "}}}}")
    # No error; a phone never came in the account's one event, which the check says too.
    expect(status).to_have_text(re.compile(r"^Проверено: ошибок нет.*не пришла со значением"))

    # An unknown mnemonic is named as you type.
    body.fill('{"customer": {"fullName": {{visitor_nme}}}}')
    expect(status).to_contain_text("{{visitor_nme}}")
    shot(page, "unknown-mnemonic-as-you-type")
    body.fill(GOOD_BODY)
    expect(status).to_have_text(re.compile(r"^Проверено: ошибок нет"))

    # Preview from sample values, then from the account's real event.
    form.get_by_role("button", name="Предпросмотр").click()
    expect(form.locator(".preview-body")).to_contain_text('"fullName": "Анна Петрова"')
    expect(form.locator(".preview-url")).to_contain_text("operation=Zvonok")
    expect(form.locator(".preview-url")).to_contain_text("transactionId=")
    expect(form.locator(".preview-headers")).to_contain_text("Content-Type: application/json; charset=utf-8")
    shot(page, "preview-sample-values")
    form.locator(".preview-source").select_option(index=1)
    form.get_by_role("button", name="Предпросмотр").click()
    expect(form.locator(".preview-body")).to_contain_text('"fullName": "Ольга Real"')
    shot(page, "preview-real-event")
    page.set_viewport_size(TABLET)
    shot(page, "editor-tablet")
    page.set_viewport_size({"width": 1280, "height": 900})

    # A row added with "Add another" gets its own editor.
    page.locator("#notifications-group .add-row a").click()
    expect(page.locator("#notifications-1 .mnemonic-palette")).to_be_visible()
    page.get_by_role("button", name="Сохранить и продолжить редактирование").click()
    expect(page.locator(".messagelist .success")).to_be_visible()
    assert Notification.objects.get(operation=operation).body == GOOD_BODY


MINDBOX_SHOWS = (
    "https://api.s.mindbox.ru/v3/operations/async?endpointId={Идентификатор точки интеграции}&operation=Zvonok"
)


def test_paste_the_url_from_mindbox_and_build_filter_conditions(page, shot, live_server, make_account):
    import json

    from django.urls import reverse

    from mindbox_integration.models import Notification, Operation

    account = make_account(name="Alpha")
    operation = Operation.objects.create(integration=account.mindbox, name="Zvonok")
    make_manager(account)
    log_in(page, live_server.url, "manager")
    page.goto(reverse("admin:mindbox_integration_operation_change", args=[operation.pk]))
    form = page.locator("#notifications-0")
    status = form.locator(".editor-check")
    page.locator("#id_notifications-0-name").fill("Входящие звонки")
    page.locator("#id_notifications-0-communication_type").select_option("calls")
    page.locator("#id_notifications-0-body").fill(GOOD_BODY)

    # The URL as Mindbox shows it, for another operation: refused, naming both.
    toggle = form.get_by_role("button", name="Вставить URL из Mindbox…")
    toggle.click()
    expect(toggle).to_have_attribute("aria-expanded", "true")
    helper = form.locator(".url-helper")
    helper.get_by_label("URL из настроек операции в Mindbox").fill(MINDBOX_SHOWS.replace("Zvonok", "Website.Register"))
    helper.get_by_label("Идентификатор точки интеграции (endpointId)").fill("acme.Website")
    helper.get_by_role("button", name="Подставить URL").click()
    expect(helper.locator(".url-helper-messages")).to_contain_text("Website.Register")
    expect(helper.locator(".url-helper-messages")).to_contain_text("Zvonok")
    shot(page, "pasted-url-other-operation")
    # The right one: the id goes in place of the placeholder, deviceUUID added on request.
    helper.get_by_label("URL из настроек операции в Mindbox").fill(MINDBOX_SHOWS)
    helper.get_by_label(re.compile("Добавить deviceUUID")).check()
    helper.get_by_label("Идентификатор точки интеграции (endpointId)").press("Enter")
    expect(page.locator("#id_notifications-0-url")).to_have_value(GOOD_URL + "&deviceUUID={{mindbox_device_uuid}}")
    expect(helper).to_be_hidden()
    # Pasted again: still one note beside the button.
    toggle.click()
    helper.get_by_role("button", name="Подставить URL").click()
    expect(helper).to_be_hidden()
    expect(form.locator(".url-helper-done")).to_have_count(1)
    expect(status).to_have_text("Проверено: ошибок нет")
    shot(page, "pasted-url-filled")

    # Filter conditions as rows: the JSON field is hidden and written by the builder.
    builder = form.locator(".filter-builder")
    filters = page.locator("#id_notifications-0-filters")
    expect(builder).to_contain_text("Условий нет")
    expect(filters).to_be_hidden()
    builder.get_by_role("button", name="Добавить условие").click()
    row = builder.locator(".filter-row").nth(0)
    row.get_by_label("Поле").select_option("direction")
    row.get_by_label("Режим").select_option(label="Включить")
    row.get_by_label("Входящий (in)").check()  # a field of known values offers them in UIS's words
    expect(builder.locator(".filter-match-row")).to_be_hidden()  # one row: nothing to join
    builder.get_by_role("button", name="Добавить условие").click()
    row = builder.locator(".filter-row").nth(1)
    row.get_by_label("Поле").select_option("call_source")
    row.get_by_label("Режим").select_option(label="Исключить")
    row.get_by_label("Виртуальная АТС (va)").check()
    row.get_by_label("Call API (callapi)").check()
    builder.get_by_label("Условия объединяются через").select_option(label="ИЛИ — любое условие")
    expected = {
        "match": "any",
        "conditions": [
            {"field": "direction", "mode": "include", "values": ["in"]},
            {"field": "call_source", "mode": "exclude", "values": ["va", "callapi"]},
        ],
    }
    assert json.loads(filters.input_value()) == expected
    expect(status).to_have_text("Проверено: ошибок нет")
    shot(page, "filter-builder")

    # The JSON stays at hand; an unknown field typed there is named, and comes back as a row.
    builder.get_by_role("button", name="Показать JSON").click()
    expect(filters).to_be_visible()
    filters.fill(json.dumps({"conditions": [{"field": "nope", "mode": "include", "values": ["x"]}]}))
    expect(status).to_contain_text("nope")
    builder.get_by_role("button", name="Скрыть JSON").click()
    expect(builder.locator(".filter-row")).to_have_count(1)
    expect(builder.locator(".condition-field").first).to_contain_text("nope (неизвестное поле)")
    shot(page, "filter-unknown-field")
    builder.get_by_role("button", name="Удалить условие 1").click()
    expect(builder).to_contain_text("Условий нет")
    builder.get_by_role("button", name="Добавить условие").click()
    row = builder.locator(".filter-row").nth(0)
    row.get_by_label("Поле").select_option("direction")
    row.get_by_label("Входящий (in)").check()
    expect(status).to_have_text("Проверено: ошибок нет")
    page.set_viewport_size(TABLET)
    shot(page, "filter-builder-tablet")
    page.get_by_role("button", name="Сохранить и продолжить редактирование").click()
    expect(page.locator(".messagelist .success")).to_be_visible()
    saved = Notification.objects.get(operation=operation)
    assert saved.url == GOOD_URL + "&deviceUUID={{mindbox_device_uuid}}"
    assert saved.filters == {
        "match": "all",
        "conditions": [{"field": "direction", "mode": "include", "values": ["in"]}],
    }
    # Reopened, the saved conditions show as rows.
    expect(page.locator("#notifications-0 .filter-row")).to_have_count(1)
    expect(page.locator("#notifications-0 .condition-values")).to_have_value("in")


def test_test_send_shows_the_request_and_mindboxs_answer(page, shot, live_server, make_account, mindbox):
    from django.urls import reverse

    from harness.mindbox_standin import Planned
    from mindbox_integration.models import Operation

    key = "sk-browser-test-send-9931"
    account = make_account(name="Alpha", secret_key=key)
    operation = Operation.objects.create(integration=account.mindbox, name="Zvonok")
    make_manager(account)
    log_in(page, live_server.url, "manager")
    page.goto(reverse("admin:mindbox_integration_operation_change", args=[operation.pk]))
    form = page.locator("#notifications-0")
    page.locator("#id_notifications-0-name").fill("Входящие звонки")
    page.locator("#id_notifications-0-url").fill(mindbox.url("Zvonok"))
    page.locator("#id_notifications-0-communication_type").select_option("calls")
    page.locator("#id_notifications-0-body").fill(GOOD_BODY)
    expect(form.locator(".editor-check")).to_have_text("Проверено: ошибок нет")

    # Accepted: the exact request, key masked, and the answer.
    form.get_by_role("button", name="Тестовая отправка в Mindbox").click()
    result = form.locator(".test-send")
    expect(result.locator(".test-send-outcome")).to_contain_text("Принято Mindbox")
    (sent,) = mindbox.requests
    assert sent.headers["Authorization"] == f"SecretKey {key}"
    request_text = result.locator(".test-send-request").inner_text()
    assert f"transactionId={sent.query['transactionId']}" in request_text
    assert "Authorization: SecretKey ••••••••" in request_text
    assert '"fullName": "Анна Петрова"' in request_text
    expect(result.locator(".test-send-response")).to_contain_text('"status": "Success"')
    assert key not in page.content()
    shot(page, "test-send-accepted")

    # Refused with validation messages: each names the body's field and its mnemonic.
    mindbox.plan(
        Planned(
            payload={
                "status": "ValidationError",
                "validationMessages": [{"message": "Неверный формат телефона", "location": "/customer/mobilePhone"}],
            }
        )
    )
    form.get_by_role("button", name="Тестовая отправка в Mindbox").click()
    expect(result.locator(".test-send-outcome")).to_contain_text("Отклонено")
    field = result.locator(".test-send-fields li[data-location='/customer/mobilePhone']")
    expect(field).to_contain_text("{{contact_phone_number}}")
    expect(field).to_contain_text("Неверный формат телефона")
    assert len(mindbox.requests) == 2
    shot(page, "test-send-validation-error")
    # Both in the audit log: who and from which draft (not saved yet: its operation and name).
    from mindbox_integration.models import ConfigChange

    sends = ConfigChange.objects.filter(action="test_sent")
    assert [(c.actor_label, c.object_label) for c in sends] == [("manager", "Zvonok: Входящие звонки")] * 2


def test_a_failed_delivery_is_found_in_the_log_and_resent(
    page, shot, live_server, make_account, make_notification, mindbox, celery_worker
):
    import requests

    from harness.mindbox_standin import Planned
    from notifications.models import Delivery
    from tests.conftest import wait_for

    account = make_account(name="Alpha")
    make_notification(account, body=GOOD_BODY)
    make_manager(account)
    # UIS posts an event; the worker sends it and Mindbox refuses it.
    mindbox.plan(
        Planned(
            payload={
                "status": "ValidationError",
                "validationMessages": [{"message": "Клиент заблокирован", "location": "/customer"}],
            }
        )
    )
    answer = requests.post(
        f"{live_server.url}/api/uis/events/calls/?token={account.inbound_token}",
        json={"call_session_id": "5551", "visitor_name": "Анна", "contact_phone_number": "79161234567"},
        timeout=10,
    )
    assert answer.status_code == 202
    delivery = wait_for(lambda: Delivery.objects.filter(status="failed").first())

    # The manager sees the failure on the integration page and goes to the log from there.
    log_in(page, live_server.url, "manager")
    open_integration(page, "Alpha")
    failures = page.locator("#integration-glance .glance-failures")
    expect(failures).to_contain_text("1 неудачный запрос")
    expect(failures).to_contain_text("Клиент заблокирован")
    shot(page, "integration-with-a-failure")
    page.locator("#integration-glance").get_by_role("link", name="Журнал доставок").click()
    # Found by the customer's phone, written as people write it.
    page.locator("#searchbar").fill("8 (916) 123-45-67")
    page.locator("#searchbar").press("Enter")
    rows = page.locator("#result_list tbody tr")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("не доставлено")
    shot(page, "log-search-by-phone")
    rows.first.locator("th a").click()
    expect(page.locator(".field-last_error_text")).to_contain_text(
        "Mindbox не принял данные: /customer: Клиент заблокирован"
    )
    expect(page.locator(".field-body")).to_contain_text('"mobilePhone":"79161234567"')
    expect(page.locator(".rendered-request")).to_contain_text(f"transactionId={delivery.transaction_id}")
    expect(page.locator(".rendered-request")).to_contain_text('"fullName": "Анна"')
    expect(page.locator(".event-values")).to_contain_text('"call_session_id": "5551"')
    shot(page, "failed-delivery-page")

    # Resent from its page: the worker sends it again under the same transactionId.
    page.get_by_role("button", name="Отправить повторно", exact=True).click()
    expect(page.locator(".messagelist")).to_contain_text("1")

    def delivered() -> bool:
        page.reload()
        return page.locator(".field-status .readonly").inner_text().strip() == "доставлено"

    wait_for(delivered, timeout=30, interval=0.5)
    first, second = mindbox.received(operation="Zvonok")
    assert first.query["transactionId"] == second.query["transactionId"] == str(delivery.transaction_id)
    assert [a.outcome for a in delivery.attempt_log.order_by("started_at")] == ["failed", "delivered"]
    expect(page.locator("#delivery-timeline .kind-attempt").last).to_contain_text("доставлено")
    shot(page, "resent-and-delivered")


def test_from_the_account_page_a_failed_deliverys_timeline_and_its_resend(
    page, shot, live_server, make_account, make_notification, mindbox, celery_worker
):
    from datetime import datetime

    import requests
    from django.urls import reverse

    from harness.mindbox_standin import Planned
    from notifications.admin import ACCOUNT_LOOKUP
    from notifications.models import Delivery
    from tests.conftest import wait_for

    alpha, gamma = make_account(name="Alpha"), make_account(name="Gamma")
    for account in (alpha, gamma):
        make_notification(account, body=GOOD_BODY)
    manager = make_manager(alpha)
    gamma.managers.add(manager)  # two accounts of the manager's: the log per account tells them apart

    def post(account, session: str) -> None:
        answer = requests.post(
            f"{live_server.url}/api/uis/events/calls/?token={account.inbound_token}",
            json={"call_session_id": session, "visitor_name": "Анна", "contact_phone_number": "79161234567"},
            timeout=10,
        )
        assert answer.status_code == 202

    # Delivered at once: one of Alpha's, one of Gamma's.
    post(alpha, "7001")
    post(gamma, "7002")
    wait_for(lambda: Delivery.objects.filter(status="delivered").count() == 2)
    # Then one of Alpha's that Mindbox fails twice (the worker retries after about a second) and refuses.
    mindbox.plan(
        Planned(status=500, payload={"status": "InternalServerError"}),
        Planned(status=503, payload={"status": "InternalServerError"}),
        Planned(payload={"status": "ValidationError", "validationMessages": [{"message": "Клиент заблокирован"}]}),
    )
    post(alpha, "7003")
    failed = wait_for(lambda: Delivery.objects.filter(status="failed").first(), timeout=30)

    # From the account's page to its delivery log.
    log_in(page, live_server.url, "manager")
    page.get_by_role("link", name="Аккаунты").first.click()
    page.get_by_role("link", name=re.compile("Alpha")).click()
    shot(page, "account-page")
    page.locator(".object-tools").get_by_role("link", name="Журнал доставок").click()
    expect(page).to_have_url(re.compile(rf"{ACCOUNT_LOOKUP}={alpha.pk}"))
    rows = page.locator("#result_list tbody tr")
    expect(rows).to_have_count(2)
    expect(page.locator("#result_list")).not_to_contain_text("Gamma")
    filters = page.locator("#changelist-filter")
    expect(filters.locator("li.selected", has_text="Alpha")).to_have_count(1)
    shot(page, "account-log")

    # Only the failed ones, still of this account.
    filters.get_by_role("link", name="не доставлено", exact=True).click()
    expect(rows).to_have_count(1)
    expect(page).to_have_url(re.compile(rf"{ACCOUNT_LOOKUP}={alpha.pk}"))
    expect(page).to_have_url(re.compile("status__exact=failed"))
    shot(page, "account-log-failed")
    rows.first.locator("th a").click()
    expect(page).to_have_url(re.compile(reverse("admin:notifications_delivery_change", args=[failed.pk])))

    # The event it came of, and the timeline: every attempt, as the database has it.
    expect(page.locator(".field-event_identity")).to_contain_text(failed.event.identity)
    expect(page.locator(".event-values")).to_contain_text('"call_session_id": "7003"')
    expect(page.locator(".field-event a")).to_have_attribute(
        "href", reverse("admin:notifications_inboundevent_change", args=[failed.event_id])
    )
    timeline = page.locator("#delivery-timeline")
    attempts = list(failed.attempt_log.order_by("started_at"))
    assert [a.outcome for a in attempts] == ["retry", "retry", "failed"]
    shown = timeline.locator(".kind-attempt")
    expect(shown).to_have_count(len(attempts))
    for number, (row, attempt) in enumerate(zip(shown.all(), attempts, strict=True), start=1):
        expect(row).to_have_attribute("data-number", str(number))
        expect(row).to_have_attribute("data-state", attempt.outcome)
        expect(row.locator(".timeline-outcome")).to_have_text(attempt.get_outcome_display())
        expect(row.locator(".timeline-http-status")).to_have_text(str(attempt.http_status))
        expect(row.locator(".timeline-duration")).to_contain_text("мс")
        assert attempt.error_code  # said by its code, in Russian, not as the English stored beside it
        expect(row.locator(".timeline-error")).to_have_text(for_people(attempt_error(attempt)))
        started = datetime.fromisoformat(row.locator("time").get_attribute("datetime"))
        assert started == attempt.started_at
        since = "после получения события" if number == 1 else f"после попытки {number - 1}"
        expect(row.locator(".timeline-gap")).to_contain_text(since)
    expect(shown.nth(0).locator(".timeline-http-status")).to_have_text("500")
    expect(shown.nth(0).locator(".timeline-error")).to_have_text("Mindbox ответил HTTP 500")
    expect(shown.nth(2).locator(".timeline-error")).to_contain_text("Клиент заблокирован")
    expect(timeline.locator(".timeline-entry").first).to_have_attribute("data-kind", "received")
    expect(timeline.locator(".timeline-entry").last).to_have_attribute("data-state", "failed")
    expect(timeline.locator(".kind-next")).to_have_count(0)
    shot(page, "timeline")

    # By keyboard: the "Timeline" link leads there, Tab reaches an answer, Enter opens it.
    page.get_by_role("link", name="Хронология попыток").focus()
    page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile("#delivery-timeline$"))
    page.keyboard.press("Tab")
    page.keyboard.press("Enter")
    expect(shown.nth(0).locator("details")).to_have_attribute("open", "")
    expect(shown.nth(0).locator("details pre")).to_contain_text("InternalServerError")

    # At tablet width the timeline stacks and stays within the page.
    page.set_viewport_size(TABLET)
    page.evaluate("window.scrollTo(0, 0)")
    box = timeline.bounding_box()
    assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= TABLET["width"]
    # and the fields above it keep their width beside the wrapped buttons (nothing floats beside them).
    widths = page.locator("#content-main fieldset").evaluate_all("els => els.map(e => e.getBoundingClientRect().width)")
    assert min(widths) >= box["width"] - 1
    shot(page, "timeline-tablet")
    page.set_viewport_size({"width": 1280, "height": 900})

    # Resent: a fourth attempt, delivered, under the same transactionId.
    page.get_by_role("button", name="Отправить повторно", exact=True).click()
    expect(page.locator(".messagelist")).to_contain_text("1")

    def delivered() -> bool:
        page.reload()
        return timeline.locator(".timeline-entry").last.get_attribute("data-state") == "delivered"

    wait_for(delivered, timeout=30, interval=0.5)
    expect(shown).to_have_count(4)
    expect(shown.last).to_have_attribute("data-state", "delivered")
    expect(shown.last.locator(".timeline-http-status")).to_have_text("200")
    sent = mindbox.received(operation="Zvonok")
    assert {r.query["transactionId"] for r in sent if r.query.get("transactionId") == str(failed.transaction_id)}
    assert len([r for r in sent if r.query["transactionId"] == str(failed.transaction_id)]) == 4
    shot(page, "resent-and-delivered")


def open_new_notification(page, live_server, make_account, *, name: str = "Alpha"):
    """A manager on an operation's page, its first notification row empty."""
    from django.urls import reverse

    from mindbox_integration.models import Operation

    account = make_account(name=name)
    operation = Operation.objects.create(integration=account.mindbox, name="Zvonok")
    make_manager(account)
    log_in(page, live_server.url, "manager")
    page.goto(reverse("admin:mindbox_integration_operation_change", args=[operation.pk]))
    return page.locator("#notifications-0")


def selected_text(field) -> str:
    return field.evaluate("el => el.value.slice(el.selectionStart, el.selectionEnd)")


def test_problems_jump_to_their_place_and_the_palette_inserts_into_the_field_last_focused(
    page, shot, live_server, make_account
):
    form = open_new_notification(page, live_server, make_account)
    body, url = page.locator("#id_notifications-0-body"), page.locator("#id_notifications-0-url")
    status, palette = form.locator(".editor-check"), form.locator(".mnemonic-palette")
    gutter = form.locator(".body-gutter")
    page.locator("#id_notifications-0-name").fill("Входящие звонки")
    url.fill(GOOD_URL)
    page.locator("#id_notifications-0-communication_type").select_option("calls")

    # An unknown mnemonic far down a long body: its line is marked beside the body, and the
    # problem, listed with its place, selects it there, scrolled into view.
    lines = ["{", '  "customer": {'] + [f'    "field{n}": "{n}",' for n in range(3, 40)]
    lines += ['    "fullName": {{visitor_nme}}', "  }", "}"]
    body.fill("\n".join(lines))
    jump = status.get_by_role("button", name="строка 40, столбец 17: неизвестная мнемоника {{visitor_nme}}")
    expect(jump).to_be_visible()
    expect(gutter.locator("div")).to_have_count(42)
    expect(gutter.locator(".error-line")).to_have_text(["40"])
    expect(body).to_have_attribute("aria-invalid", "true")
    shot(page, "unknown-mnemonic-listed-with-its-place")
    body.evaluate("el => { el.setSelectionRange(0, 0); el.scrollTop = 0; }")  # back at the top
    jump.click()
    expect(body).to_be_focused()
    assert selected_text(body) == "{{visitor_nme}}"
    assert body.evaluate("el => el.scrollTop") > 0
    assert gutter.evaluate("el => el.scrollTop") == body.evaluate("el => el.scrollTop")
    shot(page, "jumped-to-the-unknown-mnemonic")

    # The palette replaces the selection; the check runs again and passes.
    palette.get_by_role("button", name=re.compile(r"^Вставить visitor_name:")).click()
    expect(status).to_have_text("Проверено: ошибок нет")
    assert body.input_value().endswith('"fullName": {{visitor_name}}\n  }\n}')
    expect(gutter.locator(".error-line")).to_have_count(0)
    expect(body).to_have_attribute("aria-invalid", "false")
    expect(palette.locator(".palette-target")).to_have_text("Вставка в поле: Тело запроса")

    # A JSON error: its place is the character where the JSON breaks.
    body.fill('{\n  "customer": {"fullName": }\n}')
    jump = status.get_by_role("button", name=re.compile(r"^строка 2, столбец 28: некорректный JSON"))
    expect(jump).to_be_visible()
    expect(gutter.locator(".error-line")).to_have_text(["2"])
    jump.click()
    expect(body).to_be_focused()
    assert body.evaluate("el => [el.selectionStart, el.selectionEnd]") == [29, 30]
    assert selected_text(body) == "}"
    shot(page, "jumped-to-the-json-error")

    # The URL was focused last: the palette inserts there, in place of its selection.
    url.fill(GOOD_URL + "&deviceUUID=PASTE")
    url.evaluate("el => el.setSelectionRange(el.value.length - 5, el.value.length)")
    expect(palette.locator(".palette-target")).to_have_text("Вставка в поле: URL")
    palette.get_by_role("button", name=re.compile(r"^Вставить mindbox_device_uuid:")).click()
    expect(url).to_have_value(GOOD_URL + "&deviceUUID={{mindbox_device_uuid}}")
    expect(url).to_be_focused()
    assert body.input_value() == '{\n  "customer": {"fullName": }\n}'  # the body is as it was
    # At the cursor too, with nothing selected.
    url.evaluate("el => el.setSelectionRange(el.value.length, el.value.length)")
    url.press("End")
    page.keyboard.type("&source=")
    palette.get_by_role("button", name=re.compile(r"^Вставить call_source:")).click()
    expect(url).to_have_value(GOOD_URL + "&deviceUUID={{mindbox_device_uuid}}&source={{call_source}}")
    shot(page, "inserted-into-the-url")

    # An unknown mnemonic in the URL is listed with its column and selected there.
    url.fill(GOOD_URL + "&deviceUUID={{device}}")
    column = len(GOOD_URL + "&deviceUUID=") + 1
    jump = status.get_by_role("button", name=f"URL, столбец {column}: неизвестная мнемоника {{{{device}}}}")
    jump.click()
    expect(url).to_be_focused()
    assert selected_text(url) == "{{device}}"
    shot(page, "jumped-to-the-url")


# What the editor adds that takes the keyboard: every one a real control with a name.
EDITOR_CONTROLS = (
    ".notification-editor :is(button, input, select, a), .filter-builder :is(button, input, select),"
    " .url-helper-toggle, .url-helper :is(button, input, textarea)"
)


def press_until(page, selector: str, key: str = "Tab", limit: int = 90) -> None:
    """Press Tab (or Shift+Tab) until the focus is on selector; fails if it never gets there.
    There the focus must show: on the editor's controls our outline, elsewhere any."""
    for _ in range(limit):
        page.keyboard.press(key)
        if page.evaluate("s => document.activeElement.matches(s)", selector):
            outline = page.evaluate("() => getComputedStyle(document.activeElement).outlineStyle")
            ours = page.evaluate("s => document.activeElement.matches(s)", EDITOR_CONTROLS + ", textarea[data-editor]")
            assert outline == "solid" if ours else outline != "none", f"{selector}: no visible focus ({outline})"
            return
    pytest.fail(f"{key} never reached {selector}")


def test_the_editor_by_keyboard_alone(page, shot, live_server, make_account):
    form = open_new_notification(page, live_server, make_account)
    body = page.locator("#id_notifications-0-body")
    focused = page.locator(":focus")
    status = form.locator(".editor-check")

    # From the top of the page: the name, the URL, the type (a key on the list picks it).
    press_until(page, "#id_notifications-0-name")
    page.keyboard.type("Входящие звонки")
    press_until(page, "#id_notifications-0-url")
    page.keyboard.type(GOOD_URL)
    # The URL helper opens from the keyboard too, the focus on its first field, and closes.
    press_until(page, ".url-helper-toggle")
    page.keyboard.press("Enter")
    expect(focused).to_have_accessible_name("URL из настроек операции в Mindbox")
    press_until(page, ".url-helper-toggle", key="Shift+Tab")
    expect(focused).to_have_attribute("aria-expanded", "true")
    page.keyboard.press("Enter")
    expect(form.locator(".url-helper")).to_be_hidden()
    press_until(page, "#id_notifications-0-communication_type")
    page.keyboard.press("ArrowDown")
    expect(focused).to_have_value("calls")
    expect(form.locator(".mnemonic-palette")).to_contain_text("Мнемоники типа «Звонки»")
    for control in form.locator(EDITOR_CONTROLS).filter(visible=True).all():
        expect(control).to_have_accessible_name(re.compile(r"\S"))

    # The body: typed with a JSON error on line 2, which the problems list gives with its place.
    press_until(page, "#id_notifications-0-body")
    expect(focused).to_have_attribute("data-editor", "body")
    page.keyboard.type('{\n  "customer": {"fullName": }\n}')
    expect(status.get_by_role("button", name=re.compile(r"^строка 2, столбец 28: "))).to_be_visible()
    expect(form.locator(".body-gutter .error-line")).to_have_text(["2"])
    shot(page, "typed-with-an-error")
    press_until(page, "button.problem-jump")
    expect(focused).to_have_text(re.compile(r"^строка 2, столбец 28: "))
    page.keyboard.press("Enter")
    expect(focused).to_have_attribute("id", "id_notifications-0-body")
    assert body.evaluate("el => [el.selectionStart, el.selectionEnd]") == [29, 30]
    shot(page, "jumped-to-the-error")

    # The palette is a toolbar, one Tab stop: a single button in the Tab order at any time.
    palette = form.locator(".mnemonic-palette")
    toolbar = palette.get_by_role("toolbar", name=re.compile(r"^Мнемоники типа «Звонки»"))
    expect(toolbar).to_be_visible()
    stop = toolbar.locator("button[tabindex='0']")
    expect(stop).to_have_count(1)
    first = re.compile(r"^Вставить notification_name: ")
    last = toolbar.get_by_role("button").last.get_attribute("aria-label")
    assert last

    def moved_to(name) -> None:
        """The focus on the palette's button of that accessible name, its outline showing, and
        that button the palette's only Tab stop."""
        expect(focused).to_have_accessible_name(name)
        assert page.evaluate("getComputedStyle(document.activeElement).outlineStyle") == "solid"
        expect(stop).to_have_count(1)
        expect(stop).to_be_focused()

    # The cursor before the brace; from the palette's search one Tab reaches its first button,
    # the arrow keys, Home and End move among the buttons, and a single Tab leaves the palette
    # for the preview's controls. Shift+Tab comes back to the button last focused.
    page.keyboard.press("ArrowLeft")
    press_until(page, ".palette-search")
    expect(palette.locator(".palette-keys")).to_contain_text("стрелки, Home и End")
    page.keyboard.press("Tab")
    moved_to(first)
    page.keyboard.press("ArrowDown")
    moved_to(re.compile(r"^Вставить notification_mnemonic: "))
    page.keyboard.press("ArrowRight")
    moved_to(re.compile(r"^Вставить notification_time: "))
    page.keyboard.press("ArrowLeft")
    moved_to(re.compile(r"^Вставить notification_mnemonic: "))
    page.keyboard.press("ArrowUp")
    moved_to(first)
    page.keyboard.press("End")
    moved_to(last)
    page.keyboard.press("Home")
    moved_to(first)
    page.keyboard.press("ArrowUp")  # round from the first to the last
    moved_to(last)
    shot(page, "palette-by-keyboard")
    page.keyboard.press("Tab")
    expect(focused).to_have_class(re.compile(r"\bpreview-source\b"))
    expect(focused).to_have_accessible_name("Значения для предпросмотра")
    page.keyboard.press("Shift+Tab")
    moved_to(last)

    # The search narrows the palette; the Tab stop is then its first visible button, and Enter
    # inserts it at the body's cursor: the JSON is whole.
    page.keyboard.press("Shift+Tab")
    expect(focused).to_have_class(re.compile(r"\bpalette-search\b"))
    page.keyboard.type("visitor_name")
    expect(toolbar.get_by_role("button")).to_have_count(1)
    expect(stop).to_have_attribute("data-mnemonic", "visitor_name")
    page.keyboard.press("Tab")
    moved_to(re.compile(r"^Вставить visitor_name: Имя посетителя"))
    page.keyboard.press("Enter")
    expect(body).to_have_value('{\n  "customer": {"fullName": {{visitor_name}}}\n}')
    expect(focused).to_have_attribute("id", "id_notifications-0-body")
    expect(status).to_have_text("Проверено: ошибок нет")
    shot(page, "inserted-by-keyboard")

    # The search cleared, the button last focused keeps the Tab stop; Tab leaves again.
    press_until(page, ".palette-search")
    page.keyboard.press("Control+A")
    page.keyboard.press("Backspace")
    expect(toolbar.get_by_role("button").last).to_have_accessible_name(last)
    page.keyboard.press("Tab")
    moved_to(re.compile(r"^Вставить visitor_name: "))
    page.keyboard.press("Tab")
    expect(focused).to_have_class(re.compile(r"\bpreview-source\b"))

    # Back to the filter builder (it stands above the body): Space adds a row, the focus goes
    # to its field; a typed name picks the field, the values are typed.
    press_until(page, "button.add-condition", key="Shift+Tab")
    expect(focused).to_have_text("Добавить условие")
    page.keyboard.press("Space")
    expect(focused).to_have_attribute("aria-label", "Поле")
    page.keyboard.type("direction")
    expect(focused).to_have_value("direction")
    # direction's values are offered in UIS's words: Tab to «Входящий (in)», Space ticks it.
    press_until(page, ".condition-choices input[value=in]")
    page.keyboard.press("Space")
    filters = page.locator("#id_notifications-0-filters")
    expect(filters).to_have_value(
        '{"match":"all","conditions":[{"field":"direction","mode":"include","values":["in"]}]}'
    )
    expect(status).to_have_text("Проверено: ошибок нет")
    shot(page, "condition-added-by-keyboard")

    # On to the preview, activated with Enter.
    press_until(page, "button.preview-button")
    expect(focused).to_have_text("Предпросмотр")
    page.keyboard.press("Enter")
    expect(form.locator(".preview-body")).to_contain_text('"fullName": "Анна Петрова"')
    shot(page, "preview-by-keyboard")


def test_the_editor_fits_a_tablet_and_a_desktop(page, shot, live_server, make_account):
    form = open_new_notification(page, live_server, make_account)
    # Everything open at once: a condition row, problems with their places, a preview.
    form.get_by_role("button", name="Добавить условие").click()
    page.locator("#id_notifications-0-url").fill(GOOD_URL + "&deviceUUID={{device}}")
    page.locator("#id_notifications-0-communication_type").select_option("calls")
    page.locator("#id_notifications-0-body").fill('{\n  "customer": {"fullName": {{visitor_nme}}}\n}')
    problems = form.locator(".editor-problems")
    expect(problems.locator("button")).to_have_count(2)
    expect(form.locator(".editor-check")).not_to_have_class(re.compile("checking"))
    form.get_by_role("button", name="Предпросмотр").click()
    expect(form.locator(".preview-error, .preview-body")).to_be_visible()
    for name, size in (("desktop", DESKTOP), ("tablet", TABLET)):
        page.set_viewport_size(size)
        assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth"), name
        for part in (
            form.locator(".mnemonic-palette"),
            problems,
            form.locator(".body-gutter"),
            form.locator(".filter-builder"),
        ):
            part.scroll_into_view_if_needed()
            expect(part).to_be_visible()
            box = part.bounding_box()
            assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= size["width"], name
        shot(page, f"editor-{name}")
    # The integration page, where a manager starts, fits both too.
    page.set_viewport_size(DESKTOP)
    open_integration(page, "Alpha")
    for name, size in (("desktop", DESKTOP), ("tablet", TABLET)):
        page.set_viewport_size(size)
        assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth"), name
        shot(page, f"integration-{name}")
