"""The notification editor's reads: the mnemonic palette of a communication type, the check of
a draft as it is typed, and its preview rendered as a delivery would be. Pure reads, with the
same validation and rendering code that saving and delivering use."""

import json
import re
import uuid
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any
from urllib.parse import parse_qsl, quote, urlsplit, urlunsplit

from django.utils.translation import gettext as _

from core.filter_fields import known_fields
from core.mnemonics import CATALOGUE, DEVICE_UUID, mnemonics_for, sample_values
from core.nesting import MAX_CONFIG_DEPTH, deeper_than
from core.rendering import TemplateError, compile_body, json_error_reason
from mindbox_integration import validation
from mindbox_integration.mindbox import request
from mindbox_integration.mindbox.placeholders import placeholders
from mindbox_integration.selectors import known_mnemonics
from notifications.models import InboundEvent
from notifications.selectors import Arrivals, arrivals

RECENT_EVENTS = 10


@dataclass(frozen=True)
class FieldChoice:
    code: str
    label: str  # translated: UIS's word


def filter_values(communication_type: str) -> dict[str, dict[str, Any]]:
    """The filter builder's offer for the fields of known values: each value's code (stored)
    with UIS's word for it, and how a derived field is derived."""
    return {
        name: {
            "choices": [asdict(FieldChoice(code=c.code, label=_(c.label))) for c in known.choices],
            "note": _(known.note) if known.note else "",
        }
        for name, known in known_fields(communication_type).items()
    }


@dataclass(frozen=True)
class PaletteEntry:
    name: str
    meaning: str  # translated
    sample: Any
    seen: bool = False  # sent by UIS to this account, not in the catalogue
    arrived: int = 0  # events of the last `of` in which it came with a value
    of: int = 0  # the account's recent events of the type looked at (0: none yet, or no account)


def palette(*, account_id: int | None, communication_type: str) -> list[PaletteEntry]:
    """The catalogue's mnemonics of the type in its order, then the keys UIS has sent the
    account that the catalogue does not list (usable too), by name."""
    if communication_type not in CATALOGUE:
        return []
    catalogue = mnemonics_for(communication_type)
    seen = (
        arrivals(account_id=account_id, communication_type=communication_type)
        if account_id is not None
        else Arrivals(total=0, counts={})
    )
    entries = [
        PaletteEntry(name=m.name, meaning=_(m.meaning), sample=m.sample, arrived=seen.of(m.name), of=seen.total)
        for m in catalogue.values()
    ]
    extra = known_mnemonics(account_id=account_id, communication_type=communication_type) - set(catalogue)
    entries += [
        PaletteEntry(
            name=name,
            meaning=_("sent by UIS to this account"),
            sample=None,
            seen=True,
            arrived=seen.of(name),
            of=seen.total,
        )
        for name in sorted(extra)
    ]
    return entries


@dataclass(frozen=True)
class Place:
    """Where in a field's text a problem is: start and end offsets in characters (code points),
    and the line and column people count from 1."""

    field: str  # url or body
    start: int
    end: int
    line: int
    column: int


def place_in(text: str, *, field: str, start: int, end: int) -> Place:
    line_start = text.rfind("\n", 0, start) + 1
    return Place(field=field, start=start, end=end, line=text.count("\n", 0, start) + 1, column=start - line_start + 1)


@dataclass(frozen=True)
class Problem:
    field: str
    message: str
    place: Place | None = None  # known for a JSON error and each unknown mnemonic


@dataclass(frozen=True)
class DraftCheck:
    errors: dict[str, list[str]]  # by field: url, body, filters
    unknown: list[str] = field(default_factory=list)  # mnemonics of the body and URL that are not known
    # The messages of errors in order, then each unknown mnemonic where it stands.
    problems: list[Problem] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)  # what saving would save but say (not errors)

    @property
    def ok(self) -> bool:
        return not self.errors


def parse_filters_text(text: str) -> tuple[object, list[str]]:
    """The filter conditions as typed (JSON text): the value and any message about the text."""
    if not text.strip():
        return {}, []
    if deeper_than(text, MAX_CONFIG_DEPTH):
        return None, [validation.filters_too_deep()]
    try:
        return json.loads(text), []
    except json.JSONDecodeError as exc:
        return None, [
            _("Filter conditions: not valid JSON: %(error)s at line %(line)d, column %(column)d")
            % {"error": json_error_reason(exc), "line": exc.lineno, "column": exc.colno}
        ]


