"""Data API report rows -> the flat mnemonic -> value mapping UIS's notifications carry, per
communication type. Pure.

Field names are those of UIS's reference (docs/uis-data-api.md); where a report's field has
another name than the notification's mnemonic (the report's `id` is the notification's
`call_session_id`; `talk_duration` is `talk_time_duration`), the mnemonic is used, so a recovered
event renders with the same templates and filters as one UIS posted. Only fields the reference
lists are asked for: the API refuses a request naming a field it does not know."""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, tzinfo
from typing import Any

CALLS_METHOD = "get.calls_report"
OFFLINE_METHOD = "get.offline_messages_report"

# report field -> mnemonic; fields named alike map to themselves.
_CALL_RENAMES = {
    "id": "call_session_id",
    "source": "call_source",
    "talk_duration": "talk_time_duration",
    "total_duration": "total_time_duration",
    "wait_duration": "wait_time_duration",
    "last_answered_employee_id": "employee_id",
    "last_answered_employee_full_name": "employee_full_name",
    "call_api_external_id": "external_id",
}
_CALL_SAME = (
    "start_time",
    "finish_time",
    "direction",
    "virtual_phone_number",
    "contact_phone_number",
    "communication_id",
    "communication_number",
    "communication_type",
    "is_lost",
    "is_transfer",
    "scenario_id",
    "scenario_name",
    "contact_id",
    "contact_full_name",
    "cpn_region_id",
    "cpn_region_name",
    "visitor_id",
    "visitor_country",
    "site_domain_name",
    "campaign_name",
    "utm_source",
    "utm_medium",
    "utm_campaign",
    "utm_term",
    "utm_content",
    "attributes",
    "tags",
)
_OFFLINE_RENAMES = {"id": "offline_message_id"}
_OFFLINE_SAME = (
    "communication_id",
    "communication_number",
    "communication_type",
    "date_time",
    "text",
    "form_name",
    "visitor_name",
    "visitor_email",
    "visitor_phone_number",
    "visitor_id",
    "visitor_session_id",
    "visitor_city",
    "visitor_region",
    "visitor_country",
    "site_id",
    "site_domain_name",
    "campaign_id",
    "campaign_name",
    "utm_source",
    "utm_medium",
    "utm_campaign",
    "utm_term",
    "utm_content",
    "referrer",
    "entrance_page",
    "search_query",
    "gclid",
    "yclid",
    "ym_client_id",
)


@dataclass(frozen=True)
class Report:
    """How one communication type is read from the Data API."""

    communication_type: str  # ours: core.mnemonics.CommunicationType's value
    method: str
    fields: tuple[str, ...]
    key_field: str  # the row's field that is the identity intake uses
    time_field: str  # the row's field with when it happened (what date_from/date_till select by)
    to_values: Callable[[dict[str, Any]], dict[str, Any]]
    end_field: str = ""  # the row's field with when it ended, where that is later (a call's finish)

    def key(self, row: dict[str, Any]) -> str:
        value = row.get(self.key_field)
        return "" if value is None else str(value)


def _tags(value: Any) -> dict[str, Any]:
    """Tags come as objects; notifications carry tag_ids and tag_names."""
    tags = [tag for tag in value if isinstance(tag, dict)] if isinstance(value, list) else []
    return {
        "tag_ids": [tag.get("tag_id") for tag in tags],
        "tag_names": [tag.get("tag_name") for tag in tags],
    }


def call_values(row: dict[str, Any]) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for field in ("id", *_CALL_SAME, *_CALL_RENAMES):
        if field not in row or field == "tags":
            continue
        values[_CALL_RENAMES.get(field, field)] = row[field]
    if "tags" in row:
        values.update(_tags(row["tags"]))
    return values


def offline_values(row: dict[str, Any]) -> dict[str, Any]:
    values = {_OFFLINE_RENAMES.get(field, field): row[field] for field in ("id", *_OFFLINE_SAME) if field in row}
    # Offline requests' notifications carry the visitor's number as contact_phone_number too.
    if values.get("visitor_phone_number") and not values.get("contact_phone_number"):
        values["contact_phone_number"] = values["visitor_phone_number"]
    return values


CALLS = Report(
    communication_type="calls",
    method=CALLS_METHOD,
    fields=tuple(dict.fromkeys(("id", *_CALL_SAME, *_CALL_RENAMES))),
    key_field="id",
    time_field="start_time",
    to_values=call_values,
    end_field="finish_time",
)
OFFLINE_REQUESTS = Report(
    communication_type="offline_requests",
    method=OFFLINE_METHOD,
    fields=tuple(dict.fromkeys(("id", *_OFFLINE_SAME))),
    key_field="communication_id",
    time_field="date_time",
    to_values=offline_values,
)
# Taxi requests have no report in the Data API's reference: they are not reconciled.
REPORTS = {report.communication_type: report for report in (CALLS, OFFLINE_REQUESTS)}

DATE_FORMAT = "%Y-%m-%d %H:%M:%S"


def api_date(moment: datetime) -> str:
    """A naive local time as the API takes it (`YYYY-MM-DD hh:mm:ss`)."""
    return moment.strftime(DATE_FORMAT)


def parse_api_date(value: Any, zone: tzinfo) -> datetime | None:
    """A date of a row (`YYYY-MM-DD hh:mm:ss`, in the account's zone) as an aware time; None if unreadable."""
    if not isinstance(value, str):
        return None
    try:
        return datetime.strptime(value[:19], DATE_FORMAT).replace(tzinfo=zone)
    except ValueError:
        return None
