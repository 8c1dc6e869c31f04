"""The site script's links (issue 5, item 5): the public endpoint, the link's way into events
at intake and at a re-render, the integration page's snippet, and retention."""

import json
import uuid
from datetime import timedelta
from html import unescape
from typing import Any

import pytest
from django.utils import timezone

from mindbox_integration.models import Account, ConfigChange
from notifications import dispatch, replay, retention, site_visitors
from notifications.api.site import address_bucket
from notifications.models import Delivery, SiteVisitor
from tests.browser_support import make_manager
from tests.test_operations import samples, value

URL = "/api/site/visitors/"
DEVICE = "7d1c6a1e-3b2f-4f6e-9a57-0f0e6c9b1a42"


def post(client: Any, body: Any, *, content_type: str = "text/plain;charset=UTF-8", **extra: Any) -> Any:
    data = body if isinstance(body, bytes) else json.dumps(body)
    return client.post(URL, data=data, content_type=content_type, **extra)


def link_body(account: Account, visitor_id: str = "4242", device: str = DEVICE) -> dict[str, str]:
    return {"key": account.site_key, "visitor_id": visitor_id, "device_uuid": device}


@pytest.fixture
def account(make_account) -> Account:
    return make_account()


# The endpoint


def test_a_link_is_stored_and_the_answer_lets_any_site_post(client, account):
    response = post(client, link_body(account))
    assert response.status_code == 204
    assert response["Access-Control-Allow-Origin"] == "*"
    link = SiteVisitor.objects.get(account=account)
    assert (link.visitor_id, str(link.device_uuid)) == ("4242", DEVICE)


def test_a_later_device_replaces_the_visitors_link(client, account):
    other = str(uuid.uuid4())
    assert post(client, link_body(account)).status_code == 204
    assert post(client, link_body(account, device=other)).status_code == 204
    assert list(SiteVisitor.objects.filter(account=account).values_list("device_uuid", flat=True)) == [uuid.UUID(other)]


def test_the_preflight_is_answered_for_a_json_post(client):
    response = client.options(URL, HTTP_ORIGIN="https://shop.example", HTTP_ACCESS_CONTROL_REQUEST_METHOD="POST")
    assert response.status_code == 204
    assert response["Access-Control-Allow-Origin"] == "*"
    assert "POST" in response["Access-Control-Allow-Methods"]


UNKNOWN_KEY = "A" * 24  # shaped like a key, but no account's


def test_an_unknown_key_is_refused_and_nothing_is_stored(client, account):
    response = post(client, {**link_body(account), "key": UNKNOWN_KEY})
    assert response.status_code == 403
    assert "copy the site script again" in response.json()["error"]
    assert not SiteVisitor.objects.exists()


@pytest.mark.parametrize(
    ("body", "says"),
    [
        (b"visitor=1", "not JSON"),
        (b"[1, 2]", "not a JSON object"),
        ({"visitor_id": "1", "device_uuid": DEVICE}, "missing: key"),
        ({"key": UNKNOWN_KEY, "visitor_id": "1 OR 1=1", "device_uuid": DEVICE}, "visitor_id"),
        ({"key": UNKNOWN_KEY, "visitor_id": True, "device_uuid": DEVICE}, "visitor_id: a string or a whole number"),
        ({"key": UNKNOWN_KEY, "visitor_id": "1", "device_uuid": "not-a-uuid"}, "mindboxDeviceUUID"),
        ({"key": UNKNOWN_KEY, "visitor_id": "1", "device_uuid": 12345}, "mindboxDeviceUUID"),
        ({"key": "not-a-key", "visitor_id": "1", "device_uuid": DEVICE}, "key: not a site key"),
        ({"key": UNKNOWN_KEY + "\u0000", "visitor_id": "1", "device_uuid": DEVICE}, "key: not a site key"),
        ({"key": {"a": 1}, "visitor_id": "1", "device_uuid": DEVICE}, "not a site key"),
        (b"[" * 1500, "nested"),
    ],
)
def test_a_bad_post_gets_a_json_error_that_says_what_to_fix(client, account, body, says, django_assert_num_queries):
    with django_assert_num_queries(0):  # refused before the database is asked
        response = post(client, body)
    assert response.status_code == 400
    assert says in response.json()["error"]
    assert not SiteVisitor.objects.exists()


def test_a_large_body_is_refused_unread(client, account):
    response = post(client, {**link_body(account), "padding": "x" * 3000})
    assert response.status_code == 413
    assert "over 2048 bytes" in response.json()["error"]
    assert not SiteVisitor.objects.exists()


