"""What an operator uses without the admin: /metrics, /healthz, /readyz, request ids in the
logs, the OpenAPI description, and the operational commands."""

import json
import logging
import os
import re
from io import StringIO
from pathlib import Path

import pytest
import requests
from django.core.management import call_command
from django.utils import timezone
from prometheus_client.parser import text_string_to_metric_families

from harness import processes
from integration_portal import logs
from notifications.models import Delivery, InboundEvent
from tests.conftest import suite_database_url, wait_for

ROOT = Path(__file__).resolve().parent.parent
CALL = {"call_session_id": "7770001", "notification_mnemonic": "call_finished", "visitor_name": "Анна"}


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def value(scrape: dict, name: str, **labels: str) -> float:
    return scrape.get((name, tuple(sorted(labels.items()))), 0.0)


@pytest.mark.django_db(transaction=True)
def test_metrics_move_with_events_and_the_workers_deliveries(
    celery_worker, live_server, mindbox, make_account, make_notification
):
    account = make_account()
    make_notification(account)

    def scrape() -> dict:
        response = requests.get(f"{live_server.url}/metrics", timeout=10)
        assert response.status_code == 200
        return samples(response.text)

    before = scrape()
    response = requests.post(
        f"{live_server.url}/api/uis/events/calls/?token={account.inbound_token}", json=CALL, timeout=10
    )
    assert response.status_code == 202
    requests.post(f"{live_server.url}/api/uis/events/calls/?token=wrong", json=CALL, timeout=10)
    delivery = Delivery.objects.get(event_id=response.json()["event_id"])
    wait_for(lambda: Delivery.objects.get(pk=delivery.pk).status == Delivery.Status.DELIVERED)

    # The worker process counts into the shared directory: its counters show here too.
    after = wait_for(
        lambda: (
            (s := scrape())
            and value(s, "portal_deliveries_total", outcome="delivered", operation="Zvonok")
            > value(before, "portal_deliveries_total", outcome="delivered", operation="Zvonok")
            and s
        )
    )
    events = "portal_events_received_total"
    assert value(after, events, type="calls", answer="202") == value(before, events, type="calls", answer="202") + 1
    assert value(after, events, type="calls", answer="401") == value(before, events, type="calls", answer="401") + 1
    histogram = "portal_attempt_duration_seconds_count"
    assert value(after, histogram, outcome="delivered") > value(before, histogram, outcome="delivered")
    for gauge in (
        "portal_database_up",
        "portal_deliveries_due",
        "portal_oldest_due_delivery_age_seconds",
        "portal_deliveries_held",
        "portal_integrations_paused",
        "portal_integrations_backing_off",
    ):
        assert (gauge, ()) in after, gauge
    for queue in ("deliveries", "retries", "replays", "maintenance"):
        assert ("portal_broker_queue_length", (("queue", queue),)) in after, queue


@pytest.mark.django_db
def test_metrics_answer_only_the_allowed_networks_or_the_token(client, settings):
    assert client.get("/metrics").status_code == 200  # the test client comes from 127.0.0.1
    assert client.get("/metrics", HTTP_HOST="10.1.2.3:8000").status_code == 200  # a scrape by IP: no Host check
    assert client.get("/metrics", REMOTE_ADDR="203.0.113.7").status_code == 403
    assert client.get("/metrics", REMOTE_ADDR="10.0.0.5").status_code == 403  # private is not trusted by default
    settings.METRICS_TOKEN = "metrics-secret"
    assert client.get("/metrics").status_code == 403
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer wrong").status_code == 403
    assert client.get("/metrics", HTTP_AUTHORIZATION="metrics-secret").status_code == 403  # Bearer required
    ok = client.get("/metrics", HTTP_AUTHORIZATION="Bearer metrics-secret", REMOTE_ADDR="203.0.113.7")
    assert ok.status_code == 200 and b"portal_deliveries_due" in ok.content


