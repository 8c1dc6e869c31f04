"""With PostgreSQL unreachable the endpoint answers 503 JSON with Retry-After, never a
traceback page. Runs the production web process (gunicorn) pointed at a closed port."""

import os
import socket
import subprocess
import sys
from pathlib import Path

import requests

from tests.conftest import wait_for

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_database_down_gives_503_json():
    port, dead_db = free_port(), free_port()
    env = {**os.environ, "DATABASE_URL": f"postgres://postgres@127.0.0.1:{dead_db}/portal"}
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "integration_portal.wsgi:application",
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            "1",
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:

        def answer() -> list[requests.Response]:  # a list: a 503 Response is falsy itself
            try:
                return [
                    requests.post(
                        f"http://127.0.0.1:{port}/api/uis/events/calls/?token=whatever",
                        json={"call_session_id": "1"},
                        timeout=10,
                    )
                ]
            except requests.ConnectionError:
                return []

        (response,) = wait_for(answer, timeout=30, interval=0.3)
        assert response.status_code == 503
        assert response.headers["Content-Type"] == "application/json"
        assert response.headers["Retry-After"] == "30"
        assert response.json() == {"error": "temporarily unavailable; send the event again later"}
    finally:
        server.terminate()
        server.wait(timeout=30)
