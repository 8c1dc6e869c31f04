"""The notification editor: its reads (mindbox_integration.editor) on the real database, and its
JSON endpoints through the test client, scoped by tenancy like every admin surface."""

import json

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.urls import reverse

from core.mnemonics import mnemonics_for
from mindbox_integration import editor, tenancy
from notifications.models import InboundEvent
from tests.conftest import receive_call

pytestmark = pytest.mark.django_db

ZVONOK = "https://api.s.mindbox.ru/v3/operations/async?endpointId=acme.Website&operation=Zvonok"
BODY = '{"customer": {"fullName": {{visitor_name}}, "mobilePhone": {{contact_phone_number}}}}'


def check(**draft):
    defaults = {
        "account_id": None,
        "operation_name": "Zvonok",
        "communication_type": "calls",
        "url": ZVONOK,
        "body": BODY,
        "filters_text": "",
    }
    return editor.check_draft(**{**defaults, **draft})


def test_the_palette_is_the_types_catalogue_in_russian_then_what_uis_sent(make_account):
    account = make_account()
    receive_call(account, "1")  # sends call_session_id and visitor_name
    InboundEvent.objects.update(values={"call_session_id": "1", "my_custom_field": "x"})
    entries = editor.palette(account_id=account.pk, communication_type="calls")
    names = [e.name for e in entries]
    assert names[: len(mnemonics_for("calls"))] == list(mnemonics_for("calls"))
    assert names[-1] == "my_custom_field" and entries[-1].seen
    by_name = {e.name: e for e in entries}
    assert by_name["visitor_name"].meaning == "Имя посетителя"
    assert by_name["visitor_name"].sample == "Анна Петрова"
    assert "taxi_address" not in by_name
    assert "taxi_address" in {e.name for e in editor.palette(account_id=None, communication_type="taxi_requests")}
    assert editor.palette(account_id=None, communication_type="nope") == []


def test_a_good_draft_passes():
    result = check()
    assert result.ok and result.errors == {} and result.unknown == []


def test_a_json_error_is_reported_with_its_line_and_column():
    result = check(body='{\n  "customer": {"fullName": }\n}')
    (message,) = result.errors["body"]
    assert "строке 2, столбце 28" in message


def test_unknown_mnemonics_are_named_in_the_body_and_the_url():
    result = check(body='{"customer": {"fullName": {{visitor_nme}}}}', url=ZVONOK + "&deviceUUID={{device}}")
    assert result.unknown == ["device", "visitor_nme"]
    assert "{{visitor_nme}}" in result.errors["body"][0]
    assert "{{device}}" in result.errors["url"][0]


def test_a_json_error_carries_its_place_in_the_body():
    body = '{\n  "customer": {"fullName": }\n}'
    result = check(body=body)
    (problem,) = result.problems
    # Said once, in Russian: what is wrong here; the place is shown apart (the save's message
    # for the field names both).
    assert (
        problem.field == "body"
        and problem.message
        == "некорректный JSON: здесь ожидается значение (или лишняя запятая перед закрывающей скобкой)"
    )
    assert "строке 2, столбце 28" in result.errors["body"][0] and "ожидается значение" in result.errors["body"][0]
    assert (problem.place.line, problem.place.column) == (2, 28)
    assert body[problem.place.start : problem.place.end] == "}"  # where the value should be
    # A mnemonic before the error does not shift it (it is parsed in place, length kept).
    body = '{"customer": {"fullName": {{visitor_name}}, "mobilePhone": }}'
    (problem,) = check(body=body).problems
    assert problem.place.start == body.index(" }") + 1 and problem.place.column == problem.place.start + 1
    # Cut off at the end: the place is the end of the text, nothing to select.
    (problem,) = check(body='{"customer": ').problems
    assert problem.place.start == problem.place.end == len('{"customer": ')


def test_an_unknown_mnemonic_is_named_while_the_json_is_still_broken():
    body = '{"customer": {"fullName": {{visiter_name}},}}'
    result = check(body=body)
    assert result.unknown == ["visiter_name"]
    assert [(p.field, p.message) for p in result.problems] == [
        ("body", "некорректный JSON: здесь ожидается ключ в двойных кавычках (или лишняя запятая перед })"),
        ("body", "неизвестная мнемоника {{visiter_name}}"),
    ]


