"""Admin hardening: login throttling, security headers, HTTPS, and a clean `check --deploy`."""

import base64
import json
import os
import secrets
import subprocess
import sys
from io import StringIO
from pathlib import Path

import pytest
from django.core.checks import registry
from django.core.management import call_command
from django.test import Client, RequestFactory

from integration_portal.checks import secret_key_is_not_the_dev_default
from integration_portal.security import client_ip

ROOT = Path(__file__).resolve().parent.parent
LOGIN = "/admin/login/"


def production_env(**overrides: str) -> dict[str, str]:
    """What a production deployment sets (DATABASE_URL and REDIS_URL come from the suite's own)."""
    env = {
        **os.environ,
        "DJANGO_HTTPS": "true",
        "DJANGO_DEBUG": "false",
        "DJANGO_SECRET_KEY": secrets.token_urlsafe(50),
        "DJANGO_ALLOWED_HOSTS": "portal.example.com",
        "DJANGO_PROXY_SSL_HEADER": "X-Forwarded-Proto",
        "TRUSTED_PROXY_COUNT": "1",  # the TLS proxy appends the caller, as compose has it
        "FIELD_ENCRYPTION_KEY": base64.urlsafe_b64encode(os.urandom(32)).decode(),
        **overrides,
    }
    return {name: value for name, value in env.items() if value is not None}


def run_manage(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "manage.py", *args], capture_output=True, text=True, cwd=ROOT, env=env, timeout=120
    )


def check_deploy(env: dict[str, str]) -> tuple[int, str]:
    result = run_manage("check", "--deploy", "--fail-level", "WARNING", env=env)
    return result.returncode, result.stdout + result.stderr


# --- manage.py check --deploy


def test_check_deploy_passes_without_a_warning_under_production_settings():
    code, output = check_deploy(production_env())
    assert code == 0, output
    assert "WARNINGS" not in output and "ERRORS" not in output, output
    assert "no issues" in output


def test_check_deploy_without_https_reports_hsts_ssl_redirect_and_insecure_cookies():
    env = production_env()
    del env["DJANGO_HTTPS"]  # the default: plain http, as `make run`
    code, output = check_deploy(env)
    assert code != 0
    assert "WARNINGS" in output
    for warning in ("security.W004", "security.W008", "security.W012", "security.W016"):
        assert warning in output, (warning, output)


def test_check_deploy_refuses_the_dev_secret_key():
    env = production_env()
    del env["DJANGO_SECRET_KEY"]
    code, output = check_deploy(env)
    assert code != 0
    assert "integration_portal.E001" in output


def test_the_secret_key_check_is_a_deploy_check(settings):
    assert secret_key_is_not_the_dev_default in registry.registry.get_checks(include_deployment_checks=True)
    assert secret_key_is_not_the_dev_default not in registry.registry.get_checks(include_deployment_checks=False)
    settings.SECRET_KEY = settings.DEV_SECRET_KEY
    (error,) = secret_key_is_not_the_dev_default()
    assert error.id == "integration_portal.E001" and error.is_serious()
    settings.SECRET_KEY = secrets.token_urlsafe(50)
    assert secret_key_is_not_the_dev_default() == []


def test_production_settings_come_from_the_environment():
    names = [
        "SECURE_SSL_REDIRECT",
        "SESSION_COOKIE_SECURE",
        "CSRF_COOKIE_SECURE",
        "SECURE_HSTS_SECONDS",
        "SECURE_PROXY_SSL_HEADER",
        "CSRF_TRUSTED_ORIGINS",
    ]
    script = f"from django.conf import settings; import json; print(json.dumps({{n: getattr(settings, n) for n in {names!r}}}))"
    env = production_env(DJANGO_HSTS_SECONDS="600", DJANGO_CSRF_TRUSTED_ORIGINS="https://portal.example.com")
    result = run_manage("shell", "-c", script, env=env)
    assert result.returncode == 0, result.stderr
    values = json.loads(result.stdout.strip().splitlines()[-1])
    assert values == {
        "SECURE_SSL_REDIRECT": True,
        "SESSION_COOKIE_SECURE": True,
        "CSRF_COOKIE_SECURE": True,
        "SECURE_HSTS_SECONDS": 600,
        "SECURE_PROXY_SSL_HEADER": ["HTTP_X_FORWARDED_PROTO", "https"],
        "CSRF_TRUSTED_ORIGINS": ["https://portal.example.com"],
    }


# --- login throttling (django-axes)


def login(client: Client, password: str, username: str = "admin", **extra: str):
    return client.post(LOGIN, {"username": username, "password": password, "next": "/admin/"}, **extra)


def logged_in(client: Client) -> bool:
    return "_auth_user_id" in client.session


