"""The site script's links: a UIS site visitor -> their Mindbox deviceUUID.

Mindbox operations that need `deviceUUID` want the visitor's `mindboxDeviceUUID` cookie, which
UIS never sees. The snippet on the client's site reads it and UIS's visitor id (UIS's JS API,
`Comagic.getCredentials()`) and posts both here under the account's public site key. Events of a
linked visitor then carry `{{mindbox_device_uuid}}`, added at intake when a notification uses
it (and at a re-render, for a link made after the event)."""

import json
import re
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.utils import timezone

from core.mnemonics import DEVICE_UUID
from core.rendering import Templated, TemplateError, compile_body, compile_url
from mindbox_integration.models import SITE_KEY_RE, Account
from notifications.models import SiteVisitor

VISITOR_ID_RE = re.compile(r"^[A-Za-z0-9_.:-]{1,64}$")
MAX_BODY_BYTES = 2048
MAX_BRACKETS = 4  # a flat object needs one pair; json.loads recurses once per level
COOKIES = ("mindboxDeviceUUID", "maestraDeviceUUID")  # Mindbox's cookie, and Maestra's


class LinkError(ValueError):
    """The post is not a link; the message says what to fix."""


@dataclass(frozen=True)
class Link:
    site_key: str
    visitor_id: str
    device_uuid: uuid.UUID


def parse_link(raw: bytes) -> Link:
    """A JSON object {"key", "visitor_id", "device_uuid"}, whatever the Content-Type: the
    snippet sends it as text/plain, which needs no CORS preflight."""
    if len(raw) > MAX_BODY_BYTES:
        raise LinkError(f"the body is over {MAX_BODY_BYTES} bytes")
    if raw.count(b"{") + raw.count(b"[") > MAX_BRACKETS:
        raise LinkError('the body is nested; send a flat {"key": ..., "visitor_id": ..., "device_uuid": ...}')
    try:
        data = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise LinkError('the body is not JSON; send {"key": ..., "visitor_id": ..., "device_uuid": ...}') from None
    if not isinstance(data, dict):
        raise LinkError('the body is not a JSON object; send {"key": ..., "visitor_id": ..., "device_uuid": ...}')
    missing = [name for name in ("key", "visitor_id", "device_uuid") if data.get(name) in (None, "")]
    if missing:
        raise LinkError(f"missing: {', '.join(missing)}")
    key, visitor, device = data["key"], data["visitor_id"], data["device_uuid"]
    if not isinstance(key, str) or not SITE_KEY_RE.match(key):
        raise LinkError("key: not a site key; copy the site script again from the integration's page")
    if isinstance(visitor, bool) or not isinstance(visitor, str | int):
        raise LinkError("visitor_id: a string or a whole number, UIS's visitor id")
    visitor_id = str(visitor).strip()
    if not VISITOR_ID_RE.match(visitor_id):
        raise LinkError("visitor_id: UIS's visitor id, up to 64 letters, digits or _.:-")
    try:
        if not isinstance(device, str):
            raise ValueError
        device_uuid = uuid.UUID(device)
    except ValueError:
        raise LinkError(f"device_uuid: not a UUID; it is the {COOKIES[0]} cookie's value") from None
    return Link(site_key=key, visitor_id=visitor_id, device_uuid=device_uuid)


def account_for_site_key(site_key: str) -> Account | None:
    return Account.objects.filter(site_key=site_key).only("pk").first() if site_key else None


def record_link(*, account_id: int, visitor_id: str, device_uuid: uuid.UUID, now: datetime | None = None) -> None:
    """One statement, whoever posts at the same time: the latest device wins."""
    SiteVisitor.objects.bulk_create(
        [
            SiteVisitor(
                account_id=account_id, visitor_id=visitor_id, device_uuid=device_uuid, linked_at=now or timezone.now()
            )
        ],
        update_conflicts=True,
        unique_fields=["account", "visitor_id"],
        update_fields=["device_uuid", "linked_at"],
    )