def test_the_unknown_mnemonics_message_names_the_type_as_the_admin_does():
    result = check(body='{"customer": {"fullName": {{visitor_nme}}}}')
    assert "для типа коммуникации Звонки" in result.errors["body"][0]


def test_each_unknown_mnemonic_carries_its_place_in_the_body_or_the_url():
    body = '{\n  "customer": {\n    "fullName": {{visitor_nme}},\n    "note": "a {{ visitor_nme }} b {{lost}}"\n  }\n}'
    url = ZVONOK + "&deviceUUID={{device}}"
    result = check(body=body, url=url)
    located = [(p.field, p.message, p.place.line, p.place.column) for p in result.problems if p.place]
    assert located == [
        ("url", "неизвестная мнемоника {{device}}", 1, url.index("{{device}}") + 1),
        ("body", "неизвестная мнемоника {{visitor_nme}}", 3, 17),
        ("body", "неизвестная мнемоника {{ visitor_nme }}", 4, 16),
        ("body", "неизвестная мнемоника {{lost}}", 4, 36),
    ]
    places = [p.place for p in result.problems if p.place and p.field == "body"]
    assert [body[p.start : p.end] for p in places] == ["{{visitor_nme}}", "{{ visitor_nme }}", "{{lost}}"]
    # The messages naming them come first, unlocated; a known mnemonic has no place.
    assert [p.message for p in result.problems if not p.place] == result.errors["url"] + result.errors["body"]
    assert not [p for p in result.problems if p.place and "visitor_name" in p.message]


def test_a_good_draft_has_no_problems_and_a_missing_type_is_one():
    assert check().problems == []
    assert [p.field for p in check(communication_type="").problems] == ["communication_type"]
    (empty,) = check(body=" ").problems
    assert empty.field == "body" and empty.place is None


def test_the_url_is_checked_against_the_operation_or_only_for_itself_without_one():
    assert "Other" in " ".join(check(operation_name="Other").errors["url"])
    assert check(operation_name=None).ok
    assert (
        "endpointId" in check(url=ZVONOK.replace("acme.Website", "{Идентификатор точки интеграции}")).errors["url"][0]
    )


def test_filters_typed_as_text_are_parsed_and_checked():
    assert check(filters_text='{"conditions": [{"field": "direction", "mode": "include", "values": ["in"]}]}').ok
    assert "строка 1" in check(filters_text='{"conditions": ').errors["filters"][0]
    assert (
        "nope"
        in check(filters_text='{"conditions": [{"field": "nope", "mode": "include", "values": [1]}]}').errors[
            "filters"
        ][0]
    )


def test_the_preview_renders_as_a_delivery_would():
    values = editor.preview_values(communication_type="calls")
    result = editor.preview(url=ZVONOK + "&deviceUUID={{mindbox_device_uuid}}", body=BODY, values=values)
    assert result.error == ""
    assert json.loads(result.body) == {"customer": {"fullName": "Анна Петрова", "mobilePhone": "79161234567"}}
    assert "deviceUUID=b7e2f4a0-1c3d-4e5f-8a9b-0c1d2e3f4a5b" in result.url
    assert "&transactionId=" in result.url  # an /async URL, as the delivery sends it
    # A value that is absent leaves its key out, as in a delivery.
    assert json.loads(editor.preview(url=ZVONOK, body=BODY, values={"visitor_name": "Иван"}).body) == {
        "customer": {"fullName": "Иван"}
    }
    assert "JSON" in editor.preview(url=ZVONOK, body="{", values=values).error


def test_a_real_events_values_are_previewed(make_account):
    account = make_account()
    event = InboundEvent.objects.get(pk=receive_call(account, "7", visitor_name="Ольга").event_id)
    assert editor.recent_events(account_id=account.pk, communication_type="calls") == [event]
    assert editor.recent_events(account_id=account.pk, communication_type="taxi_requests") == []
    values = editor.preview_values(communication_type="calls", event=event)
    assert json.loads(editor.preview(url=ZVONOK, body=BODY, values=values).body) == {"customer": {"fullName": "Ольга"}}


MINDBOX_SHOWS = (
    "https://api.s.mindbox.ru/v3/operations/async?endpointId={Идентификатор точки интеграции}&operation=Zvonok"
)


