"""Parsing what UIS really sends into a flat mapping of mnemonic -> value, and the event's
identity for de-duplication. Pure functions: no database."""

import hashlib
import json
import math
import re
from dataclasses import dataclass
from typing import Any, NoReturn
from urllib.parse import parse_qsl, unquote_plus

from core.mnemonics import CommunicationType
from core.nesting import deeper_than

# `"key": ""Анна""`: UIS's output when a user quoted a mnemonic in UIS's template.
_DOUBLED_QUOTES_RE = re.compile(r'([:\[,]\s*)""((?:[^"\\]|\\.)*)""(\s*[,}\]])')
# `"key": {{name}}`: a mnemonic UIS had no value for, left unquoted in the text.
_BARE_MNEMONIC_RE = re.compile(r"([:\[,]\s*)\{\{\s*[A-Za-z_][A-Za-z0-9_]*\s*\}\}(\s*[,}\]])")
_LITERAL_MNEMONIC_RE = re.compile(r"^\s*\{\{\s*[A-Za-z_][A-Za-z0-9_]*\s*\}\}\s*$")

# Half of a UTF-16 pair, as `"\ud800"` decodes to: not text PostgreSQL (or UTF-8) can hold.
_SURROGATE_RE = re.compile("[\ud800-\udfff]")

IDENTITY_MAX = 255
# The endpoint passes INBOUND_MAX_KEYS and INBOUND_MAX_DEPTH; these are their defaults.
MAX_KEYS = 500
MAX_DEPTH = 5
_NOT_VALUES = frozenset({"token"})  # query parameters that are ours, not UIS's values
MASKED = "***"


class IntakeError(ValueError):
    """The body is not an object of values; the message says what is wrong."""


def _text(value: str) -> str:
    """NUL and unpaired surrogates cannot be stored as text: NUL is dropped, a half pair replaced."""
    return _SURROGATE_RE.sub("\ufffd", value.replace("\x00", ""))


def _clean(value: Any) -> Any:
    if isinstance(value, str):
        # A value still reading `{{name}}` means UIS had none; so does the text "null": UIS
        # writes an empty value as JSON null, so a quoted mnemonic (`"{{name}}"`) gives "null".
        return None if _LITERAL_MNEMONIC_RE.match(value) or value.strip() == "null" else _text(value)
    if isinstance(value, list):
        return [_clean(v) for v in value]
    if isinstance(value, dict):
        return {_text(k): _clean(v) for k, v in value.items()}
    return value


def _clean_values(values: dict[str, Any]) -> dict[str, Any]:
    return {_text(key): _clean(value) for key, value in values.items()}


def _integer(literal: str) -> int:
    try:
        return int(literal)
    except ValueError:  # over Python's limit on digits (4300)
        raise IntakeError(f"a number in the body has {len(literal)} digits; send long numbers as strings") from None


def _finite(literal: str) -> float:
    number = float(literal)
    if not math.isfinite(number):  # 1e999: JSON has no infinity, and PostgreSQL would refuse it
        raise IntakeError(f"the number {literal[:40]} in the body is out of range")
    return number


def _constant(name: str) -> NoReturn:
    raise IntakeError(f"{name} is not a JSON value")


def _loads(text: str, *, max_depth: int) -> Any:
    if deeper_than(text, max_depth):  # before json.loads, which recurses once per level
        raise IntakeError(f"the body is nested deeper than the limit of {max_depth} levels")
    return json.loads(text, parse_int=_integer, parse_float=_finite, parse_constant=_constant)


def _count_keys(value: Any) -> int:
    """Keys of every object in `value`, nested ones too (iteratively)."""
    count, pending = 0, [value]
    while pending:
        item = pending.pop()
        if isinstance(item, dict):
            count += len(item)
            pending.extend(item.values())
        elif isinstance(item, list):
            pending.extend(item)
    return count


def _parse_json(text: str, *, max_depth: int) -> Any:
    try:
        return _loads(text, max_depth=max_depth)
    except json.JSONDecodeError:
        pass
    repaired = text
    # Applied twice: adjacent matches share a separator, so one pass misses every second one.
    for _ in range(2):
        repaired = _DOUBLED_QUOTES_RE.sub(r'\1"\2"\3', repaired)
        repaired = _BARE_MNEMONIC_RE.sub(r"\1null\2", repaired)
    try:
        return _loads(repaired, max_depth=max_depth)
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


def parse_form(text: str, *, exclude: frozenset[str] = frozenset(), max_keys: int = MAX_KEYS) -> dict[str, Any]:
    pairs = [(k, v) for k, v in parse_qsl(text, keep_blank_values=True) if k not in exclude]
    if len(pairs) > max_keys:
        raise IntakeError(f"{len(pairs)} form fields, over the limit of {max_keys} keys")
    return _clean_values({k: _form_value(v) for k, v in pairs})


def _looks_like_form(text: str) -> bool:
    stripped = text.strip()
    return bool(stripped) and stripped[0] not in '{["' and "=" in stripped


def parse_body(
    raw: bytes, content_type: str, *, max_keys: int = MAX_KEYS, max_depth: int = MAX_DEPTH
) -> dict[str, Any]:
    """Parse a POST body as the Content-Type says, tolerating what UIS really sends. At most
    `max_keys` keys (nested objects' too) nested at most `max_depth` levels (the object is one)."""
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
        return parse_form(text, max_keys=max_keys)
    parsed = _parse_json(text, max_depth=max_depth)
    if not isinstance(parsed, dict):
        raise IntakeError(f'the body is a JSON {type(parsed).__name__}, not an object; send {{"mnemonic": value, ...}}')
    keys = _count_keys(parsed)
    if keys > max_keys:
        raise IntakeError(f"the body has {keys} keys, over the limit of {max_keys}")
    return _clean_values(parsed)


@dataclass(frozen=True)
class Received:
    values: dict[str, Any]
    raw: str  # what UIS sent, as text, without the token


def _is_ours(name: str) -> bool:
    """Whether a query parameter is the token's, however it is spelled: the endpoint reads it by
    its decoded name (`%74oken` is `token`), so it is left out by that name, and by any spelling
    that decodes near it (capitals, a NUL, spaces), which it never is a UIS value under."""
    return unquote_plus(name).replace("\x00", "").strip().casefold() in _NOT_VALUES


def _without(secret: str, value: Any) -> Any:
    """The token in clear is kept out of what is stored wherever it stands (a body, a value)."""
    if isinstance(value, str):
        return value.replace(secret, MASKED)
    if isinstance(value, list):
        return [_without(secret, v) for v in value]
    if isinstance(value, dict):
        return {k: _without(secret, v) for k, v in value.items()}
    return value


def parse_request(
    *, query: str, body: bytes | None, content_type: str, max_keys: int, max_depth: int, token: str = ""
) -> Received:
    """Values from the query string (the token left out) and, for a POST, the body, whose
    values win; each within the limits. Raises IntakeError when there is nothing usable.
    `token`, the one the request authenticated with, is masked wherever else it appears."""
    query = "&".join(part for part in query.split("&") if not _is_ours(part.split("=", 1)[0]))
    values = parse_form(query, max_keys=max_keys)
    raw = query.replace("\x00", "")
    if body is not None:
        values.update(parse_body(body, content_type, max_keys=max_keys, max_depth=max_depth))
        raw = body.decode("utf-8-sig").replace("\x00", "")  # parse_body has checked the encoding
    if not values:
        raise IntakeError("no values: send a JSON object of mnemonic -> value")
    if token and (token in raw or token in query):  # two substring searches: the values come from these
        raw, values = raw.replace(token, MASKED), _without(token, values)
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
