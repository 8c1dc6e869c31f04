"""The inbound endpoint over real HTTP (live server), storing into PostgreSQL."""

import json

import pytest
import requests

from core.mnemonics import mnemonics_for
from notifications.models import Delivery, InboundEvent

pytestmark = pytest.mark.django_db(transaction=True)

CALL = {
    "call_session_id": "3190000001",
    "notification_mnemonic": "call_finished",
    "visitor_name": "Анна",
    "contact_phone_number": "79161234567",
    "virtual_phone_number": "74951234567",
    "direction": "in",
}


@pytest.fixture
def account(make_account, make_notification):
    account = make_account()
    make_notification(account)
    return account


def events_url(live_server, kind: str = "calls", token: str | None = None) -> str:
    url = f"{live_server.url}/api/uis/events/{kind}/"
    return f"{url}?token={token}" if token is not None else url


def test_accepted_event_is_stored_with_its_deliveries(live_server, account):
    response = requests.post(events_url(live_server, token=account.inbound_token), json=CALL, timeout=10)
    assert response.status_code == 202
    body = response.json()
    assert body["deliveries"] == 1
    event = InboundEvent.objects.get(pk=body["event_id"])
    assert event.account == account
    assert event.communication_type == "calls"
    assert event.values == CALL
    assert json.loads(event.raw) == CALL
    assert event.identity == "call:3190000001:call_finished"
    delivery = Delivery.objects.get(event=event)
    assert delivery.status == Delivery.Status.PENDING
    assert json.loads(delivery.body) == {
        "customer": {"fullName": "Анна", "mobilePhone": "79161234567"},
        "comment": "Звонок на 74951234567",
    }


def test_bearer_header_is_accepted(live_server, account):
    response = requests.post(
        events_url(live_server), json=CALL, timeout=10, headers={"Authorization": f"Bearer {account.inbound_token}"}
    )
    assert response.status_code == 202


def test_get_with_values_in_the_query(live_server, account):
    params = {
        "token": account.inbound_token,
        "call_session_id": "77",
        "visitor_name": '"Иван"',
        "contact_phone_number": "79160000000",
    }
    response = requests.get(events_url(live_server), params=params, timeout=10)
    assert response.status_code == 202, response.text
    event = InboundEvent.objects.get(pk=response.json()["event_id"])
    assert event.values == {"call_session_id": "77", "visitor_name": "Иван", "contact_phone_number": "79160000000"}
    assert account.inbound_token not in event.raw


def test_form_encoded_post(live_server, account):
    response = requests.post(
        events_url(live_server, token=account.inbound_token),
        timeout=10,
        data={"call_session_id": "78", "visitor_name": "Олег"},
    )
    assert response.status_code == 202
    assert InboundEvent.objects.get(pk=response.json()["event_id"]).values == {
        "call_session_id": "78",
        "visitor_name": "Олег",
    }


def test_what_uis_really_sends_is_tolerated(live_server, account):
    raw = (
        '{"call_session_id": "79", "visitor_name": ""Анна"", "visitor_email": {{visitor_email}}, '
        '"contact_phone_number": "{{contact_phone_number}}", "my_field": "kept"}'
    )
    response = requests.post(
        events_url(live_server, token=account.inbound_token),
        data=raw.encode(),
        timeout=10,
        headers={"Content-Type": "application/json"},
    )
    assert response.status_code == 202, response.text
    event = InboundEvent.objects.get(pk=response.json()["event_id"])
    assert event.values == {
        "call_session_id": "79",
        "visitor_name": "Анна",
        "visitor_email": None,
        "contact_phone_number": None,
        "my_field": "kept",
    }
    assert event.raw == raw
    body = json.loads(Delivery.objects.get(event=event).body)
    assert body == {"customer": {"fullName": "Анна"}, "comment": "Звонок на "}


# A call-end body shaped as a real one UIS logged (values made up): ids and durations as
# numbers, empty values as null, the time with milliseconds, mnemonics beyond UIS's list; and a
# quoted mnemonic UIS had no value for, which arrives as the text "null".
REAL_SHAPED = (
    '{"notification_name": "crm-out", "virtual_phone_number": "74951234567", '
    '"notification_time": "2026-11-25 14:40:47.234", "external_id": null, '
    '"contact_phone_number": "79161234567", "employee_id": 323409, "call_source": "va", '
    '"direction": "in", "call_session_id": 998677427, "talk_time_duration": 12, '
    '"total_time_duration": 23, "wait_time_duration": 11, "tag_names": null, "is_transfer": false, '
    '"last_talked_employee_id": 323409, "visitor_name": "null", "visitor_email": "null"}'
)


def test_a_real_shaped_call_end_body(live_server, account):
    response = requests.post(
        events_url(live_server, token=account.inbound_token),
        data=REAL_SHAPED.encode(),
        timeout=10,
        headers={"Content-Type": "application/json"},
    )
    assert response.status_code == 202, response.text
    event = InboundEvent.objects.get(pk=response.json()["event_id"])
    assert event.identity == "call:998677427:crm-out"
    assert event.values["call_session_id"] == 998677427 and event.values["is_transfer"] is False
    assert event.values["visitor_name"] is None and event.values["visitor_email"] is None  # "null": missing
    # Nothing in Mindbox is overwritten with the text "null".
    body = json.loads(Delivery.objects.get(event=event).body)
    assert body == {"customer": {"mobilePhone": "79161234567"}, "comment": "Звонок на 74951234567"}
    # Every mnemonic of the body is one the catalogue knows.
    assert set(json.loads(REAL_SHAPED)) <= set(mnemonics_for("calls"))


