"""The web server (`python -m integration_portal.web`, granian): its settings, and what it puts
in a request's environ."""

import os
import subprocess
import sys

import pytest

from integration_portal import web
from tests.conftest import ROOT


def echo(environ, start_response):
    start_response("200 OK", [])
    return [environ]


def test_the_process_environment_stays_out_of_the_request(monkeypatch):
    monkeypatch.setenv("DATABASE_URL", "postgres://portal:secret@db/portal")
    monkeypatch.setenv("HTTP_PROXY", "http://proxy.internal:3128")
    monkeypatch.setenv("SERVER_PORT", "8000")
    monkeypatch.setenv("CONTENT_TYPE", "text/plain")  # granian sets it only when the request has one
    served = web.without_process_environment(echo)
    # As granian builds it: the process's environment, then the request's own keys over it.
    process = dict(os.environ)
    request = {"REQUEST_METHOD": "POST", "PATH_INFO": "/x", "SERVER_PORT": "8000", "HTTP_HOST": "portal"}
    [environ] = served({**process, **request}, lambda *args: None)
    assert "DATABASE_URL" not in environ and "HTTP_PROXY" not in environ  # not the client's header
    assert "CONTENT_TYPE" not in environ
    assert {key: environ[key] for key in request} == request  # the request's own, equal or not
    [environ] = served({**process, **request, "HTTP_PROXY": "sent-by-the-client"}, lambda *args: None)
    assert environ["HTTP_PROXY"] == "sent-by-the-client"


@pytest.mark.parametrize(
    ("name", "value", "says"),
    [
        ("WEB_BIND", "8000", "WEB_BIND must be host:port"),
        ("WEB_WORKERS", "two", "WEB_WORKERS must be a whole number"),
        ("WEB_THREADS", "0", "WEB_THREADS must be 1 or more"),
    ],
)
def test_a_bad_setting_stops_the_server_with_what_to_fix(name, value, says):
    result = subprocess.run(
        [sys.executable, "-m", "integration_portal.web"],
        cwd=ROOT,
        env={**os.environ, name: value},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    assert says in result.stderr


def test_the_served_application_is_the_wrapped_one():
    from integration_portal import served

    assert web.TARGET == "integration_portal.served:application"
    assert served.application.__qualname__ == "without_process_environment.<locals>.served"
