"""A local HTTP server standing in for Mindbox's operations API: it records every request
and answers from a script of planned responses (Success when the script is empty), after an
optional delay, or not at all during a simulated outage."""

import enum
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
    succeeded: bool = False  # answered with Mindbox's Success
    at: float = field(default_factory=time.monotonic)  # when the request was read, before any delay

    @property
    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Planned:
    status: int = 200
    payload: Any = field(default_factory=lambda: {"status": "Success"})
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0


class Outage(enum.StrEnum):
    ERRORS = "errors"  # answer 503 at once
    SILENCE = "silence"  # read the request, answer nothing, close after a while (a client times out first)


class MindboxStandIn:
    def __init__(self, *, delay: float = 0.0) -> None:
        self.requests: list[Recorded] = []
        self.script: deque[Planned] = deque()
        self.lock = threading.Lock()
        self.delay = delay  # for every answer, like a network away
        self.outage: Outage | None = None
        self.silent_operations: set[str] = set()  # an outage for these operations only
        self.silence_seconds = 5.0
        standin = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                parts = urlsplit(self.path)
                query = {k: v[0] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
                with standin.lock:
                    recorded = Recorded(parts.path, query, dict(self.headers.items()), body)
                    standin.requests.append(recorded)
                    outage = standin.outage
                    if query.get("operation") in standin.silent_operations:
                        outage = Outage.SILENCE
                    if outage == Outage.ERRORS:
                        plan = Planned(status=503, payload={"status": "InternalServerError"})
                    else:
                        plan = standin.script.popleft() if standin.script and not outage else Planned()
                    recorded.succeeded = outage is None and plan.status == 200 and plan.payload == {"status": "Success"}
                if outage == Outage.SILENCE:
                    time.sleep(standin.silence_seconds)
                    self.close_connection = True
                    return
                if plan.delay or standin.delay:
                    time.sleep(plan.delay or standin.delay)
                data = (
                    plan.payload
                    if isinstance(plan.payload, bytes)
                    else json.dumps(plan.payload, ensure_ascii=False).encode()
                )
                try:
                    self.send_response(plan.status)
                    self.send_header("Content-Type", "application/json; charset=utf-8")
                    self.send_header("Content-Length", str(len(data)))
                    for key, value in plan.headers.items():
                        self.send_header(key, value)
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client went away (a killed worker, a timeout): nothing to answer

            def log_message(self, format: str, *args: Any) -> None:
                pass

        class Server(ThreadingHTTPServer):
            request_queue_size = 512  # a worker opens a batch's connections at once

        self.server = Server(("127.0.0.1", 0), Handler)
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

    def succeeded(self) -> list[Recorded]:
        with self.lock:
            return [r for r in self.requests if r.succeeded]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
