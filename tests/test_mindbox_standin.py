"""The stand-in Mindbox itself: a request cut short never counts as received, keep-alive and
delays work, and the planned answers come back as planned."""

import http.client
import json
import socket
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest

from harness.mindbox_standin import MindboxStandIn, Outage, Planned
from tests.conftest import wait_for


@pytest.fixture
def server() -> Iterator[MindboxStandIn]:
    standin = MindboxStandIn()
    yield standin
    standin.close()


def head(standin: MindboxStandIn, operation: str, length: int) -> bytes:
    return (
        f"POST /v3/operations/async?endpointId=acme.Custom&operation={operation} HTTP/1.1\r\n"
        f"Host: {standin.host}\r\nContent-Type: application/json\r\nContent-Length: {length}\r\n\r\n"
    ).encode()


def post(standin: MindboxStandIn, operation: str, body: bytes = b'{"customer": {}}') -> int:
    connection = http.client.HTTPConnection("127.0.0.1", standin.port, timeout=5)
    try:
        connection.request("POST", standin.url(operation).split(standin.host, 1)[1], body=body)
        response = connection.getresponse()
        response.read()
        return response.status
    finally:
        connection.close()


@pytest.mark.parametrize("sent", [0, 1, 20])
def test_a_request_cut_short_mid_body_is_not_recorded(server, sent):
    # A worker killed while sending: the head and part of the body (or none of it), then the
    # connection closes. Mindbox never got the request, so the stand-in must not count it.
    body = json.dumps({"customer": {"ids": {"uisCallSession": "cut-1"}}}).encode()
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as raw:
        raw.sendall(head(server, "Cut", len(body)) + body[:sent])
    assert post(server, "Whole") == 200  # on another connection, after the cut one closed
    wait_for(lambda: server.received(operation="Whole"), timeout=5)
    time.sleep(0.2)
    assert server.received(operation="Cut") == []
    assert [r.query["operation"] for r in server.succeeded()] == ["Whole"]


def test_a_request_half_closed_mid_body_is_not_answered(server):
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as raw:
        raw.sendall(head(server, "Cut", 100) + b'{"customer": ')
        raw.shutdown(socket.SHUT_WR)  # the client will send nothing more
        assert raw.recv(1024) == b""  # closed without an answer
    assert server.requests == []


def test_a_complete_request_from_a_half_closed_client_is_answered(server):
    body = b'{"customer": {}}'
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as raw:
        raw.sendall(head(server, "Whole", len(body)) + body)
        raw.shutdown(socket.SHUT_WR)
        answer = b""
        while chunk := raw.recv(4096):
            answer += chunk
    assert answer.startswith(b"HTTP/1.1 200 OK\r\n") and answer.endswith(b'{"status": "Success"}')
    (request,) = server.succeeded()
    assert request.json == {"customer": {}}


def test_keep_alive_and_the_time_a_request_was_read_before_its_delay(server):
    server.delay = 0.2
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=5)
    path = server.url("Kept").split(server.host, 1)[1]
    answered = []
    for n in range(2):
        connection.request("POST", path, body=json.dumps({"n": n}), headers={"Authorization": "SecretKey k"})
        response = connection.getresponse()
        assert response.status == 200 and json.loads(response.read()) == {"status": "Success"}
        answered.append(time.monotonic())
    connection.close()
    first, second = server.requests
    assert first.json == {"n": 0} and second.json == {"n": 1}
    assert first.headers["Authorization"] == "SecretKey k" and first.headers["Host"] == server.host
    assert answered[0] - first.at >= 0.15  # `at` is when it was read, before the delay


def test_delays_overlap_across_many_connections(server):
    server.delay = 0.3
    with ThreadPoolExecutor(50) as pool:
        statuses = list(pool.map(lambda n: post(server, "Many", json.dumps({"n": n}).encode()), range(100)))
    assert statuses == [200] * 100
    assert sorted(r.json["n"] for r in server.succeeded()) == list(range(100))


def test_planned_answers_and_outages(server):
    server.plan(
        Planned(status=429, payload={}, headers={"Retry-After": "90"}),
        Planned(payload=b"not json"),
        Planned(status=503, payload={"status": "InternalServerError"}),
    )
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=5)
    path = server.url().split(server.host, 1)[1]
    seen = []
    for _ in range(4):
        connection.request("POST", path, body=b"{}")
        response = connection.getresponse()
        seen.append((response.status, response.getheader("Retry-After"), response.read()))
    assert seen == [
        (429, "90", b"{}"),
        (200, None, b"not json"),
        (503, None, b'{"status": "InternalServerError"}'),
        (200, None, b'{"status": "Success"}'),
    ]
    assert [r.succeeded for r in server.requests] == [False, False, False, True]

    server.outage = Outage.ERRORS
    assert post(server, "Zvonok") == 503
    server.outage = None
    server.silence_seconds = 0.5
    server.silent_operations.add("Quiet")
    with pytest.raises(http.client.RemoteDisconnected):  # read, never answered, closed after a while
        post(server, "Quiet")
    assert [r.query["operation"] for r in server.received(operation="Quiet")] == ["Quiet"]
    assert not server.received(operation="Quiet")[0].succeeded


def test_chunked_bodies_and_other_methods(server):
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as raw:
        raw.sendall(
            b"POST /v3/operations/async?operation=Chunked HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
            b'5\r\n{"a":\r\n2\r\n1}\r\n0\r\n\r\n'
        )
        assert raw.recv(4096).startswith(b"HTTP/1.1 200 OK")
        raw.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        assert raw.recv(4096).startswith(b"HTTP/1.1 501 ")
    (request,) = server.requests
    assert request.json == {"a": 1}
