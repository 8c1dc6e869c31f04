"""Filter conditions as UIS has them."""

from django.utils import translation

from notifications.filters import parse_filters, passes, validate_filters

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
