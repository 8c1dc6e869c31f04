"""Checks a notification's URL, body and filters before they are saved (admin and import).
Each function returns messages that say what to fix; an empty list means valid."""

import json
import re
from collections.abc import Collection, Mapping
from urllib.parse import parse_qsl, urlsplit

from django.conf import settings
from django.utils.translation import gettext as _

from core.filter_fields import known_fields, never_matching
from core.filters import validate_filters
from core.mnemonics import CommunicationType, sample_values
from core.nesting import MAX_CONFIG_DEPTH
from core.rendering import (
    HEADER_NAMES,
    TemplateError,
    compile_body,
    compile_headers,
    compile_url,
    header_name,
    header_value_ok,
)
from mindbox_integration.mindbox.guard import host_allowed, scheme_allowed
from mindbox_integration.mindbox.placeholders import DEVICE_UUID_MNEMONIC, fill_device_uuid, placeholders

MINDBOX_PATHS = ("/v3/operations/sync", "/v3/operations/async")
MNEMONIC_TEXT_RE = re.compile(r"\{\{.*?\}\}")


def _unknown(names: Collection[str], known: Collection[str]) -> list[str]:
    return sorted(set(names) - set(known))


def _unknown_message(where: str, unknown: list[str], communication_type: str) -> str:
    listed = ", ".join("{{" + n + "}}" for n in unknown)
    return _(
        "%(where)s: unknown mnemonic(s) %(names)s for communication type %(type)s; pick them from the mnemonic catalogue"
    ) % {"where": where, "names": listed, "type": _type_label(communication_type)}


def _type_label(communication_type: str) -> str:
    """The type as the admin names it (Звонки), not its code (calls)."""
    try:
        return str(CommunicationType(communication_type).label)
    except ValueError:
        return communication_type


def validate_url(
    url: str,
    *,
    operation_name: str,
    communication_type: str,
    known_mnemonics: Collection[str],
    allowed_hosts: Collection[str],
    require_https: bool,
) -> list[str]:
    # deviceUUID's placeholder is put in its place on save and import (see fill_url), so a draft
    # holding it is checked as it will be saved.
    url, _replaced = fill_device_uuid(url.strip())
    if not url:
        return [_("URL: paste the operation's URL from Mindbox")]
    try:
        template = compile_url(url)
    except TemplateError as exc:
        return [_("URL: %(error)s") % {"error": exc}]
    parts = urlsplit(url)  # compile_url has split it once already
    try:
        port = parts.port
    except ValueError:  # not a number, or over 65535
        return [_("URL: the port after the host must be a number from 1 to 65535")]
    if not parts.scheme and not parts.netloc:  # "api.mindbox.ru/v3/...": one cause, one message
        return [_("URL: paste the whole URL, starting with https://")]
    errors = []
    # The host and https rules are the outbound guard's, which applies them again before every request.
    if not scheme_allowed(parts.scheme, require_https=require_https):
        errors.append(_("URL: must start with https://"))
    host = (parts.hostname or "").lower()
    if not host:
        errors.append(_("URL: no host; paste the whole URL, starting with https://"))
    elif not host_allowed(scheme=parts.scheme, host=host, port=port, allowed_hosts=allowed_hosts):
        errors.append(
            _("URL: host %(host)s is not a Mindbox API host; allowed: %(allowed)s")
            % {"host": parts.netloc, "allowed": ", ".join(allowed_hosts)}
        )
    query = dict(parse_qsl(parts.query, keep_blank_values=True))
    endpoint = query.get("endpointId", "").strip()
    # Mindbox's description leaves {...} where the user's values go; endpointId's is said below.
    for placeholder in placeholders(url):
        if placeholder not in endpoint:
            errors.append(
                _("URL: %(placeholder)s is a placeholder from Mindbox's description; put the real value in its place")
                % {"placeholder": placeholder}
                + (_(" (async or sync)") if "sync" in placeholder.lower() else "")
            )
    if parts.path not in MINDBOX_PATHS and not placeholders(parts.path):
        errors.append(
            _("URL: the path must be %(async)s (or %(sync)s), not %(path)s")
            % {"async": MINDBOX_PATHS[1], "sync": MINDBOX_PATHS[0], "path": parts.path or "/"}
        )
    if not endpoint:
        errors.append(_("URL: endpointId is missing; copy it from the integration point in Mindbox"))
    elif "{" in endpoint or "}" in endpoint or "Идентификатор" in endpoint:
        errors.append(
            _(
                "URL: endpointId is still the placeholder %(value)s; put the integration point's id from Mindbox in its place"
            )
            % {"value": endpoint}
        )
    operation = query.get("operation", "")
    if not operation:
        errors.append(_("URL: the operation parameter is missing; add &operation=%(name)s") % {"name": operation_name})
    elif operation != operation_name:
        errors.append(
            _("URL: operation is %(given)s but this notification belongs to operation %(name)s")
            % {"given": operation, "name": operation_name}
        )
    if "transactionId" in query:
        errors.append(_("URL: remove transactionId; the portal adds one per delivery"))
    unknown = _unknown(template.mnemonics, known_mnemonics)
    if unknown:
        errors.append(_unknown_message(_("URL"), unknown, communication_type))
    return errors


