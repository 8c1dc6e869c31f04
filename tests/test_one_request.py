"""One way a notification becomes Mindbox's request (mindbox_integration.mindbox.request): for the
same notification and values, the editor's preview shows exactly what a real delivery and a test
send make the stand-in Mindbox receive, the key masked in the preview only."""

import json
from urllib.parse import parse_qsl, urlsplit

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.urls import reverse

from harness.mindbox_standin import Recorded
from mindbox_integration.mindbox.request import MASKED_KEY
from mindbox_integration.models import Notification
from notifications import dispatch
from notifications.delivery import attempt_delivery
from notifications.models import Delivery

pytestmark = pytest.mark.django_db

KEY = "sk-one-request-7373"
HEADERS = {"User-Agent": "Acme/{{call_session_id}}"}
CALL = {
    "call_session_id": "77",
    "visitor_name": "Анна",
    "contact_phone_number": "79161234567",
    "virtual_phone_number": "74950000000",
}


def endpoint(name: str) -> str:
    return reverse(f"admin:mindbox_integration_notification_{name}")


def as_sent(url: str, headers: dict[str, str], body: str) -> tuple[str, dict[str, str], dict[str, str], str]:
    """Path, query (transactionId apart: one per delivery or send), headers and body."""
    parts = urlsplit(url)
    query = dict(parse_qsl(parts.query, keep_blank_values=True))
    assert query.pop("transactionId")
    return parts.path, query, headers, body


def as_received(request: Recorded, names: list[str]) -> tuple[str, dict[str, str], dict[str, str], str]:
    query = {k: v for k, v in request.query.items() if k != "transactionId"}
    return request.path, query, {name: request.headers[name] for name in names}, request.body.decode()


def test_the_preview_is_what_a_delivery_and_a_test_send_make_mindbox_receive(make_account, make_notification, mindbox):
    account = make_account(secret_key=KEY)
    notification = make_notification(account, url=mindbox.url("Zvonok"))
    Notification.objects.filter(pk=notification.pk).update(headers=HEADERS)
    notification.refresh_from_db()
    received = dispatch.receive_event(
        account=account, communication_type="calls", raw="{}", values=CALL, enqueue=lambda ids: None
    )
    delivery = Delivery.objects.get(event_id=received.event_id)
    assert attempt_delivery(delivery_id=delivery.pk).status == Delivery.Status.DELIVERED

    admin = Client()
    admin.force_login(User.objects.create_superuser(username="root", password="x"))
    draft = {
        "operation": notification.operation_id,
        "communication_type": "calls",
        "url": notification.url,
        "body": notification.body,
        "headers": json.dumps(notification.headers),
        "event": delivery.event_id,  # the values the delivery was rendered from
    }
    previewed = admin.post(endpoint("preview"), json.dumps(draft), content_type="application/json")
    tried = admin.post(endpoint("test_send"), json.dumps(draft), content_type="application/json")
    assert previewed.status_code == tried.status_code == 200
    assert KEY not in previewed.content.decode() and KEY not in tried.content.decode()
    preview, sent_test = previewed.json(), tried.json()
    assert preview["error"] == "" and sent_test["outcome"] == "delivered"

    assert preview["headers"]["Authorization"] == MASKED_KEY
    assert preview["headers"]["User-Agent"] == "Acme/77"
    delivered, test_sent = mindbox.requests
    names = list(preview["headers"])
    shown = as_sent(preview["url"], {**preview["headers"], "Authorization": f"SecretKey {KEY}"}, preview["body"])
    assert as_received(delivered, names) == shown
    assert as_received(test_sent, names) == shown
    # Each under its own transactionId: the delivery's for every attempt, a new one for a test send.
    assert delivered.query["transactionId"] == str(delivery.transaction_id)
    assert test_sent.query["transactionId"] not in (str(delivery.transaction_id), "")
    # The test send's page shows its request as the preview does.
    assert sent_test["request_headers"] == preview["headers"]
    assert (
        as_sent(sent_test["request_url"], sent_test["request_headers"], "")[:3]
        == as_sent(preview["url"], preview["headers"], "")[:3]
    )


def test_the_delivery_page_shows_the_request_as_sent_the_key_masked(make_account, make_notification, mindbox):
    account = make_account(secret_key=KEY)
    notification = make_notification(account, url=mindbox.url("Zvonok"))
    Notification.objects.filter(pk=notification.pk).update(headers=HEADERS)
    received = dispatch.receive_event(
        account=account, communication_type="calls", raw="{}", values=CALL, enqueue=lambda ids: None
    )
    delivery = Delivery.objects.get(event_id=received.event_id)
    admin = Client()
    admin.force_login(User.objects.create_superuser(username="root", password="x"))
    page = admin.get(reverse("admin:notifications_delivery_change", args=[delivery.pk])).content.decode()
    assert f"transactionId={delivery.transaction_id}" in page
    assert "User-Agent: Acme/77" in page and "Authorization: " + MASKED_KEY in page
    assert KEY not in page