def test_the_pasted_url_gets_the_endpoint_id_in_place_of_the_placeholder():
    filled = editor.fill_mindbox_url(
        pasted=MINDBOX_SHOWS, endpoint_id=" acme.Website ", operation_name="Zvonok", device_uuid=False
    )
    assert filled == editor.FilledUrl(url=ZVONOK, errors=[])
    assert check(url=filled.url).ok
    with_device = editor.fill_mindbox_url(
        pasted=MINDBOX_SHOWS + "&transactionId=1", endpoint_id="acme.Website", operation_name="Zvonok", device_uuid=True
    )
    assert with_device.url == ZVONOK + "&deviceUUID={{mindbox_device_uuid}}"  # readable; transactionId dropped
    assert check(url=with_device.url).ok


def test_the_pasted_url_of_uiss_guide_gets_the_device_mnemonic_and_says_so():
    filled = editor.fill_mindbox_url(
        pasted=MINDBOX_SHOWS + "&deviceUUID={UUID устройства}",
        endpoint_id="acme.Website",
        operation_name="Zvonok",
        device_uuid=False,
    )
    assert filled.url == ZVONOK + "&deviceUUID={{mindbox_device_uuid}}" and filled.errors == []
    assert filled.notes == ["URL: deviceUUID={UUID устройства} заменён на deviceUUID={{mindbox_device_uuid}}"]
    assert check(url=filled.url).ok


def test_the_pasted_url_with_the_mode_placeholder_is_refused_naming_it():
    filled = editor.fill_mindbox_url(
        pasted=MINDBOX_SHOWS.replace("/async?", "/{sync/async}?"),
        endpoint_id="acme.Website",
        operation_name="Zvonok",
        device_uuid=False,
    )
    assert any("{sync/async}" in e for e in filled.errors), filled.errors


def test_the_pasted_url_is_refused_saying_why():
    def errors(pasted=MINDBOX_SHOWS, endpoint_id="acme.Website", operation_name="Zvonok"):
        return " ".join(
            editor.fill_mindbox_url(
                pasted=pasted, endpoint_id=endpoint_id, operation_name=operation_name, device_uuid=False
            ).errors
        )

    assert "заполнитель" in errors(endpoint_id="")
    assert "заполнитель" in errors(endpoint_id="{Идентификатор точки интеграции}")
    assert "Website.Register" in errors(pasted=MINDBOX_SHOWS.replace("Zvonok", "Website.Register"))
    assert errors(pasted=MINDBOX_SHOWS.replace("Zvonok", "Website.Register"), operation_name=None) == ""
    assert "не указана операция" in errors(pasted=MINDBOX_SHOWS.replace("&operation=Zvonok", ""))
    assert "https://" in errors(pasted="api.s.mindbox.ru/v3/operations/async")
    # A URL that already has its id needs none.
    assert errors(pasted=ZVONOK, endpoint_id="") == ""


# --- The endpoints, scoped by tenancy


@pytest.fixture
def two_accounts(make_account, make_notification):
    a, b = make_account(name="Alpha"), make_account(name="Beta")
    return {
        "a": (make_notification(a).operation, receive_call(a, "a1").event_id),
        "b": (make_notification(b).operation, receive_call(b, "b1").event_id),
    }


@pytest.fixture
def manager(two_accounts) -> Client:
    user = User.objects.create_user(username="manager-a", password="x", is_staff=True)
    user.groups.add(tenancy.ensure_managers_group())
    two_accounts["a"][0].integration.account.managers.add(user)
    client = Client()
    client.force_login(user)
    return client


def endpoint(name: str) -> str:
    return reverse(f"admin:mindbox_integration_notification_{name}")


def post(client: Client, name: str, **draft):
    return client.post(endpoint(name), json.dumps(draft), content_type="application/json")


def test_a_manager_uses_the_endpoints_with_their_own_operation_and_event(manager, two_accounts):
    operation, event_id = two_accounts["a"]
    palette = manager.get(endpoint("palette"), {"type": "calls", "operation": operation.pk})
    assert palette.status_code == 200
    assert palette.json()["label"] == "Звонки"
    assert [e["id"] for e in palette.json()["events"]] == [event_id]
    checked = post(manager, "check", operation=operation.pk, communication_type="calls", url=ZVONOK, body=BODY)
    # The account's one event carried no phone: the check says the body relies on what never came.
    (warning,) = checked.json().pop("warnings")
    assert warning.startswith("{{contact_phone_number}} не пришла со значением ни в одном из 1 последних")
    assert {k: v for k, v in checked.json().items() if k != "warnings"} == {
        "ok": True,
        "errors": {},
        "unknown": [],
        "problems": [],
    }
    previewed = post(
        manager, "preview", operation=operation.pk, communication_type="calls", url=ZVONOK, body=BODY, event=event_id
    )
    assert json.loads(previewed.json()["body"]) == {"customer": {"fullName": "va1"}}


