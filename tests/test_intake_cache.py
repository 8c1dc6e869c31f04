"""What each web process keeps between events (an account's notifications per type, the senders
it has read: notifications.plans, notifications.senders) is never served stale: every way a
manager, an import, a token rotation or the workers change what an event becomes is seen by the
very next event, in this process (the live server) and in another one (the web server with one
process, so the event after the change meets the caches the event before it filled)."""

import os
import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

import pytest
import requests
from django.urls import reverse
from django.utils import timezone

from mindbox_integration import config_io, services, versions
from mindbox_integration.models import Account, Notification
from notifications.models import Delivery, InboundEvent, IntegrationHealth
from tests.conftest import inline_management, running_web, seen_keys

pytestmark = pytest.mark.django_db(transaction=True)

URL = "https://api.mindbox.ru/v3/operations/async?endpointId=acme.Site&operation=Zvonok"
BODY = '{"customer": {"fullName": {{visitor_name}}}}'


@pytest.fixture(scope="module")
def gunicorn(django_db_setup: None) -> Iterator[str]:
    """The production web process on the test database, with a single worker."""
    with running_web("test-intake-cache", WEB_WORKERS="1", INBOUND_RATE_BURST="100000") as port:
        yield f"http://127.0.0.1:{port}"


@pytest.fixture(params=["this process", "another process"])
def base_url(request: pytest.FixtureRequest, live_server: Any) -> str:
    return str(live_server.url if request.param == "this process" else request.getfixturevalue("gunicorn"))


@pytest.fixture
def account(make_account: Callable[..., Account], make_notification: Callable[..., Notification]) -> Account:
    # The stamp's row, as the migration leaves it (the previous test's flush emptied the table):
    # without one nothing would be cached, and these tests would pass whatever the caches did.
    versions.bump()
    account = make_account()
    make_notification(account, url=URL, body=BODY)  # what the admin's own checks accept
    return account


class Poster:
    """Posts call events with fresh identities to one server, with one token."""

    def __init__(self, base_url: str, token: str) -> None:
        self.base_url, self.token, self.n = base_url, token, 0

    def __call__(self, token: str | None = None, **values: str) -> requests.Response:
        self.n += 1
        body = {"call_session_id": f"cache-{self.n}-{os.urandom(4).hex()}", "visitor_name": "Анна", **values}
        url = f"{self.base_url}/api/uis/events/calls/?token={token or self.token}"
        return requests.post(url, json=body, timeout=10)


@pytest.fixture
def post(base_url: str, account: Account) -> Poster:
    poster = Poster(base_url, account.inbound_token)
    first = poster()  # fills the server's caches: the sender and the account's notifications
    assert first.status_code == 202 and first.json()["deliveries"] == 1, first.text
    assert poster().json()["deliveries"] == 1  # and serves from them
    return poster


def deliveries(response: requests.Response) -> int:
    assert response.status_code == 202, response.text
    return int(response.json()["deliveries"])


def the_notification(account: Account) -> Notification:
    return Notification.objects.get(operation__integration__account=account)


def inline_post(notification: Notification, **changes: str) -> dict[str, str]:
    """The operation's page as the admin posts it, with its notification changed."""
    fields = {
        "id": str(notification.pk),
        "operation": str(notification.operation_id),
        "name": notification.name,
        "url": notification.url,
        "communication_type": notification.communication_type,
        "filters": "{}",
        "body": notification.body,
        "active": "on" if notification.active else "",
        **changes,
    }
    data = {"name": notification.operation.name, "_save": "Save", **inline_management("notifications", 1, initial=1)}
    data.update({f"notifications-0-{k}": v for k, v in fields.items() if v != ""})
    return data


def operation_url(notification: Notification) -> str:
    return reverse("admin:mindbox_integration_operation_change", args=[notification.operation_id])


# --- notifications


def test_a_notification_switched_off_in_the_admin(admin_client, account, post):
    notification = the_notification(account)
    response = admin_client.post(operation_url(notification), inline_post(notification, active=""))
    assert response.status_code == 302
    assert deliveries(post()) == 0


def test_a_body_changed_in_the_admin(admin_client, account, post):
    notification = the_notification(account)
    body = '{"customer": {"lastName": {{visitor_name}}}}'
    assert admin_client.post(operation_url(notification), inline_post(notification, body=body)).status_code == 302
    response = post()
    assert deliveries(response) == 1
    assert Delivery.objects.get(event_id=response.json()["event_id"]).body == '{"customer":{"lastName":"Анна"}}'


def test_a_notification_added_in_the_admin(admin_client, account, post):
    notification = the_notification(account)
    data = inline_post(notification)
    data.update(inline_management("notifications", 2, initial=1))
    second = {"name": "Ещё одно", "url": URL, "communication_type": "calls", "filters": "{}", "body": BODY}
    data.update({f"notifications-1-{k}": v for k, v in {**second, "active": "on"}.items()})
    assert admin_client.post(operation_url(notification), data).status_code == 302
    assert deliveries(post()) == 2


