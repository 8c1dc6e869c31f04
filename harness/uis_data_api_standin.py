"""A local JSON-RPC server standing in for UIS's Data API (docs/uis-data-api.md): the report
methods over rows the test gives it, paged by offset and limit within date_from..date_till (in
the account's zone, as strings), `get.account` with a time zone, `metadata.limits` counting one
point a call, and errors as UIS shapes them (a refused token, an exceeded limit), either planned
or because the token is not the one it knows. It records every request."""

import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

TIME_FIELDS = {"get.calls_report": "start_time", "get.offline_messages_report": "date_time"}


@dataclass
class Recorded:
    method: str
    params: dict[str, Any]


@dataclass
class StandIn:
    token: str
    timezone: str = "Europe/Moscow"
    day_limit: int = 1000
    day_remaining: int = 1000
    minute_limit: int = 100
    minute_remaining: int = 100
    rows: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    planned_errors: list[dict[str, Any]] = field(default_factory=list)
    requests: list[Recorded] = field(default_factory=list)
    echo_token_in_errors: bool = True  # as UIS's `data.value` may: the portal must not keep it
    # While cleared, every answer waits for it (a slow Data API, a run caught in the middle).
    answering: threading.Event = field(default_factory=lambda: _set(threading.Event()))

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        standin = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                standin.answering.wait(timeout=30)
                answer = standin.answer(json.loads(self.rfile.read(length)))
                body = json.dumps(answer, ensure_ascii=False).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json; charset=UTF-8")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self._server.server_address[1]}"

    @property
    def url(self) -> str:
        return f"http://{self.host}/v2.0"

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def methods(self) -> list[str]:
        return [r.method for r in self.requests]

    def _limits(self) -> dict[str, int]:
        return {
            "day_limit": self.day_limit,
            "day_remaining": self.day_remaining,
            "day_reset": 3600,
            "minute_limit": self.minute_limit,
            "minute_remaining": self.minute_remaining,
            "minute_reset": 30,
        }

    def _error(self, request_id: Any, code: int, mnemonic: str, message: str, value: Any = None) -> dict[str, Any]:
        data: dict[str, Any] = {"mnemonic": mnemonic, "metadata": {"limits": self._limits()}}
        if value is not None:
            data["value"] = value
        return {"jsonrpc": "2.0", "id": request_id, "error": {"code": code, "message": message, "data": data}}

    def answer(self, request: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            params = dict(request.get("params") or {})
            token = params.get("access_token")
            self.requests.append(Recorded(method=request.get("method", ""), params=params))
            request_id = request.get("id")
            if self.planned_errors:
                planned = self.planned_errors.pop(0)
                return self._error(request_id, planned["code"], planned["mnemonic"], planned.get("message", ""), token)
            if token != self.token:
                echoed = token if self.echo_token_in_errors else None
                return self._error(
                    request_id, -32001, "access_token_invalid", f"Access token is invalid: {token}", echoed
                )
            if self.day_remaining <= 0 or self.minute_remaining <= 0:
                return self._error(request_id, -32029, "limit_exceeded", "Limit per day has been exceeded")
            self.day_remaining -= 1
            self.minute_remaining -= 1
            method = request.get("method")
            if method == "get.account":
                data: list[dict[str, Any]] = [{"app_id": 1, "name": "stand-in", "timezone": self.timezone}]
                return {
                    "jsonrpc": "2.0",
                    "id": request_id,
                    "result": {"data": data, "metadata": {"limits": self._limits()}},
                }
            if method not in TIME_FIELDS:
                return self._error(request_id, -32601, "method_not_found", "The method does not exist")
            time_field = TIME_FIELDS[method]
            matching = [
                row
                for row in self.rows.get(method, [])
                if params["date_from"] <= row[time_field] <= params["date_till"]
            ]
            offset, limit = int(params.get("offset") or 0), int(params.get("limit") or 1000)
            fields = params.get("fields")
            page = [
                {k: v for k, v in row.items() if not fields or k in fields} for row in matching[offset : offset + limit]
            ]
            metadata = {"total_items": len(matching), "limits": self._limits()}
            return {"jsonrpc": "2.0", "id": request_id, "result": {"data": page, "metadata": metadata}}


def _set(event: threading.Event) -> threading.Event:
    event.set()
    return event
