"""Stored delivery errors (English, as the worker logs them) as the admin shows them."""

import pytest
from django.utils import translation

from mindbox_integration.mindbox.guard import Refused
from notifications.error_text import for_people


@pytest.fixture(autouse=True)
def russian():
    with translation.override("ru"):
        yield


@pytest.mark.parametrize(
    ("stored", "shown"),
    [
        ("Mindbox answered HTTP 503", "Mindbox ответил HTTP 503"),
        (
            "Mindbox answered HTTP 401: the secret key is wrong or missing",
            "Mindbox ответил HTTP 401: секретный ключ неверен или не задан",
        ),
        ("timed out waiting for Mindbox", "Mindbox не ответил вовремя"),
        (
            "connection error: cannot resolve host api.mindbox.ru: gaierror",
            "нет связи: не удаётся найти адрес api.mindbox.ru",
        ),
        # Mindbox's own messages (Russian already) and the parts joined with "; " keep their order.
        (
            "Mindbox ValidationError: /customer: Клиент заблокирован; /customer/email: Неверный e-mail",
            "Mindbox не принял данные: /customer: Клиент заблокирован; /customer/email: Неверный e-mail",
        ),
        (
            "Mindbox answered HTTP 500; gave up after 8 attempts",
            "Mindbox ответил HTTP 500; попыток больше не будет (сделано 8)",
        ),
        (
            "Mindbox answered HTTP 429; Mindbox ProtocolError: Too many requests",
            "Mindbox ответил HTTP 429; Mindbox отклонил запрос (ProtocolError): Too many requests",
        ),
        (
            "Mindbox already had this transaction (HTTP 409)",
            "доставлено: у Mindbox эта транзакция уже есть (HTTP 409), это повтор после потерянного ответа",
        ),
        (
            "the answer is not Mindbox's JSON (HTTP 200, text/html)",
            "ответ пришёл не от Mindbox (HTTP 200, text/html): страница прокси? попробуем ещё раз",
        ),
        ("something new: KeyError", "something new: KeyError"),  # unknown: kept as it is
        ("", ""),
    ],
)
def test_known_parts_are_said_in_russian_and_the_rest_is_kept(stored, shown):
    assert for_people(stored) == shown


def test_the_guards_refusal_names_no_setting_a_manager_cannot_change_alone():
    stored = "refused: " + str(
        Refused(
            "host evil.example is not an allowed Mindbox host",
            "allowed hosts are set by MINDBOX_ALLOWED_HOSTS (api.mindbox.ru)",
        )
    )
    assert for_people(stored) == (
        "не отправлено: evil.example нет среди хостов Mindbox, разрешённых порталом; "
        "их задаёт администратор портала (MINDBOX_ALLOWED_HOSTS)"
    )
