"""The outbound guard (SSRF): the host, https and private-address rules applied before every
request, the request pinned to the approved address, and refusals as permanent failures."""

import datetime
import http.server
import json
import re
import socket
import ssl
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from django.utils import translation

from harness.mindbox_standin import Planned
from mindbox_integration.mindbox import MindboxClient, OutcomeKind, Policy
from mindbox_integration.mindbox.guard import Refused, Unresolved, check
from mindbox_integration.validation import validate_url
from notifications import dispatch
from notifications.checks import delivery_settings
from notifications.delivery import attempt_delivery
from notifications.models import Delivery, DeliveryAttempt, IntegrationHealth

PATH = "/v3/operations/async?endpointId=acme.Custom&operation=Zvonok"
MINDBOX_HOSTS = ["*.mindbox.ru", "*.mindbox.cloud", "*.maestra.io"]  # the default
PUBLIC = "185.12.30.4"
CALL = {"call_session_id": "1", "visitor_name": "Анна", "contact_phone_number": "79161234567"}


class Resolver:
    """A DNS answer fixed by the test (no external DNS); it counts the lookups."""

    def __init__(self, *addresses: str) -> None:
        self.addresses = list(addresses)
        self.calls: list[tuple[str, int]] = []

    def __call__(self, host: str, port: int) -> list[str]:
        self.calls.append((host, port))
        return self.addresses


def guard(
    url: str,
    *,
    hosts: list[str] | None = None,
    https: bool = True,
    networks: tuple[str, ...] = (),
    resolve: Resolver | None = None,
):
    extra = {"resolve": resolve} if resolve is not None else {}  # else the system resolver (getaddrinfo)
    return check(url=url, allowed_hosts=hosts or MINDBOX_HOSTS, require_https=https, allowed_networks=networks, **extra)


# --- The guard itself


def test_an_allowed_host_with_a_public_address_is_approved():
    resolve = Resolver(PUBLIC, "2a00:1450:4010:c0e::64")
    approved = guard(f"https://api.s.mindbox.ru{PATH}", resolve=resolve)
    assert (approved.scheme, approved.host, approved.port) == ("https", "api.s.mindbox.ru", 443)
    assert [str(a) for a in approved.addresses] == [PUBLIC, "2a00:1450:4010:c0e::64"]
    assert resolve.calls == [("api.s.mindbox.ru", 443)]


def test_an_ip_literal_is_resolved_by_the_system_without_dns():
    approved = guard(f"https://{PUBLIC}{PATH}", hosts=[PUBLIC])
    assert [str(a) for a in approved.addresses] == [PUBLIC]


def test_a_host_not_on_the_list_is_refused_before_any_lookup():
    resolve = Resolver(PUBLIC)
    with pytest.raises(Refused) as refused:
        guard(f"https://api.evil.example{PATH}", resolve=resolve)
    assert "host api.evil.example is not an allowed Mindbox host" in str(refused.value)
    assert "allowed hosts are set by MINDBOX_ALLOWED_HOSTS (*.mindbox.ru, *.mindbox.cloud, *.maestra.io)" in str(
        refused.value
    )
    assert resolve.calls == []


@pytest.mark.parametrize(
    "host",
    [
        "api.mindbox.ru",
        "api.s.mindbox.ru",
        "api-ru.mindbox.cloud",
        "api.mindbox.cloud",
        "api.maestra.io",
        "API.Mindbox.RU",
    ],
)
def test_the_default_patterns_allow_mindboxs_domains(host):
    # Mindbox's API domain may differ per project ("copy it from the operation's description").
    assert guard(f"https://{host}{PATH}", resolve=Resolver(PUBLIC)).host == host.lower()


@pytest.mark.parametrize(
    "url",
    [
        f"https://mindbox.ru{PATH}",  # the domain itself is not its subdomain
        f"https://evilmindbox.ru{PATH}",
        f"https://api.mindbox.ru.evil.example{PATH}",
        f"https://api.mindbox.ru@evil.example{PATH}",
        f"https://api.mindbox.ru:8443{PATH}",  # a pattern allows the default port only
        f"https://a_b.mindbox.ru{PATH}",  # not a host name's label
    ],
)
def test_the_patterns_allow_nothing_else(url):
    resolve = Resolver(PUBLIC)
    with pytest.raises(Refused, match="is not an allowed Mindbox host"):
        guard(url, resolve=resolve)
    assert resolve.calls == []


