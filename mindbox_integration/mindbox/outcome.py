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

from mindbox_integration.mindbox.error_codes import SAID_PROTOCOL_ERROR, SAID_STATUS, ErrorCode

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
    # What `error` says, for the admin to say it in its own language (error_codes.py).
    code: str = ""
    params: dict[str, Any] = field(default_factory=dict)


def unsendable(exc: BaseException) -> Outcome:
    """A request that could not be made of what was given; only the exception's type is kept:
    its text may quote the headers, key included."""
    name = type(exc).__name__
    return Outcome(
        kind=OutcomeKind.FAILED,
        error=f"the request could not be sent: {name}",
        code=ErrorCode.UNSENDABLE,
        params={"exception": name},
    )


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


def _envelope(text: str) -> dict[str, Any] | None:
    """Mindbox's JSON answer: an object with a string `status`; None for anything else (an
    HTML page from a proxy, an empty body, other JSON)."""
    try:
        payload = json.loads(text) if text else None
    except (ValueError, RecursionError):  # nested too deep to parse: no answer we know
        return None
    if isinstance(payload, dict) and isinstance(payload.get("status"), str):
        return payload
    return None


# How much of what Mindbox says (its message, its validation summary, an unknown status) an
# attempt keeps in its text and parameters: the answer may be up to a MiB, and each retry stores
# another copy. The whole body is kept apart, cut at RESPONSE_KEEP_CHARS.
SAID_KEEP_CHARS = 500


def _words(value: Any) -> str:
    """Mindbox's words as an attempt keeps them: text, bounded, without NUL (which PostgreSQL
    refuses in text and in jsonb alike, and would fail the whole batch's write)."""
    return str(value).replace("\x00", "")[:SAID_KEEP_CHARS]


def _said(payload: dict[str, Any] | None) -> tuple[str, dict[str, Any]]:
    """What an error envelope says, for the attempt ("Mindbox ProtocolError: ..."), and as
    parameters."""
    if payload is None or payload["status"] in ("Success", "InternalServerError"):
        return "", {}
    if payload["status"] == "ProtocolError":
        message = _words(payload.get("errorMessage", ""))
        return f"Mindbox ProtocolError: {message}", {SAID_PROTOCOL_ERROR: message}
    status = _words(payload["status"])
    return f"unexpected Mindbox status {status!r}", {SAID_STATUS: status}


def classify(status: int, text: str, retry_after: float | None = None, *, content_type: str = "") -> Outcome:
    """Turn an HTTP answer into an Outcome, as Mindbox's own clients read it; duration is
    filled in by the caller (../shared/domain/mindbox.md, docs/mindbox-answers.md).

    Order matters: TransactionAlreadyProcessed is success on any code (Mindbox already has the
    data); 408, 429 and 5xx are temporary by their HTTP code whatever the envelope says (error
    bodies carry `httpStatusCode` and a ProtocolError status); a 2xx must be Mindbox's JSON; for
    2xx and the other 4xx the body's status decides."""
    kept = text[:RESPONSE_KEEP_CHARS].replace("\x00", "")  # PostgreSQL's text holds no NUL
    payload = _envelope(text)
    mb_status = payload["status"] if payload is not None else None

    def outcome(kind: OutcomeKind, code: ErrorCode | None, error: str, params: dict[str, Any], **extra: Any) -> Outcome:
        return Outcome(
            kind=kind,
            http_status=status,
            response_body=kept,
            error=error,
            code=code or "",
            params=params,
            **extra,
        )

    at = {"status": status}
    if mb_status == "TransactionAlreadyProcessed":
        # A repeat of a done transaction (a retry after a lost answer): said on the attempt.
        return outcome(
            OutcomeKind.DELIVERED,
            ErrorCode.ALREADY_PROCESSED,
            f"Mindbox already had this transaction (HTTP {status})",
            at,
        )
    if status in (408, 429) or status >= 500:
        said, said_params = _said(payload)
        return outcome(
            OutcomeKind.RETRY,
            ErrorCode.RATE_LIMITED if status == 429 else ErrorCode.HTTP_STATUS,
            f"Mindbox answered HTTP {status}" + (f"; {said}" if said else ""),
            {**at, **said_params},
            retry_after=retry_after,
        )
    if mb_status == "ValidationError":
        assert payload is not None
        messages = [m for m in payload.get("validationMessages") or [] if isinstance(m, dict)]
        summary = _words("; ".join(f"{m.get('location', '')}: {m.get('message', '')}".strip(": ") for m in messages))
        return outcome(
            OutcomeKind.FAILED,
            ErrorCode.VALIDATION_ERROR,
            f"Mindbox ValidationError: {summary or 'no details'}",
            {"details": summary or "—"},
            messages=messages,
        )
    if mb_status == "InternalServerError":
        return outcome(
            OutcomeKind.RETRY, ErrorCode.HTTP_STATUS, f"Mindbox answered HTTP {status}", at, retry_after=retry_after
        )
    if payload is not None and mb_status != "Success" and (200 <= status < 300 or mb_status == "ProtocolError"):
        said, said_params = _said(payload)
        if mb_status == "ProtocolError":
            return outcome(
                OutcomeKind.FAILED, ErrorCode.PROTOCOL_ERROR, said, {"message": said_params[SAID_PROTOCOL_ERROR]}
            )
        return outcome(OutcomeKind.FAILED, ErrorCode.MINDBOX_STATUS, said, {"mindbox_status": mb_status})
    if 200 <= status < 300:
        if mb_status == "Success":
            return outcome(OutcomeKind.DELIVERED, None, "", {})
        # A proxy's or captive portal's page is not Mindbox's answer: the data may not be there.
        if not text:
            return outcome(
                OutcomeKind.RETRY,
                ErrorCode.EMPTY_ANSWER,
                f"the answer is not Mindbox's JSON (HTTP {status}, an empty body)",
                at,
            )
        content = content_type.split(";", 1)[0].strip()
        if not content:
            return outcome(
                OutcomeKind.RETRY,
                ErrorCode.UNTYPED_ANSWER,
                f"the answer is not Mindbox's JSON (HTTP {status}, no Content-Type)",
                at,
            )
        return outcome(
            OutcomeKind.RETRY,
            ErrorCode.NOT_MINDBOX_JSON,
            f"the answer is not Mindbox's JSON (HTTP {status}, {content})",
            {**at, "content_type": content},
        )
    if 300 <= status < 400:
        return outcome(
            OutcomeKind.FAILED, ErrorCode.REDIRECT, f"Mindbox answered a redirect (HTTP {status}); check the URL", at
        )
    reasons = {
        401: (ErrorCode.KEY_REFUSED, "the secret key is wrong or missing"),
        403: (ErrorCode.ENDPOINT_NOT_ALLOWED, "the endpoint is not allowed"),
        404: (ErrorCode.NOT_FOUND, "wrong path or endpoint id"),
    }
    code, reason = reasons.get(status, (ErrorCode.REQUEST_REFUSED, "request refused"))
    return outcome(OutcomeKind.FAILED, code, f"Mindbox answered HTTP {status}: {reason}", at)
