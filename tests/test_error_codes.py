"""Delivery errors stored as a code with parameters beside the English text, by a real batch
against the stand-in Mindbox, and the admin saying them in Russian by the code: rewording the
stored English changes nothing a manager reads; a row stored before codes shows its text."""

import json

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.urls import reverse

from harness.mindbox_standin import Planned
from mindbox_integration.mindbox.error_codes import GAVE_UP_AFTER, ErrorCode
from notifications import dispatch
from notifications.delivery import deliver_due
from notifications.models import Delivery, DeliveryAttempt

pytestmark = pytest.mark.django_db

KEY = "sk-coded-errors-5151"
CALL = {"visitor_name": "Анна", "contact_phone_number": "79161234567"}
INVALID = {
    "status": "ValidationError",
    "validationMessages": [{"message": "Неверный формат телефона", "location": "/customer/mobilePhone"}],
}


def receive(account, session: str) -> Delivery:
    result = dispatch.receive_event(
        account=account,
        communication_type="calls",
        raw="{}",
        values={**CALL, "call_session_id": session},
        enqueue=lambda ids: None,
    )
    return Delivery.objects.get(event_id=result.event_id)


@pytest.fixture
def admin() -> Client:
    client = Client()
    client.force_login(User.objects.create_superuser(username="root", password="x"))
    return client


def test_a_batch_stores_each_outcomes_code_and_parameters(make_account, make_notification, mindbox, settings):
    settings.DELIVERY_RETRY_SCHEDULE = []  # a temporary failure is the last attempt: it gives up at once
    account = make_account(secret_key=KEY)
    make_notification(account)
    refused = make_account(secret_key=KEY)
    # A key in the URL's user part stays out of the parameters (and of the English text).
    make_notification(refused, url=f"https://mindbox:{KEY}@evil.example/v3/operations/async?operation=Zvonok")
    deliveries = [receive(account, "1"), receive(account, "2"), receive(refused, "3")]
    mindbox.plan(Planned(status=400, payload=INVALID), Planned(status=503, payload={"status": "InternalServerError"}))
    batch = deliver_due(queue="deliveries", limit=10)
    assert batch.claimed == 3
    rows = {d.pk: d for d in Delivery.objects.filter(pk__in=[d.pk for d in deliveries])}
    validation, unavailable = sorted(
        (rows[deliveries[0].pk], rows[deliveries[1].pk]), key=lambda d: d.error_code != ErrorCode.VALIDATION_ERROR
    )
    assert (validation.error_code, validation.error_params) == (
        ErrorCode.VALIDATION_ERROR,
        {"details": "/customer/mobilePhone: Неверный формат телефона"},
    )
    assert (unavailable.error_code, unavailable.error_params) == (
        ErrorCode.HTTP_STATUS,
        {"status": 503, GAVE_UP_AFTER: 1},
    )
    assert unavailable.last_error == "Mindbox answered HTTP 503; gave up after 1 attempts"
    host = rows[deliveries[2].pk]
    assert (host.error_code, host.error_params) == (ErrorCode.REFUSED_HOST, {"host": "evil.example"})
    for delivery in rows.values():
        (attempt,) = DeliveryAttempt.objects.filter(delivery=delivery)
        assert (attempt.error_code, attempt.error_params) == (delivery.error_code, delivery.error_params)
    stored = json.dumps(
        [
            *Delivery.objects.values_list("error_params", "last_error"),
            *DeliveryAttempt.objects.values_list("error_params", "error"),
        ],
        ensure_ascii=False,
    )
    assert KEY not in stored


def test_a_delivered_answer_clears_the_code_and_a_template_error_has_its_own(
    make_account, make_notification, mindbox, settings
):
    account = make_account()
    make_notification(account)
    delivery = receive(account, "1")
    Delivery.objects.filter(pk=delivery.pk).update(error_code=ErrorCode.TIMEOUT, last_error="timed out")
    deliver_due(queue="deliveries", limit=10)
    delivery.refresh_from_db()
    assert (delivery.status, delivery.error_code, delivery.error_params, delivery.last_error) == (
        "delivered",
        "",
        {},
        "",
    )
    broken = make_account()
    make_notification(broken, body='{"customer": {"fullName": {{visitor_name}}, "ids": {{visitor_name}}')
    failed = receive(broken, "2")
    assert failed.status == Delivery.Status.FAILED
    assert failed.error_code == ErrorCode.RENDER_FAILED
    assert failed.last_error == f"cannot render: {failed.error_params['detail']}"


def test_the_admin_says_a_coded_error_in_russian_whatever_its_english(admin, make_account, make_notification, mindbox):
    account = make_account(secret_key=KEY)
    make_notification(account)
    delivery = receive(account, "1")
    mindbox.plan(Planned(status=400, payload=INVALID))
    deliver_due(queue="deliveries", limit=10)
    shown = "Mindbox не принял данные: /customer/mobilePhone: Неверный формат телефона"
    page = reverse("admin:notifications_delivery_change", args=[delivery.pk])
    listing = reverse("admin:notifications_delivery_changelist")
    assert shown in admin.get(page).content.decode()
    assert shown in admin.get(listing).content.decode()
    # The worker's English is reworded (a new release): the Russian stays.
    Delivery.objects.filter(pk=delivery.pk).update(last_error="Mindbox said no to the data")
    DeliveryAttempt.objects.filter(delivery=delivery).update(error="Mindbox said no to the data")
    after = admin.get(page).content.decode()
    assert shown in after and "Mindbox said no to the data" not in after
    assert shown in admin.get(listing).content.decode()
    # A row stored before codes: its text as stored, no translation guessed.
    Delivery.objects.filter(pk=delivery.pk).update(error_code="", error_params={}, last_error="HTTP 400 (old)")
    assert "HTTP 400 (old)" in admin.get(listing).content.decode()