def test_a_pattern_with_a_port_and_an_exact_entry_beside_it():
    hosts = ["*.mindbox.cloud:8443", "api.mindbox.ru"]
    assert guard(f"https://x.mindbox.cloud:8443{PATH}", hosts=hosts, resolve=Resolver(PUBLIC)).port == 8443
    with pytest.raises(Refused):
        guard(f"https://x.mindbox.cloud{PATH}", hosts=hosts, resolve=Resolver(PUBLIC))
    with pytest.raises(Refused):
        guard(f"https://api.s.mindbox.ru{PATH}", hosts=hosts, resolve=Resolver(PUBLIC))


def test_a_name_a_pattern_allows_is_still_refused_for_a_private_address():
    # The SSRF guard is unchanged: a subdomain someone points at 127.0.0.1 goes nowhere.
    with pytest.raises(Refused, match=r"host localhost.mindbox.ru resolves to 127.0.0.1, a loopback address"):
        guard(f"https://localhost.mindbox.ru{PATH}", resolve=Resolver("127.0.0.1"))


@pytest.mark.parametrize("entry", ["*", "*.ru", "api.*.ru", "*mindbox.ru", "**.mindbox.ru", "*.mindbox.ru:x"])
def test_an_entry_that_allows_nothing_stops_start_up(entry, settings):
    from mindbox_integration.checks import mindbox_allowed_hosts_are_readable

    settings.MINDBOX_ALLOWED_HOSTS = ["*.mindbox.ru", entry]
    (error,) = mindbox_allowed_hosts_are_readable()
    assert error.id == "mindbox_integration.E003" and repr(entry) in error.msg
    settings.MINDBOX_ALLOWED_HOSTS = MINDBOX_HOSTS
    assert mindbox_allowed_hosts_are_readable() == []


def test_http_is_refused_when_https_is_required():
    url = f"http://api.s.mindbox.ru{PATH}"
    with pytest.raises(Refused) as refused:
        guard(url, resolve=Resolver(PUBLIC))
    assert "http:// is not allowed; the URL must start with https://" in str(refused.value)
    assert "MINDBOX_REQUIRE_HTTPS" in str(refused.value)
    assert guard(url, https=False, resolve=Resolver(PUBLIC)).port == 80
    with pytest.raises(Refused, match="ftp:// is not allowed"):
        guard(f"ftp://api.s.mindbox.ru{PATH}", https=False, resolve=Resolver(PUBLIC))


@pytest.mark.parametrize(
    ("host", "kind"),
    [
        ("localhost", "loopback"),  # a name: resolved by the system (/etc/hosts)
        ("127.0.0.1", "loopback"),
        ("10.1.2.3", "private"),
        ("192.168.0.10", "private"),
        ("169.254.169.254", "link-local"),  # the cloud metadata service
        ("100.100.100.200", "non-public"),  # shared address space: another cloud's metadata service
        ("0.0.0.0", "unspecified"),
        ("[::]", "unspecified"),
        ("224.0.0.1", "multicast"),
        ("[::1]", "loopback"),
        ("[::ffff:127.0.0.1]", "loopback"),  # IPv4-mapped: judged by the IPv4 address
        ("[::ffff:169.254.169.254]", "link-local"),
        ("[64:ff9b::a00:1]", "private"),  # NAT64 of 10.0.0.1
        ("[fe80::1]", "link-local"),
        ("[fc00::1]", "private"),
        ("192.0.0.8", "non-public"),  # IETF protocol assignments: some Pythons call them global
        ("[fec0::1]", "non-public"),  # deprecated site-local
    ],
)
def test_a_host_resolving_to_a_non_public_address_is_refused(host, kind):
    bare = host.strip("[]")
    with pytest.raises(Refused) as refused:
        guard(f"https://{host}{PATH}", hosts=[bare])
    assert f"host {bare} resolves to" in str(refused.value)
    assert f"a {kind} address" in str(refused.value)
    assert "allowed only by MINDBOX_ALLOW_PRIVATE_NETWORKS" in str(refused.value)