def parse_headers_text(text: str) -> dict[str, str]:
    """The optional headers as typed, for a test send: an object of texts, else none (the check
    says what is wrong with them)."""
    try:
        headers = json.loads(text) if text.strip() else {}
    except json.JSONDecodeError:
        return {}
    if not isinstance(headers, dict) or not all(isinstance(v, str) for v in headers.values()):
        return {}
    return headers


MNEMONIC_RE = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")


def _mnemonics_of(url: str, body: str) -> set[str]:
    """Found in the text, not the compiled template: a body that is not JSON yet still names
    its unknown mnemonics."""
    return {match.group(1) for text in (url, body) for match in MNEMONIC_RE.finditer(text)}


def _json_error(body: str) -> Problem | None:
    """The body's JSON error at the character where parsing stopped, saying only what is wrong
    (the place is shown apart). An empty body is not an error of a place: it has a message of
    its own."""
    if not body.strip():
        return None
    try:
        compile_body(body)
    except TemplateError as exc:
        if exc.offset is not None:
            return Problem(
                field="body",
                message=_("not valid JSON: %(reason)s") % {"reason": exc.reason},
                place=place_in(body, field="body", start=exc.offset, end=min(exc.offset + 1, len(body))),
            )
    return None


def _unknown_places(text: str, *, field: str, unknown: set[str]) -> list[Problem]:
    return [
        Problem(
            field=field,
            message=_("unknown mnemonic %(name)s") % {"name": match.group(0)},
            place=place_in(text, field=field, start=match.start(), end=match.end()),
        )
        for match in MNEMONIC_RE.finditer(text)
        if match.group(1) in unknown
    ]


def _problems(errors: dict[str, list[str]], *, url: str, body: str, unknown: set[str]) -> list[Problem]:
    json_error = _json_error(body)
    problems = [
        # A body that is not JSON has that one message (validate_body stops at it).
        json_error if name == "body" and json_error else Problem(field=name, message=message)
        for name, messages in errors.items()
        for message in messages
    ]
    return (
        problems
        + _unknown_places(url, field="url", unknown=unknown)
        + _unknown_places(body, field="body", unknown=unknown)
    )


def check_draft(
    *,
    account_id: int | None,
    operation_name: str | None,
    communication_type: str,
    url: str,
    body: str,
    filters_text: str,
    headers_text: str = "",
) -> DraftCheck:
    """What saving would say about the draft. Without an operation yet (a new notification on
    its own page), the URL's operation is not compared with one."""
    if communication_type not in CATALOGUE:
        message = _("Choose the communication type")
        return DraftCheck(
            errors={"communication_type": [message]}, problems=[Problem(field="communication_type", message=message)]
        )
    known = known_mnemonics(account_id=account_id, communication_type=communication_type)
    filters, filter_errors = parse_filters_text(filters_text)
    try:
        headers: object = json.loads(headers_text) if headers_text.strip() else {}
    except json.JSONDecodeError:
        headers = []  # not an object: validate_headers says so
    errors = validation.notification_errors(
        operation_name=operation_name if operation_name is not None else validation.url_operation(url),
        communication_type=communication_type,
        url=url,
        body=body,
        filters=filters if not filter_errors else {},
        known_mnemonics=known,
        headers=headers,
    )
    if filter_errors:
        errors["filters"] = filter_errors
    unknown = _mnemonics_of(url, body) - known
    warnings = [] if errors else validation.filter_warnings(filters, communication_type=communication_type)
    if not errors and account_id is not None:
        seen = arrivals(account_id=account_id, communication_type=communication_type)
        warnings += validation.arrival_warnings(
            url=url, body=body, communication_type=communication_type, arrived=seen.counts, total=seen.total
        )
    return DraftCheck(
        errors=errors,
        unknown=sorted(unknown),
        problems=_problems(errors, url=url, body=body, unknown=unknown),
        warnings=warnings,
    )


@dataclass(frozen=True)
class Preview:
    url: str
    body: str  # as sent: compact
    headers: dict[str, str] = field(default_factory=dict)  # as sent, the key masked
    body_indented: str = ""  # for reading
    error: str = ""


