"""The one builder of Mindbox requests (mindbox_integration.mindbox.request), pure."""

import pytest

from core.rendering import TemplateError
from mindbox_integration.mindbox.request import MASKED_KEY, Rendered, build, finalize, render, with_transaction_id

URL = "https://api.mindbox.ru/v3/operations/async?endpointId=acme&operation=Zvonok&phone={{contact_phone_number}}"
BODY = '{"customer": {"mobilePhone": {{contact_phone_number}}, "fullName": {{visitor_name}}}}'
HEADERS = {"User-Agent": "Acme/{{call_session_id}}", "X-Customer-IP": "{{visitor_ip}}"}
VALUES = {"contact_phone_number": "79161234567", "visitor_name": "Анна", "call_session_id": "7"}
KEY = "sk-pure-0001"


def test_render_fills_the_templates_as_intake_stores_them():
    rendered = render(url_template=URL, body_template=BODY, headers_template=HEADERS, values=VALUES)
    assert rendered.url.endswith("&phone=79161234567")
    assert rendered.body == '{"customer":{"mobilePhone":"79161234567","fullName":"Анна"}}'
    assert rendered.headers == {"User-Agent": "Acme/7"}  # no visitor_ip: the header is left out
    with pytest.raises(TemplateError):
        render(url_template=URL, body_template="{", headers_template=None, values=VALUES)


def test_finalize_adds_the_transaction_id_the_fixed_headers_and_the_key():
    rendered = render(url_template=URL, body_template=BODY, headers_template=HEADERS, values=VALUES)
    sent = finalize(rendered=rendered, secret_key=KEY, transaction_id="tx-1")
    assert sent.url == rendered.url + "&transactionId=tx-1"
    assert sent.body == rendered.body
    assert sent.headers == {
        "User-Agent": "Acme/7",
        "Content-Type": "application/json; charset=utf-8",
        "Accept": "application/json",
        "Authorization": f"SecretKey {KEY}",
    }
    assert KEY not in repr(sent)
    assert sent == build(
        url_template=URL,
        body_template=BODY,
        headers_template=HEADERS,
        values=VALUES,
        secret_key=KEY,
        transaction_id="tx-1",
    )


def test_shown_masks_the_key_and_nothing_else():
    sent = finalize(rendered=Rendered(url=URL, body="{}"), secret_key=KEY, transaction_id="tx-1")
    shown = sent.shown()
    assert shown.headers["Authorization"] == MASKED_KEY
    assert {**shown.headers, "Authorization": sent.headers["Authorization"]} == sent.headers
    assert (shown.url, shown.body) == (sent.url, sent.body)
    keyless = finalize(rendered=Rendered(url=URL, body="{}"), secret_key="", transaction_id="tx-1")
    assert "Authorization" not in keyless.headers and keyless.shown() == keyless


def test_a_notifications_headers_cannot_stand_in_for_the_fixed_ones():
    rendered = Rendered(url=URL, body="{}", headers={"Content-Type": "text/plain", "Authorization": "Basic x"})
    sent = finalize(rendered=rendered, secret_key="", transaction_id="tx")
    assert sent.headers["Content-Type"] == "application/json; charset=utf-8"
    with_key = finalize(rendered=rendered, secret_key=KEY, transaction_id="tx")
    assert with_key.headers["Authorization"] == f"SecretKey {KEY}"


def test_the_transaction_id_goes_on_async_urls_only_and_replaces_a_pasted_one():
    assert (
        with_transaction_id("https://h/v3/operations/sync?operation=A", "t")
        == "https://h/v3/operations/sync?operation=A"
    )
    assert with_transaction_id("https://h/v3/operations/async?transactionId=old&a=1", "t") == (
        "https://h/v3/operations/async?a=1&transactionId=t"
    )


def test_an_unreadable_url_is_left_for_the_send_to_refuse_on_its_own():
    """A stored URL that cannot be read (a render that failed keeps the template's URL) must not
    stop the batch it is in: finalize leaves it as it is, and the client refuses that request alone."""
    from mindbox_integration.mindbox import request

    built = request.finalize(
        rendered=request.Rendered(url="http://[::1/v3/operations/async", body="{}", headers={}),
        secret_key="sk",
        transaction_id="t-1",
    )
    assert built.url == "http://[::1/v3/operations/async"