@pytest.mark.parametrize(
    ("host", "networks"),
    [
        ("localhost", ("127.0.0.0/8", "::1")),
        ("127.0.0.1", ("127.0.0.1",)),
        ("10.1.2.3", ("10.0.0.0/8",)),
        ("169.254.169.254", ("169.254.169.254/32",)),
        ("[::1]", ("::1",)),
        ("[::ffff:127.0.0.1]", ("127.0.0.1",)),  # the IPv4 address it stands for is allowed
    ],
)
def test_a_non_public_address_passes_only_when_explicitly_allowed(host, networks):
    bare = host.strip("[]")
    approved = guard(f"https://{host}{PATH}", hosts=[bare], networks=networks)
    assert approved.host == bare and approved.addresses
    with pytest.raises(Refused):
        guard(f"https://{host}{PATH}", hosts=[bare], networks=("192.0.2.0/24",))


def test_any_non_public_address_among_the_answers_refuses_the_host():
    resolve = Resolver(PUBLIC, "10.0.0.5")
    with pytest.raises(Refused, match=re.escape("resolves to 10.0.0.5, a private address")):
        guard(f"https://api.s.mindbox.ru{PATH}", resolve=resolve)
    with pytest.raises(Refused, match="resolves to ::1, a loopback address"):
        guard(f"https://api.s.mindbox.ru{PATH}", resolve=Resolver("127.0.0.1", "::1"), networks=("127.0.0.1",))
    assert guard(f"https://api.s.mindbox.ru{PATH}", resolve=resolve, networks=("10.0.0.0/24",)).addresses


def test_a_malformed_allowed_network_is_reported_when_it_matters():
    with pytest.raises(Refused, match="MINDBOX_ALLOW_PRIVATE_NETWORKS has 'ten-net'"):
        guard(f"https://api.s.mindbox.ru{PATH}", resolve=Resolver("10.0.0.5"), networks=("ten-net",))
    assert guard(f"https://api.s.mindbox.ru{PATH}", resolve=Resolver(PUBLIC), networks=("ten-net",)).addresses


def test_a_host_that_does_not_resolve_is_unresolved_not_refused():
    def failing(host: str, port: int) -> list[str]:
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    with pytest.raises(Unresolved, match=re.escape("cannot resolve host api.s.mindbox.ru")):
        guard(f"https://api.s.mindbox.ru{PATH}", resolve=failing)
    with pytest.raises(Unresolved):
        guard(f"https://api.s.mindbox.ru{PATH}", resolve=Resolver())


@pytest.mark.parametrize(
    ("url", "hosts", "allowed"),
    [
        (f"https://api.mindbox.ru{PATH}", ["api.mindbox.ru"], True),
        (f"https://api.mindbox.ru:443{PATH}", ["api.mindbox.ru"], True),
        (f"https://API.Mindbox.ru{PATH}", ["api.mindbox.ru"], True),
        (f"https://api.mindbox.ru:8443{PATH}", ["api.mindbox.ru"], False),
        (f"https://api.mindbox.ru:8443{PATH}", ["api.mindbox.ru:8443"], True),
        (f"https://api.mindbox.ru{PATH}", ["api.mindbox.ru:443"], True),
        (f"https://api.mindbox.ru{PATH}", ["api.mindbox.ru:8443"], False),
        (f"http://127.0.0.1:8081{PATH}", ["127.0.0.1:8081"], True),
        (f"http://127.0.0.1:8082{PATH}", ["127.0.0.1:8081"], False),
        (f"http://127.0.0.1{PATH}", ["127.0.0.1:8081"], False),
        (f"http://127.0.0.1{PATH}", ["127.0.0.1"], True),
        (f"http://127.0.0.1:443{PATH}", ["127.0.0.1"], False),  # no entry port: the scheme's default only
        (f"http://[::1]:8081{PATH}", ["[::1]:8081"], True),
        (f"http://[::1]:8081{PATH}", ["[::1]"], False),
        (f"http://api.mindbox.ru.evil.example{PATH}", ["api.mindbox.ru"], False),
        (f"http://api.mindbox.ru@evil.example{PATH}", ["api.mindbox.ru"], False),
    ],
)
def test_port_rules_are_the_same_at_save_and_at_send_time(url, hosts, allowed):
    sent = True
    try:
        guard(url, hosts=hosts, https=False, networks=("127.0.0.1", "::1"), resolve=Resolver(PUBLIC))
    except Refused:
        sent = False
    with translation.override("en"):
        errors = validate_url(
            url,
            operation_name="Zvonok",
            communication_type="calls",
            known_mnemonics=(),
            allowed_hosts=hosts,
            require_https=False,
        )
    saved = not any("is not a Mindbox API host" in e for e in errors)
    assert (sent, saved) == (allowed, allowed)


