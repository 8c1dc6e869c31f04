"""The Mindbox client: the request it makes and how it classifies answers, against the stand-in
Mindbox (a local HTTP server) and, for broken answers, a raw socket server."""

import json
import socket
import threading
from collections.abc import Iterator

import pytest

from harness.mindbox_standin import MindboxStandIn, Planned, already_processed, proxy_page, throttled
from mindbox_integration.mindbox import MindboxClient, OutcomeKind, Policy
from mindbox_integration.mindbox.outcome import classify
from mindbox_integration.mindbox.request import Rendered, finalize

KEY = "sk-test-0123456789abcdef"
TX = "5b0e1d3c-8f7a-4d6e-9b2c-1a3f5e7d9c0b"


@pytest.fixture
def client() -> MindboxClient:
    return MindboxClient(connect_timeout=2, read_timeout=1)


def policy(host: str) -> Policy:
    return Policy(allowed_hosts=(host,), require_https=False, allowed_networks=("127.0.0.1",))


def send(client: MindboxClient, mindbox: MindboxStandIn, mode: str = "async", key: str = KEY):
    return client.send(
        url=mindbox.url(mode=mode),
        body='{"customer": {"fullName": "Анна"}}',
        secret_key=key,
        transaction_id=TX,
        policy=policy(mindbox.host),
    )


def test_request_headers_body_and_transaction_id_on_async(client, mindbox):
    outcome = send(client, mindbox)
    assert outcome.kind == OutcomeKind.DELIVERED
    (request,) = mindbox.requests
    assert request.headers["Content-Type"] == "application/json; charset=utf-8"
    assert request.headers["Accept"] == "application/json"
    assert request.headers["Authorization"] == f"SecretKey {KEY}"
    assert json.loads(request.body) == {"customer": {"fullName": "Анна"}}
    assert request.query["transactionId"] == TX
    assert request.query["endpointId"] == "acme.Custom" and request.query["operation"] == "Zvonok"


def test_no_transaction_id_on_sync_and_no_authorization_without_key(client, mindbox):
    send(client, mindbox, mode="sync", key="")
    (request,) = mindbox.requests
    assert "transactionId" not in request.query
    assert "Authorization" not in request.headers


CLASSIFIED: list[tuple[Planned, OutcomeKind]] = [
    (Planned(payload={"status": "Success"}), OutcomeKind.DELIVERED),
    (Planned(payload={"status": "TransactionAlreadyProcessed"}), OutcomeKind.DELIVERED),
    # Mindbox already has the data, whatever the code (the Android SDK reads it so).
    (already_processed(status=409), OutcomeKind.DELIVERED),
    (already_processed(status=400), OutcomeKind.DELIVERED),
    (already_processed(status=500), OutcomeKind.DELIVERED),
    (
        Planned(
            payload={
                "status": "ValidationError",
                "validationMessages": [{"message": "Неверный телефон", "location": "/customer/mobilePhone"}],
            }
        ),
        OutcomeKind.FAILED,
    ),
    (Planned(status=400, payload={"status": "ValidationError", "validationMessages": []}), OutcomeKind.FAILED),
    (
        Planned(
            status=400,
            payload={"status": "ProtocolError", "errorMessage": "Operation not found", "httpStatusCode": 400},
        ),
        OutcomeKind.FAILED,
    ),
    (Planned(status=401, payload={}), OutcomeKind.FAILED),
    (Planned(status=403, payload={}), OutcomeKind.FAILED),
    (Planned(status=404, payload={}), OutcomeKind.FAILED),
    (Planned(status=408, payload={}), OutcomeKind.RETRY),
    (Planned(status=429, payload={}), OutcomeKind.RETRY),
    # A throttled or unavailable Mindbox answers its ProtocolError envelope: the code decides.
    (throttled(status=429), OutcomeKind.RETRY),
    (throttled(status=503), OutcomeKind.RETRY),
    (Planned(status=500, payload={"status": "InternalServerError"}), OutcomeKind.RETRY),
    (Planned(status=502, payload={}), OutcomeKind.RETRY),
    (Planned(status=503, payload={}), OutcomeKind.RETRY),
    (Planned(status=504, payload={}), OutcomeKind.RETRY),
    # A 2xx that is not Mindbox's JSON did not come from Mindbox.
    (proxy_page(), OutcomeKind.RETRY),
    (Planned(payload=b""), OutcomeKind.RETRY),
    (Planned(payload={}), OutcomeKind.RETRY),
    (Planned(payload={"status": "Whatever"}), OutcomeKind.FAILED),
]


def text_of(plan: Planned) -> str:
    return plan.payload.decode() if isinstance(plan.payload, bytes) else json.dumps(plan.payload)


@pytest.mark.parametrize(("plan", "kind"), CLASSIFIED)
def test_answers_are_classified(plan, kind):
    outcome = classify(plan.status, text_of(plan), content_type=plan.content_type)
    assert outcome.kind == kind
    assert outcome.http_status == plan.status


