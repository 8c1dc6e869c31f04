"""A local HTTP server standing in for Mindbox's operations API: it records every request
and answers from a script of planned responses (Success when the script is empty), after an
optional delay, or not at all during a simulated outage.

It is one asyncio event loop on its own thread, speaking HTTP/1.1 with keep-alive: a delay is a
timer on the loop, not a sleeping thread, so hundreds of requests a second with a 50 ms delay
cost little CPU (the bench measures the portal's CPU beside it). A request is recorded once its
whole body has arrived: one cut short (a worker killed mid-send) never reached Mindbox, so it is
neither recorded nor answered."""

import asyncio
import contextlib
import enum
import http
import json
import os
import socket
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

MAX_HEAD = 64 * 1024  # request line and headers; a longer head is refused


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
    payload: Any = field(default_factory=lambda: {"status": "Success"})  # bytes are sent as they are
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    content_type: str = "application/json; charset=utf-8"


# Answers Mindbox (or what stands between) really gives, beyond Success and ValidationError
# (../shared/domain/mindbox.md, docs/mindbox-answers.md).


def throttled(*, status: int = 429, retry_after: str | None = None) -> Planned:
    """Mindbox's error envelope on a throttled or unavailable request: a ProtocolError status
    that carries the HTTP code in `httpStatusCode`."""
    payload = {
        "status": "ProtocolError",
        "errorId": "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0",
        "errorMessage": "Too many requests" if status == 429 else "Service unavailable",
        "httpStatusCode": status,
    }
    return Planned(status=status, payload=payload, headers={"Retry-After": retry_after} if retry_after else {})


def already_processed(*, status: int = 409) -> Planned:
    """A repeat of a transaction Mindbox has done, under a non-2xx code."""
    return Planned(status=status, payload={"status": "TransactionAlreadyProcessed"})


def proxy_page(*, status: int = 200) -> Planned:
    """A 2xx that is not Mindbox's answer: a captive portal's or a proxy's HTML page."""
    page = "<!DOCTYPE html><html><body><h1>Вход в сеть</h1><p>Примите условия.</p></body></html>"
    return Planned(status=status, payload=page.encode(), content_type="text/html; charset=utf-8")


class Outage(enum.StrEnum):
    ERRORS = "errors"  # answer 503 at once
    SILENCE = "silence"  # read the request, answer nothing, close after a while (a client times out first)


class _Incomplete(Exception):
    """More bytes are needed before the request can be parsed."""


class _Malformed(Exception):
    """Not an HTTP request we can read: answered 400 and the connection closed."""


@dataclass
class _Head:
    method: str
    target: str
    version: str
    headers: dict[str, str]  # as sent (names keep their case; a repeated one keeps its last value)
    lower: dict[str, str]  # the same, names lower-cased, for lookups
    size: int  # bytes up to and including the blank line


def _parse_head(data: bytes | bytearray) -> _Head:
    end = data.find(b"\r\n\r\n")
    if end < 0:
        if len(data) > MAX_HEAD:
            raise _Malformed("head too long")
        raise _Incomplete
    lines = bytes(data[:end]).decode("latin-1").split("\r\n")
    try:
        method, target, version = lines[0].split(" ", 2)
    except ValueError as exc:
        raise _Malformed(f"request line {lines[0]!r}") from exc
    headers: dict[str, str] = {}
    lower: dict[str, str] = {}
    for line in lines[1:]:
        name, sep, value = line.partition(":")
        if not sep:
            raise _Malformed(f"header line {line!r}")
        headers[name.strip()] = value.strip()
        lower[name.strip().lower()] = value.strip()
    return _Head(method, target, version, headers, lower, end + 4)


def _chunked_body(data: bytes | bytearray, start: int) -> tuple[bytes, int]:
    """A chunked body from `start`: the body and the offset past it (trailers included)."""
    body = bytearray()
    at = start
    while True:
        line_end = data.find(b"\r\n", at)
        if line_end < 0:
            raise _Incomplete
        try:
            size = int(bytes(data[at:line_end]).split(b";", 1)[0], 16)
        except ValueError as exc:
            raise _Malformed("chunk size") from exc
        at = line_end + 2
        if size == 0:
            trailers_end = data.find(b"\r\n\r\n", at - 2)
            if trailers_end < 0:
                raise _Incomplete
            return bytes(body), trailers_end + 4
        if len(data) < at + size + 2:
            raise _Incomplete
        body += data[at : at + size]
        at += size + 2