def test_an_unreadable_url_is_refused():
    with pytest.raises(Refused, match="the URL cannot be read"):
        guard("https://api.s.mindbox.ru:99999/v3/operations/async", resolve=Resolver(PUBLIC))
    with pytest.raises(Refused, match="the URL has no host"):
        guard("https:///v3/operations/async", resolve=Resolver(PUBLIC))


# --- The client: checked before the request, and connected to the approved address


def standin_policy(mindbox, **changes) -> Policy:
    fields = {"allowed_hosts": (mindbox.host,), "require_https": False, "allowed_networks": ("127.0.0.1",)}
    return Policy(**{**fields, **changes})


def send(client: MindboxClient, url: str, policy: Policy):
    return client.send(url=url, body='{"customer": {}}', transaction_id="tx-1", policy=policy)


def test_the_client_connects_to_the_approved_address_and_names_the_host(mindbox):
    # `mindbox.test` has no DNS record: the request can only arrive through the address the guard
    # approved, which is looked up once, so a name cannot resolve elsewhere after the check.
    resolve = Resolver("127.0.0.1")
    client = MindboxClient(connect_timeout=2, read_timeout=2, resolve=resolve)
    host = f"mindbox.test:{mindbox.port}"
    outcome = send(client, f"http://{host}{PATH}", standin_policy(mindbox, allowed_hosts=(host,)))
    assert outcome.kind == OutcomeKind.DELIVERED, outcome.error
    (request,) = mindbox.requests
    assert request.headers["Host"] == host
    assert request.query["operation"] == "Zvonok"
    assert resolve.calls == [("mindbox.test", mindbox.port)]
    send(client, f"http://{host}{PATH}", standin_policy(mindbox, allowed_hosts=(host,)))
    assert len(resolve.calls) == 2  # checked again before every request, pooled connection or not


def test_a_refused_url_makes_no_request(mindbox):
    client = MindboxClient(connect_timeout=2, read_timeout=2)
    outcome = send(client, mindbox.url(), standin_policy(mindbox, allowed_networks=()))
    assert outcome.kind == OutcomeKind.FAILED and outcome.refused and outcome.http_status is None
    assert outcome.error.startswith("refused: host 127.0.0.1 resolves to 127.0.0.1, a loopback address")
    assert mindbox.requests == []


def test_redirects_from_an_allowed_host_are_not_followed(mindbox):
    mindbox.plan(Planned(status=302, payload={}, headers={"Location": mindbox.url(operation="Elsewhere")}))
    client = MindboxClient(connect_timeout=2, read_timeout=2)
    outcome = send(client, mindbox.url(), standin_policy(mindbox))
    assert outcome.kind == OutcomeKind.FAILED and "redirect" in outcome.error
    assert [r.query["operation"] for r in mindbox.requests] == ["Zvonok"]


# --- TLS to a pinned address: SNI and the certificate check still use the host name


def _certificate(key: ec.EllipticCurvePrivateKey, subject: str, issuer: str, signer, *, ca: bool) -> x509.Certificate:
    now = datetime.datetime.now(datetime.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
        .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, issuer)]))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if not ca:
        builder = builder.add_extension(x509.SubjectAlternativeName([x509.DNSName(subject)]), critical=False)
    return builder.sign(signer, hashes.SHA256())


class TLSMindbox:
    """A TLS server on 127.0.0.1 whose certificate names `name`, signed by a test CA; it answers
    Success and records the SNI name and Host header it was sent."""

    def __init__(self, directory: Path, name: str) -> None:
        ca_key = ec.generate_private_key(ec.SECP256R1())
        ca = _certificate(ca_key, "Test CA", "Test CA", ca_key, ca=True)
        key = ec.generate_private_key(ec.SECP256R1())
        cert = _certificate(key, name, "Test CA", ca_key, ca=False)
        self.ca_file = directory / "ca.pem"
        self.ca_file.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
        chain = directory / "server.pem"
        chain.write_bytes(
            cert.public_bytes(serialization.Encoding.PEM)
            + key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
        )
        self.sni: list[str | None] = []
        self.hosts: list[str] = []
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                server.hosts.append(self.headers["Host"])
                data = json.dumps({"status": "Success"}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: object) -> None:
                pass

        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(chain)
        context.sni_callback = lambda sock, sni, ctx: self.sni.append(sni)
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.socket = context.wrap_socket(self.httpd.socket, server_side=True)
        self.port = self.httpd.server_address[1]
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def tls_mindbox(tmp_path, request, monkeypatch) -> Iterator[TLSMindbox]:
    server = TLSMindbox(tmp_path, request.param)
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(server.ca_file))  # trust the test CA, as an operator would
    yield server
    server.close()


