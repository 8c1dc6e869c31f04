"""Behind a proxy on the same host: the lock-out and /metrics tell callers apart only when
TRUSTED_PROXY_COUNT says how many proxies append the caller to X-Forwarded-For, and
`check --deploy` refuses a TLS proxy with none trusted. Over real HTTP (live server), and
`manage.py check --deploy` as a process with production settings."""

import logging

import pytest
import requests
from django.contrib.auth.models import User

from integration_portal import security
from tests.test_admin_hardening import check_deploy, production_env

pytestmark = pytest.mark.django_db(transaction=True)


def test_check_deploy_refuses_a_tls_proxy_with_no_trusted_hop():
    code, output = check_deploy(production_env(TRUSTED_PROXY_COUNT="0"))
    assert code != 0
    assert "integration_portal.E002" in output
    assert "/metrics is open to anyone" in output and "TRUSTED_PROXY_COUNT" in output
    # With a token /metrics is closed, but the lock-out still cannot tell callers apart.
    code, output = check_deploy(production_env(TRUSTED_PROXY_COUNT="0", METRICS_TOKEN="scrape-token-1"))
    assert code != 0 and "integration_portal.E002" in output and "/metrics" not in output


def test_a_negative_count_is_refused_at_start_up():
    from tests.test_admin_hardening import run_manage

    result = run_manage("check", env=production_env(TRUSTED_PROXY_COUNT="-1"))
    assert result.returncode != 0 and "TRUSTED_PROXY_COUNT must be 0" in result.stderr


def test_metrics_behind_a_proxy_on_this_host_are_not_public(live_server, settings):
    """The live server is reached over loopback, as a proxy on the same host reaches gunicorn."""
    metrics = f"{live_server.url}/metrics"
    settings.TRUSTED_PROXY_COUNT = 1
    # A stranger through the proxy: the proxy appended their address.
    assert requests.get(metrics, headers={"X-Forwarded-For": "203.0.113.9"}, timeout=10).status_code == 403
    # A forged entry to the left of the proxy's changes nothing.
    forged = {"X-Forwarded-For": "127.0.0.1, 203.0.113.9"}
    assert requests.get(metrics, headers=forged, timeout=10).status_code == 403
    # A scrape on this host, not through the proxy: allowed as before.
    assert requests.get(metrics, timeout=10).status_code == 200
    # Misconfigured (no hop trusted), the stranger would be loopback: what check --deploy refuses.
    settings.TRUSTED_PROXY_COUNT = 0
    assert requests.get(metrics, headers={"X-Forwarded-For": "203.0.113.9"}, timeout=10).status_code == 200


def failed_login(live_server, session: requests.Session, address: str) -> int:
    page = session.get(f"{live_server.url}/admin/login/", timeout=10)
    token = page.cookies.get("csrftoken") or session.cookies.get("csrftoken")
    answer = session.post(
        f"{live_server.url}/admin/login/",
        data={"username": "op", "password": "wrong", "csrfmiddlewaretoken": token, "next": "/admin/"},
        headers={"X-Forwarded-For": address, "Referer": f"{live_server.url}/admin/login/"},
        timeout=10,
    )
    return answer.status_code


def test_behind_a_proxy_one_callers_failures_do_not_lock_out_another(live_server, settings):
    settings.TRUSTED_PROXY_COUNT = 1
    settings.AXES_FAILURE_LIMIT = 3
    User.objects.create_superuser(username="op", password="the-right-password-1")
    attacker = requests.Session()
    codes = [failed_login(live_server, attacker, "198.51.100.7") for _ in range(4)]
    assert codes[-1] == 429  # the attacker's address is locked out
    admin = requests.Session()
    page = admin.get(f"{live_server.url}/admin/login/", timeout=10)
    answer = admin.post(
        f"{live_server.url}/admin/login/",
        data={
            "username": "op",
            "password": "the-right-password-1",
            "csrfmiddlewaretoken": page.cookies["csrftoken"],
            "next": "/admin/",
        },
        headers={"X-Forwarded-For": "192.0.2.44", "Referer": f"{live_server.url}/admin/login/"},
        allow_redirects=False,
        timeout=10,
    )
    assert answer.status_code == 302 and answer.headers["Location"] == "/admin/"  # the admin still gets in


def test_forwarded_requests_with_no_trusted_hop_are_warned_about_once(rf, settings, caplog, monkeypatch):
    settings.TRUSTED_PROXY_COUNT = 0
    monkeypatch.setattr(security, "_warned", False)
    request = rf.get("/admin/login/", REMOTE_ADDR="127.0.0.1", HTTP_X_FORWARDED_FOR="203.0.113.9")
    with caplog.at_level(logging.WARNING, logger="integration_portal.security"):
        security.client_ip(request)
        security.client_ip(request)
    warnings = [r for r in caplog.records if "TRUSTED_PROXY_COUNT=0" in r.getMessage()]
    assert len(warnings) == 1