class _Connection(asyncio.Protocol):
    """One client connection: requests are read one at a time, each answered (after its delay)
    before the next is read, as HTTP/1.1 without pipelining wants."""

    def __init__(self, standin: "MindboxStandIn") -> None:
        self.standin = standin
        self.buffer = bytearray()
        self.transport: asyncio.Transport | None = None
        self.busy = False  # a request is being answered (or held silent)
        self.timer: asyncio.TimerHandle | None = None
        self.continued = False  # `100 Continue` sent for the request in the buffer
        self.eof = False  # the client has half-closed: answer what is complete, then close

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        self.standin._connections.add(self)

    def connection_lost(self, exc: Exception | None) -> None:
        # Whatever is left in the buffer was cut short: it never reached "Mindbox".
        self.standin._connections.discard(self)
        if self.timer is not None:
            self.timer.cancel()
        self.transport = None

    def eof_received(self) -> bool:
        # A half-closed client may still be waiting for an answer to a complete request; an
        # incomplete one will never be completed, so the connection closes without an answer.
        self.eof = True
        return self.busy

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        if not self.busy:
            self._next()

    def _next(self) -> None:
        while self.transport is not None and not self.busy and self.buffer:
            try:
                head = _parse_head(self.buffer)
                if "chunked" in head.lower.get("transfer-encoding", "").lower():
                    body, used = _chunked_body(self.buffer, head.size)
                else:
                    try:
                        length = int(head.lower.get("content-length") or 0)
                    except ValueError as exc:
                        raise _Malformed("Content-Length") from exc
                    if length < 0:
                        raise _Malformed("Content-Length")
                    if len(self.buffer) < head.size + length:
                        raise _Incomplete
                    body, used = bytes(self.buffer[head.size : head.size + length]), head.size + length
            except _Incomplete:
                self._maybe_continue()
                return
            except _Malformed:
                self._write(400, b"", {}, close=True)
                return
            del self.buffer[:used]
            self.continued = False
            self._handle(head, body)

    def _maybe_continue(self) -> None:
        """Answer `Expect: 100-continue` once the head is in, so the client sends its body."""
        if self.continued or self.transport is None:
            return
        with contextlib.suppress(_Incomplete, _Malformed):
            head = _parse_head(self.buffer)
            if head.lower.get("expect", "").lower() == "100-continue":
                self.continued = True
                self.transport.write(b"HTTP/1.1 100 Continue\r\n\r\n")

    def _handle(self, head: _Head, body: bytes) -> None:
        standin = self.standin
        close = head.version != "HTTP/1.1" or head.lower.get("connection", "").lower() == "close"
        if head.method != "POST":
            self._write(501, b"", {}, close=close)
            return
        parts = urlsplit(head.target)
        query = {k: v[0] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
        with standin.lock:
            recorded = Recorded(parts.path, query, head.headers, body)
            standin.requests.append(recorded)
            outage = standin.outage
            if query.get("operation") in standin.silent_operations:
                outage = Outage.SILENCE
            if outage == Outage.ERRORS:
                plan = Planned(status=503, payload={"status": "InternalServerError"})
            else:
                plan = standin.script.popleft() if standin.script and not outage else Planned()
            recorded.succeeded = outage is None and plan.status == 200 and plan.payload == {"status": "Success"}
        self.busy = True
        loop = asyncio.get_running_loop()
        if outage == Outage.SILENCE:
            # Nothing is answered; the connection closes after a while (the client times out first).
            self.timer = loop.call_later(standin.silence_seconds, self._close)
            return
        data = (
            plan.payload if isinstance(plan.payload, bytes) else json.dumps(plan.payload, ensure_ascii=False).encode()
        )
        delay = plan.delay or standin.delay
        if delay:
            self.timer = loop.call_later(delay, self._write, plan.status, data, plan.headers, close, plan.content_type)
        else:
            self._write(plan.status, data, plan.headers, close=close, content_type=plan.content_type)

    def _write(
        self,
        status: int,
        data: bytes,
        headers: dict[str, str],
        close: bool,
        content_type: str = "application/json; charset=utf-8",
    ) -> None:
        self.timer = None
        if self.transport is None or self.transport.is_closing():
            return  # the client went away (a killed worker, a timeout): nothing to answer
        try:
            reason = http.HTTPStatus(status).phrase
        except ValueError:
            reason = "Unknown"
        lines = [
            f"HTTP/1.1 {status} {reason}",
            f"Content-Type: {content_type}",
            f"Content-Length: {len(data)}",
            *(f"{key}: {value}" for key, value in headers.items()),
        ]
        close = close or self.eof
        if close:
            lines.append("Connection: close")
        self.transport.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + data)
        if close:
            self._close()
            return
        self.busy = False
        self._next()

    def _close(self) -> None:
        self.timer = None
        if self.transport is not None:
            self.transport.close()


class MindboxStandIn:
    def __init__(self, *, delay: float = 0.0) -> None:
        self.requests: list[Recorded] = []
        self.script: deque[Planned] = deque()
        self.lock = threading.Lock()
        self.delay = delay  # for every answer, like a network away
        self.outage: Outage | None = None
        self.silent_operations: set[str] = set()  # an outage for these operations only
        self.silence_seconds = 5.0
        self._connections: set[_Connection] = set()
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", 0))
        listener.listen(1024)
        listener.setblocking(False)
        self.port = int(listener.getsockname()[1])
        self.host = f"127.0.0.1:{self.port}"
        self.loop = asyncio.new_event_loop()
        self._server: asyncio.Server | None = None
        self._native_id = 0
        started = threading.Event()

        def serve() -> None:
            asyncio.set_event_loop(self.loop)
            self._server = self.loop.run_until_complete(
                self.loop.create_server(lambda: _Connection(self), sock=listener)
            )
            self._native_id = threading.get_native_id()
            started.set()
            self.loop.run_forever()

        self.thread = threading.Thread(target=serve, name="mindbox-standin", daemon=True)
        self.thread.start()
        started.wait()

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

    def cpu_seconds(self) -> float:
        """CPU time of the stand-in's thread (user + system), for the bench to report apart."""
        try:
            fields = Path(f"/proc/{os.getpid()}/task/{self._native_id}/stat").read_text().rsplit(")", 1)[1].split()
        except (FileNotFoundError, ProcessLookupError):
            return 0.0
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def close(self) -> None:
        if not self.thread.is_alive():
            return

        async def shut() -> None:
            if self._server is not None:
                self._server.close()
            for connection in list(self._connections):
                connection._close()
            await asyncio.sleep(0)

        with contextlib.suppress(RuntimeError):  # the loop already stopped
            asyncio.run_coroutine_threadsafe(shut(), self.loop).result(timeout=10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=10)
        if not self.thread.is_alive():
            self.loop.close()