@pytest.mark.django_db
def test_probes_answer_whatever_the_host(client):
    health = client.get("/healthz", HTTP_HOST="10.1.2.3:8000")  # a container probe, not an allowed host
    assert health.status_code == 200 and health.json() == {"status": "ok"}
    ready = client.get("/readyz", HTTP_HOST="10.1.2.3:8000")
    assert ready.status_code == 200
    # Beat's heartbeat is said (no beat runs here), not counted: web is ready without beat.
    assert ready.json() == {"status": "ok", "database": "ok", "broker": "ok", "beat": ready.json()["beat"]}
    assert ready.json()["beat"] == "ok" or ready.json()["beat"].startswith("stale")


def test_readyz_fails_while_redis_is_stopped(django_db_setup):
    log_dir = ROOT / "var" / "test-readyz"
    redis_server = processes.PrivateRedis(log_dir)
    redis_server.start()
    port = processes.free_port()
    env = {**os.environ, "REDIS_URL": redis_server.url, "DATABASE_URL": suite_database_url()}
    web = processes.web(env=env, log_dir=log_dir, port=port)
    try:
        url = f"http://127.0.0.1:{port}/readyz"
        assert requests.get(url, timeout=10).status_code == 200
        redis_server.stop()
        down = requests.get(url, timeout=10)
        assert down.status_code == 503
        assert down.json()["broker"].startswith("unreachable") and down.json()["database"] == "ok"
        assert requests.get(f"http://127.0.0.1:{port}/healthz", timeout=10).status_code == 200  # up, not ready
        redis_server.start()
        assert wait_for(lambda: requests.get(url, timeout=10).status_code == 200, timeout=20)
    finally:
        web.stop()
        redis_server.stop()


@pytest.mark.django_db(transaction=True)
def test_the_request_id_follows_the_event_into_the_workers_log_lines(
    celery_worker, live_server, mindbox, make_account, make_notification
):
    account = make_account()
    make_notification(account)
    response = requests.post(
        f"{live_server.url}/api/uis/events/calls/?token={account.inbound_token}",
        json={**CALL, "call_session_id": "7770002"},
        headers={"X-Request-ID": "uis-req-42"},
        timeout=10,
    )
    assert response.headers["X-Request-ID"] == "uis-req-42"
    event = InboundEvent.objects.get(pk=response.json()["event_id"])
    assert event.request_id == "uis-req-42"
    delivery = Delivery.objects.get(event=event)
    wait_for(lambda: Delivery.objects.get(pk=delivery.pk).status == Delivery.Status.DELIVERED)
    line = wait_for(
        lambda: next(
            (x for x in celery_worker.log().splitlines() if f"delivery {delivery.pk} attempt 1: delivered" in x), None
        )
    )
    assert "[uis-req-42]" in line
    # A request id that is not a sane token is replaced, not logged as sent.
    bad = requests.post(
        f"{live_server.url}/api/uis/events/calls/?token=wrong",
        json=CALL,
        headers={"X-Request-ID": "bad id; forged"},
        timeout=10,
    )
    assert re.fullmatch(r"[0-9a-f]{32}", bad.headers["X-Request-ID"])
    assert re.fullmatch(
        r"[0-9a-f]{32}",
        requests.post(
            f"{live_server.url}/api/uis/events/calls/?token=wrong",
            json=CALL,
            headers={"X-Request-ID": "x" * 65},
            timeout=10,
        ).headers["X-Request-ID"],
    )


