"""Save-time checks of a notification's URL and body, with messages that say what to fix."""

import pytest
from django.utils import translation

from mindbox_integration.validation import validate_body, validate_headers, validate_url

HOSTS = ["api.mindbox.ru", "api.s.mindbox.ru", "api.mindbox.cloud", "api.maestra.io"]
GOOD = "https://api.s.mindbox.ru/v3/operations/async?endpointId=acme.Custom&operation=Zvonok"
CALLS = {"visitor_name", "contact_phone_number", "mindbox_device_uuid", "visitor_email"}


@pytest.fixture(autouse=True)
def english():
    with translation.override("en"):
        yield


def url_errors(url: str, *, require_https: bool = True, hosts=HOSTS, operation: str = "Zvonok") -> str:
    return "\n".join(
        validate_url(
            url,
            operation_name=operation,
            communication_type="calls",
            known_mnemonics=CALLS,
            allowed_hosts=hosts,
            require_https=require_https,
        )
    )


def test_good_urls_pass():
    assert url_errors(GOOD) == ""
    assert url_errors(GOOD.replace("async", "sync")) == ""
    assert url_errors(GOOD + "&deviceUUID={{mindbox_device_uuid}}") == ""


def test_https_required_unless_turned_off():
    http = GOOD.replace("https://", "http://")
    assert "must start with https://" in url_errors(http)
    assert url_errors(http, require_https=False) == ""


def test_host_must_be_allowed_with_its_port():
    assert "host api.evil.example is not a Mindbox API host" in url_errors(
        GOOD.replace("api.s.mindbox.ru", "api.evil.example")
    )
    assert "is not a Mindbox API host" in url_errors(GOOD.replace("api.s.mindbox.ru", "api.s.mindbox.ru:8443"))
    local = "http://127.0.0.1:8081/v3/operations/async?endpointId=e&operation=Zvonok"
    assert url_errors(local, require_https=False, hosts=["127.0.0.1:8081"]) == ""
    assert "is not a Mindbox API host" in url_errors(local, require_https=False, hosts=["127.0.0.1:9999"])


def test_path_must_be_sync_or_async():
    assert "the path must be /v3/operations/async (or /v3/operations/sync), not /v3/operations/bulk" in url_errors(
        GOOD.replace("/async", "/bulk")
    )


def test_a_url_without_its_scheme_is_one_message_not_four():
    assert url_errors(GOOD.removeprefix("https://")) == "URL: paste the whole URL, starting with https://"


def test_endpoint_id_missing_or_placeholder():
    assert "endpointId is missing" in url_errors(GOOD.replace("endpointId=acme.Custom&", ""))
    placeholder = GOOD.replace("acme.Custom", "{Идентификатор точки интеграции}")
    assert "endpointId is still the placeholder" in url_errors(placeholder)


def test_operation_must_match_the_parent_operation():
    assert "operation is Zvonok but this notification belongs to operation Other" in url_errors(GOOD, operation="Other")
    assert "operation parameter is missing; add &operation=Zvonok" in url_errors(GOOD.replace("&operation=Zvonok", ""))


def test_unknown_mnemonic_in_url_is_named():
    assert "unknown mnemonic(s) {{device}}" in url_errors(GOOD + "&deviceUUID={{device}}")


def test_transaction_id_is_ours():
    assert "remove transactionId" in url_errors(GOOD + "&transactionId=1")


def body_errors(body: str) -> str:
    return "\n".join(validate_body(body, communication_type="calls", known_mnemonics=CALLS))


def test_good_body_passes():
    assert (
        body_errors(
            '{"customer": {"fullName": {{visitor_name}}, "mobilePhone": "{{contact_phone_number}}", '
            '"note": "x {{visitor_email}}"}}'
        )
        == ""
    )


def test_unknown_mnemonics_are_named_for_the_type():
    errors = body_errors('{"customer": {"fullName": {{visitor_nam}}, "x": {{taxi_address}}}}')
    assert "unknown mnemonic(s) {{taxi_address}}, {{visitor_nam}} for communication type Calls" in errors


def test_invalid_json_and_empty_body():
    assert "not valid JSON: a comma is missing between two items at line 1, column 31" in body_errors(
        '{"customer": {"fullName": "a" "b": 1}}'
    )
    assert "paste the operation's JSON" in body_errors("  ")


def test_messages_speak_russian_by_default():
    with translation.override("ru"):
        errors = validate_url(
            GOOD.replace("https://", "http://"),
            operation_name="Zvonok",
            communication_type="calls",
            known_mnemonics=CALLS,
            allowed_hosts=HOSTS,
            require_https=True,
        )
    assert errors == ["URL: должен начинаться с https://"]


@pytest.mark.parametrize(
    ("headers", "message"),
    [
        ({"Authorization": "SecretKey x"}, "Authorization is not offered"),
        ({"X-Customer-IP": "localhost"}, "must be an IP address"),
        ({"User-Agent": "Агент"}, "only Latin letters"),
        ({"User-Agent": "a\r\nX-Evil: 1"}, "only Latin letters"),
        ({"X-Customer-IP": "{{visitor_ipp}}"}, "{{visitor_ipp}}"),
        ({"User-Agent": ""}, "needs a value"),
        (["User-Agent"], "must be an object"),
    ],
)
def test_optional_headers_are_validated(headers, message):
    with translation.override("en"):
        errors = validate_headers(headers, communication_type="calls", known_mnemonics={"visitor_id"})
    assert any(message in e for e in errors), errors


def test_optional_headers_that_are_fine():
    fine = {"user-agent": "Acme/1.0 (UIS)", "X-Customer-IP": "{{visitor_id}}"}
    assert validate_headers(fine, communication_type="calls", known_mnemonics={"visitor_id"}) == []
    assert validate_headers({"X-Customer-IP": "2001:db8::1"}, communication_type="calls", known_mnemonics=()) == []