def test_answers_are_classified_over_http_in_one_batch(client, mindbox):
    """All at once, as a worker sends a batch: each outcome is its own request's."""
    mindbox.plan(*[plan for plan, _ in CLASSIFIED])
    requests = [
        finalize(
            rendered=Rendered(url=mindbox.url(operation=f"Op{n}"), body="{}"), secret_key=KEY, transaction_id=f"tx-{n}"
        )
        for n in range(len(CLASSIFIED))
    ]
    outcomes = client.send_many(requests, policy=policy(mindbox.host))
    # The stand-in answers its plan in the order requests arrive, which a concurrent batch does not fix.
    by_operation = {r.query["operation"]: n for n, r in enumerate(mindbox.requests)}
    for n, outcome in enumerate(outcomes):
        plan, kind = CLASSIFIED[by_operation[f"Op{n}"]]
        assert (outcome.http_status, outcome.kind) == (plan.status, kind)
        assert KEY not in outcome.error + outcome.response_body


def test_a_throttled_protocol_error_is_retried_after_its_retry_after(client, mindbox):
    mindbox.plan(throttled(status=429, retry_after="45"))
    outcome = send(client, mindbox)
    assert outcome.kind == OutcomeKind.RETRY and outcome.retry_after == 45
    assert outcome.error == "Mindbox answered HTTP 429; Mindbox ProtocolError: Too many requests"


def test_already_processed_on_a_conflict_is_delivered_and_says_so(client, mindbox):
    mindbox.plan(already_processed(status=409))
    outcome = send(client, mindbox)
    assert outcome.kind == OutcomeKind.DELIVERED
    assert outcome.error == "Mindbox already had this transaction (HTTP 409)"


def test_a_proxy_page_with_200_is_kept_and_retried(client, mindbox):
    mindbox.plan(proxy_page())
    outcome = send(client, mindbox)
    assert outcome.kind == OutcomeKind.RETRY and outcome.http_status == 200
    assert "<h1>Вход в сеть</h1>" in outcome.response_body
    assert outcome.error == "the answer is not Mindbox's JSON (HTTP 200, text/html)"


def test_validation_messages_are_kept(client, mindbox):
    messages = [{"message": "Неверный телефон", "location": "/customer/mobilePhone"}]
    mindbox.plan(Planned(payload={"status": "ValidationError", "validationMessages": messages}))
    outcome = send(client, mindbox)
    assert outcome.messages == messages
    assert "/customer/mobilePhone: Неверный телефон" in outcome.error


def test_retry_after_is_read(client, mindbox):
    mindbox.plan(Planned(status=429, payload={}, headers={"Retry-After": "120"}))
    assert send(client, mindbox).retry_after == 120


@pytest.mark.parametrize(("header", "expected"), [("1e12", 86400), ("inf", None), ("nan", None), ("-5", 0)])
def test_retry_after_is_bounded(client, mindbox, header, expected):
    mindbox.plan(Planned(status=503, payload={}, headers={"Retry-After": header}))
    assert send(client, mindbox).retry_after == expected


def test_a_slow_answer_times_out_and_is_retried(client, mindbox):
    mindbox.plan(Planned(delay=1.5))  # the client reads for 1 s
    outcome = send(client, mindbox)
    assert outcome.kind == OutcomeKind.RETRY and outcome.http_status is None
    assert outcome.error == "timed out waiting for Mindbox"


def test_a_refused_connection_is_retried(client):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # nothing listens once closed
    host = f"127.0.0.1:{port}"
    outcome = client.send(
        url=f"http://{host}/v3/operations/async?operation=Zvonok", body="{}", transaction_id=TX, policy=policy(host)
    )
    assert outcome.kind == OutcomeKind.RETRY and outcome.http_status is None
    assert outcome.error.startswith("connection error:")


@pytest.fixture
def broken_server() -> Iterator[str]:
    """Answers with a Content-Length it does not keep, then closes: a connection that broke."""
    server = socket.create_server(("127.0.0.1", 0))

    def serve() -> None:
        while True:
            try:
                conn, _ = server.accept()
            except OSError:
                return
            with conn:
                conn.recv(65536)
                conn.sendall(b'HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{"st')

    threading.Thread(target=serve, daemon=True).start()
    yield f"127.0.0.1:{server.getsockname()[1]}"
    server.close()


def test_an_answer_cut_short_is_retried(client, broken_server):
    outcome = client.send(
        url=f"http://{broken_server}/v3/operations/async?operation=Zvonok",
        body="{}",
        transaction_id=TX,
        policy=policy(broken_server),
    )
    assert outcome.kind == OutcomeKind.RETRY
    assert outcome.error.startswith("connection broke while reading the answer")


def test_redirects_are_not_followed(client, mindbox):
    mindbox.plan(Planned(status=302, payload={}, headers={"Location": mindbox.url(operation="Elsewhere")}))
    outcome = send(client, mindbox)
    assert outcome.kind == OutcomeKind.FAILED
    assert len(mindbox.requests) == 1


def test_a_key_a_header_cannot_carry_is_not_sent(client, mindbox):
    outcome = send(client, mindbox, key="sk-секрет")
    assert outcome.kind == OutcomeKind.FAILED and outcome.error == "the request could not be sent: UnicodeEncodeError"
    assert mindbox.requests == []


def test_an_answer_nested_too_deep_is_no_answer_we_know():
    outcome = classify(200, "[" * 100_000 + "]" * 100_000)
    assert outcome.kind == OutcomeKind.RETRY
