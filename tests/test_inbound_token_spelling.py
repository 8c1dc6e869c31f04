"""The inbound token is never stored or shown, however its name is spelled in the query string:
the endpoint reads it by its decoded name, so it is stripped by that. Over real HTTP (live
server) into PostgreSQL, then the event's admin page."""

import http.client
import json
from urllib.parse import urlsplit

import pytest
import requests
from django.urls import reverse

from integration_portal.logs import mask
from notifications.models import InboundEvent

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def account(make_account, make_notification):
    account = make_account()
    make_notification(account)
    return account


def get_as_written(live_server, target: str, headers: dict[str, str]) -> tuple[int, dict]:
    """A GET with the request target exactly as given (requests would decode %74 to t)."""
    where = urlsplit(live_server.url)
    connection = http.client.HTTPConnection(where.hostname, where.port, timeout=10)
    try:
        connection.request("GET", target, headers=headers)
        response = connection.getresponse()
        return response.status, json.loads(response.read())
    finally:
        connection.close()


@pytest.mark.parametrize("name", ["%74oken", "%74%6F%6B%65%6E", "tok%65n", "TOKEN", "to%00ken"])
def test_a_token_under_any_spelling_is_not_stored_nor_shown(live_server, account, admin_client, name):
    query = f"{name}={account.inbound_token}&call_session_id=s-{len(name)}&visitor_name=Anna"
    # The spellings the endpoint decodes to `token` authenticate with it; the others go with Bearer.
    headers = {} if name.lower().startswith(("%74", "tok%65")) else {"Authorization": f"Bearer {account.inbound_token}"}
    status, answer = get_as_written(live_server, f"/api/uis/events/calls/?{query}", headers)
    assert status == 202, answer
    event = InboundEvent.objects.get(pk=answer["event_id"])
    assert account.inbound_token not in event.raw
    assert account.inbound_token not in str(event.values)
    assert event.values == {"call_session_id": f"s-{len(name)}", "visitor_name": "Anna"}
    page = admin_client.get(reverse("admin:notifications_inboundevent_change", args=[event.pk]))
    assert page.status_code == 200
    assert account.inbound_token not in page.content.decode()


def test_the_token_in_a_body_or_another_parameter_is_masked(live_server, account):
    token = account.inbound_token
    response = requests.post(
        f"{live_server.url}/api/uis/events/calls/?token={token}&note={token}",
        json={"call_session_id": "body-1", "visitor_name": f"pasted {token}"},
        timeout=10,
    )
    assert response.status_code == 202, response.text
    event = InboundEvent.objects.get(pk=response.json()["event_id"])
    assert token not in event.raw and token not in str(event.values)
    assert event.values["visitor_name"] == "pasted ***"
    assert event.values["note"] == "***"


def test_log_lines_mask_a_percent_encoded_token_name():
    for name in ("token", "%74oken", "%54OKEN", "t%6Fk%65n"):
        assert (
            mask(f"GET /api/uis/events/calls/?{name}=s3cr3t-value&x=1") == f"GET /api/uis/events/calls/?{name}=***&x=1"
        )
