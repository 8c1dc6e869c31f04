"""JSON-aware rendering of notification bodies and URLs.

A body template is Mindbox's JSON with UIS mnemonics in place of values. It is parsed once
into a tree of small render functions; values are substituted into that tree, never into
text, so no value can add a key or break the JSON. Rules:

- ``"key": {{name}}`` (unquoted) and ``"key": "{{name}}"`` (quoted) are whole values: the
  value itself (quoted: as text). With no value the key (or array element) is left out, so
  nothing in Mindbox is overwritten with empty.
- ``"note": "Call to {{virtual_phone_number}}"`` inserts the value as text ("" when absent).
- In a URL, mnemonics may stand in query values only; they are URL-encoded, and a query
  parameter that is a single mnemonic with no value is left out.
"""

import ipaddress
import json
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Protocol
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop

from core.nesting import MAX_CONFIG_DEPTH, deeper_than

Values = Mapping[str, Any]
_Render = Callable[[Values], Any]

NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_BRACES_RE = re.compile(r"\{\{(.*?)\}\}")
_SENTINEL = "\ue000"  # private-use character marking an unquoted mnemonic after pre-parsing


class Templated(Protocol):
    """What has a URL and a body to render: a Notification, or a cached plan's target."""

    @property
    def pk(self) -> Any: ...

    @property
    def url(self) -> str: ...

    @property
    def body(self) -> str: ...

    @property
    def headers(self) -> Mapping[str, str]: ...


class TemplateError(ValueError):
    """A template that cannot be compiled; the message says what to fix, and offset where in
    the text when that is known (a JSON error, whose reason alone is `reason`), for the editor
    to point at."""

    def __init__(self, message: str, *, offset: int | None = None, reason: str = "") -> None:
        super().__init__(message)
        self.offset = offset
        self.reason = reason


# The json module's messages (a fixed set), said as what to fix; any other is shown as it is.
_JSON_REASONS = {
    "Expecting value": gettext_noop("a value is expected here (or a comma too many before a closing bracket)"),
    "Expecting property name enclosed in double quotes": gettext_noop(
        "a key in double quotes is expected here (or a comma too many before })"
    ),
    "Expecting ':' delimiter": gettext_noop("a colon is missing after the key"),
    "Expecting ',' delimiter": gettext_noop("a comma is missing between two items"),
    "Unterminated string starting at": gettext_noop("a string is not closed with a double quote"),
    "Invalid control character at": gettext_noop("a line break or a tab inside a string; write \\n or \\t"),
    "Invalid \\escape": gettext_noop("a backslash inside a string that is not an escape; write \\\\"),
    "Invalid \\uXXXX escape": gettext_noop("a \\u escape that is not four hex digits"),
    "Extra data": gettext_noop("something follows the end of the object"),
}


def json_error_reason(exc: json.JSONDecodeError) -> str:
    """What is wrong, in the admin's language."""
    reason = _JSON_REASONS.get(exc.msg)
    return _(reason) if reason else exc.msg


class _Missing:
    __slots__ = ()


MISSING: Any = _Missing()


def has_value(value: Any) -> bool:
    return value is not None and not (isinstance(value, str) and not value.strip())


def as_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, list):
        return ", ".join(as_text(v) for v in value)
    return json.dumps(value, ensure_ascii=False)


def _split_text(text: str, where: str) -> list[str | tuple[str]]:
    """Split text into literal parts and (name,) mnemonic parts."""
    parts: list[str | tuple[str]] = []
    pos = 0
    for match in _BRACES_RE.finditer(text):
        name = match.group(1).strip()
        if not NAME_RE.match(name):
            raise TemplateError(
                _("%(where)s: %(text)s is not a mnemonic; write {{name}}") % {"where": where, "text": match.group(0)}
            )
        if match.start() > pos:
            parts.append(text[pos : match.start()])
        parts.append((name,))
        pos = match.end()
    if pos < len(text):
        parts.append(text[pos:])
    return parts


def _whole(name: str, text: bool) -> _Render:
    if text:
        return lambda v: as_text(x) if has_value(x := v.get(name)) else MISSING
    return lambda v: x if has_value(x := v.get(name)) else MISSING


def _interpolated(parts: list[str | tuple[str]]) -> _Render:
    def render(values: Values) -> str:
        return "".join(p if isinstance(p, str) else as_text(values.get(p[0])) for p in parts)

    return render


def _constant(value: Any) -> _Render:
    return lambda v: value


