"""The communication types UIS notifies about and the mnemonics each one carries.

Source: ../shared/domain/uis.md. Meanings are msgids; the admin shows them in Russian.
"""

from dataclasses import dataclass

from django.db import models
from django.utils.translation import gettext_lazy as _
from django.utils.translation import gettext_noop


class CommunicationType(models.TextChoices):
    CALLS = "calls", _("Calls")
    OFFLINE_REQUESTS = "offline_requests", _("Offline requests")
    TAXI_REQUESTS = "taxi_requests", _("Taxi requests")


@dataclass(frozen=True)
class Mnemonic:
    name: str
    meaning: str  # a msgid; translate at display time
    # A made-up value of the shape UIS sends (numbers stay numbers), for validation renders and
    # previews; the palette marks it as a sample, never as data.
    sample: str | int | bool | None


# Filled by the site script (a later feature); usable in any type's URL and body.
DEVICE_UUID = Mnemonic(
    "mindbox_device_uuid",
    gettext_noop("Mindbox deviceUUID of the site visitor"),
    "b7e2f4a0-1c3d-4e5f-8a9b-0c1d2e3f4a5b",
)

_VISITOR = [
    Mnemonic("visitor_id", gettext_noop("Site visitor id"), "1234567"),
    Mnemonic("visitor_name", gettext_noop("Visitor's name"), "Анна Петрова"),
    Mnemonic("visitor_email", gettext_noop("Visitor's e-mail"), "anna@example.com"),
    Mnemonic("visitor_phone_number", gettext_noop("Visitor's phone number"), "79161234567"),
    Mnemonic("contact_phone_number", gettext_noop("Customer's phone number"), "79161234567"),
    Mnemonic("communication_id", gettext_noop("Communication id"), "88001234"),
]

_TRAFFIC = [
    Mnemonic("utm_source", gettext_noop("UTM source"), "yandex"),
    Mnemonic("utm_medium", gettext_noop("UTM medium"), "cpc"),
    Mnemonic("utm_campaign", gettext_noop("UTM campaign"), "autumn"),
    Mnemonic("utm_term", gettext_noop("UTM term"), "купить диван"),
    Mnemonic("utm_content", gettext_noop("UTM content"), "banner1"),
    Mnemonic("site_domain_name", gettext_noop("Site domain"), "example.com"),
    Mnemonic("campaign_name", gettext_noop("Advertising campaign"), "Поиск"),
]

_CALLS = [
    Mnemonic("notification_name", gettext_noop("Notification name in UIS"), "Завершение звонка"),
    Mnemonic("notification_mnemonic", gettext_noop("Event type code"), "call_finished"),
    # With milliseconds, as in a real logged body.
    Mnemonic("notification_time", gettext_noop("Event time"), "2026-11-25 10:15:00.234"),
    Mnemonic("notification_timestamp", gettext_noop("Event time, Unix seconds"), 1795590900),
    Mnemonic("app_id", gettext_noop("UIS account id"), 100500),
    # Ids and durations arrive as JSON numbers (a real logged call-end body).
    Mnemonic("call_session_id", gettext_noop("Call session id"), 3190000001),
    Mnemonic("communication_number", gettext_noop("Communication ordinal for this person"), 1),
    Mnemonic("communication_type", gettext_noop("Communication type"), "call"),
    Mnemonic("virtual_phone_number", gettext_noop("Tracking number called"), "74951234567"),
    Mnemonic("calling_phone_number", gettext_noop("Calling number (A)"), "79161234567"),
    Mnemonic("called_phone_number", gettext_noop("Called number (B)"), "74951234567"),
    Mnemonic("direction", gettext_noop("Call direction (in, out)"), "in"),
    Mnemonic("call_source", gettext_noop("Call source"), "call_tracking"),
    Mnemonic("scenario_id", gettext_noop("Scenario id"), "501"),
    Mnemonic("scenario_name", gettext_noop("Scenario name"), "Основной"),
    Mnemonic("contact_id", gettext_noop("Address book contact id"), "7001"),
    Mnemonic("contact_full_name", gettext_noop("Address book contact name"), "Анна Петрова"),
    Mnemonic("contact_group_ids", gettext_noop("Contact group ids"), "12"),
    Mnemonic("employee_id", gettext_noop("Employee id"), 42),
    Mnemonic("employee_full_name", gettext_noop("Employee name"), "Иван Смирнов"),
    Mnemonic("employee_phone_number", gettext_noop("Employee phone number"), "74957654321"),
    Mnemonic("employee_ids", gettext_noop("Employee ids"), "42"),
    Mnemonic("talk_time_duration", gettext_noop("Talk time, seconds"), 95),
    Mnemonic("total_time_duration", gettext_noop("Total time, seconds"), 110),
    Mnemonic("wait_time_duration", gettext_noop("Waiting time, seconds"), 15),
    Mnemonic("tag_ids", gettext_noop("Tag ids"), "3"),
    Mnemonic("tag_names", gettext_noop("Tag names"), "Продажа"),
    Mnemonic("file_link", gettext_noop("Call recording link"), "https://app.uiscom.ru/record/1.mp3"),
    Mnemonic("file_duration", gettext_noop("Call recording length, seconds"), 95),
    Mnemonic("leg_id", gettext_noop("Call leg id"), "9001"),
    Mnemonic("leg_ids", gettext_noop("Call leg ids"), "9001"),
    Mnemonic("start_time", gettext_noop("Call start time"), "2026-11-25 10:13:25"),
    Mnemonic("external_id", gettext_noop("External id"), "ext-1"),
    Mnemonic("cpn_region_id", gettext_noop("Caller's region id"), "77"),
    Mnemonic("cpn_region_name", gettext_noop("Caller's region"), "Москва"),
    Mnemonic("visitor_country", gettext_noop("Visitor's country"), "Россия"),
    Mnemonic("is_internal", gettext_noop("Internal call"), "false"),
    Mnemonic("attributes", gettext_noop("Call attributes"), "transfer"),
    # Seen in real UIS bodies (a logged call-end body; UIS's own delivery log), not in its list.
    Mnemonic("is_transfer", gettext_noop("Transferred call"), False),
    Mnemonic("last_talked_employee_id", gettext_noop("Last employee who talked"), 42),
    Mnemonic("call_status", gettext_noop("Call status"), "answered"),
    Mnemonic("extension_phone_number", gettext_noop("Extension number"), "101"),
    Mnemonic("tp_project", gettext_noop("UIS project (tp_project)"), "project-1"),
    Mnemonic("visitor_browser_name", gettext_noop("Visitor's browser"), "Chrome"),
]