def fill_url(url: str) -> tuple[str, str]:
    """The URL as it is saved (stripped, deviceUUID's placeholder made {{mindbox_device_uuid}}),
    and a note saying what was put in place of what ("" when nothing was)."""
    filled, replaced = fill_device_uuid(url.strip())
    if not replaced:
        return filled, ""
    return filled, _("URL: deviceUUID=%(placeholder)s was replaced by deviceUUID=%(mnemonic)s") % {
        "placeholder": replaced,
        "mnemonic": DEVICE_UUID_MNEMONIC,
    }


def url_operation(url: str) -> str:
    """The `operation` query value of a notification URL ("" when absent, or not a URL)."""
    try:
        query = urlsplit(url.strip()).query
    except ValueError:  # an unclosed IPv6 bracket: validate_url says so
        return ""
    return dict(parse_qsl(query)).get("operation", "")


def validate_secret_key(key: str) -> list[str]:
    # A header can carry only Latin-1, and a key with anything else would fail every send.
    if key and not all(33 <= ord(ch) < 127 for ch in key):
        return [_("Secret key: only Latin letters, digits and punctuation, no spaces; copy it from Mindbox again")]
    return []


def validate_body(body: str, *, communication_type: str, known_mnemonics: Collection[str]) -> list[str]:
    if not body.strip():
        return [_("Body: paste the operation's JSON from Mindbox and put mnemonics in place of its values")]
    try:
        template = compile_body(body)
    except TemplateError as exc:
        return [_("Body: %(error)s") % {"error": exc}]
    unknown = _unknown(template.mnemonics, known_mnemonics)
    if unknown:
        return [_unknown_message(_("Body"), unknown, communication_type)]
    try:
        json.loads(template.render_json(sample_values(communication_type)))
    except (TypeError, ValueError) as exc:  # a guard: the renderer builds values, not text
        return [_("Body: rendered with sample values it is not valid JSON: %(error)s") % {"error": exc}]
    return []


def filters_too_deep() -> str:
    """Said before JSON text of filter conditions is parsed (nesting.deeper_than)."""
    return _("Filter conditions: nested deeper than %(limit)d levels; conditions are a list of rows") % {
        "limit": MAX_CONFIG_DEPTH
    }


def headers_too_deep() -> str:
    """Said before JSON text of the optional headers is parsed (nesting.deeper_than)."""
    return _("Headers: nested deeper than %(limit)d levels; headers are an object of names to text") % {
        "limit": MAX_CONFIG_DEPTH
    }


