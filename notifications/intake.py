"""Parsing what UIS really sends into a flat mapping of mnemonic -> value, and the event's
identity for de-duplication. Pure functions: no database."""

import hashlib
import json
import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

from notifications.mnemonics import CommunicationType

# `"key": ""Анна""`: UIS's output when a user quoted a mnemonic in UIS's template.
_DOUBLED_QUOTES_RE = re.compile(r'([:\[,]\s*)""((?:[^"\\]|\\.)*)""(\s*[,}\]])')
# `"key": {{name}}`: a mnemonic UIS had no value for, left unquoted in the text.
_BARE_MNEMONIC_RE = re.compile(r"([:\[,]\s*)\{\{\s*[A-Za-z_][A-Za-z0-9_]*\s*\}\}(\s*[,}\]])")
_LITERAL_MNEMONIC_RE = re.compile(r"^\s*\{\{\s*[A-Za-z_][A-Za-z0-9_]*\s*\}\}\s*$")

IDENTITY_MAX = 255
_NOT_VALUES = frozenset({"token"})  # query parameters that are ours, not UIS's values


class IntakeError(ValueError):
    """The body is not an object of values; the message says what is wrong."""


def _clean(value: Any) -> Any:
    if isinstance(value, str):
        # A value still reading `{{name}}` means UIS had none; NUL cannot be stored as text.
        return None if _LITERAL_MNEMONIC_RE.match(value) else value.replace("\x00", "")
    if isinstance(value, list):
        return [_clean(v) for v in value]
    if isinstance(value, dict):
        return {k.replace("\x00", ""): _clean(v) for k, v in value.items()}
    return value


def _clean_values(values: dict[str, Any]) -> dict[str, Any]:
    return {key.replace("\x00", ""): _clean(value) for key, value in values.items()}


def _parse_json(text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        pass
    repaired = text
    # Applied twice: adjacent matches share a separator, so one pass misses every second one.
    for _ in range(2):
        repaired = _DOUBLED_QUOTES_RE.sub(r'\1"\2"\3', repaired)
        repaired = _BARE_MNEMONIC_RE.sub(r"\1null\2", repaired)
    try:
        return json.loads(repaired)
    except json.JSONDecodeError as exc:
        raise IntakeError(
            f"the body is not valid JSON ({exc.msg} at line {exc.lineno}, column {exc.colno}) "
            "nor form-encoded; send a flat JSON object of mnemonic -> value"
        ) from None


def _form_value(value: str) -> Any:
    """UIS substitutes JSON literals, so a query or form value may arrive quoted."""
    if len(value) >= 2 and value[0] == '"' and value[-1] == '"':
        try:
            return json.loads(value)
        except json.JSONDecodeError:
            return value[1:-1]
    if value == "null":
        return None
    return value


def parse_form(text: str, *, exclude: frozenset[str] = frozenset()) -> dict[str, Any]:
    pairs = parse_qsl(text, keep_blank_values=True)
    return _clean_values({k: _form_value(v) for k, v in pairs if k not in exclude})


def _looks_like_form(text: str) -> bool:
    stripped = text.strip()
    return bool(stripped) and stripped[0] not in '{["' and "=" in stripped


def parse_body(raw: bytes, content_type: str) -> dict[str, Any]:
    """Parse a POST body as the Content-Type says, tolerating what UIS really sends."""
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise IntakeError("the body is not UTF-8 text") from None
    if not text.strip():
        return {}
    # The header is a hint only: `curl -d '{...}'` labels JSON as a form, for one.
    media_type = content_type.split(";", 1)[0].strip().lower()
    if not text.lstrip().startswith("{") and (
        media_type == "application/x-www-form-urlencoded" or _looks_like_form(text)
    ):
        return parse_form(text)
    parsed = _parse_json(text)
    if not isinstance(parsed, dict):
        raise IntakeError(f'the body is a JSON {type(parsed).__name__}, not an object; send {{"mnemonic": value, ...}}')
    return _clean_values(parsed)


@dataclass(frozen=True)
class Received:
    values: dict[str, Any]
    raw: str  # what UIS sent, as text, without the token


def parse_request(*, query: str, body: bytes | None, content_type: str) -> Received:
    """Values from the query string (the token left out) and, for a POST, the body, whose
    values win. Raises IntakeError when there is nothing usable."""
    values = parse_form(query, exclude=_NOT_VALUES)
    raw = "&".join(part for part in query.split("&") if part.split("=", 1)[0] not in _NOT_VALUES)
    if body is not None:
        values.update(parse_body(body, content_type))
        raw = body.decode("utf-8-sig").replace("\x00", "")  # parse_body has checked the encoding
    if not values:
        raise IntakeError("no values: send a JSON object of mnemonic -> value")
    return Received(values=values, raw=raw)


def event_identity(communication_type: str, values: dict[str, Any]) -> str:
    """What makes two deliveries of one UIS event the same event."""
    kind = values.get("notification_mnemonic") or values.get("notification_name")
    if communication_type == CommunicationType.CALLS and values.get("call_session_id") and kind:
        # One call sends several events (started, finished, lost...): the kind tells them apart.
        identity = f"call:{values['call_session_id']}:{kind}"
    elif communication_type != CommunicationType.CALLS and values.get("communication_id"):
        identity = f"communication:{values['communication_id']}"
    else:
        canonical = json.dumps(values, sort_keys=True, ensure_ascii=False, default=str)
        return "hash:" + hashlib.sha256(canonical.encode()).hexdigest()
    if len(identity) > IDENTITY_MAX:
        return "hash:" + hashlib.sha256(identity.encode()).hexdigest()
    return identity
