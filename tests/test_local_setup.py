"""What `make run` relies on besides the portal itself."""

from io import StringIO

import pytest
from django.contrib.auth import authenticate
from django.core.management import call_command
from django.test import RequestFactory

pytestmark = pytest.mark.django_db


def test_ensure_admin_creates_one_login_and_prints_the_same_one_again(settings, tmp_path):
    settings.VAR_DIR = tmp_path
    first, again = StringIO(), StringIO()
    call_command("ensure_admin", stdout=first)
    call_command("ensure_admin", stdout=again)
    assert first.getvalue() == again.getvalue()
    username, password = first.getvalue().strip().removeprefix("Admin login: ").split(" / ")
    # As the admin's login form does: with the request, which the login throttling needs.
    user = authenticate(RequestFactory().post("/admin/login/"), username=username, password=password)
    assert user is not None and user.is_superuser
    assert (tmp_path / "admin-password").stat().st_mode & 0o077 == 0