@dataclass
class _Compiler:
    names: set[str]

    def node(self, value: Any, path: str) -> tuple[_Render, bool]:
        """Return (render function, whether the subtree holds mnemonics)."""
        if isinstance(value, dict):
            return self._object(value, path)
        if isinstance(value, list):
            return self._array(value, path)
        if isinstance(value, str):
            return self._string(value, path)
        return _constant(value), False

    def _string(self, value: str, path: str) -> tuple[_Render, bool]:
        if value.startswith(_SENTINEL) and value.endswith(_SENTINEL) and len(value) > 1:
            name = value[1:-1].strip()
            self.names.add(name)
            return _whole(name, text=False), True
        parts = _split_text(value, path or "/")
        names = [p[0] for p in parts if isinstance(p, tuple)]
        if not names:
            return _constant(value), False
        self.names.update(names)
        if len(parts) == 1:
            return _whole(names[0], text=True), True
        return _interpolated(parts), True

    def _object(self, value: dict[str, Any], path: str) -> tuple[_Render, bool]:
        items: list[tuple[str, _Render]] = []
        dynamic = False
        for key, child in value.items():
            if "{{" in key or _SENTINEL in key:
                raise TemplateError(
                    _("%(path)s: mnemonics may stand only in values, not in keys") % {"path": f"{path}/{key}"}
                )
            render, child_dynamic = self.node(child, f"{path}/{key}")
            items.append((key, render))
            dynamic = dynamic or child_dynamic
        if not dynamic:
            return _constant(value), False

        def render_object(values: Values) -> dict[str, Any]:
            out = {}
            for key, render in items:
                result = render(values)
                if result is not MISSING:
                    out[key] = result
            return out

        return render_object, True

    def _array(self, value: list[Any], path: str) -> tuple[_Render, bool]:
        compiled = [self.node(child, f"{path}/{i}") for i, child in enumerate(value)]
        if not any(dynamic for _, dynamic in compiled):
            return _constant(value), False
        renders = [render for render, _ in compiled]

        def render_array(values: Values) -> list[Any]:
            return [r for render in renders if (r := render(values)) is not MISSING]

        return render_array, True


def _mark_unquoted(text: str) -> str:
    """Turn each mnemonic that stands outside a JSON string into a sentinel string of the
    same length, so the text parses as JSON and error positions still point at the source."""
    out: list[str] = []
    i, n = 0, len(text)
    in_string = False
    while i < n:
        ch = text[i]
        if in_string:
            out.append(ch)
            if ch == "\\" and i + 1 < n:
                out.append(text[i + 1])
                i += 2
                continue
            if ch == '"':
                in_string = False
            i += 1
            continue
        if ch == '"':
            in_string = True
        elif text.startswith("{{", i):
            end = text.find("}}", i + 2)
            if end != -1:
                inner = text[i + 2 : end]
                out.append(f'"{_SENTINEL}{inner}{_SENTINEL}"')
                i = end + 2
                continue
        out.append(ch)
        i += 1
    return "".join(out)


@dataclass(frozen=True)
class BodyTemplate:
    mnemonics: frozenset[str]
    _render: _Render

    def render(self, values: Values) -> dict[str, Any]:
        result: dict[str, Any] = self._render(values)
        return result

    def render_json(self, values: Values) -> str:
        return json.dumps(self.render(values), ensure_ascii=False, separators=(",", ":"))


@lru_cache(maxsize=4096)
def compile_body(text: str) -> BodyTemplate:
    if _SENTINEL in text:
        raise TemplateError(_("the body contains the reserved character U+E000; remove it"))
    marked = _mark_unquoted(text)
    if deeper_than(marked, MAX_CONFIG_DEPTH):  # compiling and rendering recurse once per level too
        raise TemplateError(
            _("the body nests objects and arrays deeper than %(limit)d levels; Mindbox's bodies need far fewer")
            % {"limit": MAX_CONFIG_DEPTH}
        )
    try:
        parsed = json.loads(marked)
    except json.JSONDecodeError as exc:
        reason = json_error_reason(exc)
        raise TemplateError(
            _("the body is not valid JSON: %(error)s at line %(line)d, column %(column)d")
            % {"error": reason, "line": exc.lineno, "column": exc.colno},
            offset=exc.pos,  # _mark_unquoted keeps lengths, so this is the source's offset
            reason=reason,
        ) from None
    if not isinstance(parsed, dict):
        raise TemplateError(_('the body must be a JSON object, such as {"customer": {...}}'))
    compiler = _Compiler(names=set())
    render, _dynamic = compiler.node(parsed, "")
    return BodyTemplate(mnemonics=frozenset(compiler.names), _render=render)


@dataclass(frozen=True)
class UrlTemplate:
    base: tuple[str, str, str]  # scheme, netloc, path
    query: tuple[tuple[str, list[str | tuple[str]]], ...]
    fragment: str
    mnemonics: frozenset[str]

    def render(self, values: Values, extra: Iterable[tuple[str, str]] = ()) -> str:
        params: list[tuple[str, str]] = []
        for key, parts in self.query:
            if len(parts) == 1 and isinstance(parts[0], tuple):
                value = values.get(parts[0][0])
                if not has_value(value):
                    continue
                params.append((key, as_text(value)))
            else:
                text = "".join(p if isinstance(p, str) else as_text(values.get(p[0])) for p in parts)
                params.append((key, text))
        extra = list(extra)
        overridden = {k for k, _ in extra}
        params = [(k, v) for k, v in params if k not in overridden] + extra
        return urlunsplit((*self.base, urlencode(params), self.fragment))