def preview(
    *, url: str, body: str, values: Mapping[str, Any], headers: Mapping[str, str] | None = None, secret_key: str = ""
) -> Preview:
    """The request a delivery of these values would make, built as a delivery builds it
    (mindbox.request), the key masked (an /async URL gets a transactionId of its own per
    delivery; the preview shows a new one)."""
    url, _note = validation.fill_url(url)  # as saving would store it: deviceUUID's placeholder filled
    try:
        built = request.build(
            url_template=url,
            body_template=body,
            headers_template=headers,
            values=values,
            secret_key=secret_key,
            transaction_id=str(uuid.uuid4()),
        ).shown()
    except TemplateError as exc:
        return Preview(url="", body="", error=str(exc))
    return Preview(
        url=built.url,
        body=built.body,
        headers=built.headers,
        body_indented=json.dumps(json.loads(built.body), ensure_ascii=False, indent=2),
    )


def preview_values(*, communication_type: str, event: InboundEvent | None = None) -> dict[str, Any]:
    """An event's values, or the catalogue's sample values of the type."""
    if event is not None and isinstance(event.values, dict):
        return dict(event.values)
    return sample_values(communication_type) if communication_type in CATALOGUE else {}


def recent_events(*, account_id: int, communication_type: str, limit: int = RECENT_EVENTS) -> list[InboundEvent]:
    """The account's latest events of the type, to preview a body with real values."""
    return list(
        InboundEvent.objects.filter(account_id=account_id, communication_type=communication_type)
        .order_by("-received_at", "-pk")
        .only("pk", "received_at", "identity", "communication_type")[:limit]
    )


@dataclass(frozen=True)
class FilledUrl:
    url: str  # "" when it could not be built
    errors: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # what was put in place of a placeholder


def _is_placeholder(endpoint: str) -> bool:
    return not endpoint.strip() or any(mark in endpoint for mark in ("{", "}", "Идентификатор"))


def _query_text(pairs: list[tuple[str, str]]) -> str:
    """Query text with mnemonics left readable ({{name}}), everything else encoded."""
    return "&".join(
        f"{quote(key, safe='')}={value if value.startswith('{{') and value.endswith('}}') else quote(value, safe='')}"
        for key, value in pairs
    )


def fill_mindbox_url(*, pasted: str, endpoint_id: str, operation_name: str | None, device_uuid: bool) -> FilledUrl:
    """The URL Mindbox's operation settings show, with the integration point's id put in place of
    its placeholder (`{Идентификатор точки интеграции}`), transactionId dropped (each delivery
    adds its own), deviceUUID={{mindbox_device_uuid}} added when asked; and whether it calls this
    notification's operation."""
    try:
        parts = urlsplit(pasted.strip())
    except ValueError:  # `http://[::1`: an unclosed IPv6 bracket
        parts = urlsplit("")
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return FilledUrl(
            url="", errors=[_("Paste the whole URL from the operation's settings in Mindbox, starting with https://")]
        )
    pairs = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k != "transactionId"]
    query = dict(pairs)
    errors = []
    endpoint_id = endpoint_id.strip()
    if endpoint_id:
        if _is_placeholder(endpoint_id):
            errors.append(
                _("The integration point's id is the one Mindbox issued, such as acme.Website, not the placeholder")
            )
        elif "endpointId" in query:
            pairs = [(k, endpoint_id if k == "endpointId" else v) for k, v in pairs]
        else:
            pairs.insert(0, ("endpointId", endpoint_id))
    elif _is_placeholder(query.get("endpointId", "")):
        errors.append(
            _("Enter the integration point's id (endpointId) from Mindbox: the URL has a placeholder in its place")
        )
    operation = query.get("operation", "")
    if not operation:
        errors.append(_("The URL names no operation: copy it from the operation's settings in Mindbox"))
    elif operation_name and operation != operation_name:
        errors.append(
            _("The URL calls operation %(given)s, but this notification belongs to operation %(name)s")
            % {"given": operation, "name": operation_name}
        )
    if device_uuid and "deviceUUID" not in query:
        pairs.append(("deviceUUID", "{{" + DEVICE_UUID.name + "}}"))
    url, note = validation.fill_url(urlunsplit((parts.scheme, parts.netloc, parts.path, _query_text(pairs), "")))
    # Any other {...} of Mindbox's description is the user's to fill (endpointId's is said above).
    endpoint = dict(parse_qsl(urlsplit(url).query)).get("endpointId", "")
    errors += [
        _("The URL still has the placeholder %(placeholder)s: put the real value in its place")
        % {"placeholder": placeholder}
        for placeholder in placeholders(url)
        if placeholder not in endpoint
    ]
    return FilledUrl(url=url, errors=errors, notes=[note] if note else [])
