"""POST a rendered operation to Mindbox and classify the answer (../shared/domain/mindbox.md).

Every answer is read for its JSON `status`, even on HTTP 200, which can carry a
ValidationError. The secret key goes only into the Authorization header: it is in no
outcome, error text or log line this module produces.

Before every request the outbound guard checks the URL against the policy (allowed hosts, https,
private addresses) and the request goes to the address it approved (guard.py, transport.py).
"""

import dataclasses
import enum
import json
import math
import os
import time
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import requests

from mindbox_integration.mindbox import guard
from mindbox_integration.mindbox.transport import PinnedAdapter

RESPONSE_KEEP_CHARS = 4000
MAX_RETRY_AFTER = 86400.0  # a day: a larger (or absurd) Retry-After must not stall a delivery for good


class OutcomeKind(enum.StrEnum):
    DELIVERED = "delivered"
    RETRY = "retry"  # temporary: try again later
    FAILED = "failed"  # permanent: retrying cannot help


@dataclass(frozen=True)
class Outcome:
    kind: OutcomeKind
    http_status: int | None = None
    response_body: str = ""
    error: str = ""
    retry_after: float | None = None  # seconds Mindbox asked us to wait
    duration_ms: int = 0
    messages: list[dict[str, Any]] = field(default_factory=list)  # Mindbox validation messages
    refused: bool = False  # the outbound guard refused the URL: no request was made


def with_transaction_id(url: str, transaction_id: str) -> str:
    """Append transactionId to /async URLs; Mindbox de-duplicates repeats by it."""
    parts = urlsplit(url)
    if not parts.path.rstrip("/").endswith("/async"):
        return url
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k != "transactionId"]
    query.append(("transactionId", transaction_id))
    return urlunsplit((parts.scheme, parts.netloc, parts.path, urlencode(query), parts.fragment))


def _retry_after(response: requests.Response) -> float | None:
    header = response.headers.get("Retry-After")
    if not header:
        return None
    try:
        seconds = float(header)
    except ValueError:
        try:
            seconds = parsedate_to_datetime(header).timestamp() - time.time()
        except (TypeError, ValueError):
            return None
    if not math.isfinite(seconds):
        return None
    return min(max(0.0, seconds), MAX_RETRY_AFTER)


def classify(status: int, text: str, retry_after: float | None = None) -> Outcome:
    """Turn an HTTP answer into an Outcome; duration is filled in by the caller."""
    kept = text[:RESPONSE_KEEP_CHARS]
    try:
        payload = json.loads(text) if text else {}
    except ValueError:
        payload = {}
    if not isinstance(payload, dict):
        payload = {}
    mb_status = payload.get("status")

    def outcome(kind: OutcomeKind, error: str = "", **extra: Any) -> Outcome:
        return Outcome(kind=kind, http_status=status, response_body=kept, error=error, **extra)

    if mb_status == "ValidationError":
        messages = [m for m in payload.get("validationMessages") or [] if isinstance(m, dict)]
        summary = "; ".join(f"{m.get('location', '')}: {m.get('message', '')}".strip(": ") for m in messages)
        return outcome(OutcomeKind.FAILED, f"Mindbox ValidationError: {summary or 'no details'}", messages=messages)
    if mb_status == "ProtocolError":
        return outcome(OutcomeKind.FAILED, f"Mindbox ProtocolError: {payload.get('errorMessage', '')}")
    if status in (408, 429) or status >= 500 or mb_status == "InternalServerError":
        return outcome(OutcomeKind.RETRY, f"Mindbox answered HTTP {status}", retry_after=retry_after)
    if 200 <= status < 300:
        if mb_status in ("Success", "TransactionAlreadyProcessed", None):
            return outcome(OutcomeKind.DELIVERED)
        return outcome(OutcomeKind.FAILED, f"unexpected Mindbox status {mb_status!r}")
    if 300 <= status < 400:
        return outcome(OutcomeKind.FAILED, f"Mindbox answered a redirect (HTTP {status}); check the URL")
    reasons = {
        401: "the secret key is wrong or missing",
        403: "the endpoint is not allowed",
        404: "wrong path or endpoint id",
    }
    return outcome(OutcomeKind.FAILED, f"Mindbox answered HTTP {status}: {reasons.get(status, 'request refused')}")


class MindboxClient:
    """One per worker process: its session pools connections to Mindbox."""

    def __init__(
        self,
        *,
        connect_timeout: float,
        read_timeout: float,
        resolve: guard.Resolver = guard.system_resolver,
        pool_size: int = 10,
    ) -> None:
        """`pool_size`: connections kept per Mindbox address, as many as threads send at once."""
        self.timeout = (connect_timeout, read_timeout)
        self.resolve = resolve
        self.adapter = PinnedAdapter(pool_maxsize=pool_size)
        self.session = requests.Session()
        # No proxy from the environment (a plain-http proxy would resolve the host again, past
        # the guard) and no .netrc (it could replace the Authorization header); a CA bundle named
        # in the environment is still honoured, as requests would.
        self.session.trust_env = False
        self.session.verify = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE") or True
        self.session.mount("https://", self.adapter)
        self.session.mount("http://", self.adapter)

    def send(self, *, url: str, body: str, secret_key: str = "", transaction_id: str, policy: guard.Policy) -> Outcome:
        """Check the URL against `policy`, then POST to the approved address. A refused URL is a
        permanent failure with no request made; a host that does not resolve is retried."""
        headers = {
            "Content-Type": "application/json; charset=utf-8",
            "Accept": "application/json",
        }
        if secret_key:
            headers["Authorization"] = f"SecretKey {secret_key}"
        started = time.monotonic()
        try:
            url = with_transaction_id(url, transaction_id)
            approved = guard.check(
                url=url,
                allowed_hosts=policy.allowed_hosts,
                require_https=policy.require_https,
                allowed_networks=policy.allowed_networks,
                resolve=self.resolve,
            )
            with self.adapter.pinned(approved):
                response = self.session.post(
                    url, data=body.encode("utf-8"), headers=headers, timeout=self.timeout, allow_redirects=False
                )
            result = classify(response.status_code, response.text, _retry_after(response))
        except guard.Refused as exc:
            result = Outcome(kind=OutcomeKind.FAILED, error=f"refused: {exc}", refused=True)
        except guard.Unresolved as exc:
            result = Outcome(kind=OutcomeKind.RETRY, error=f"connection error: {exc}")
        except requests.Timeout:
            result = Outcome(kind=OutcomeKind.RETRY, error="timed out waiting for Mindbox")
        except requests.ConnectionError as exc:
            result = Outcome(kind=OutcomeKind.RETRY, error=f"connection error: {str(exc)[:300]}")
        except (requests.exceptions.ChunkedEncodingError, requests.exceptions.ContentDecodingError) as exc:
            result = Outcome(
                kind=OutcomeKind.RETRY, error=f"connection broke while reading the answer: {type(exc).__name__}"
            )
        # Below, only the exception's type is kept: its text or repr may quote the headers, key included.
        except (requests.RequestException, UnicodeError, ValueError) as exc:
            result = Outcome(kind=OutcomeKind.FAILED, error=f"the request could not be sent: {type(exc).__name__}")
        except Exception as exc:  # anything else: retry on the schedule, which is bounded
            result = Outcome(kind=OutcomeKind.RETRY, error=f"unexpected error: {type(exc).__name__}")
        return dataclasses.replace(result, duration_ms=int((time.monotonic() - started) * 1000))
