"""Filter conditions as UIS has them."""

from django.utils import translation

from core.filter_fields import never_matching
from core.filters import parse_filters, passes, validate_filters

LOST_INCOMING = {
    "match": "all",
    "conditions": [
        {"field": "direction", "mode": "include", "values": ["in"]},
        {"field": "tag_names", "mode": "include", "values": ["Потерянный"]},
    ],
}


def check(data, **values) -> bool:
    return passes(parse_filters(data), values)


def test_no_conditions_pass_everything():
    assert check({}, direction="out")
    assert check(None)


def test_include_all():
    assert check(LOST_INCOMING, direction="in", tag_names="Потерянный")
    assert not check(LOST_INCOMING, direction="out", tag_names="Потерянный")
    assert not check(LOST_INCOMING, direction="in")


def test_any():
    data = {**LOST_INCOMING, "match": "any"}
    assert check(data, direction="out", tag_names="Потерянный")
    assert not check(data, direction="out", tag_names="Продажа")


def test_exclude_drops_matching_events_and_keeps_missing_field():
    data = {"conditions": [{"field": "virtual_phone_number", "mode": "exclude", "values": ["74950000000"]}]}
    assert not check(data, virtual_phone_number="74950000000")
    assert check(data, virtual_phone_number="74951111111")
    assert check(data)


def test_strings_are_trimmed_and_case_insensitive_numbers_compare_as_text():
    data = {
        "conditions": [
            {"field": "direction", "mode": "include", "values": [" IN "]},
            {"field": "scenario_id", "mode": "include", "values": [501]},
        ]
    }
    assert check(data, direction="in", scenario_id="501")


def test_list_values_match_any_element():
    data = {"conditions": [{"field": "tag_names", "mode": "include", "values": ["vip"]}]}
    assert check(data, tag_names=["new", "VIP"])


def test_validation_names_unknown_fields_and_bad_modes():
    with translation.override("en"):
        errors = validate_filters(
            {
                "match": "some",
                "conditions": [
                    {"field": "nope", "mode": "include", "values": ["x"]},
                    {"field": "direction", "mode": "maybe", "values": []},
                ],
            },
            known_fields={"direction"},
        )
    text = "\n".join(errors)
    assert '"match" must be "all" or "any"' in text
    assert 'condition 1: unknown field "nope"' in text
    assert 'condition 2: "mode" must be "include" or "exclude"' in text
    assert 'condition 2: "values" must be a non-empty list' in text
    assert validate_filters(LOST_INCOMING, known_fields={"direction", "tag_names"}) == []


# --- Fields of known values, in UIS's words (core/filter_fields.py)

UIS_EXAMPLE = {  # «Направление звонка: Включить Входящий» И «Статус звонка: Включить Потерянный»
    "match": "all",
    "conditions": [
        {"field": "direction", "mode": "include", "values": ["in"]},
        {"field": "call_status", "mode": "include", "values": ["lost"]},
    ],
}


def test_call_status_is_derived_from_the_talk_time():
    assert check(UIS_EXAMPLE, direction="in", talk_time_duration=0)
    assert check(UIS_EXAMPLE, direction="in", talk_time_duration="0")
    assert not check(UIS_EXAMPLE, direction="in", talk_time_duration=12)
    assert not check(UIS_EXAMPLE, direction="out", talk_time_duration=0)
    assert not check(UIS_EXAMPLE, direction="in")  # no talk time: the status is unknown, nothing matches
    answered = {"conditions": [{"field": "call_status", "mode": "include", "values": ["answered"]}]}
    assert check(answered, talk_time_duration=95) and not check(answered, talk_time_duration=0)
    # A call_status UIS sends itself wins over the derived one.
    assert check(answered, call_status="answered", talk_time_duration=0)


def test_values_that_can_never_match_a_known_field_are_named():
    assert never_matching(communication_type="calls", field="direction", values=["Входящий", "IN", " out "]) == [
        "Входящий"
    ]
    assert never_matching(communication_type="calls", field="call_status", values=["Потерянный"]) == ["Потерянный"]
    assert never_matching(communication_type="calls", field="tag_names", values=["Потерянный"]) == []  # free text
    assert never_matching(communication_type="offline_requests", field="direction", values=["x"]) == []
