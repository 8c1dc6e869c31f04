"""The integration's state at a glance (notifications.selectors.integration_glance), on the
real database."""

from datetime import timedelta

import pytest
from django.utils import timezone

from notifications.models import Delivery, DeliveryAttempt
from notifications.selectors import integration_glance
from tests.conftest import receive_call

pytestmark = pytest.mark.django_db


def test_a_new_integration_has_nothing_to_show(make_account):
    account = make_account(active=False)
    glance = integration_glance(integration_id=account.mindbox.pk, now=timezone.now())
    assert glance.active is False
    assert glance.last_event_at is None and glance.last_delivered_at is None
    assert (glance.failed_attempts, glance.failed_deliveries, glance.last_error.text) == (0, 0, "")
    assert glance.next_step == "activate"


def test_the_next_step_follows_the_set_up(make_account, make_notification):
    account = make_account()
    assert integration_glance(integration_id=account.mindbox.pk, now=timezone.now()).next_step == "add-operation"
    notification = make_notification(account, active=False)
    glance = integration_glance(integration_id=account.mindbox.pk, now=timezone.now())
    assert (glance.operations, glance.notifications, glance.next_step) == (1, 0, "add-notification")
    notification.active = True
    notification.save()
    assert integration_glance(integration_id=account.mindbox.pk, now=timezone.now()).next_step == ""


def test_last_event_last_delivery_and_the_failures_of_the_last_day(make_account, make_notification):
    account = make_account()
    make_notification(account)
    now = timezone.now()
    delivered, failed, retrying, old = (
        Delivery.objects.get(event_id=receive_call(account, str(n)).event_id) for n in range(4)
    )
    Delivery.objects.filter(pk=delivered.pk).update(status="delivered", finished_at=now - timedelta(minutes=5))
    # Failed for good an hour ago, without an attempt (a template that could not render).
    Delivery.objects.filter(pk=failed.pk).update(
        status="failed", finished_at=now - timedelta(hours=1), last_error="cannot render: bad body"
    )
    # Retrying: two unsuccessful attempts, the newer one's error is the last error.
    for minutes, error in ((30, "HTTP 503"), (10, "ReadTimeout")):
        DeliveryAttempt.objects.create(
            delivery=retrying, outcome="retry", error=error, started_at=now - timedelta(minutes=minutes)
        )
    # Two days ago: outside the window.
    Delivery.objects.filter(pk=old.pk).update(status="failed", finished_at=now - timedelta(days=2), last_error="old")
    DeliveryAttempt.objects.create(delivery=old, outcome="failed", error="old", started_at=now - timedelta(days=2))

    glance = integration_glance(integration_id=account.mindbox.pk, now=now)
    assert glance.active is True
    assert glance.last_event_at is not None and now - glance.last_event_at < timedelta(minutes=1)
    assert glance.last_delivered_at == now - timedelta(minutes=5)
    assert glance.failed_attempts == 2
    assert glance.failed_deliveries == 1
    assert glance.last_error.text == "ReadTimeout"
    assert glance.last_error_at == now - timedelta(minutes=10)


def test_another_integrations_deliveries_do_not_count(make_account, make_notification):
    mine, other = make_account(), make_account()
    make_notification(other)
    delivery = Delivery.objects.get(event_id=receive_call(other, "1").event_id)
    Delivery.objects.filter(pk=delivery.pk).update(status="failed", finished_at=timezone.now(), last_error="x")
    glance = integration_glance(integration_id=mine.mindbox.pk, now=timezone.now())
    assert (glance.failed_deliveries, glance.last_error.text, glance.last_event_at) == (0, "", None)


def test_the_account_page_shows_the_glance_and_leads_to_the_settings(admin_client, make_account, make_notification):
    account = make_account(active=False)
    page = admin_client.get(f"/admin/mindbox_integration/account/{account.pk}/change/").content.decode()
    settings_url = f"/admin/mindbox_integration/mindboxintegration/{account.mindbox.pk}/change/"
    assert 'id="integration-glance"' in page and 'data-active="no"' in page
    assert f'href="{settings_url}" class="settings-link">Продолжить настройку интеграции' in page
    assert page.count('class="delivery-log-link"') == 1  # the object tools' link only

    make_notification(account)  # set up: nothing left to do, the link only opens the settings
    account.mindbox.active = True
    account.mindbox.save()
    page = admin_client.get(f"/admin/mindbox_integration/account/{account.pk}/change/").content.decode()
    assert 'data-active="yes"' in page
    assert f'href="{settings_url}" class="settings-link">К настройкам интеграции' in page
