"""With PostgreSQL unreachable the endpoint answers 503 JSON with Retry-After, never a
traceback page. Runs the production web server pointed at a closed port."""

import os
from pathlib import Path

import requests

from harness import processes
from tests.conftest import wait_for

ROOT = Path(__file__).resolve().parent.parent


def test_database_down_gives_503_json():
    port, dead_db = processes.free_port(), processes.free_port()
    env = {**os.environ, "DATABASE_URL": f"postgres://postgres@127.0.0.1:{dead_db}/portal"}
    server = processes.web(env=env, log_dir=ROOT / "var" / "test-unavailable", port=port)
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
        server.stop()