def tls_send(server: TLSMindbox):
    client = MindboxClient(connect_timeout=2, read_timeout=2, resolve=Resolver("127.0.0.1"))
    host = f"mindbox.test:{server.port}"
    policy = Policy(allowed_hosts=(host,), require_https=True, allowed_networks=("127.0.0.1",))
    return client.send(url=f"https://{host}{PATH}", body="{}", transaction_id="tx-1", policy=policy)


@pytest.mark.parametrize("tls_mindbox", ["mindbox.test"], indirect=True)
def test_tls_to_the_pinned_address_verifies_the_host_name(tls_mindbox):
    outcome = tls_send(tls_mindbox)
    assert outcome.kind == OutcomeKind.DELIVERED, outcome.error
    assert tls_mindbox.sni == ["mindbox.test"]  # not the IP address
    assert tls_mindbox.hosts == [f"mindbox.test:{tls_mindbox.port}"]


@pytest.mark.parametrize("tls_mindbox", ["other.test"], indirect=True)
def test_tls_to_the_pinned_address_refuses_a_certificate_for_another_name(tls_mindbox):
    outcome = tls_send(tls_mindbox)
    assert outcome.kind == OutcomeKind.RETRY
    assert "CERTIFICATE_VERIFY_FAILED" in outcome.error or "match" in outcome.error
    assert tls_mindbox.hosts == []


# --- Send time: the delivery path


@pytest.fixture
def delivery(make_account, make_notification, settings) -> Delivery:
    settings.DELIVERY_RETRY_SCHEDULE = [10, 60, 300]
    account = make_account(secret_key="sk-guard-test")
    notification = make_notification(account)
    with translation.override("en"):  # the URL was valid when it was saved
        assert (
            validate_url(
                notification.url,
                operation_name="Zvonok",
                communication_type="calls",
                known_mnemonics=(),
                allowed_hosts=settings.MINDBOX_ALLOWED_HOSTS,
                require_https=settings.MINDBOX_REQUIRE_HTTPS,
            )
            == []
        )
    result = dispatch.receive_event(
        account=account, communication_type="calls", raw="{}", values=CALL, enqueue=[].append
    )
    return Delivery.objects.get(event_id=result.event_id)


def client() -> MindboxClient:
    return MindboxClient(connect_timeout=2, read_timeout=2)


@pytest.mark.django_db
def test_the_stand_in_allowed_by_setting_still_receives(delivery, mindbox, settings):
    assert settings.MINDBOX_ALLOW_PRIVATE_NETWORKS == ["127.0.0.1"]
    assert attempt_delivery(delivery_id=delivery.pk, client=client()).status == Delivery.Status.DELIVERED
    assert len(mindbox.requests) == 1


@pytest.mark.django_db
def test_a_host_removed_from_the_allowed_hosts_since_saving_fails_for_good(delivery, mindbox, settings):
    settings.MINDBOX_ALLOWED_HOSTS = MINDBOX_HOSTS  # the stand-in is no longer allowed
    integration_id = delivery.notification.operation.integration_id
    IntegrationHealth.objects.update_or_create(integration_id=integration_id, defaults={"auth_failures": 2})
    result = attempt_delivery(delivery_id=delivery.pk, client=client())
    assert result.status == Delivery.Status.FAILED and result.retry_in is None
    delivery.refresh_from_db()
    assert delivery.status == Delivery.Status.FAILED and delivery.next_attempt_at is None
    assert delivery.last_error == (
        f"refused: host {mindbox.host} is not an allowed Mindbox host; "
        f"allowed hosts are set by MINDBOX_ALLOWED_HOSTS ({', '.join(MINDBOX_HOSTS)})"
    )
    (attempt,) = DeliveryAttempt.objects.filter(delivery=delivery)
    assert attempt.outcome == "failed" and attempt.http_status is None and attempt.error == delivery.last_error
    assert mindbox.requests == []
    # Not an auth failure, and no answer from Mindbox either: the integration's health is untouched.
    health = IntegrationHealth.objects.get(pk=integration_id)
    assert (health.auth_failures, health.failure_streak, health.paused_at) == (2, 0, None)
    # Never retried.
    assert attempt_delivery(delivery_id=delivery.pk, client=client()).sent is False
    assert mindbox.requests == []


