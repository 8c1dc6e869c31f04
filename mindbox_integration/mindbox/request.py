"""The one way a notification and values become Mindbox's request: `render` fills the templates
(intake does it once and stores the result on the delivery), `finalize` adds what each send adds
(an /async URL's transactionId, the fixed headers and the key). Delivery, the editor's preview and
the test send all go through these two, so the preview is what is sent. Pure: no models, no I/O.
"""

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from core.rendering import compile_body, compile_headers, compile_url

MASKED_KEY = "SecretKey ••••••••"
# What pages that do not decrypt the key build with when there is one; shown() masks it.
KEY_STAND_IN = "stand-in"


@dataclass(frozen=True)
class Rendered:
    """The notification's templates filled with an event's values: what a delivery row stores."""

    url: str
    body: str  # compact JSON, as sent
    headers: dict[str, str] = field(default_factory=dict)  # the notification's optional ones


@dataclass(frozen=True)
class OutboundRequest:
    """One POST to Mindbox, exactly as it goes out."""

    url: str
    body: str
    headers: dict[str, str] = field(default_factory=dict, repr=False)  # the key's header among them

    def shown(self) -> "OutboundRequest":
        """The same request with the key masked: for pages."""
        if "Authorization" not in self.headers:
            return self
        return replace(self, headers={**self.headers, "Authorization": MASKED_KEY})


def render(
    *, url_template: str, body_template: str, headers_template: Mapping[str, str] | None, values: Mapping[str, Any]
) -> Rendered:
    """Fill the templates; raises core.rendering.TemplateError saying what to fix."""
    body = compile_body(body_template).render_json(values)
    url = compile_url(url_template).render(values)
    return Rendered(url=url, body=body, headers=compile_headers(headers_template or {}).render(values))


def with_transaction_id(url: str, transaction_id: str) -> str:
    """Append transactionId to /async URLs; Mindbox de-duplicates repeats by it."""
    try:
        parts = urlsplit(url)
    except ValueError:  # unreadable (`http://[::1`): left as it is, for the send to refuse alone
        return url
    if not parts.path.rstrip("/").endswith("/async"):
        return url
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k != "transactionId"]
    query.append(("transactionId", transaction_id))
    return urlunsplit((parts.scheme, parts.netloc, parts.path, urlencode(query), parts.fragment))


def finalize(*, rendered: Rendered, secret_key: str, transaction_id: str) -> OutboundRequest:
    """The request one send makes of a rendered delivery. The notification's optional headers
    (X-Customer-IP, User-Agent) come first, so none of them can stand in for the content type or
    the key."""
    headers = {**rendered.headers, "Content-Type": "application/json; charset=utf-8", "Accept": "application/json"}
    if secret_key:
        headers["Authorization"] = f"SecretKey {secret_key}"
    return OutboundRequest(url=with_transaction_id(rendered.url, transaction_id), body=rendered.body, headers=headers)


def build(
    *,
    url_template: str,
    body_template: str,
    headers_template: Mapping[str, str] | None,
    values: Mapping[str, Any],
    secret_key: str,
    transaction_id: str,
) -> OutboundRequest:
    """render, then finalize: the request a delivery of these values would make."""
    rendered = render(
        url_template=url_template, body_template=body_template, headers_template=headers_template, values=values
    )
    return finalize(rendered=rendered, secret_key=secret_key, transaction_id=transaction_id)
