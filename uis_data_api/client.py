"""A JSON-RPC 2.0 client for UIS's Data API: one POST per call, the access token in the body's
params (as the API wants it), answers turned into results or typed errors (errors.py).

Every call passes the same outbound guard as Mindbox sends (mindbox_integration.mindbox.guard,
with the UIS_DATA_API_* settings), and the connection goes to the address the guard approved,
the Host header and TLS still naming the host: a name that resolves elsewhere a moment later
cannot redirect it. Redirects are not followed, proxies from the environment are not used.
The token is in no error, log line or repr this module produces."""

import json
import os
import uuid
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import certifi
import urllib3

from mindbox_integration.mindbox import guard
from uis_data_api import errors, limits

MAX_ANSWER_BYTES = 32 << 20  # a page of 10,000 rows of every field stays well below this
SERVICE = "UIS Data API"
SETTING_PREFIX = "UIS_DATA_API"


@dataclass(frozen=True)
class Page:
    rows: list[dict[str, Any]]
    total_items: int | None
    limits: limits.Limits | None


@dataclass(frozen=True)
class Answer:
    result: dict[str, Any]
    limits: limits.Limits | None


@dataclass
class DataApiClient:
    """One account's access: its URL and token, checked against `policy` before every call."""

    url: str
    token: str = field(repr=False)
    policy: guard.Policy
    connect_timeout: float = 5.0
    read_timeout: float = 30.0
    resolve: guard.Resolver = guard.system_resolver
    calls: int = 0  # calls made (each costs a point of the allowance, if UIS answered it)

    def call(self, method: str, params: dict[str, Any]) -> Answer:
        """Call `method` with `params` (the token added); the result, or a DataApiError."""
        body = json.dumps(
            {
                "jsonrpc": "2.0",
                "id": uuid.uuid4().hex,
                "method": method,
                "params": {"access_token": self.token, **params},
            },
            ensure_ascii=False,
        ).encode()
        status, raw = self._post(body)
        try:
            answer = json.loads(raw)
        except ValueError:
            raise errors.Unavailable(f"HTTP {status}: the answer is not JSON") from None
        if not isinstance(answer, dict) or ("result" not in answer and "error" not in answer):
            raise errors.Unavailable(f"HTTP {status}: the answer is not a JSON-RPC response")
        if answer.get("error") is not None:
            error = answer["error"]
            data = error.get("data") if isinstance(error, dict) else None
            found = limits.parse(data.get("metadata")) if isinstance(data, dict) else None
            raise errors.from_error_object(error, found)
        result = answer.get("result")
        if not isinstance(result, dict):
            raise errors.Unavailable(f"HTTP {status}: the result is not an object")
        return Answer(result=result, limits=limits.parse(result.get("metadata")))

    def report_page(
        self, *, method: str, date_from: str, date_till: str, offset: int, limit: int, fields: list[str]
    ) -> Page:
        """One page of a report (`get.calls_report`, `get.offline_messages_report`): dates are
        `YYYY-MM-DD hh:mm:ss` in the account's time zone."""
        answer = self.call(
            method,
            {"date_from": date_from, "date_till": date_till, "offset": offset, "limit": limit, "fields": fields},
        )
        data = answer.result.get("data")
        if not isinstance(data, list):
            raise errors.Unavailable("the report's answer has no data list")
        rows = [row for row in data if isinstance(row, dict)]
        metadata = answer.result.get("metadata")
        total = metadata.get("total_items") if isinstance(metadata, dict) else None
        return Page(rows=rows, total_items=total if isinstance(total, int) else None, limits=answer.limits)

    def account_timezone(self) -> tuple[str, limits.Limits | None]:
        """The account's time zone (IANA name, `get.account`), in which reports' dates are."""
        answer = self.call("get.account", {})
        data = answer.result.get("data")
        first = data[0] if isinstance(data, list) and data and isinstance(data[0], dict) else {}
        zone = first.get("timezone")
        return (zone if isinstance(zone, str) else ""), answer.limits

    def _post(self, body: bytes) -> tuple[int, bytes]:
        try:
            approved = guard.check(
                url=self.url,
                allowed_hosts=self.policy.allowed_hosts,
                require_https=self.policy.require_https,
                allowed_networks=self.policy.allowed_networks,
                resolve=self.resolve,
                service=SERVICE,
                setting_prefix=SETTING_PREFIX,
            )
        except guard.Refused as exc:
            raise errors.Refused(str(exc)) from None
        except guard.Unresolved as exc:
            raise errors.Unavailable(str(exc)) from None
        parts = urlsplit(self.url.strip())
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        default_port = guard.DEFAULT_PORTS[approved.scheme]
        host_header = approved.host if approved.port == default_port else f"{parts.hostname}:{approved.port}"
        timeout = urllib3.Timeout(connect=self.connect_timeout, read=self.read_timeout)
        address = str(approved.addresses[0])
        pool: urllib3.HTTPConnectionPool
        if approved.scheme == "https":
            pool = urllib3.HTTPSConnectionPool(
                address,
                port=approved.port,
                timeout=timeout,
                retries=False,
                server_hostname=approved.host,
                assert_hostname=approved.host,
                cert_reqs="CERT_REQUIRED",
                ca_certs=os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE") or certifi.where(),
            )
        else:
            pool = urllib3.HTTPConnectionPool(address, port=approved.port, timeout=timeout, retries=False)
        self.calls += 1
        try:
            with pool:
                response = pool.urlopen(
                    "POST",
                    target,
                    body=body,
                    headers={
                        "Host": host_header,
                        "Content-Type": "application/json; charset=UTF-8",
                        "Accept": "application/json",
                    },
                    redirect=False,
                    retries=False,
                    preload_content=False,
                )
                raw = response.read(MAX_ANSWER_BYTES + 1)
                response.release_conn()
        # Only the exception's type: nothing of the request (its body holds the token) is quoted.
        except urllib3.exceptions.HTTPError as exc:
            raise errors.Unavailable(f"connection error: {type(exc).__name__}") from None
        if len(raw) > MAX_ANSWER_BYTES:
            raise errors.Unavailable("the answer is larger than the client reads")
        return response.status, raw
