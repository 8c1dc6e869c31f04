"""Parsing what UIS really sends, and the identity that de-duplicates events."""

import pytest

from core.mnemonics import mnemonics_for, sample_values
from notifications.intake import IntakeError, event_identity, parse_body, parse_form


def test_json_values_of_any_scalar_type():
    assert parse_body(
        b'{"visitor_name": "\\u0410\\u043d\\u043d\\u0430", "talk_time_duration": 95, "visitor_email": null}',
        "application/json",
    ) == {"visitor_name": "Анна", "talk_time_duration": 95, "visitor_email": None}


def test_doubled_quotes_are_repaired():
    raw = '{"visitor_name": ""Анна"", "visitor_email": ""a@example.com"", "direction": "in"}'.encode()
    assert parse_body(raw, "application/json") == {
        "visitor_name": "Анна",
        "visitor_email": "a@example.com",
        "direction": "in",
    }


def test_literal_mnemonic_means_absent_quoted_or_not():
    raw = b'{"visitor_name": "{{visitor_name}}", "visitor_email": {{visitor_email}}, "direction": "in"}'
    assert parse_body(raw, "application/json") == {"visitor_name": None, "visitor_email": None, "direction": "in"}


def test_the_text_null_of_a_quoted_empty_mnemonic_means_absent():
    # UIS writes an empty value as null; a quoted mnemonic makes it the text "null", in a list too.
    raw = b'{"visitor_name": "null", "visitor_email": " null ", "tag_names": ["null", "VIP"], "text": "nullify"}'
    assert parse_body(raw, "application/json") == {
        "visitor_name": None,
        "visitor_email": None,
        "tag_names": [None, "VIP"],
        "text": "nullify",
    }


def test_the_catalogue_knows_what_real_bodies_carry_and_what_taxi_start_time_means():
    calls = mnemonics_for("calls")
    for name in ("is_transfer", "last_talked_employee_id", "tp_project", "extension_phone_number", "call_status"):
        assert name in calls
    assert "visitor_browser_name" in calls and "visitor_browser_name" in mnemonics_for("offline_requests")
    # UIS's guide: the deferred trip's time, not the request's.
    assert mnemonics_for("taxi_requests")["start_time"].meaning == "Deferred trip time"
    # Real bodies carry ids and durations as numbers and the time with milliseconds: so do the samples.
    samples = sample_values("calls")
    assert isinstance(samples["call_session_id"], int) and isinstance(samples["talk_time_duration"], int)
    assert str(samples["notification_time"]).endswith(".234")


def test_json_is_parsed_whatever_the_content_type_says():
    assert parse_body(b'{"a": "1"}', "text/plain") == {"a": "1"}
    assert parse_body(b'{"a": "1"}', "") == {"a": "1"}


def test_form_encoded_body_with_json_literal_values():
    raw = (
        b"visitor_name=%22%D0%90%D0%BD%D0%BD%D0%B0%22&contact_phone_number=79161234567&visitor_email={{visitor_email}}"
    )
    expected = {"visitor_name": "Анна", "contact_phone_number": "79161234567", "visitor_email": None}
    assert parse_body(raw, "application/x-www-form-urlencoded") == expected
    assert parse_body(raw, "") == expected  # recognised without the header too


def test_unknown_keys_are_kept():
    assert parse_body(b'{"my_custom_field": "x"}', "application/json") == {"my_custom_field": "x"}


@pytest.mark.parametrize("raw", [b"[1, 2]", b'"text"', b"{not json", b"\xff\xfe"])
def test_not_an_object_of_values_is_refused(raw):
    with pytest.raises(IntakeError):
        parse_body(raw, "application/json")


def test_query_excludes_the_token():
    assert parse_form("token=secret&visitor_name=%22A%22", exclude=frozenset({"token"})) == {"visitor_name": "A"}


def test_call_identity_is_session_and_event_type():
    a = event_identity("calls", {"call_session_id": "1", "notification_mnemonic": "call_finished"})
    b = event_identity("calls", {"call_session_id": "1", "notification_mnemonic": "lost_call"})
    c = event_identity("calls", {"call_session_id": "1", "notification_name": "Завершение"})
    assert len({a, b, c}) == 3
    assert a == event_identity("calls", {"call_session_id": "1", "notification_mnemonic": "call_finished", "x": 2})


def test_request_identity_is_communication_id():
    a = event_identity("offline_requests", {"communication_id": "77", "visitor_name": "A"})
    assert a == event_identity("offline_requests", {"communication_id": "77", "visitor_name": "B"})
    assert a != event_identity("offline_requests", {"communication_id": "78"})


def test_identity_falls_back_to_a_hash_of_the_values():
    a = event_identity("taxi_requests", {"visitor_name": "A", "taxi_address": "X"})
    assert a.startswith("hash:")
    assert a == event_identity("taxi_requests", {"taxi_address": "X", "visitor_name": "A"})
    assert a != event_identity("taxi_requests", {"visitor_name": "B", "taxi_address": "X"})


def test_json_labelled_as_a_form_is_still_json():
    # `curl -d '{...}'` sends JSON as application/x-www-form-urlencoded.
    raw = b'{"visitor_name": "A", "call_session_id": "1"}'
    assert parse_body(raw, "application/x-www-form-urlencoded") == {"visitor_name": "A", "call_session_id": "1"}


def test_call_without_an_event_kind_falls_back_to_the_hash():
    started = event_identity("calls", {"call_session_id": "42", "talk_time_duration": 0})
    finished = event_identity("calls", {"call_session_id": "42", "talk_time_duration": 95})
    assert started.startswith("hash:") and started != finished


def test_nul_characters_are_dropped():
    assert parse_body(b'{"visitor_name": "a\\u0000b"}', "application/json") == {"visitor_name": "ab"}
    assert parse_form("visitor_name=a%00b") == {"visitor_name": "ab"}