def test_log_lines_mask_phones_emails_and_tokens_in_both_formats(rf):
    record = logging.LogRecord(
        "notifications",
        logging.INFO,
        __file__,
        1,
        "customer %s <%s> called from +7 916 123-45-67 at 2026-11-25\nvalues: %s",
        ("79031112233", "anna.petrova@example.com", {"phone": "79161234567"}),
        None,
    )
    with logs.bound("req-1"):
        logs.ContextFilter().filter(record)
    expected = "customer ***33 <a***@example.com> called from ***67 at 2026-11-25\nvalues: {'phone': '***67'}"
    line = json.loads(logs.JsonFormatter().format(record))
    assert line["request_id"] == "req-1" and line["level"] == "INFO" and line["logger"] == "notifications"
    assert line["message"] == expected
    assert logging.Formatter("[%(request_id)s] %(message)s").format(record) == f"[req-1] {expected}"
    # Not personal data: ids, UUIDs, times.
    assert logs.mask("delivery 123456 tx 4f3a1c2e-1234-4a5b-9c8d-123456789012 at 12:00:01") == (
        "delivery 123456 tx 4f3a1c2e-1234-4a5b-9c8d-123456789012 at 12:00:01"
    )

    # Django's request logger attaches the request: its query string (the token) must not be logged,
    # and the line keeps the request's id though the middleware has already unbound it.
    request = rf.post("/api/uis/events/calls/?token=SECRET-inbound-token")
    request.META["portal.request_id"] = "req-2"
    failed = logging.LogRecord("django.request", logging.WARNING, __file__, 1, "Bad Request: %s", (request.path,), None)
    failed.request = request
    logs.ContextFilter().filter(failed)
    text = logs.JsonFormatter().format(failed)
    assert "SECRET-inbound-token" not in text and json.loads(text)["request_id"] == "req-2"
    assert logs.mask("GET /api/uis/events/calls/?token=abc123&x=1") == "GET /api/uis/events/calls/?token=***&x=1"


@pytest.mark.django_db
def test_openapi_describes_the_inbound_endpoint_and_its_docs_need_no_cdn(client):
    schema = client.get("/api/schema/", HTTP_ACCEPT="application/json").json()
    path = schema["paths"]["/api/uis/events/{communication_type}/"]
    assert set(path["post"]["responses"]) == {"200", "202", "400", "401", "404", "405", "413", "429", "500", "503"}
    assert set(path["post"]["requestBody"]["content"]) == {"application/json", "application/x-www-form-urlencoded"}
    assert "/api/uis/events/{communication_type}" not in schema["paths"]  # the slash-less twin is documented once
    assert schema["components"]["securitySchemes"]["inboundToken"]["scheme"] == "bearer"
    docs = client.get("/api/docs/")
    assert docs.status_code == 200
    page = docs.content.decode()
    assert "swagger-ui" in page
    assert not re.search(r'(src|href)="(https?:)?//', page), "an external asset"


@pytest.mark.django_db
def test_operational_commands(make_account, make_notification, mindbox, django_capture_on_commit_callbacks, capsys):
    account = make_account()
    make_notification(account)
    out = StringIO()
    with django_capture_on_commit_callbacks(execute=False):
        call_command("send_sample_event", account.uis_app_id, "--set", "visitor_name=Проверка", stdout=out)
    assert re.match(r"event \d+: 1 deliveries queued", out.getvalue())
    delivery = Delivery.objects.get(event__account=account)
    assert json.loads(delivery.body)["customer"]["fullName"] == "Проверка"

    Delivery.objects.filter(pk=delivery.pk).update(
        status=Delivery.Status.FAILED, finished_at=timezone.now(), last_error="boom"
    )
    state = StringIO()
    call_command("integration_state", account.uis_app_id, stdout=state)
    assert "integration: on" in state.getvalue()
    assert "sending: normal" in state.getvalue()
    assert "failed 1" in state.getvalue() and "(boom)" in state.getvalue()

    dry = StringIO()
    call_command("resend_failed", account.uis_app_id, "--hours", "1", "--dry-run", stdout=dry)
    assert dry.getvalue().startswith("1 failed deliveries since")
    assert Delivery.objects.get(pk=delivery.pk).status == Delivery.Status.FAILED
    done = StringIO()
    with django_capture_on_commit_callbacks(execute=False):
        call_command("resend_failed", account.uis_app_id, "--since", "2000-01-01 00:00", stdout=done)
    assert re.fullmatch(r"1 deliveries queued again; 0 skipped \(bulk job \d+\)", done.getvalue().strip())
    assert Delivery.objects.get(pk=delivery.pk).status == Delivery.Status.PENDING

    for command, says in [
        ("send_sample_event", "sample UIS event"),
        ("integration_state", "at a glance"),
        ("resend_failed", "failed since"),
    ]:
        with pytest.raises(SystemExit):
            call_command(command, "--help")
        assert says in " ".join(capsys.readouterr().out.split()), command