def test_a_notification_deleted_in_the_admin(admin_client, account, post):
    notification = the_notification(account)
    url = reverse("admin:mindbox_integration_notification_delete", args=[notification.pk])
    assert admin_client.post(url, {"post": "yes"}).status_code == 302
    assert not Notification.objects.filter(pk=notification.pk).exists()
    assert deliveries(post()) == 0


def test_notifications_deleted_by_the_bulk_action(admin_client, account, post):
    notification = the_notification(account)
    changelist = reverse("admin:mindbox_integration_notification_changelist")
    data = {"action": "delete_selected", "_selected_action": [str(notification.pk)], "post": "yes"}
    assert admin_client.post(changelist, data).status_code == 302
    assert not Notification.objects.filter(pk=notification.pk).exists()
    assert deliveries(post()) == 0


def test_an_operation_deleted_with_its_notifications(admin_client, account, post):
    notification = the_notification(account)
    url = reverse("admin:mindbox_integration_operation_delete", args=[notification.operation_id])
    assert admin_client.post(url, {"post": "yes"}).status_code == 302
    assert deliveries(post()) == 0


def test_a_notification_switched_off_by_an_import(account, post):
    data = config_io.export_config()
    (item,) = [a for a in data["accounts"] if a["uis_app_id"] == account.uis_app_id]
    item["mindbox"]["operations"][0]["notifications"][0]["active"] = False
    config_io.import_config(data, actor="tests", seen=seen_keys)
    assert deliveries(post()) == 0


# --- the integration


def test_the_integration_switched_off_and_on_in_the_admin(admin_client, account, post):
    url = reverse("admin:mindbox_integration_mindboxintegration_change", args=[account.mindbox.pk])
    assert admin_client.post(url, {"_save": "Save", **inline_management("operations", 0)}).status_code == 302
    response = post()
    assert deliveries(response) == 0
    assert InboundEvent.objects.get(pk=response.json()["event_id"]).note == "интеграция с Mindbox выключена"
    data = {"active": "on", "_save": "Save", **inline_management("operations", 0)}
    assert admin_client.post(url, data).status_code == 302
    assert deliveries(post()) == 1


def test_a_notification_changed_by_a_queryset_update(account, post):
    Notification.objects.filter(operation__integration__account=account).update(active=False)
    assert deliveries(post()) == 0


def test_sending_paused_by_the_workers_holds_the_next_event(account, post):
    # What notifications.breaker writes when Mindbox refuses the key: a row the workers own.
    IntegrationHealth.objects.update_or_create(
        integration=account.mindbox, defaults={"paused_at": timezone.now(), "pause_reason": "401"}
    )
    response = post()
    assert deliveries(response) == 1
    assert Delivery.objects.get(event_id=response.json()["event_id"]).status == Delivery.Status.HELD
    IntegrationHealth.objects.filter(pk=account.mindbox.pk).update(paused_at=None)
    response = post()
    assert Delivery.objects.get(event_id=response.json()["event_id"]).status == Delivery.Status.PENDING


# --- tokens


def test_a_token_rotated_without_grace_stops_at_once(account, post):
    new = services.rotate_inbound_token(account=account, actor="tests", grace=timedelta(0))
    assert post().status_code == 401
    assert deliveries(post(token=new)) == 1


def test_a_token_rotated_with_grace_works_until_the_previous_one_is_revoked(account, post):
    new = services.rotate_inbound_token(account=account, actor="tests")
    assert deliveries(post()) == 1  # in its grace
    assert deliveries(post(token=new)) == 1
    services.revoke_previous_token(account=Account.objects.get(pk=account.pk), actor="tests")
    assert post().status_code == 401
    assert deliveries(post(token=new)) == 1


def test_the_grace_ends_to_the_second_with_nothing_changed(account, post):
    new = services.rotate_inbound_token(account=account, actor="tests", grace=timedelta(seconds=1))
    assert deliveries(post()) == 1  # in its grace, and remembered by the server
    time.sleep(1.1)  # nothing is written when a grace ends: the token is checked on every event
    assert post().status_code == 401
    assert deliveries(post(token=new)) == 1


def test_a_token_replaced_by_an_import(account, post):
    data = config_io.export_config()
    (item,) = [a for a in data["accounts"] if a["uis_app_id"] == account.uis_app_id]
    item["inbound_token"] = "imported-token-" + "x" * 40
    config_io.import_config(data, actor="tests", seen=seen_keys, replace_tokens=True)
    assert post().status_code == 401
    assert deliveries(post(token=item["inbound_token"])) == 1


def test_a_deleted_account(admin_client, account, post):
    url = reverse("admin:mindbox_integration_account_delete", args=[account.pk])
    assert admin_client.post(url, {"post": "yes"}).status_code == 302
    assert post().status_code == 401


def test_a_remembered_token_since_revoked_is_a_401_before_anything_else(account, post):
    services.rotate_inbound_token(account=account, actor="tests", grace=timedelta(0))
    url = f"{post.base_url}/api/uis/events/calls/?token={account.inbound_token}"
    assert requests.post(url, data=b"[1, 2]", timeout=10).status_code == 401  # not the body's 400
    other = f"{post.base_url}/api/uis/events/chats/?token={account.inbound_token}"
    assert requests.post(other, json={"a": "1"}, timeout=10).status_code == 401  # nor the type's 404