def validate_headers(headers: object, *, communication_type: str, known_mnemonics: Collection[str]) -> list[str]:
    """The optional headers: an object of offered names (X-Customer-IP, User-Agent) to text
    with mnemonics, each fixed part printable ASCII; a fixed X-Customer-IP an IP address."""
    if headers in (None, {}):
        return []
    if not isinstance(headers, dict):
        return [_('Headers: must be an object, such as {"User-Agent": "Acme"}')]
    errors = []
    for name, value in headers.items():
        known = header_name(str(name))
        if known is None:
            errors.append(
                _("Headers: %(name)s is not offered; only %(names)s") % {"name": name, "names": ", ".join(HEADER_NAMES)}
            )
            continue
        if not isinstance(value, str) or not value.strip():
            errors.append(_("Headers: %(name)s needs a value (text or a mnemonic)") % {"name": known})
            continue
        try:
            template = compile_headers({known: value})
        except TemplateError as exc:
            errors.append(_("Headers: %(error)s") % {"error": exc})
            continue
        unknown = _unknown(template.mnemonics, known_mnemonics)
        if unknown:
            errors.append(_unknown_message(_("Headers"), unknown, communication_type))
        fixed = MNEMONIC_TEXT_RE.sub("", value)
        if fixed and not header_value_ok("User-Agent", fixed):
            errors.append(_("Headers: %(name)s may hold only Latin letters, digits and punctuation") % {"name": known})
        elif not template.mnemonics and not header_value_ok(known, value.strip()):
            errors.append(_("Headers: %(name)s must be an IP address, such as 203.0.113.7") % {"name": known})
    return errors


def validate_notification_filters(filters: object, *, known_mnemonics: Collection[str]) -> list[str]:
    errors = validate_filters(filters, known_fields=known_mnemonics)
    return [_("Filter conditions: %(error)s") % {"error": m} for m in errors]


def notification_errors(
    *,
    operation_name: str,
    communication_type: str,
    url: str,
    body: str,
    filters: object,
    known_mnemonics: Collection[str],
    headers: object = None,
) -> dict[str, list[str]]:
    """All checks of one notification, by field; only fields with errors appear."""
    errors = {
        "url": validate_url(
            url,
            operation_name=operation_name,
            communication_type=communication_type,
            known_mnemonics=known_mnemonics,
            allowed_hosts=settings.MINDBOX_ALLOWED_HOSTS,
            require_https=settings.MINDBOX_REQUIRE_HTTPS,
        ),
        "body": validate_body(body, communication_type=communication_type, known_mnemonics=known_mnemonics),
        "filters": validate_notification_filters(filters, known_mnemonics=known_mnemonics),
        "headers": validate_headers(headers, communication_type=communication_type, known_mnemonics=known_mnemonics),
    }
    return {field: messages for field, messages in errors.items() if messages}


def arrival_warnings(
    *, url: str, body: str, communication_type: str, arrived: Mapping[str, int], total: int
) -> list[str]:
    """Mnemonics the URL or body relies on that came with a value in none of the account's
    recent events of the type: saved (UIS may yet send them), but said, since until then nothing
    reaches Mindbox for them. Silent while the account has no events of the type."""
    if total == 0:
        return []
    try:
        names = set(compile_body(body).mnemonics) | set(compile_url(url).mnemonics)
    except TemplateError:
        return []  # the errors say what is wrong
    return [
        _(
            "%(name)s came with a value in none of the last %(total)d events of type %(type)s: until UIS "
            "sends it, nothing reaches Mindbox for it"
        )
        % {"name": "{{" + name + "}}", "total": total, "type": _type_label(communication_type)}
        for name in sorted(names)
        if arrived.get(name, 0) == 0
    ]


def filter_warnings(filters: object, *, communication_type: str) -> list[str]:
    """Values of valid conditions that can never match a field of known values (a label typed
    for its code): saved, but said, since such a row silently passes nothing (or everything)."""
    if not isinstance(filters, dict) or not isinstance(filters.get("conditions"), list):
        return []
    warnings = []
    fields = known_fields(communication_type)
    for number, row in enumerate(filters["conditions"], start=1):
        if not isinstance(row, dict) or not isinstance(row.get("values"), list):
            continue
        field = str(row.get("field"))
        wrong = never_matching(communication_type=communication_type, field=field, values=row["values"])
        if wrong:
            offered = ", ".join(f"{c.code} ({_(c.label)})" for c in fields[field].choices)
            warnings.append(
                _(
                    "Filter conditions: condition %(number)d: %(values)s can never match %(field)s, whose values are %(offered)s"
                )
                % {"number": number, "values": ", ".join(f"«{v}»" for v in wrong), "field": field, "offered": offered}
            )
    return warnings
