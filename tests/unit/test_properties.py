"""Properties of rendering and filters over generated values (Hypothesis): whatever UIS sends,
a body stays the JSON its template says, a query value comes back as sent, and a condition
matches exactly the values it names."""

import json
from urllib.parse import parse_qsl, urlsplit

from hypothesis import given
from hypothesis import strategies as st

from core.filters import parse_filters, passes
from core.rendering import as_text, compile_body, compile_url, has_value

# What UIS may put in a mnemonic's value: text of any characters (quotes, braces, backslashes,
# control characters, other scripts), numbers, booleans, nothing, and lists of these.
scalars = st.one_of(
    st.text(),
    st.integers(min_value=-(10**12), max_value=10**12),
    st.floats(allow_nan=False, allow_infinity=False),
    st.booleans(),
    st.none(),
)
values = st.one_of(scalars, st.lists(scalars, max_size=4))
texts_with_a_value = st.text().filter(lambda text: text.strip() != "")

BODY = (
    '{"customer": {"fullName": {{visitor_name}}, "mobilePhone": "{{contact_phone_number}}"}, '
    '"comment": "Звонок {{direction}} на {{virtual_phone_number}}", "ids": [{{call_session_id}}], "fixed": 1}'
)


MNEMONICS = ["visitor_name", "contact_phone_number", "direction", "virtual_phone_number", "call_session_id"]


@given(st.dictionaries(st.sampled_from(MNEMONICS), values))
def test_a_rendered_body_is_json_of_the_templates_shape_whatever_the_values(given):
    body = json.loads(compile_body(BODY).render_json(given))
    assert body["fixed"] == 1
    assert set(body) == {"customer", "comment", "ids", "fixed"}
    # Inside a string a value is text, and a missing one is empty text.
    assert (
        body["comment"] == f"Звонок {as_text(given.get('direction'))} на {as_text(given.get('virtual_phone_number'))}"
    )
    # A whole value without a value takes its key (or its array element) away.
    assert ("fullName" in body["customer"]) == has_value(given.get("visitor_name"))
    assert len(body["ids"]) == (1 if has_value(given.get("call_session_id")) else 0)


@given(texts_with_a_value)
def test_an_unquoted_whole_value_is_the_text_sent_and_nothing_more(text):
    body = json.loads(compile_body('{"name": {{visitor_name}}, "after": true}').render_json({"visitor_name": text}))
    assert body == {"name": text, "after": True}


@given(st.text(), st.text(alphabet=st.characters(blacklist_characters="{}", blacklist_categories=["Cs"]), max_size=10))
def test_a_value_inside_a_string_is_inserted_as_text(text, prefix):
    template = json.dumps({"note": prefix + "{{visitor_name}}!"}, ensure_ascii=False)
    body = json.loads(compile_body(template).render_json({"visitor_name": text}))
    assert body == {"note": prefix + text + "!"}


@given(values)
def test_a_query_value_comes_back_as_sent(value):
    url = compile_url("https://api.mindbox.ru/v3/operations/async?endpointId=e&operation=Op&name={{visitor_name}}")
    query = dict(parse_qsl(urlsplit(url.render({"visitor_name": value})).query, keep_blank_values=True))
    assert query["endpointId"] == "e" and query["operation"] == "Op"
    if has_value(value):
        assert query["name"] == as_text(value)
    else:
        assert "name" not in query  # a query value without a value is left out, not sent empty


names = st.text(alphabet="abcdefghijklmnopqrstuvwxyzабвгд0123456789 _-", min_size=1, max_size=12).filter(
    lambda text: text.strip() != ""
)


@given(st.lists(names, min_size=1, max_size=5, unique_by=lambda t: t.strip().casefold()), st.data())
def test_include_matches_exactly_the_listed_values_whatever_their_case_and_spaces(listed, data):
    filters = parse_filters({"conditions": [{"field": "visitor_name", "mode": "include", "values": listed}]})
    chosen = data.draw(st.sampled_from(listed))
    spelled = data.draw(st.sampled_from([chosen, chosen.upper(), f"  {chosen} "]))
    assert passes(filters, {"visitor_name": spelled})
    other = data.draw(names.filter(lambda t: t.strip().casefold() not in {v.strip().casefold() for v in listed}))
    assert not passes(filters, {"visitor_name": other})
    assert not passes(filters, {})  # no value: not one of the listed


@given(st.lists(names, min_size=1, max_size=5), st.one_of(names, st.none()))
def test_exclude_is_the_opposite_of_include(listed, value):
    rows = {"field": "visitor_name", "values": listed}
    include = parse_filters({"conditions": [{**rows, "mode": "include"}]})
    exclude = parse_filters({"conditions": [{**rows, "mode": "exclude"}]})
    given = {} if value is None else {"visitor_name": value}
    assert passes(include, given) != passes(exclude, given)


@given(st.lists(st.booleans(), min_size=1, max_size=6))
def test_all_needs_every_condition_and_any_needs_one(hits):
    conditions = [
        {"field": "visitor_name", "mode": "include" if hit else "exclude", "values": ["Анна"]} for hit in hits
    ]
    given = {"visitor_name": "Анна"}
    assert passes(parse_filters({"match": "all", "conditions": conditions}), given) == all(hits)
    assert passes(parse_filters({"match": "any", "conditions": conditions}), given) == any(hits)