def device_uuid_for(*, account_id: int, visitor_id: Any) -> str | None:
    if visitor_id is None or not VISITOR_ID_RE.match(str(visitor_id)):
        return None
    found = (
        SiteVisitor.objects.filter(account_id=account_id, visitor_id=str(visitor_id))
        .values_list("device_uuid", flat=True)
        .first()
    )
    return str(found) if found else None


def _needed_by(notifications: Iterable[Templated]) -> bool:
    """Whether any of these notifications' URL or body uses {{mindbox_device_uuid}}."""
    for notification in notifications:
        try:
            used = compile_url(notification.url).mnemonics | compile_body(notification.body).mnemonics
        except TemplateError:
            continue  # rendering will say what is wrong with it
        if DEVICE_UUID.name in used:
            return True
    return False


def with_device_uuid(
    *, account_id: int, values: Mapping[str, Any], notifications: Iterable[Templated]
) -> dict[str, Any]:
    """The event's values with the visitor's deviceUUID, when the site script linked one and one
    of the notifications to render uses it (most accounts have no site script: no query then).
    A value UIS (or the caller) sent itself is kept."""
    result = dict(values)
    if (
        result.get(DEVICE_UUID.name) in (None, "")
        and result.get("visitor_id") not in (None, "")
        and _needed_by(notifications)
    ):
        device = device_uuid_for(account_id=account_id, visitor_id=result["visitor_id"])
        if device:
            result[DEVICE_UUID.name] = device
    return result


@dataclass(frozen=True)
class SiteScriptState:
    linked_visitors: int
    last_linked_at: datetime | None


def site_script_state(*, account_id: int) -> SiteScriptState:
    rows = SiteVisitor.objects.filter(account_id=account_id)
    last = rows.order_by("-linked_at").values_list("linked_at", flat=True).first()
    return SiteScriptState(linked_visitors=rows.count(), last_linked_at=last)


# ES5, no library: it runs on clients' sites as they are. UIS's script and Mindbox's tracker load
# asynchronously, so it asks again for half a minute. A link is posted once a day per browser,
# marked done only on the portal's 2xx (a refused or lost post is tried on the next page), by
# XMLHttpRequest: text/plain needs no CORS preflight, and the answer is readable (any origin).
_SNIPPET = """<script>
(function (w, d) {
  var endpoint = %(endpoint)s, key = %(key)s, tries = 0;
  function cookie(name) {
    var m = d.cookie.match(new RegExp("(?:^|; )" + name + "=([^;]*)"));
    try { return m ? decodeURIComponent(m[1]) : ""; } catch (e) { return ""; }
  }
  function link() {
    var c = null, device = %(cookies)s;
    try { c = w.Comagic && w.Comagic.getCredentials ? w.Comagic.getCredentials() : null; } catch (e) {}
    var visitor = c && c.visitor_id;
    if (!visitor || !device) { if (++tries < 30) { setTimeout(link, 1000); } return; }
    var mark = visitor + ":" + device + ":" + new Date().toDateString();
    try { if (w.localStorage.getItem("uisMindboxLink") === mark) { return; } } catch (e) {}
    var x = new XMLHttpRequest();
    x.open("POST", endpoint);
    x.setRequestHeader("Content-Type", "text/plain");
    x.onload = function () {
      if (x.status >= 200 && x.status < 300) { try { w.localStorage.setItem("uisMindboxLink", mark); } catch (e) {} }
    };
    x.send(JSON.stringify({key: key, visitor_id: String(visitor), device_uuid: device}));
  }
  link();
})(window, document);
</script>"""


def snippet(*, endpoint_url: str, site_key: str) -> str:
    """The code a manager puts on the client's site, after UIS's script."""
    cookies = " || ".join(f'cookie("{name}")' for name in COOKIES)
    return _SNIPPET % {"endpoint": _js_string(endpoint_url), "key": _js_string(site_key), "cookies": cookies}


def _js_string(text: str) -> str:
    return json.dumps(text).replace("<", "\\u003c")  # no "</script>" can end the snippet early
