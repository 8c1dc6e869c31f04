"""Stored delivery errors as the admin shows them: by code and parameters, in Russian; the
English text beside them is for logs and search only."""

import pytest
from django.utils import translation

from mindbox_integration.mindbox import guard
from mindbox_integration.mindbox.error_codes import GAVE_UP_AFTER, LATE, ErrorCode
from mindbox_integration.mindbox.outcome import Outcome, classify, unsendable
from notifications import error_text
from notifications.error_text import MESSAGES, StoredError, for_people

# Each code with parameters of its kind, and the Russian it is shown in.
SHOWN = {
    ErrorCode.ALREADY_PROCESSED: (
        {"status": 409},
        "доставлено: у Mindbox эта транзакция уже есть (HTTP 409), это повтор после потерянного ответа",
    ),
    ErrorCode.HTTP_STATUS: ({"status": 503}, "Mindbox ответил HTTP 503"),
    ErrorCode.RATE_LIMITED: ({"status": 429}, "Mindbox ответил HTTP 429: слишком много запросов, попробуем позже"),
    ErrorCode.VALIDATION_ERROR: (
        {"details": "/customer: Клиент заблокирован"},
        "Mindbox не принял данные: /customer: Клиент заблокирован",
    ),
    ErrorCode.PROTOCOL_ERROR: (
        {"message": "Operation not found"},
        "Mindbox отклонил запрос (ProtocolError): Operation not found",
    ),
    ErrorCode.MINDBOX_STATUS: ({"mindbox_status": "Pending"}, "Mindbox ответил неизвестным статусом Pending"),
    ErrorCode.NOT_MINDBOX_JSON: (
        {"status": 200, "content_type": "text/html"},
        "ответ пришёл не от Mindbox (HTTP 200, text/html): страница прокси? попробуем ещё раз",
    ),
    ErrorCode.UNTYPED_ANSWER: (
        {"status": 200},
        "ответ пришёл не от Mindbox (HTTP 200, без Content-Type): страница прокси? попробуем ещё раз",
    ),
    ErrorCode.EMPTY_ANSWER: ({"status": 200}, "пустой ответ (HTTP 200), Mindbox так не отвечает: попробуем ещё раз"),
    ErrorCode.REDIRECT: ({"status": 302}, "Mindbox ответил перенаправлением (HTTP 302); проверьте URL"),
    ErrorCode.KEY_REFUSED: ({"status": 401}, "Mindbox ответил HTTP 401: секретный ключ неверен или не задан"),
    ErrorCode.ENDPOINT_NOT_ALLOWED: ({"status": 403}, "Mindbox ответил HTTP 403: точке интеграции это запрещено"),
    ErrorCode.NOT_FOUND: ({"status": 404}, "Mindbox ответил HTTP 404: неверный путь или endpointId"),
    ErrorCode.REQUEST_REFUSED: ({"status": 400}, "Mindbox ответил HTTP 400: запрос отклонён"),
    ErrorCode.UNREADABLE_URL: (
        {"detail": "Invalid IPv6 URL"},
        "не отправлено: URL не удаётся разобрать (Invalid IPv6 URL); вставьте URL операции из Mindbox ещё раз",
    ),
    ErrorCode.SCHEME_REFUSED: (
        {"scheme": "http"},
        "не отправлено: URL должен начинаться с https://; простой http разрешён, только если выключен "
        "MINDBOX_REQUIRE_HTTPS",
    ),
    ErrorCode.NO_HOST: ({}, "не отправлено: в URL нет хоста; вставьте URL целиком, начиная с https://"),
    ErrorCode.REFUSED_HOST: (
        {"host": "evil.example"},
        "не отправлено: evil.example нет среди хостов Mindbox, разрешённых порталом; "
        "их задаёт администратор портала (MINDBOX_ALLOWED_HOSTS)",
    ),
    ErrorCode.PRIVATE_ADDRESS: (
        {"host": "box.example", "address": "10.0.0.5", "kind": "private"},
        "не отправлено: адрес box.example — 10.0.0.5, это не публичный адрес; "
        "разрешить его может администратор портала (MINDBOX_ALLOW_PRIVATE_NETWORKS)",
    ),
    ErrorCode.NETWORK_SETTING: (
        {"setting": "MINDBOX_ALLOW_PRIVATE_NETWORKS", "entry": "ten"},
        "не отправлено: в MINDBOX_ALLOW_PRIVATE_NETWORKS указано ten, а это не адрес и не сеть; "
        "настройку исправляет администратор портала",
    ),
    ErrorCode.UNRESOLVED: ({"host": "api.mindbox.ru"}, "нет связи: не удаётся найти адрес api.mindbox.ru"),
    ErrorCode.TIMEOUT: ({}, "Mindbox не ответил вовремя"),
    ErrorCode.CONNECTION_BROKE: (
        {"exception": "ClientPayloadError"},
        "соединение оборвалось при чтении ответа (ClientPayloadError)",
    ),
    ErrorCode.CONNECTION_FAILED: ({"detail": "Connection refused"}, "нет связи с Mindbox: Connection refused"),
    ErrorCode.UNSENDABLE: ({"exception": "UnicodeEncodeError"}, "запрос не удалось отправить (UnicodeEncodeError)"),
    ErrorCode.UNEXPECTED: ({"exception": "RuntimeError"}, "непредвиденная ошибка (RuntimeError)"),
    ErrorCode.INTERRUPTED: ({}, "обработчик остановился раньше, чем ответ Mindbox был записан"),
    ErrorCode.WORKER_STOPPED: (
        {"count": 9},
        "попыток больше не будет: обработчик останавливался 9 раз(а), пока её отправлял",
    ),
    ErrorCode.NOTIFICATION_DELETED: ({}, "уведомление удалили раньше, чем доставку успели отправить"),
    ErrorCode.RENDER_FAILED: (
        {"detail": "unknown mnemonic x"},
        "запрос не удаётся сформировать из события: unknown mnemonic x",
    ),
    ErrorCode.KEY_UNAVAILABLE: (
        {},
        "секретный ключ не удаётся расшифровать: в FIELD_ENCRYPTION_KEY нет ключа, которым он зашифрован",
    ),
    ErrorCode.ANSWERED_LATE: ({}, "ответ пришёл слишком поздно и не учтён (доставку взял другой обработчик)"),
}


