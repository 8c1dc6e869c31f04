"""Mindbox's answers read as an Outcome: delivered, retry (later) or failed (for good).
Pure: no HTTP, no Django (../shared/domain/mindbox.md)."""

import enum
import json
import math
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from typing import Any

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


def retry_after(headers: Mapping[str, str]) -> float | None:
    """Seconds from a Retry-After header (seconds or an HTTP date), bounded to a day."""
    header = headers.get("Retry-After")
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
    except (ValueError, RecursionError):  # an answer nested too deep to parse is no answer we know
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