def test_other_methods_get_405_in_json(client):
    response = client.get(URL)
    assert response.status_code == 405
    assert "send POST" in response.json()["error"]


def test_one_address_is_rate_limited_before_the_database_is_asked(client, account, settings, django_assert_num_queries):
    settings.SITE_LINK_RATE_PER_ADDRESS = 0.01
    settings.SITE_LINK_BURST_PER_ADDRESS = 2
    assert post(client, link_body(account, "1")).status_code == 204
    assert post(client, link_body(account, "2")).status_code == 204
    with django_assert_num_queries(0):
        refused = post(client, link_body(account, "3"))
    assert refused.status_code == 429
    assert int(refused["Retry-After"]) >= 1
    assert SiteVisitor.objects.count() == 2


def test_an_ipv6_caller_is_limited_by_its_64(client, account, settings):
    settings.SITE_LINK_RATE_PER_ADDRESS = 0.01
    settings.SITE_LINK_BURST_PER_ADDRESS = 1
    assert post(client, link_body(account, "1"), REMOTE_ADDR="2001:db8:1:2::1").status_code == 204
    assert post(client, link_body(account, "2"), REMOTE_ADDR="2001:db8:1:2:ffff::9").status_code == 429
    assert post(client, link_body(account, "3"), REMOTE_ADDR="2001:db8:1:3::1").status_code == 204  # another /64


def test_one_key_is_rate_limited_across_addresses(client, account, settings):
    settings.SITE_LINK_RATE_PER_KEY = 0.01
    settings.SITE_LINK_BURST_PER_KEY = 1
    assert post(client, link_body(account, "1"), REMOTE_ADDR="10.0.0.1").status_code == 204
    assert post(client, link_body(account, "2"), REMOTE_ADDR="10.0.0.2").status_code == 429


# Into events


def call_values(visitor_id: str | None = "4242", session: str = "1") -> dict[str, Any]:
    values = {"call_session_id": session, "notification_mnemonic": "call_finished", "visitor_name": "Анна"}
    if visitor_id is not None:
        values["visitor_id"] = visitor_id
    return values


def receive(account: Account, values: dict[str, Any]) -> dispatch.IntakeResult:
    return dispatch.receive_event(
        account=account, communication_type="calls", raw="{}", values=values, enqueue=lambda ids: None
    )


@pytest.fixture
def device_notification(account, make_notification, mindbox):
    return make_notification(
        account,
        url=mindbox.url("Zvonok") + "&deviceUUID={{mindbox_device_uuid}}",
        body='{"customer": {"fullName": {{visitor_name}}}, "device": {{mindbox_device_uuid}}}',
    )


def test_an_event_of_a_linked_visitor_carries_the_device_into_url_and_body(client, account, device_notification):
    post(client, link_body(account))
    result = receive(account, call_values())
    delivery = Delivery.objects.get(event_id=result.event_id)
    assert f"deviceUUID={DEVICE}" in delivery.url
    assert json.loads(delivery.body)["device"] == DEVICE
    assert delivery.event.values["mindbox_device_uuid"] == DEVICE  # the event shows what was rendered


def test_an_unlinked_visitor_goes_without_the_parameter(account, device_notification):
    receive(account, call_values(visitor_id="9999", session="2"))
    receive(account, call_values(visitor_id=None, session="3"))
    for delivery in Delivery.objects.all():
        assert "deviceUUID" not in delivery.url
        assert delivery.status == Delivery.Status.PENDING


def test_no_lookup_when_no_notification_uses_the_device(client, account, make_notification):
    make_notification(account)  # the usual body and URL, without {{mindbox_device_uuid}}
    post(client, link_body(account))
    result = receive(account, call_values())
    assert "mindbox_device_uuid" not in Delivery.objects.get(event_id=result.event_id).event.values


def test_links_are_per_account(client, account, make_account, device_notification):
    other = make_account()
    post(client, link_body(other))
    result = receive(account, call_values())
    assert "deviceUUID" not in Delivery.objects.get(event_id=result.event_id).url


def test_a_value_uis_sent_itself_is_kept(client, account, device_notification):
    post(client, link_body(account))
    sent = str(uuid.uuid4())
    result = receive(account, {**call_values(), "mindbox_device_uuid": sent})
    assert f"deviceUUID={sent}" in Delivery.objects.get(event_id=result.event_id).url


def test_a_re_render_picks_up_a_link_made_after_the_event(client, account, device_notification):
    result = receive(account, call_values())
    delivery = Delivery.objects.get(event_id=result.event_id)
    Delivery.objects.filter(pk=delivery.pk).update(status=Delivery.Status.FAILED, next_attempt_at=None)
    post(client, link_body(account))
    replayed = replay.rerender(delivery_ids=[delivery.pk], enqueue=lambda ids: None)
    assert replayed.queued == [delivery.pk]
    delivery.refresh_from_db()
    assert f"deviceUUID={DEVICE}" in delivery.url