@pytest.mark.django_db
def test_a_username_is_locked_out_from_an_address_after_the_failure_limit(admin_user, settings):
    limit = settings.AXES_FAILURE_LIMIT
    assert limit == 5  # the default
    client = Client(REMOTE_ADDR="203.0.113.5")
    for _ in range(limit - 1):
        response = login(client, "wrong")
        assert response.status_code == 200  # the form again, with its error
    locked = login(client, "wrong")
    assert locked.status_code == 429
    assert 'id="login-locked"' in locked.content.decode()
    # Locked out: even the right password does not log in.
    response = login(client, "password")
    assert response.status_code == 429 and 'id="login-locked"' in response.content.decode()
    assert not logged_in(client)
    assert client.get("/admin/").status_code == 302  # to the login page
    # The lock is for that username from that address only.
    elsewhere = Client(REMOTE_ADDR="198.51.100.7")
    assert login(elsewhere, "password").status_code == 302 and logged_in(elsewhere)
    assert login(client, "wrong", username="someone-else").status_code == 200


@pytest.mark.django_db
def test_a_successful_login_before_the_limit_resets_the_count(admin_user, settings):
    limit = settings.AXES_FAILURE_LIMIT
    client = Client(REMOTE_ADDR="203.0.113.6")
    for _ in range(limit - 1):
        assert login(client, "wrong").status_code == 200
    assert login(client, "password").status_code == 302
    client.logout()
    # Counting starts again: without the reset the first of these would be the limit-th failure.
    for _ in range(limit - 1):
        assert login(client, "wrong").status_code == 200
    assert login(client, "password").status_code == 302 and logged_in(client)


@pytest.mark.django_db
def test_the_login_printed_by_make_run_logs_in_through_the_admin(settings, tmp_path):
    settings.VAR_DIR = tmp_path
    out = StringIO()
    call_command("ensure_admin", stdout=out)
    username, password = out.getvalue().strip().removeprefix("Admin login: ").split(" / ")
    client = Client()
    assert login(client, password, username=username).status_code == 302
    assert client.get("/admin/").status_code == 200


def test_behind_trusted_proxies_the_caller_is_read_from_x_forwarded_for(settings):
    request = RequestFactory().get("/", REMOTE_ADDR="10.0.0.2", HTTP_X_FORWARDED_FOR="192.0.2.1, 203.0.113.9")
    settings.TRUSTED_PROXY_COUNT = 0
    assert client_ip(request) == "10.0.0.2"
    settings.TRUSTED_PROXY_COUNT = 1
    assert client_ip(request) == "203.0.113.9"  # the first entry could be forged by the caller
    settings.TRUSTED_PROXY_COUNT = 3
    assert client_ip(request) == "10.0.0.2"  # not through all the proxies


# --- headers, cookies and HTTPS


@pytest.mark.django_db
def test_admin_pages_carry_the_security_headers(admin_client, client):
    for response in (admin_client.get("/admin/"), client.get(LOGIN)):
        assert response.status_code == 200
        assert response["X-Frame-Options"] == "DENY"
        assert response["X-Content-Type-Options"] == "nosniff"
        assert response["Referrer-Policy"] == "same-origin"
        assert "Strict-Transport-Security" not in response  # not over http, nor without DJANGO_HTTPS


@pytest.fixture
def https_settings(settings):
    """What DJANGO_HTTPS=true sets."""
    settings.SECURE_SSL_REDIRECT = True
    settings.SESSION_COOKIE_SECURE = True
    settings.CSRF_COOKIE_SECURE = True
    settings.SECURE_HSTS_SECONDS = 31536000
    settings.SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    settings.SECURE_HSTS_PRELOAD = True
    return settings


@pytest.mark.django_db
def test_with_https_http_is_redirected_and_https_gets_hsts_and_secure_cookies(https_settings, admin_user):
    client = Client()
    redirect = client.get(LOGIN)
    assert redirect.status_code == 301 and redirect["Location"] == "https://testserver/admin/login/"
    page = client.get(LOGIN, secure=True)
    assert page.status_code == 200
    assert page["Strict-Transport-Security"] == "max-age=31536000; includeSubDomains; preload"
    response = login(client, "password", secure=True)
    assert response.status_code == 302
    session = response.cookies["sessionid"]
    assert session["secure"] and session["httponly"]
    assert session["max-age"] == https_settings.SESSION_COOKIE_AGE <= 24 * 3600
    assert response.cookies["csrftoken"]["secure"]


@pytest.mark.django_db
def test_with_https_the_probes_and_metrics_still_answer_plain_http(https_settings):
    client = Client()
    assert client.get("/healthz").status_code == 200
    assert client.get("/readyz").status_code == 200
    assert client.get("/metrics").status_code == 200  # from loopback: an in-network scrape


@pytest.mark.django_db
def test_behind_a_tls_proxy_its_header_marks_the_request_secure(https_settings):
    https_settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    client = Client()
    response = client.get(LOGIN, HTTP_X_FORWARDED_PROTO="https")
    assert response.status_code == 200
    assert "Strict-Transport-Security" in response
    assert client.get(LOGIN, HTTP_X_FORWARDED_PROTO="http").status_code == 301
