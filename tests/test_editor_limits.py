"""No 500 from the notification editor or its form: JSON nested too deep in the body or the
filter conditions, and a URL with an unclosed IPv6 bracket (`http://[::1`), each get a clear
message. Through the admin (test client) on the real database; the test send also against
the stand-in Mindbox, which must receive nothing."""

import json

import pytest
from django.urls import reverse

from mindbox_integration.models import Notification
from tests.conftest import CALL_BODY

pytestmark = pytest.mark.django_db

DEEP = 5_000  # json.loads and the template compiler recurse once per level: 1,000 is Python's limit
DEEP_BODY = '{"customer": ' + "[" * DEEP + "{{visitor_name}}" + "]" * DEEP + "}"
DEEP_FILTERS = '{"match": "all", "conditions": ' + "[" * DEEP + "]" * DEEP + "}"
BROKEN_URL = "http://[::1/v3/operations/async?endpointId=acme.Custom&operation=Zvonok"


@pytest.fixture
def operation(make_account, make_notification):
    return make_notification(make_account(secret_key="sk-limits")).operation


def post_json(client, name: str, data: dict) -> dict:
    response = client.post(
        reverse(f"admin:mindbox_integration_notification_{name}"), json.dumps(data), content_type="application/json"
    )
    assert response.status_code == 200, response.content[:500]
    return response.json()


def form_data(operation, **changes: str) -> dict[str, str]:
    return {
        "operation": str(operation.pk),
        "name": "Deep",
        "url": f"https://api.mindbox.ru/v3/operations/async?endpointId=acme.Custom&operation={operation.name}",
        "communication_type": "calls",
        "filters": "",
        "body": CALL_BODY,
        "active": "on",
        **changes,
    }


def test_the_form_says_what_is_wrong_with_a_deep_body_or_deep_filters(admin_client, operation):
    add = reverse("admin:mindbox_integration_notification_add")
    page = admin_client.post(add, form_data(operation, body=DEEP_BODY, filters=DEEP_FILTERS))
    assert page.status_code == 200  # the form again, with its errors
    errors = page.context["adminform"].form.errors
    assert "глубже 32 уровней" in " ".join(errors["body"])
    assert "глубже 32 уровней" in " ".join(errors["filters"])
    assert not Notification.objects.filter(name="Deep").exists()


def test_the_form_says_what_is_wrong_with_an_unclosed_ipv6_bracket(admin_client, operation):
    page = admin_client.post(
        reverse("admin:mindbox_integration_notification_add"), form_data(operation, url=BROKEN_URL)
    )
    assert page.status_code == 200
    assert "проверьте квадратные скобки" in " ".join(page.context["adminform"].form.errors["url"])


def test_the_editors_check_and_preview_answer_deep_json_with_a_message(admin_client, operation):
    draft = {"operation": operation.pk, "communication_type": "calls", "url": BROKEN_URL, "body": DEEP_BODY}
    checked = post_json(admin_client, "check", {**draft, "filters": DEEP_FILTERS})
    assert not checked["ok"]
    assert "глубже 32 уровней" in " ".join(checked["errors"]["body"])
    assert "глубже 32 уровней" in " ".join(checked["errors"]["filters"])
    assert "проверьте квадратные скобки" in " ".join(checked["errors"]["url"])
    previewed = post_json(admin_client, "preview", draft)
    assert "глубже 32 уровней" in previewed["error"]
    # Without an operation chosen yet, the URL's own operation is read: the bracket is no 500 there either.
    assert not post_json(admin_client, "check", {**draft, "operation": ""})["ok"]


def test_a_draft_nested_deep_is_a_400_not_a_500(admin_client, operation):
    response = admin_client.post(
        reverse("admin:mindbox_integration_notification_check"),
        "[" * DEEP + "]" * DEEP,
        content_type="application/json",
    )
    assert response.status_code == 400


def test_the_url_helper_and_the_test_send_answer_a_broken_url_with_a_message(admin_client, operation, mindbox):
    filled = post_json(
        admin_client, "fill_url", {"operation": operation.pk, "pasted": "http://[::1", "endpoint_id": "x"}
    )
    assert filled["url"] == "" and "целиком, начиная с https://" in filled["errors"][0]
    sent = post_json(
        admin_client,
        "test_send",
        {"operation": operation.pk, "communication_type": "calls", "url": BROKEN_URL, "body": CALL_BODY},
    )
    assert sent["sent"] is False and "проверьте квадратные скобки" in sent["error"]
    deep = post_json(
        admin_client,
        "test_send",
        {"operation": operation.pk, "communication_type": "calls", "url": mindbox.url("Zvonok"), "body": DEEP_BODY},
    )
    assert deep["sent"] is False and "глубже 32 уровней" in deep["error"]
    assert mindbox.requests == []