# The integration page and retention


def test_the_integration_page_shows_the_snippet_with_the_accounts_key(admin_client, account):
    site_visitors.record_link(account_id=account.pk, visitor_id="1", device_uuid=uuid.UUID(DEVICE))
    page = admin_client.get(f"/admin/mindbox_integration/mindboxintegration/{account.mindbox.pk}/change/")
    html = unescape(page.content.decode())
    assert 'id="site-script-snippet"' in html
    assert json.dumps(account.site_key) in html
    assert "http://testserver/api/site/visitors/" in html
    assert 'data-linked="1"' in html


def test_the_page_warns_when_the_code_would_post_to_plain_http(admin_client, account, settings):
    url = f"/admin/mindbox_integration/mindboxintegration/{account.mindbox.pk}/change/"
    assert "insecure-endpoint" in admin_client.get(url).content.decode()  # the test client's http://testserver
    settings.PUBLIC_BASE_URL = "https://portal.example"
    html = unescape(admin_client.get(url).content.decode())
    assert "insecure-endpoint" not in html
    assert "https://portal.example/api/site/visitors/" in html


def test_a_new_site_key_stops_the_old_one_and_is_recorded(client, admin_client, admin_user, account):
    old = account.site_key
    url = f"/admin/mindbox_integration/mindboxintegration/{account.mindbox.pk}/rotate-site-key/"
    assert admin_client.get(url).status_code == 405  # a change: POST only
    assert admin_client.post(url).status_code == 302
    account.refresh_from_db()
    assert account.site_key != old
    assert post(client, {**link_body(account), "key": old}).status_code == 403
    assert post(client, link_body(account)).status_code == 204
    change = ConfigChange.objects.filter(account=account).latest("at")
    assert (change.actor_id, change.changes["site_key"]) == (admin_user.pk, {"before": old, "after": account.site_key})


def test_a_manager_cannot_rotate_another_accounts_site_key(client, account, make_account):
    other = make_account()
    manager = make_manager(account)
    client.force_login(manager)
    url = f"/admin/mindbox_integration/mindboxintegration/{other.mindbox.pk}/rotate-site-key/"
    assert client.post(url).status_code == 404
    assert Account.objects.get(pk=other.pk).site_key == other.site_key


def test_an_inactive_integration_shows_no_snippet(admin_client, make_account):
    account = make_account(active=False)
    page = admin_client.get(f"/admin/mindbox_integration/mindboxintegration/{account.mindbox.pk}/change/")
    assert 'id="site-script-snippet"' not in page.content.decode()


def test_ipv6_addresses_share_their_64_and_others_stand_alone():
    assert address_bucket("2001:db8::1") == address_bucket("2001:db8::ffff:1") == "2001:db8::/64"
    assert address_bucket("203.0.113.7") == "203.0.113.7"
    assert address_bucket(None) == ""


def test_the_snippet_cannot_be_ended_by_what_it_embeds():
    code = site_visitors.snippet(endpoint_url="https://portal.example/</script><b>", site_key="k")
    assert code.count("</script>") == 1 and code.endswith("</script>")


def test_each_account_has_its_own_site_key(make_account):
    keys = {make_account().site_key for _ in range(3)}
    assert len(keys) == 3 and all(len(k) >= 24 for k in keys)


def test_links_not_renewed_are_pruned(account):
    now = timezone.now()
    site_visitors.record_link(
        account_id=account.pk, visitor_id="old", device_uuid=uuid.uuid4(), now=now - timedelta(days=200)
    )
    site_visitors.record_link(account_id=account.pk, visitor_id="new", device_uuid=uuid.uuid4(), now=now)
    assert retention.prune_site_visitors(older_than=now - timedelta(days=180)) == 1
    assert list(SiteVisitor.objects.values_list("visitor_id", flat=True)) == ["new"]


def test_posts_are_counted_by_answer_in_the_metrics(client, account):
    def count(answer: str) -> float:
        return value(samples(client.get("/metrics").content.decode()), "portal_site_links_total", answer=answer)

    before = {answer: count(answer) for answer in ("204", "403", "preflight")}
    post(client, link_body(account))
    post(client, {**link_body(account), "key": UNKNOWN_KEY})
    client.options(URL)
    assert count("204") == before["204"] + 1  # stored links only: the preflight has its own label
    assert count("403") == before["403"] + 1
    assert count("preflight") == before["preflight"] + 1
