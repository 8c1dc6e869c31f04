"""The Mindbox client: the request it makes and how it classifies answers (narrow: `responses`)."""

import json

import pytest
import requests
import responses

from mindbox_integration.mindbox import MindboxClient, OutcomeKind, Policy

ASYNC = "https://api.s.mindbox.ru/v3/operations/async?endpointId=acme.Custom&operation=Zvonok"
SYNC = "https://api.s.mindbox.ru/v3/operations/sync?endpointId=acme.Custom&operation=Zvonok"
KEY = "sk-test-0123456789abcdef"
TX = "5b0e1d3c-8f7a-4d6e-9b2c-1a3f5e7d9c0b"
POLICY = Policy(allowed_hosts=("api.s.mindbox.ru",))


def public_address(host: str, port: int) -> list[str]:
    """No DNS in these tests: the host resolves to a public address (the answers come from `responses`)."""
    return ["185.12.30.4"]


@pytest.fixture
def client() -> MindboxClient:
    return MindboxClient(connect_timeout=5, read_timeout=15, resolve=public_address)


def send(client: MindboxClient, url: str = ASYNC, key: str = KEY):
    return client.send(
        url=url, body='{"customer": {"fullName": "Анна"}}', secret_key=key, transaction_id=TX, policy=POLICY
    )


@responses.activate
def test_request_headers_body_and_transaction_id_on_async(client):
    responses.post(ASYNC.split("?")[0], json={"status": "Success"})
    outcome = send(client)
    assert outcome.kind == OutcomeKind.DELIVERED
    call = responses.calls[0].request
    assert call.headers["Content-Type"] == "application/json; charset=utf-8"
    assert call.headers["Accept"] == "application/json"
    assert call.headers["Authorization"] == f"SecretKey {KEY}"
    assert json.loads(call.body) == {"customer": {"fullName": "Анна"}}
    assert f"transactionId={TX}" in call.url
    assert "endpointId=acme.Custom" in call.url and "operation=Zvonok" in call.url


@responses.activate
def test_no_transaction_id_on_sync_and_no_authorization_without_key(client):
    responses.post(SYNC.split("?")[0], json={"status": "Success"})
    send(client, SYNC, key="")
    call = responses.calls[0].request
    assert "transactionId" not in call.url
    assert "Authorization" not in call.headers


@pytest.mark.parametrize(
    ("status", "payload", "kind"),
    [
        (200, {"status": "Success"}, OutcomeKind.DELIVERED),
        (200, {"status": "TransactionAlreadyProcessed"}, OutcomeKind.DELIVERED),
        (
            200,
            {
                "status": "ValidationError",
                "validationMessages": [{"message": "Неверный телефон", "location": "/customer/mobilePhone"}],
            },
            OutcomeKind.FAILED,
        ),
        (400, {"status": "ValidationError", "validationMessages": []}, OutcomeKind.FAILED),
        (
            400,
            {"status": "ProtocolError", "errorMessage": "Operation not found", "httpStatusCode": 400},
            OutcomeKind.FAILED,
        ),
        (401, {}, OutcomeKind.FAILED),
        (403, {}, OutcomeKind.FAILED),
        (404, {}, OutcomeKind.FAILED),
        (429, {}, OutcomeKind.RETRY),
        (500, {"status": "InternalServerError"}, OutcomeKind.RETRY),
        (502, {}, OutcomeKind.RETRY),
        (503, {}, OutcomeKind.RETRY),
        (504, {}, OutcomeKind.RETRY),
    ],
)
@responses.activate
def test_answers_are_classified(client, status, payload, kind):
    responses.post(ASYNC.split("?")[0], json=payload, status=status)
    outcome = send(client)
    assert outcome.kind == kind
    assert outcome.http_status == status
    assert KEY not in outcome.error + outcome.response_body


@responses.activate
def test_validation_messages_are_kept(client):
    messages = [{"message": "Неверный телефон", "location": "/customer/mobilePhone"}]
    responses.post(ASYNC.split("?")[0], json={"status": "ValidationError", "validationMessages": messages})
    outcome = send(client)
    assert outcome.messages == messages
    assert "/customer/mobilePhone: Неверный телефон" in outcome.error


@responses.activate
def test_retry_after_is_read(client):
    responses.post(ASYNC.split("?")[0], status=429, headers={"Retry-After": "120"})
    assert send(client).retry_after == 120


@pytest.mark.parametrize(
    "exc", [requests.ConnectTimeout(), requests.ReadTimeout(), requests.ConnectionError("refused")]
)
@responses.activate
def test_network_trouble_is_retried(client, exc):
    responses.post(ASYNC.split("?")[0], body=exc)
    outcome = send(client)
    assert outcome.kind == OutcomeKind.RETRY
    assert outcome.http_status is None
    assert outcome.error


@responses.activate
def test_redirects_are_not_followed(client):
    responses.post(ASYNC.split("?")[0], status=302, headers={"Location": "https://elsewhere.example/"})
    outcome = send(client)
    assert outcome.kind == OutcomeKind.FAILED
    assert len(responses.calls) == 1


@pytest.mark.parametrize(("header", "expected"), [("1e12", 86400), ("inf", None), ("nan", None), ("-5", 0)])
@responses.activate
def test_retry_after_is_bounded(client, header, expected):
    responses.post(ASYNC.split("?")[0], status=503, headers={"Retry-After": header})
    assert send(client).retry_after == expected


@responses.activate
def test_request_timeout_and_a_broken_answer_are_retried(client):
    responses.post(ASYNC.split("?")[0], status=408)
    responses.post(ASYNC.split("?")[0], body=requests.exceptions.ChunkedEncodingError("reset"))
    assert send(client).kind == OutcomeKind.RETRY
    assert send(client).kind == OutcomeKind.RETRY
