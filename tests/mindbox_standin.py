"""A local HTTP server standing in for Mindbox's operations API: it records every request
and answers from a script of planned responses (Success when the script is empty)."""

import json
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit


@dataclass
class Recorded:
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes

    @property
    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Planned:
    status: int = 200
    payload: Any = field(default_factory=lambda: {"status": "Success"})
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0


class MindboxStandIn:
    def __init__(self) -> None:
        self.requests: list[Recorded] = []
        self.script: deque[Planned] = deque()
        self.lock = threading.Lock()
        standin = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                parts = urlsplit(self.path)
                query = {k: v[0] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
                with standin.lock:
                    standin.requests.append(Recorded(parts.path, query, dict(self.headers.items()), body))
                    plan = standin.script.popleft() if standin.script else Planned()
                if plan.delay:
                    time.sleep(plan.delay)
                data = (
                    plan.payload
                    if isinstance(plan.payload, bytes)
                    else json.dumps(plan.payload, ensure_ascii=False).encode()
                )
                self.send_response(plan.status)
                self.send_header("Content-Type", "application/json; charset=utf-8")
                self.send_header("Content-Length", str(len(data)))
                for key, value in plan.headers.items():
                    self.send_header(key, value)
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.host = f"127.0.0.1:{self.port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def url(self, operation: str = "Zvonok", mode: str = "async", extra: str = "") -> str:
        return f"http://{self.host}/v3/operations/{mode}?endpointId=acme.Custom&operation={operation}{extra}"

    def plan(self, *responses: Planned) -> None:
        with self.lock:
            self.script.extend(responses)

    def reset(self) -> None:
        with self.lock:
            self.requests.clear()
            self.script.clear()

    def received(self, **query: str) -> list[Recorded]:
        with self.lock:
            return [r for r in self.requests if all(r.query.get(k) == v for k, v in query.items())]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
