"""Slow clients against the web tier: 50 connections that send a request line and never finish
their headers. The web server (`python -m integration_portal.web`, granian) holds them in its
HTTP layer, and events are still taken at once, straight or through the shipped proxy
(docker-compose: nginx in front, deploy/nginx/portal.conf.template). Straight to gunicorn (the
command kept for operators' scripts) they take every thread and the endpoint stops answering,
which is why gunicorn needs the proxy. Real processes on loopback: nginx (Debian's, installed by
`make test`), the web servers with their production commands and settings, PostgreSQL, Redis."""

import socket
import subprocess
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from string import Template

import pytest
import requests

from harness import processes
from mindbox_integration.models import Account, Notification
from notifications.models import InboundEvent
from tests.conftest import ROOT, running_web

pytestmark = pytest.mark.django_db(transaction=True)

NGINX = "/usr/sbin/nginx"
SLOW_CLIENTS = 50
# The bound: with the slow clients connected, an event is still answered within 1 s.
ANSWER_WITHIN = 1.0


@pytest.fixture(scope="module")
def web(django_db_setup: None) -> Iterator[int]:
    with running_web("test-slow-clients") as port:
        yield port


@pytest.fixture(scope="module")
def gunicorn(django_db_setup: None) -> Iterator[int]:
    # One process of two threads: with three, the processes race to accept the slow connections,
    # and one that took none of them may answer (the outcome would be the scheduler's, not ours).
    with running_web("test-slow-clients-gunicorn", server=processes.gunicorn, WEB_CONCURRENCY="1") as port:
        yield port


@pytest.fixture(scope="module")
def proxy(web: int, tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    """The shipped proxy configuration, as nginx's image fills it in, in front of `web`."""
    port = processes.free_port()
    prefix = tmp_path_factory.mktemp("nginx")
    prefix.chmod(0o777)  # nginx's workers (nobody) keep their temporary files here
    template = (ROOT / "deploy" / "nginx" / "portal.conf.template").read_text()
    site = Template(template).safe_substitute(PORTAL_UPSTREAM=f"127.0.0.1:{web}", PROXY_LISTEN=f"127.0.0.1:{port}")
    (prefix / "portal.conf").write_text(site)
    temps = " ".join(
        f"{kind}_temp_path {prefix / kind};" for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    (prefix / "nginx.conf").write_text(
        f"daemon off; pid {prefix / 'nginx.pid'}; error_log {prefix / 'error.log'};\n"
        "events { worker_connections 1024; }\n"
        f"http {{ access_log off; {temps} include {prefix / 'portal.conf'}; }}\n"
    )
    nginx = subprocess.Popen([NGINX, "-p", str(prefix), "-c", str(prefix / "nginx.conf")])
    try:
        processes.wait_until(lambda: processes.port_open(port) or nginx.poll() is not None, timeout=20, what="nginx")
        assert nginx.poll() is None, (prefix / "error.log").read_text()
        yield port
    finally:
        nginx.terminate()
        nginx.wait(timeout=10)


@contextmanager
def slow_clients(port: int, count: int = SLOW_CLIENTS) -> Iterator[None]:
    """`count` connections that send a request line and one header, then nothing more."""
    with ExitStack() as stack:
        for _ in range(count):
            sock = stack.enter_context(socket.create_connection(("127.0.0.1", port), timeout=5))
            sock.sendall(b"POST /api/uis/events/calls/ HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        yield


@pytest.fixture
def post_event(make_account: Callable[..., Account], make_notification: Callable[..., Notification]) -> Callable:
    account = make_account()
    make_notification(account)

    def post(port: int, session: str, timeout: float) -> requests.Response:
        url = f"http://127.0.0.1:{port}/api/uis/events/calls/?token={account.inbound_token}"
        return requests.post(url, json={"call_session_id": session, "visitor_name": "Анна"}, timeout=timeout)

    return post


@pytest.mark.parametrize("server", ["web", "proxy"])
def test_events_are_taken_while_slow_clients_hang_on(server, request, post_event):
    port = request.getfixturevalue(server)
    assert post_event(port, f"{server}-before", timeout=10).status_code == 202
    with slow_clients(port):
        for n in range(5):
            answer = post_event(port, f"{server}-during-{n}", timeout=ANSWER_WITHIN)
            assert answer.status_code == 202, answer.text
        assert requests.get(f"http://127.0.0.1:{port}/healthz", timeout=ANSWER_WITHIN).status_code == 200


def test_slow_clients_straight_to_gunicorn_take_the_endpoint_down(gunicorn, post_event):
    assert post_event(gunicorn, "direct-before", timeout=10).status_code == 202
    with slow_clients(gunicorn), pytest.raises(requests.exceptions.Timeout):
        post_event(gunicorn, "direct-during", timeout=3 * ANSWER_WITHIN)  # why the proxy is required
    # The request that timed out waits in gunicorn's queue; once the slow clients hang up it is
    # taken and written. Wait for it: flushing the database under its transaction deadlocks.
    processes.wait_until(
        lambda: InboundEvent.objects.filter(values__call_session_id="direct-during").exists(),
        timeout=30,
        what="the queued event",
    )