def test_another_accounts_operation_or_event_is_404(manager, two_accounts):
    (own, _), (other, other_event) = two_accounts["a"], two_accounts["b"]
    assert manager.get(endpoint("palette"), {"type": "calls", "operation": other.pk}).status_code == 404
    draft = {"communication_type": "calls", "url": ZVONOK, "body": BODY}
    assert post(manager, "check", operation=other.pk, **draft).status_code == 404
    assert post(manager, "preview", operation=other.pk, **draft).status_code == 404
    assert post(manager, "fill_url", operation=other.pk, pasted=MINDBOX_SHOWS, endpoint_id="x").status_code == 404
    assert post(manager, "fill_url", operation=own.pk, pasted=MINDBOX_SHOWS, endpoint_id="x").json()["errors"] == []
    # B's event, with A's operation or with none: 404 too, and its values are not shown.
    assert post(manager, "preview", operation=own.pk, event=other_event, **draft).status_code == 404
    response = post(manager, "preview", event=other_event, **draft)
    assert response.status_code == 404 and b"vb1" not in response.content


def test_the_endpoints_need_a_staff_login_and_post_with_csrf(two_accounts, client):
    operation, _ = two_accounts["a"]
    response = client.get(endpoint("palette"), {"type": "calls", "operation": operation.pk})
    assert response.status_code == 302 and "/admin/login/" in response.url
    staff = User.objects.create_user(username="no-rights", password="x", is_staff=True)
    client.force_login(staff)
    assert client.get(endpoint("palette"), {"type": "calls"}).status_code == 403
    strict = Client(enforce_csrf_checks=True)
    strict.force_login(User.objects.create_superuser(username="root", password="x"))
    assert post(strict, "check", communication_type="calls", url=ZVONOK, body=BODY).status_code == 403
    assert strict.get(endpoint("check")).status_code == 405
    bad = strict.post(endpoint("check"), "[1]", content_type="application/json", HTTP_X_CSRFTOKEN="x")
    assert bad.status_code == 403  # no CSRF cookie: refused before anything is read


def test_the_palette_offers_known_filter_values_in_uiss_words(manager, two_accounts):
    operation, _ = two_accounts["a"]
    known = manager.get(endpoint("palette"), {"type": "calls", "operation": operation.pk}).json()["filter_values"]
    assert {"code": "in", "label": "Входящий"} in known["direction"]["choices"]
    assert [c["code"] for c in known["call_status"]["choices"]] == ["lost", "answered"]
    assert "talk_time_duration" in known["call_status"]["note"]


def test_the_check_warns_on_a_value_that_can_never_match():
    result = check(
        filters_text='{"conditions": [{"field": "call_status", "mode": "include", "values": ["Потерянный"]}]}'
    )
    assert result.ok
    assert any("«Потерянный»" in w and "lost (Потерянный)" in w for w in result.warnings), result.warnings


def test_the_palette_says_how_often_each_mnemonic_arrived(manager, two_accounts):
    operation, _ = two_accounts["a"]
    account = operation.integration.account
    for n in range(3):
        receive_call(account, f"more-{n}")  # visitor_name each time, never a phone
    entries = manager.get(endpoint("palette"), {"type": "calls", "operation": operation.pk}).json()["mnemonics"]
    by_name = {e["name"]: e for e in entries}
    assert (by_name["visitor_name"]["arrived"], by_name["visitor_name"]["of"]) == (4, 4)
    assert (by_name["contact_phone_number"]["arrived"], by_name["contact_phone_number"]["of"]) == (0, 4)


def test_the_preview_renders_the_url_as_it_will_be_saved():
    previewed = editor.preview(
        url=ZVONOK + "&deviceUUID={UUID устройства}",
        body=BODY,
        values={"visitor_name": "Анна", "mindbox_device_uuid": "b7e2f4a0-1c3d-4e5f-8a9b-0c1d2e3f4a5b"},
    )
    assert "deviceUUID=b7e2f4a0-1c3d-4e5f-8a9b-0c1d2e3f4a5b" in previewed.url and "%7B" not in previewed.url