@lru_cache(maxsize=4096)
def compile_url(url: str) -> UrlTemplate:
    try:
        parts = urlsplit(url.strip())
    except ValueError:  # `http://[::1`: an unclosed IPv6 bracket
        raise TemplateError(_("the URL cannot be read: check the brackets around the host")) from None
    for where, text in ((_("host"), parts.netloc), (_("path"), parts.path)):
        if "{{" in text:
            raise TemplateError(_("mnemonics may stand only in query values, not in the %(where)s") % {"where": where})
    query = []
    names: set[str] = set()
    for key, value in parse_qsl(parts.query, keep_blank_values=True):
        if "{{" in key:
            raise TemplateError(_("mnemonics may stand only in query values, not in the name %(name)s") % {"name": key})
        split = _split_text(value, key)
        names.update(p[0] for p in split if isinstance(p, tuple))
        query.append((key, split))
    return UrlTemplate(
        base=(parts.scheme, parts.netloc, parts.path),
        query=tuple(query),
        fragment=parts.fragment,
        mnemonics=frozenset(names),
    )


def template_at(text: str, pointer: str) -> str | None:
    """The template's text at a JSON pointer of the rendered body (`/customer/mobilePhone`,
    as Mindbox's validation messages give `location`): `{{name}}` for a whole-value mnemonic,
    the string or JSON of a constant; None when the template has nothing there."""
    marked = _mark_unquoted(text)
    if deeper_than(marked, MAX_CONFIG_DEPTH):
        return None
    try:
        node: Any = json.loads(marked)
    except json.JSONDecodeError:
        return None
    for raw in pointer.strip().lstrip("/").split("/") if pointer.strip("/ ") else []:
        key = raw.replace("~1", "/").replace("~0", "~")
        if isinstance(node, dict) and key in node:
            node = node[key]
        elif isinstance(node, list) and key.isdigit() and int(key) < len(node):
            node = node[int(key)]
        else:
            return None
    if isinstance(node, str):
        if node.startswith(_SENTINEL) and node.endswith(_SENTINEL) and len(node) > 1:
            return "{{" + node[1:-1].strip() + "}}"
        return node
    return json.dumps(node, ensure_ascii=False)


def pretty_json(text: str) -> str:
    """JSON text indented for reading (a rendered body, an answer); anything else as it is."""
    if deeper_than(text, MAX_CONFIG_DEPTH):  # e.g. an answer from Mindbox: shown as it came
        return text
    try:
        return json.dumps(json.loads(text), ensure_ascii=False, indent=2)
    except ValueError:
        return text


# Optional headers a Mindbox operation's spec may ask for; nothing else may be set (the key and
# the content type are the client's). Values are fixed text or text with mnemonics.
HEADER_NAMES = ("X-Customer-IP", "User-Agent")
_HEADER_VALUE_RE = re.compile(r"[\x20-\x7e]*")  # printable ASCII: what every HTTP stack carries


def header_name(name: str) -> str | None:
    """The header's name as it is sent, for a name in any case; None for one that is not offered."""
    return next((known for known in HEADER_NAMES if known.lower() == name.strip().lower()), None)


def header_value_ok(name: str, value: str) -> bool:
    """Whether a rendered value may be sent: printable ASCII (no line breaks), and for
    X-Customer-IP an IP address."""
    if not value or not _HEADER_VALUE_RE.fullmatch(value):
        return False
    if name == "X-Customer-IP":
        try:
            ipaddress.ip_address(value)
        except ValueError:
            return False
    return True


@dataclass(frozen=True)
class HeadersTemplate:
    parts: tuple[tuple[str, tuple[str | tuple[str], ...]], ...]
    mnemonics: frozenset[str]

    def render(self, values: Values) -> dict[str, str]:
        """Each header's value; a header whose value is empty or cannot be sent is left out, as a
        URL parameter with no value is."""
        rendered = {}
        for name, parts in self.parts:
            value = "".join(p if isinstance(p, str) else as_text(values.get(p[0])) for p in parts).strip()
            if header_value_ok(name, value):
                rendered[name] = value
        return rendered


def compile_headers(headers: Mapping[str, str]) -> HeadersTemplate:
    """Headers of the offered names (validation refuses others before saving)."""
    parts = []
    names: set[str] = set()
    for raw_name, text in headers.items():
        name = header_name(raw_name)
        if name is None:
            raise TemplateError(_("header %(name)s is not one the portal sends") % {"name": raw_name})
        split = tuple(_split_text(str(text), name))
        names.update(p[0] for p in split if isinstance(p, tuple))
        parts.append((name, split))
    return HeadersTemplate(parts=tuple(parts), mnemonics=frozenset(names))
