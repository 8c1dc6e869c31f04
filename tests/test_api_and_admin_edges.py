"""Smaller hardening points: every answer under /api/ is JSON (unmatched paths and a Host not
allowed too); the admin sends a Content-Security-Policy; a refused `next=` after login lands on
the admin; regular-expression lookups are refused in list URLs. Over real HTTP (live server) or
the test client, on the real database."""

import pytest
import requests
from django.contrib.auth.models import User
from django.test import Client
from django.urls import reverse

from integration_portal.csp import ADMIN_POLICY

pytestmark = pytest.mark.django_db(transaction=True)


def assert_json_error(response: requests.Response, status: int) -> None:
    assert response.status_code == status, response.text[:300]
    assert response.headers["Content-Type"].startswith("application/json"), response.headers["Content-Type"]
    assert isinstance(response.json()["error"], str)


@pytest.mark.parametrize("path", ["/api/", "/api/nope", "/api/uis/", "/api/uis/events/", "/api/site/"])
def test_unmatched_api_paths_answer_json(live_server, path):
    assert_json_error(requests.get(f"{live_server.url}{path}", timeout=10), 404)
    assert_json_error(requests.post(f"{live_server.url}{path}", data="{}", timeout=10), 404)


@pytest.mark.parametrize(
    "path", ["/api/uis/events/calls/", "/api/site/visitors/", "/api/schema/", "/api/nope", "/api/docs/"]
)
def test_a_host_not_allowed_gets_json_under_api(live_server, path):
    response = requests.post(f"{live_server.url}{path}", data="{}", headers={"Host": "evil.example"}, timeout=10)
    assert_json_error(response, 400)
    assert "evil.example" not in response.text  # the refused host is not echoed back


def test_the_admin_keeps_its_pages_for_a_host_not_allowed(live_server):
    response = requests.get(f"{live_server.url}/admin/login/", headers={"Host": "evil.example"}, timeout=10)
    assert response.status_code == 400
    assert response.headers["Content-Type"].startswith("text/html")


def test_the_site_script_endpoint_answers_without_its_slash_too(live_server):
    # A redirect (what CommonMiddleware would answer) has no JSON, and a POST cannot follow it.
    response = requests.post(f"{live_server.url}/api/site/visitors", data="not json", allow_redirects=False, timeout=10)
    assert_json_error(response, 400)


def test_admin_pages_carry_the_content_security_policy(admin_client):
    for url in (
        reverse("admin:index"),
        reverse("admin:login"),
        reverse("admin:mindbox_integration_account_changelist"),
    ):
        response = admin_client.get(url)
        assert response["Content-Security-Policy"] == ADMIN_POLICY
    assert "script-src 'self'" in ADMIN_POLICY and "'unsafe-inline'" not in ADMIN_POLICY


@pytest.mark.parametrize("next_url", ["https://evil.example/", "//evil.example/admin/", ""])
def test_a_refused_or_absent_next_after_login_lands_on_the_admin(next_url):
    User.objects.create_user(username="op", password="a-long-password-1", is_staff=True, is_superuser=True)
    client = Client()
    login = reverse("admin:login")
    answer = client.post(
        f"{login}?next={next_url}", {"username": "op", "password": "a-long-password-1", "next": next_url}
    )
    assert answer.status_code == 302
    assert answer["Location"] == reverse("admin:index")
    assert client.get(answer["Location"]).status_code == 200


@pytest.mark.parametrize(
    ("listing", "lookup"),
    [
        ("admin:notifications_inboundevent_changelist", "values__visitor_name__regex"),
        ("admin:notifications_inboundevent_changelist", "values__visitor_name__iregex"),
        ("admin:notifications_inboundevent_changelist", "raw__regex"),
        ("admin:notifications_delivery_changelist", "body__iregex"),
        ("admin:mindbox_integration_account_changelist", "name__regex"),
    ],
)
def test_regular_expression_lookups_are_refused_in_list_urls(admin_client, listing, lookup):
    url = reverse(listing)
    assert admin_client.get(url, {lookup: "(a+)+$"}).status_code == 400
    assert admin_client.get(url).status_code == 200