@pytest.fixture(autouse=True)
def russian():
    with translation.override("ru"):
        yield


def test_every_code_has_a_message_and_a_case_here():
    assert set(MESSAGES) == set(ErrorCode) == set(SHOWN)


@pytest.mark.parametrize("code", list(ErrorCode))
def test_each_code_is_said_in_russian_with_its_parameters(code):
    params, shown = SHOWN[code]
    assert for_people(StoredError(text="whatever the worker wrote", code=code, params=params)) == shown


@pytest.mark.parametrize("code", list(ErrorCode))
def test_rewording_the_english_text_changes_nothing_shown(code):
    params, _ = SHOWN[code]
    one = for_people(StoredError(text="Mindbox answered HTTP 503", code=code, params=params))
    other = for_people(StoredError(text="the text was reworded entirely", code=code, params=params))
    assert one == other
    assert for_people(StoredError(text="", code=code, params=params)) == one


def test_follow_ups_come_after_the_cause_in_order():
    stored = StoredError(
        code=ErrorCode.HTTP_STATUS,
        params={"status": 429, "said_protocol_error": "Too many requests", GAVE_UP_AFTER: 8, LATE: True},
    )
    assert for_people(stored) == (
        "Mindbox ответил HTTP 429; Mindbox отклонил запрос (ProtocolError): Too many requests; "
        "попыток больше не будет (сделано 8); "
        "ответ пришёл слишком поздно и не учтён (доставку взял другой обработчик)"
    )


