"""Rendering rules: JSON-aware, injection-safe substitution into bodies and URLs."""

import json
from urllib.parse import parse_qs, urlsplit

import pytest
from django.utils import translation

from core.rendering import TemplateError, compile_body, compile_url


def render(template: str, **values: object) -> dict:
    return json.loads(compile_body(template).render_json(values))


def test_unquoted_whole_value_becomes_the_value_itself():
    out = render(
        '{"customer": {"mobilePhone": {{contact_phone_number}}, "n": {{talk_time_duration}}}}',
        contact_phone_number="79161234567",
        talk_time_duration=95,
    )
    assert out == {"customer": {"mobilePhone": "79161234567", "n": 95}}


def test_quoted_whole_value_is_text():
    out = render(
        '{"fullName": "{{visitor_name}}", "n": "{{talk_time_duration}}"}', visitor_name="Анна", talk_time_duration=95
    )
    assert out == {"fullName": "Анна", "n": "95"}


def test_mnemonic_inside_a_string_is_inserted_as_text():
    out = render(
        '{"note": "Звонок на {{virtual_phone_number}} ({{direction}})"}',
        virtual_phone_number="74951234567",
        direction="in",
    )
    assert out == {"note": "Звонок на 74951234567 (in)"}


def test_missing_value_inside_a_string_is_empty_text():
    assert render('{"note": "Звонок на {{virtual_phone_number}}!"}') == {"note": "Звонок на !"}


@pytest.mark.parametrize("missing", [None, "", "   "])
def test_whole_value_without_a_value_removes_its_key(missing):
    template = '{"customer": {"fullName": {{visitor_name}}, "email": "{{visitor_email}}", "mobilePhone": {{contact_phone_number}}}}'
    out = render(template, visitor_name=missing, visitor_email=missing, contact_phone_number="79161234567")
    assert out == {"customer": {"mobilePhone": "79161234567"}}


def test_whole_value_without_a_value_removes_its_array_element():
    out = render('{"ids": [{{visitor_id}}, {{contact_id}}, "fixed"]}', contact_id="7001")
    assert out == {"ids": ["7001", "fixed"]}


def test_injection_in_a_value_adds_no_key():
    evil = 'Иван", "email": "x@evil'
    for template in ('{"customer": {"fullName": {{visitor_name}}}}', '{"customer": {"fullName": "{{visitor_name}}"}}'):
        out = render(template, visitor_name=evil)
        assert out == {"customer": {"fullName": evil}}
    out = render('{"note": "Имя: {{visitor_name}}"}', visitor_name=evil)
    assert out == {"note": f"Имя: {evil}"}


def test_constants_and_nesting_survive():
    template = (
        '{"customer": {"subscriptions": [{"brand": "acme", "pointOfContact": "Sms", "isSubscribed": true}], "x": null}}'
    )
    assert render(template) == json.loads(template)


def test_whitespace_inside_braces_is_allowed():
    assert render('{"a": {{ visitor_name }}}', visitor_name="A") == {"a": "A"}


def test_mnemonics_are_listed():
    template = compile_body('{"a": {{visitor_name}}, "b": "x {{direction}}", "c": ["{{tag_names}}"]}')
    assert template.mnemonics == {"visitor_name", "direction", "tag_names"}


def test_invalid_json_names_line_and_column():
    with translation.override("en"), pytest.raises(TemplateError, match="line 2, column 8"):
        compile_body('{"a": 1,\n  "b": }')


def test_body_must_be_an_object():
    with translation.override("en"), pytest.raises(TemplateError, match="JSON object"):
        compile_body("[{{visitor_name}}]")


def test_mnemonic_in_a_key_is_refused():
    with translation.override("en"), pytest.raises(TemplateError, match="not in keys"):
        compile_body('{"customer": {"{{visitor_name}}": 1}}')


def test_malformed_mnemonic_is_refused():
    with translation.override("en"), pytest.raises(TemplateError, match="not a mnemonic"):
        compile_body('{"a": "{{visitor name}}"}')


def test_url_query_values_are_rendered_url_encoded():
    url = compile_url(
        "https://api.s.mindbox.ru/v3/operations/async?endpointId=acme.Custom&operation=Zvonok"
        "&deviceUUID={{mindbox_device_uuid}}&note=a{{visitor_name}}"
    )
    rendered = url.render({"mindbox_device_uuid": "b7e2", "visitor_name": "Иван&x=1 2"})
    parts = urlsplit(rendered)
    assert parts.path == "/v3/operations/async"
    assert "&x=1" not in parts.query  # the value's & is encoded, adding no parameter
    assert parse_qs(parts.query) == {
        "endpointId": ["acme.Custom"],
        "operation": ["Zvonok"],
        "deviceUUID": ["b7e2"],
        "note": ["aИван&x=1 2"],
    }


def test_url_parameter_that_is_a_missing_mnemonic_is_left_out():
    url = compile_url(
        "https://api.s.mindbox.ru/v3/operations/async?endpointId=e&operation=Op&deviceUUID={{mindbox_device_uuid}}"
    )
    assert parse_qs(urlsplit(url.render({})).query) == {"endpointId": ["e"], "operation": ["Op"]}


def test_mnemonic_in_url_path_is_refused():
    with pytest.raises(TemplateError):
        compile_url("https://api.mindbox.ru/v3/{{visitor_id}}/async?endpointId=e&operation=Op")