@pytest.mark.django_db
def test_loopback_is_refused_at_send_time_unless_allowed_by_setting(delivery, mindbox, settings):
    settings.MINDBOX_ALLOW_PRIVATE_NETWORKS = []
    assert attempt_delivery(delivery_id=delivery.pk, client=client()).status == Delivery.Status.FAILED
    delivery.refresh_from_db()
    assert "resolves to 127.0.0.1, a loopback address" in delivery.last_error
    assert "MINDBOX_ALLOW_PRIVATE_NETWORKS" in delivery.last_error
    assert mindbox.requests == []


@pytest.mark.django_db
def test_https_required_since_saving_refuses_a_plain_http_url(delivery, mindbox, settings):
    settings.MINDBOX_REQUIRE_HTTPS = True
    assert attempt_delivery(delivery_id=delivery.pk, client=client()).status == Delivery.Status.FAILED
    delivery.refresh_from_db()
    assert delivery.last_error.startswith("refused: http:// is not allowed; the URL must start with https://")
    assert mindbox.requests == []


def test_a_malformed_allowed_network_is_refused_at_start_up(settings):
    settings.MINDBOX_ALLOW_PRIVATE_NETWORKS = ["127.0.0.1", "10.0.0.0/8", "ten-net"]
    (error,) = delivery_settings()
    assert error.id == "notifications.E003" and "'ten-net'" in error.msg


@pytest.mark.django_db
def test_proxies_from_the_environment_are_not_used(make_account, make_notification, mindbox, monkeypatch):
    # A plain-http proxy would resolve the host itself, past the guard; the client ignores it.
    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:9")
    monkeypatch.setenv("http_proxy", "http://127.0.0.1:9")
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    account = make_account()
    make_notification(account)
    result = dispatch.receive_event(
        account=account, communication_type="calls", raw="{}", values={"call_session_id": "1"}, enqueue=lambda ids: None
    )
    delivery = Delivery.objects.get(event_id=result.event_id)
    client = MindboxClient(connect_timeout=2, read_timeout=2)
    assert attempt_delivery(delivery_id=delivery.pk, client=client).status == "delivered"
    assert len(mindbox.requests) == 1


@pytest.mark.django_db
def test_a_project_domain_under_a_pattern_is_delivered_to(make_account, make_notification, mindbox, settings):
    """A notification to api-ru.mindbox.cloud (one of Mindbox's per-project domains), saved and
    sent through the delivery step; the name resolves to the stand-in."""
    settings.MINDBOX_ALLOWED_HOSTS = [f"*.mindbox.cloud:{mindbox.port}"]
    url = f"http://api-ru.mindbox.cloud:{mindbox.port}{PATH}"
    with translation.override("en"):
        assert (
            validate_url(
                url,
                operation_name="Zvonok",
                communication_type="calls",
                known_mnemonics=(),
                allowed_hosts=settings.MINDBOX_ALLOWED_HOSTS,
                require_https=False,
            )
            == []
        )
    account = make_account()
    make_notification(account, url=url)
    result = dispatch.receive_event(
        account=account, communication_type="calls", raw="{}", values=CALL, enqueue=[].append
    )
    delivery = Delivery.objects.get(event_id=result.event_id)
    resolve = Resolver("127.0.0.1")
    sender = MindboxClient(connect_timeout=2, read_timeout=2, resolve=resolve)
    assert attempt_delivery(delivery_id=delivery.pk, client=sender).status == Delivery.Status.DELIVERED
    assert resolve.calls == [("api-ru.mindbox.cloud", mindbox.port)]
    (request,) = mindbox.requests
    assert request.headers["Host"] == f"api-ru.mindbox.cloud:{mindbox.port}"