_OFFLINE = [
    Mnemonic("text", gettext_noop("Request text"), "Перезвоните мне"),
    Mnemonic("form_name", gettext_noop("Form name"), "Обратный звонок"),
    Mnemonic("date_time", gettext_noop("Request time"), "2026-11-25 10:15:00"),
    Mnemonic("site_id", gettext_noop("Site id"), "3001"),
    Mnemonic("campaign_id", gettext_noop("Advertising campaign id"), "4001"),
    Mnemonic("visitor_session_id", gettext_noop("Visitor session id"), "5001"),
    Mnemonic("visitor_city", gettext_noop("Visitor's city"), "Москва"),
    Mnemonic("visitor_region", gettext_noop("Visitor's region"), "Москва"),
    Mnemonic("visitor_country", gettext_noop("Visitor's country"), "Россия"),
    Mnemonic("referrer", gettext_noop("Referrer"), "https://yandex.ru/"),
    Mnemonic("entrance_page", gettext_noop("Entrance page"), "https://example.com/"),
    Mnemonic("search_query", gettext_noop("Search query"), "диван"),
    Mnemonic("gclid", gettext_noop("Google click id"), "gclid-1"),
    Mnemonic("yclid", gettext_noop("Yandex click id"), "yclid-1"),
    Mnemonic("ym_client_id", gettext_noop("Yandex Metrica client id"), "1700000000123456789"),
    Mnemonic("is_agree_to_mailing", gettext_noop("Agreed to mailing"), "true"),
    Mnemonic("visitor_browser_name", gettext_noop("Visitor's browser"), "Chrome"),
]

_TAXI = [
    # UIS's guide: the time of a deferred trip (when the car is wanted), not when the request came.
    Mnemonic("start_time", gettext_noop("Deferred trip time"), "2026-11-25 18:30:00"),
    Mnemonic("src_latitude", gettext_noop("Pick-up latitude"), "55.7558"),
    Mnemonic("src_longitude", gettext_noop("Pick-up longitude"), "37.6173"),
    Mnemonic("taxi_address", gettext_noop("Pick-up address"), "Москва, Тверская ул., 1"),
]


def _catalogue(*groups: list[Mnemonic]) -> dict[str, Mnemonic]:
    result: dict[str, Mnemonic] = {}
    for group in groups:
        for mnemonic in group:
            result.setdefault(mnemonic.name, mnemonic)
    result[DEVICE_UUID.name] = DEVICE_UUID
    return result


CATALOGUE: dict[str, dict[str, Mnemonic]] = {
    CommunicationType.CALLS: _catalogue(_CALLS, _VISITOR, _TRAFFIC),
    CommunicationType.OFFLINE_REQUESTS: _catalogue(_VISITOR, _OFFLINE, _TRAFFIC),
    CommunicationType.TAXI_REQUESTS: _catalogue(_VISITOR, _TAXI),
}


def mnemonics_for(communication_type: str) -> dict[str, Mnemonic]:
    return CATALOGUE[communication_type]


def sample_values(communication_type: str) -> dict[str, object]:
    return {m.name: m.sample for m in CATALOGUE[communication_type].values()}


def uis_paste_body(communication_type: str) -> str:
    """The body to paste into UIS's HTTP notification: every mnemonic of the type, unquoted,
    as UIS renders them (each becomes a JSON literal). The device UUID is ours, not UIS's."""
    names = [n for n in CATALOGUE[communication_type] if n != DEVICE_UUID.name]
    lines = ",\n".join(f'  "{name}": {{{{{name}}}}}' for name in names)
    return "{\n" + lines + "\n}"
