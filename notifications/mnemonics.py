"""The communication types UIS notifies about and the mnemonics each one carries.

Source: ../shared/domain/uis.md. Meanings are msgids; the admin shows them in Russian.
"""

from dataclasses import dataclass

from django.db import models
from django.utils.translation import gettext_lazy as _
from django.utils.translation import gettext_noop as N_


class CommunicationType(models.TextChoices):
    CALLS = "calls", _("Calls")
    OFFLINE_REQUESTS = "offline_requests", _("Offline requests")
    TAXI_REQUESTS = "taxi_requests", _("Taxi requests")


@dataclass(frozen=True)
class Mnemonic:
    name: str
    meaning: str  # a msgid; translate at display time
    sample: str | int | None  # a plausible value, for validation renders and previews


# Filled by the site script (a later feature); usable in any type's URL and body.
DEVICE_UUID = Mnemonic(
    "mindbox_device_uuid",
    N_("Mindbox deviceUUID of the site visitor"),
    "b7e2f4a0-1c3d-4e5f-8a9b-0c1d2e3f4a5b",
)

_VISITOR = [
    Mnemonic("visitor_id", N_("Site visitor id"), "1234567"),
    Mnemonic("visitor_name", N_("Visitor's name"), "Анна Петрова"),
    Mnemonic("visitor_email", N_("Visitor's e-mail"), "anna@example.com"),
    Mnemonic("visitor_phone_number", N_("Visitor's phone number"), "79161234567"),
    Mnemonic("contact_phone_number", N_("Customer's phone number"), "79161234567"),
    Mnemonic("communication_id", N_("Communication id"), "88001234"),
]

_TRAFFIC = [
    Mnemonic("utm_source", N_("UTM source"), "yandex"),
    Mnemonic("utm_medium", N_("UTM medium"), "cpc"),
    Mnemonic("utm_campaign", N_("UTM campaign"), "autumn"),
    Mnemonic("utm_term", N_("UTM term"), "купить диван"),
    Mnemonic("utm_content", N_("UTM content"), "banner1"),
    Mnemonic("site_domain_name", N_("Site domain"), "example.com"),
    Mnemonic("campaign_name", N_("Advertising campaign"), "Поиск"),
]

_CALLS = [
    Mnemonic("notification_name", N_("Notification name in UIS"), "Завершение звонка"),
    Mnemonic("notification_mnemonic", N_("Event type code"), "call_finished"),
    Mnemonic("notification_time", N_("Event time"), "2026-11-25 10:15:00"),
    Mnemonic("notification_timestamp", N_("Event time, Unix seconds"), 1795590900),
    Mnemonic("app_id", N_("UIS account id"), "100500"),
    Mnemonic("call_session_id", N_("Call session id"), "3190000001"),
    Mnemonic("communication_number", N_("Communication ordinal for this person"), 1),
    Mnemonic("communication_type", N_("Communication type"), "call"),
    Mnemonic("virtual_phone_number", N_("Tracking number called"), "74951234567"),
    Mnemonic("calling_phone_number", N_("Calling number (A)"), "79161234567"),
    Mnemonic("called_phone_number", N_("Called number (B)"), "74951234567"),
    Mnemonic("direction", N_("Call direction (in, out)"), "in"),
    Mnemonic("call_source", N_("Call source"), "call_tracking"),
    Mnemonic("scenario_id", N_("Scenario id"), "501"),
    Mnemonic("scenario_name", N_("Scenario name"), "Основной"),
    Mnemonic("contact_id", N_("Address book contact id"), "7001"),
    Mnemonic("contact_full_name", N_("Address book contact name"), "Анна Петрова"),
    Mnemonic("contact_group_ids", N_("Contact group ids"), "12"),
    Mnemonic("employee_id", N_("Employee id"), "42"),
    Mnemonic("employee_full_name", N_("Employee name"), "Иван Смирнов"),
    Mnemonic("employee_phone_number", N_("Employee phone number"), "74957654321"),
    Mnemonic("employee_ids", N_("Employee ids"), "42"),
    Mnemonic("talk_time_duration", N_("Talk time, seconds"), 95),
    Mnemonic("total_time_duration", N_("Total time, seconds"), 110),
    Mnemonic("wait_time_duration", N_("Waiting time, seconds"), 15),
    Mnemonic("tag_ids", N_("Tag ids"), "3"),
    Mnemonic("tag_names", N_("Tag names"), "Продажа"),
    Mnemonic("file_link", N_("Call recording link"), "https://app.uiscom.ru/record/1.mp3"),
    Mnemonic("file_duration", N_("Call recording length, seconds"), 95),
    Mnemonic("leg_id", N_("Call leg id"), "9001"),
    Mnemonic("leg_ids", N_("Call leg ids"), "9001"),
    Mnemonic("start_time", N_("Call start time"), "2026-11-25 10:13:25"),
    Mnemonic("external_id", N_("External id"), "ext-1"),
    Mnemonic("cpn_region_id", N_("Caller's region id"), "77"),
    Mnemonic("cpn_region_name", N_("Caller's region"), "Москва"),
    Mnemonic("visitor_country", N_("Visitor's country"), "Россия"),
    Mnemonic("is_internal", N_("Internal call"), "false"),
    Mnemonic("attributes", N_("Call attributes"), "transfer"),
]

_OFFLINE = [
    Mnemonic("text", N_("Request text"), "Перезвоните мне"),
    Mnemonic("form_name", N_("Form name"), "Обратный звонок"),
    Mnemonic("date_time", N_("Request time"), "2026-11-25 10:15:00"),
    Mnemonic("site_id", N_("Site id"), "3001"),
    Mnemonic("campaign_id", N_("Advertising campaign id"), "4001"),
    Mnemonic("visitor_session_id", N_("Visitor session id"), "5001"),
    Mnemonic("visitor_city", N_("Visitor's city"), "Москва"),
    Mnemonic("visitor_region", N_("Visitor's region"), "Москва"),
    Mnemonic("visitor_country", N_("Visitor's country"), "Россия"),
    Mnemonic("referrer", N_("Referrer"), "https://yandex.ru/"),
    Mnemonic("entrance_page", N_("Entrance page"), "https://example.com/"),
    Mnemonic("search_query", N_("Search query"), "диван"),
    Mnemonic("gclid", N_("Google click id"), "gclid-1"),
    Mnemonic("yclid", N_("Yandex click id"), "yclid-1"),
    Mnemonic("ym_client_id", N_("Yandex Metrica client id"), "1700000000123456789"),
    Mnemonic("is_agree_to_mailing", N_("Agreed to mailing"), "true"),
]

_TAXI = [
    Mnemonic("start_time", N_("Request time"), "2026-11-25 10:15:00"),
    Mnemonic("src_latitude", N_("Pick-up latitude"), "55.7558"),
    Mnemonic("src_longitude", N_("Pick-up longitude"), "37.6173"),
    Mnemonic("taxi_address", N_("Pick-up address"), "Москва, Тверская ул., 1"),
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
