"""Reads for the configuration side."""

from django.db.models import QuerySet
from django.urls import reverse

from core.mnemonics import CATALOGUE, DEVICE_UUID, CommunicationType, mnemonics_for, uis_paste_body
from core.uis_events import ADVICE
from mindbox_integration.models import Account, ConfigChange
from notifications import site_visitors
from notifications.selectors import seen_mnemonics


def known_mnemonics(*, account_id: int | None, communication_type: str) -> set[str]:
    """The catalogue's mnemonics for the type, plus the keys UIS has sent this account."""
    if communication_type not in CATALOGUE:
        return set()
    known = set(mnemonics_for(communication_type))
    if account_id is not None:
        known |= seen_mnemonics(account_id=account_id, communication_type=communication_type)
    return known


def inbound_url(*, base_url: str, token: str, communication_type: str) -> str:
    path = reverse("uis-events", kwargs={"communication_type": communication_type})
    return f"{base_url.rstrip('/')}{path}?token={token}"


def uis_setup(*, base_url: str, account: Account, token: str | None = None) -> list[dict[str, object]]:
    """What the manager copies into UIS, per communication type: the inbound URLs whole when the
    token was just issued (`token`), else with the token masked."""
    shown = token or account.inbound_token_hint
    return [
        {
            "type": ctype.value,
            "label": ctype.label,
            "url": inbound_url(base_url=base_url, token=shown, communication_type=ctype.value),
            "body": uis_paste_body(ctype.value),
            "mnemonics": list(mnemonics_for(ctype.value).values()),
            "advice": ADVICE[ctype.value],
        }
        for ctype in CommunicationType
    ]


def site_script(*, base_url: str, account: Account) -> dict[str, object]:
    """The snippet for the client's site, and how many visitors it has linked so far."""
    endpoint = f"{base_url.rstrip('/')}{reverse('site-visitors')}"
    return {
        "snippet": site_visitors.snippet(endpoint_url=endpoint, site_key=account.site_key),
        "state": site_visitors.site_script_state(account_id=account.pk),
        "mnemonic": DEVICE_UUID.name,
        # A client's https page cannot post to http (mixed content): say so where it is copied.
        "insecure_endpoint": not endpoint.startswith("https://"),
    }


def recent_changes(*, account: Account, limit: int) -> "QuerySet[ConfigChange]":
    """The account's configuration changes, newest first."""
    return ConfigChange.objects.filter(account=account).order_by("-at", "-pk")[:limit]
