"""The Data API client and the row mapping, against the stand-in Data API and a server that
answers what UIS's would not (no Django: the client knows nothing of the portal)."""

import socket
import threading
from collections.abc import Iterator

import pytest

from harness.uis_data_api_standin import StandIn
from mindbox_integration.mindbox.guard import Policy
from tests.test_outbound_guard import Resolver, TLSMindbox
from uis_data_api import errors, limits, mapping
from uis_data_api.client import DataApiClient

TOKEN = "client-token-canary-91ab"


@pytest.fixture
def standin() -> Iterator[StandIn]:
    server = StandIn(token=TOKEN)
    yield server
    server.close()


def client_for(url: str, host: str, token: str = TOKEN) -> DataApiClient:
    policy = Policy(allowed_hosts=(host,), require_https=False, allowed_networks=("127.0.0.1",))
    return DataApiClient(url=url, token=token, policy=policy, connect_timeout=2, read_timeout=2)


def test_a_report_page_and_its_limits(standin):
    standin.rows = {"get.calls_report": [{"id": n, "start_time": f"2026-12-01 10:00:0{n}"} for n in range(3)]}
    client = client_for(standin.url, standin.host)
    page = client.report_page(
        method="get.calls_report",
        date_from="2026-12-01 00:00:00",
        date_till="2026-12-01 23:59:59",
        offset=1,
        limit=1,
        fields=["id", "start_time"],
    )
    assert page.rows == [{"id": 1, "start_time": "2026-12-01 10:00:01"}]
    assert page.total_items == 3
    assert page.limits == limits.Limits(
        day_limit=1000, day_remaining=999, day_reset=3600, minute_limit=100, minute_remaining=99, minute_reset=30
    )
    (request,) = standin.requests
    assert request.params["access_token"] == TOKEN and request.params["offset"] == 1


def test_a_refused_token_is_typed_permanent_and_never_quoted(standin):
    client = client_for(standin.url, standin.host, token="wrong-" + TOKEN)
    with pytest.raises(errors.TokenRefused) as refused:
        client.account_timezone()
    assert refused.value.permanent and refused.value.mnemonic == "access_token_invalid"
    assert TOKEN not in str(refused.value) and TOKEN not in repr(refused.value) and TOKEN not in repr(client)


def test_an_exceeded_limit_is_typed_temporary_with_the_limits(standin):
    standin.planned_errors = [{"code": -32029, "mnemonic": "limit_exceeded"}]
    with pytest.raises(errors.LimitExceeded) as exceeded:
        client_for(standin.url, standin.host).account_timezone()
    assert not exceeded.value.permanent and exceeded.value.limits is not None


@pytest.fixture
def html_server() -> Iterator[str]:
    """Answers any request with a proxy's HTML error page."""
    listener = socket.create_server(("127.0.0.1", 0))

    def serve() -> None:
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            with conn:
                conn.recv(65536)
                body = b"<html>502 Bad Gateway</html>"
                conn.sendall(b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body))

    threading.Thread(target=serve, daemon=True).start()
    yield f"127.0.0.1:{listener.getsockname()[1]}"
    listener.close()


def test_an_answer_that_is_not_json_rpc_is_unavailable(html_server):
    with pytest.raises(errors.Unavailable) as unavailable:
        client_for(f"http://{html_server}/v2.0", html_server).account_timezone()
    assert "HTTP 502" in str(unavailable.value)


def test_a_closed_port_is_unavailable_and_a_foreign_host_refused():
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    listener.close()
    with pytest.raises(errors.Unavailable):
        client_for(f"http://127.0.0.1:{port}/v2.0", f"127.0.0.1:{port}").account_timezone()
    with pytest.raises(errors.Refused) as refused:
        client_for("https://dataapi.example/v2.0", "dataapi.uiscom.ru").account_timezone()
    assert "UIS_DATA_API_ALLOWED_HOSTS" in str(refused.value)


def test_rows_become_the_mnemonics_notifications_carry():
    values = mapping.call_values(
        {
            "id": 998677427,
            "talk_duration": 40,
            "source": "va",
            "tags": [{"tag_id": 1, "tag_name": "A"}],
            "last_answered_employee_full_name": "Ия",
        }
    )
    assert values == {
        "call_session_id": 998677427,
        "talk_time_duration": 40,
        "call_source": "va",
        "employee_full_name": "Ия",
        "tag_ids": [1],
        "tag_names": ["A"],
    }
    offline = mapping.offline_values({"id": 5, "communication_id": 50, "visitor_phone_number": "79000000000"})
    assert offline == {
        "offline_message_id": 5,
        "communication_id": 50,
        "visitor_phone_number": "79000000000",
        "contact_phone_number": "79000000000",
    }
    assert mapping.OFFLINE_REQUESTS.key({"communication_id": 50}) == "50"


def test_the_day_reserve_and_the_minute_wait():
    day = limits.Limits(day_limit=100, day_remaining=21)
    assert limits.may_spend(limits=day, reserve_percent=20)
    assert not limits.may_spend(limits=limits.Limits(day_limit=100, day_remaining=20), reserve_percent=20)
    assert limits.may_spend(limits=None, reserve_percent=20)
    assert limits.minute_wait(limits=limits.Limits(minute_remaining=0, minute_reset=12)) == 12.0
    assert limits.minute_wait(limits=limits.Limits(minute_remaining=3, minute_reset=12)) == 0.0


@pytest.fixture
def tls_server(tmp_path, request, monkeypatch) -> Iterator[TLSMindbox]:
    """A TLS server on 127.0.0.1 whose certificate names request.param, its CA trusted."""
    server = TLSMindbox(tmp_path, request.param)
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(server.ca_file))
    yield server
    server.close()


@pytest.mark.parametrize("tls_server", ["dataapi.test"], indirect=True)
def test_tls_goes_to_the_pinned_address_and_verifies_the_host_name(tls_server):
    host = f"dataapi.test:{tls_server.port}"
    policy = Policy(allowed_hosts=(host,), require_https=True, allowed_networks=("127.0.0.1",))
    client = DataApiClient(url=f"https://{host}/v2.0", token=TOKEN, policy=policy, resolve=Resolver("127.0.0.1"))
    with pytest.raises(
        errors.Unavailable
    ) as answered:  # the server is Mindbox's stand-in: TLS held, then a foreign body
        client.account_timezone()
    assert "not a JSON-RPC response" in str(answered.value)
    assert tls_server.sni == ["dataapi.test"] and tls_server.hosts == [host]


@pytest.mark.parametrize("tls_server", ["other.test"], indirect=True)
def test_tls_refuses_a_certificate_for_another_name(tls_server):
    host = f"dataapi.test:{tls_server.port}"
    policy = Policy(allowed_hosts=(host,), require_https=True, allowed_networks=("127.0.0.1",))
    client = DataApiClient(url=f"https://{host}/v2.0", token=TOKEN, policy=policy, resolve=Resolver("127.0.0.1"))
    with pytest.raises(errors.Unavailable) as refused:
        client.account_timezone()
    assert "connection error" in str(refused.value) and tls_server.hosts == []