def test_the_clients_outcomes_carry_codes_the_admin_says():
    cases = [
        (classify(401, '{"status": "ProtocolError", "errorMessage": "bad key"}'), ErrorCode.PROTOCOL_ERROR),
        (classify(401, ""), ErrorCode.KEY_REFUSED),
        (classify(429, '{"status": "ProtocolError", "errorMessage": "slow down"}'), ErrorCode.RATE_LIMITED),
        (classify(503, "<html>"), ErrorCode.HTTP_STATUS),
        (classify(200, '{"status": "ValidationError", "validationMessages": []}'), ErrorCode.VALIDATION_ERROR),
        (classify(200, '{"status": "Pending"}'), ErrorCode.MINDBOX_STATUS),
        (classify(200, "<html>", content_type="text/html; charset=utf-8"), ErrorCode.NOT_MINDBOX_JSON),
        (classify(200, "<html>"), ErrorCode.UNTYPED_ANSWER),
        (classify(200, ""), ErrorCode.EMPTY_ANSWER),
        (classify(301, ""), ErrorCode.REDIRECT),
        (classify(409, '{"status": "TransactionAlreadyProcessed"}'), ErrorCode.ALREADY_PROCESSED),
        (unsendable(UnicodeEncodeError("latin-1", "ключ", 0, 1, "no")), ErrorCode.UNSENDABLE),
    ]
    for outcome, code in cases:
        assert outcome.code == code, outcome
        shown = for_people(StoredError(text=outcome.error, code=outcome.code, params=outcome.params))
        assert shown and shown != outcome.error
    said = classify(429, '{"status": "ProtocolError", "errorMessage": "slow down"}')
    assert for_people(StoredError(code=said.code, params=said.params)).endswith(
        "Mindbox отклонил запрос (ProtocolError): slow down"
    )
    assert classify(200, '{"status": "Success"}').code == ""


def test_the_guards_refusals_carry_codes():
    allowed = ("api.mindbox.ru",)
    cases = [
        ("https://user:pw@evil.example/v3", ErrorCode.REFUSED_HOST, {"host": "evil.example"}),
        ("http://api.mindbox.ru/v3", ErrorCode.SCHEME_REFUSED, {"scheme": "http"}),
        ("https:///v3", ErrorCode.NO_HOST, {}),
        ("https://[::1/v3", ErrorCode.UNREADABLE_URL, None),
    ]
    for url, code, params in cases:
        with pytest.raises(guard.Refused) as refused:
            guard.check(url=url, allowed_hosts=allowed, require_https=True, allowed_networks=())
        assert refused.value.code == code
        if params is not None:
            assert refused.value.params == params  # the URL's user and password are no parameter
    with pytest.raises(guard.Refused) as private:
        guard.check(
            url="https://api.mindbox.ru/v3",
            allowed_hosts=allowed,
            require_https=True,
            allowed_networks=(),
            resolve=lambda host, port: ["10.1.2.3"],
        )
    assert private.value.code == ErrorCode.PRIVATE_ADDRESS
    assert private.value.params == {"host": "api.mindbox.ru", "address": "10.1.2.3", "kind": "private"}


def test_a_row_stored_before_codes_is_shown_as_stored():
    # No translation is guessed from the text: no regular expression reads errors any more.
    assert for_people(StoredError(text="Mindbox answered HTTP 503")) == "Mindbox answered HTTP 503"
    assert for_people("timed out waiting for Mindbox") == "timed out waiting for Mindbox"
    assert not hasattr(error_text, "re")
    assert not StoredError() and for_people(StoredError()) == ""


def test_an_unknown_code_or_parameters_that_do_not_fit_fall_back_to_the_text():
    assert for_people(StoredError(text="from a newer version", code="not_a_code_yet")) == "from a newer version"
    assert for_people(StoredError(text="HTTP 503", code=ErrorCode.HTTP_STATUS, params={})) == "HTTP 503"


def test_outcomes_default_to_no_code():
    assert Outcome(kind="failed").code == "" and Outcome(kind="failed").params == {}  # type: ignore[arg-type]


def test_what_mindbox_says_is_kept_bounded_and_without_nul():
    import json

    from mindbox_integration.mindbox.outcome import SAID_KEEP_CHARS, classify

    said = "x\u0000" * 5000
    body = json.dumps({"status": "ProtocolError", "errorMessage": said, "httpStatusCode": 503})
    outcome = classify(503, body)
    assert all("\x00" not in str(v) for v in (*outcome.params.values(), outcome.error, outcome.response_body))
    assert all(len(str(v)) <= SAID_KEEP_CHARS for v in outcome.params.values() if isinstance(v, str))
    assert len(outcome.error) < SAID_KEEP_CHARS + 100