def test_uiss_own_filter_example_lost_incoming_calls_only(live_server, make_account, make_notification):
    # «Направление звонка: Включить Входящий» И «Статус звонка: Включить Потерянный», stored as codes.
    account = make_account()
    filters = {
        "match": "all",
        "conditions": [
            {"field": "direction", "mode": "include", "values": ["in"]},
            {"field": "call_status", "mode": "include", "values": ["lost"]},
        ],
    }
    make_notification(account, filters=filters)
    url = events_url(live_server, token=account.inbound_token)
    calls = {
        "lost incoming": ({"direction": "in", "talk_time_duration": 0}, 1),
        "answered incoming": ({"direction": "in", "talk_time_duration": 12}, 0),
        "lost outgoing": ({"direction": "out", "talk_time_duration": 0}, 0),
    }
    for n, (extra, expected) in enumerate(calls.values()):
        values = {**CALL, "call_session_id": 998677000 + n, **extra}
        response = requests.post(url, json=values, timeout=10)
        assert response.status_code == 202 and response.json()["deliveries"] == expected, (extra, response.text)


def test_duplicate_answers_200_with_the_first_event_and_sends_nothing_more(live_server, account):
    url = events_url(live_server, token=account.inbound_token)
    first = requests.post(url, json=CALL, timeout=10)
    again = requests.post(url, json={**CALL, "visitor_name": "Анна П."}, timeout=10)
    assert first.status_code == 202
    assert again.status_code == 200
    assert again.json() == {"event_id": first.json()["event_id"], "duplicate": True}
    assert InboundEvent.objects.count() == 1
    assert Delivery.objects.count() == 1


def test_inactive_integration_stores_the_event_without_deliveries(live_server, make_account, make_notification):
    account = make_account(active=False)
    make_notification(account)
    response = requests.post(events_url(live_server, token=account.inbound_token), json=CALL, timeout=10)
    assert response.status_code == 202
    assert response.json()["deliveries"] == 0
    assert InboundEvent.objects.filter(account=account).count() == 1
    assert Delivery.objects.count() == 0


def test_only_matching_type_active_and_filtered_notifications_get_deliveries(
    live_server, make_account, make_notification
):
    account = make_account()
    make_notification(account, name="all calls")
    make_notification(
        account,
        name="incoming only",
        filters={"match": "all", "conditions": [{"field": "direction", "mode": "include", "values": ["in"]}]},
    )
    make_notification(
        account,
        name="outgoing only",
        filters={"match": "all", "conditions": [{"field": "direction", "mode": "include", "values": ["out"]}]},
    )
    make_notification(account, name="switched off", active=False)
    make_notification(
        account,
        name="offline",
        communication_type="offline_requests",
        body='{"customer": {"email": {{visitor_email}}}}',
    )
    response = requests.post(events_url(live_server, token=account.inbound_token), json=CALL, timeout=10)
    assert response.json()["deliveries"] == 2
    names = set(Delivery.objects.values_list("notification__name", flat=True))
    assert names == {"all calls", "incoming only"}


@pytest.mark.parametrize("token", [None, "", "wrong-token"])
def test_missing_or_unknown_token_gets_one_401(live_server, account, token):
    response = requests.post(events_url(live_server, token=token), json=CALL, timeout=10)
    assert response.status_code == 401
    assert response.json() == {"error": "missing or unknown token; use the inbound URL shown on the integration's page"}
    assert InboundEvent.objects.count() == 0


@pytest.mark.parametrize("payload", [b"[1, 2, 3]", b"not json at all", b'"just a string"', b""])
def test_body_that_is_not_an_object_of_values_gets_400(live_server, account, payload):
    response = requests.post(
        events_url(live_server, token=account.inbound_token),
        data=payload,
        timeout=10,
        headers={"Content-Type": "application/json"},
    )
    assert response.status_code == 400
    assert response.json()["error"]
    assert InboundEvent.objects.count() == 0


def test_unknown_type_gets_404(live_server, account):
    response = requests.post(events_url(live_server, "chats", token=account.inbound_token), json=CALL, timeout=10)
    assert response.status_code == 404
    assert "unknown communication type 'chats'" in response.json()["error"]


def test_body_over_64_kib_gets_413(live_server, account):
    big = {"call_session_id": "1", "text": "x" * (64 * 1024)}
    response = requests.post(events_url(live_server, token=account.inbound_token), json=big, timeout=10)
    assert response.status_code == 413
    assert "64 KiB" in response.json()["error"]
    assert InboundEvent.objects.count() == 0


def test_url_without_trailing_slash_works_too(live_server, account):
    url = f"{live_server.url}/api/uis/events/calls?token={account.inbound_token}"
    assert requests.post(url, json=CALL, timeout=10, allow_redirects=False).status_code == 202


def test_any_accept_header_gets_json(live_server, account):
    response = requests.post(
        events_url(live_server, token=account.inbound_token), json=CALL, timeout=10, headers={"Accept": "text/html"}
    )
    assert response.status_code == 202
    assert response.headers["Content-Type"] == "application/json"


def test_nul_in_a_value_is_stored_without_it(live_server, account):
    response = requests.post(
        events_url(live_server, token=account.inbound_token), timeout=10, json={**CALL, "visitor_name": "An\u0000na"}
    )
    assert response.status_code == 202
    assert InboundEvent.objects.get(pk=response.json()["event_id"]).values["visitor_name"] == "Anna"
