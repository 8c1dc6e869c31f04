"""The values of the filter fields whose values are known, in UIS's words: the codes UIS sends
(stored in the conditions) with the labels UIS's own filters show (`Направление звонка: Входящий`).
And `call_status`, which UIS's filters have (`Статус звонка: Потерянный`) but a call event does
not carry as such: it is derived from the talk time. Pure: no models
(docs/uis-notifications.md has the sources)."""

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from django.utils.translation import gettext_noop

from core.rendering import as_text

CALL_STATUS = "call_status"
LOST, ANSWERED = "lost", "answered"
# What call_status is derived from: a call nobody talked on is lost (UIS's "Потерянный звонок").
CALL_STATUS_SOURCE = "talk_time_duration"


@dataclass(frozen=True)
class Choice:
    code: str  # what UIS sends (or, for call_status, what is derived), stored in the conditions
    label: str  # a msgid: UIS's word for it


@dataclass(frozen=True)
class KnownField:
    choices: tuple[Choice, ...]
    derived_from: str = ""  # the mnemonic the value is derived from, when UIS sends none
    note: str = ""  # a msgid: how it is derived


# Field -> its values, by communication type (call fields only apply to calls).
_CALLS: dict[str, KnownField] = {
    "direction": KnownField(
        (Choice("in", gettext_noop("Incoming")), Choice("out", gettext_noop("Outgoing"))),
    ),
    CALL_STATUS: KnownField(
        (Choice(LOST, gettext_noop("Lost")), Choice(ANSWERED, gettext_noop("Answered"))),
        derived_from=CALL_STATUS_SOURCE,
        note=gettext_noop("derived from talk_time_duration: 0 is lost, more is answered; unknown without it"),
    ),
    "call_source": KnownField(
        (
            Choice("va", gettext_noop("Virtual PBX")),
            Choice("callapi", gettext_noop("Call API")),
            Choice("sitephone", gettext_noop("Sitephone")),
            Choice("call_tracking", gettext_noop("Call tracking")),
            Choice("dynamic_call_tracking", gettext_noop("Dynamic call tracking")),
            Choice("omni_widget", gettext_noop("Omnichannel widget")),
        ),
    ),
    "communication_type": KnownField(
        (
            Choice("call", gettext_noop("Call")),
            Choice("chat", gettext_noop("Chat")),
            Choice("goal", gettext_noop("Goal")),
            Choice("offline_message", gettext_noop("Offline request")),
        ),
    ),
}

KNOWN: dict[str, dict[str, KnownField]] = {"calls": _CALLS, "offline_requests": {}, "taxi_requests": {}}


def known_fields(communication_type: str) -> dict[str, KnownField]:
    return KNOWN.get(communication_type, {})


def derived_call_status(values: Mapping[str, Any]) -> str | None:
    """lost or answered from the talk time; None when the event has none (the status is unknown)."""
    talk = values.get(CALL_STATUS_SOURCE)
    if talk is None or isinstance(talk, bool):
        return None
    try:
        return ANSWERED if float(as_text(talk).strip() or "nan") > 0 else LOST
    except ValueError:
        return None


def field_value(field: str, values: Mapping[str, Any]) -> Any:
    """The value a condition on `field` compares: the event's own, or call_status derived when
    the event does not carry one."""
    value = values.get(field)
    if field == CALL_STATUS and value is None:
        return derived_call_status(values)
    return value


def never_matching(*, communication_type: str, field: str, values: list[Any]) -> list[str]:
    """Values of a condition on a field of known values that no event can have (a label typed
    for its code, say: «Входящий» for in). Compared as the filters compare: trimmed, any case."""
    known = known_fields(communication_type).get(field)
    if known is None:
        return []
    codes = {choice.code.casefold() for choice in known.choices}
    return [as_text(v) for v in values if as_text(v).strip().casefold() not in codes]
