"""Refused keys (401/403) spend none of a delivery's attempts: however short the retry schedule,
the delivery waits for the integration's pause, which holds it, and is delivered once a manager
resumes sending. Through real processes: HTTP into the live server, PostgreSQL, a Celery worker
on Redis with DELIVERY_RETRY_SCHEDULE=1,1,1, and the stand-in Mindbox answering 401."""

from collections.abc import Iterator

import pytest
import requests
from django.contrib.auth.models import User
from django.test import Client
from django.urls import reverse

from harness import processes
from harness.mindbox_standin import MindboxStandIn, Planned
from notifications.models import Delivery, DeliveryAttempt, IntegrationHealth
from tests.conftest import running_worker, wait_for

pytestmark = pytest.mark.django_db(transaction=True)

PAUSE_AFTER = 5  # more refusals than the schedule has attempts (1 + 3): they must not run it out


@pytest.fixture(scope="module")
def short_schedule_worker(django_db_setup: None, standin: MindboxStandIn) -> Iterator[processes.Proc]:
    with running_worker(standin, "refusals", DELIVERY_PAUSE_AFTER=str(PAUSE_AFTER)) as worker:
        yield worker


def test_a_refused_key_waits_for_the_pause_instead_of_failing(
    short_schedule_worker, live_server, mindbox, make_account, make_notification, settings
):
    settings.DELIVERY_PAUSE_AFTER = PAUSE_AFTER  # the admin's resume reads it in this process
    account = make_account(secret_key="sk-wrong")
    make_notification(account)
    mindbox.plan(*[Planned(status=401, payload={"status": "Unauthorized"})] * PAUSE_AFTER)
    posted = requests.post(
        f"{live_server.url}/api/uis/events/calls/?token={account.inbound_token}",
        json={"call_session_id": "401-1", "visitor_name": "Анна"},
        timeout=10,
    )
    assert posted.status_code == 202, posted.text
    delivery = Delivery.objects.get(event_id=posted.json()["event_id"])

    held = wait_for(
        lambda: (d := Delivery.objects.get(pk=delivery.pk)).status != Delivery.Status.PENDING and d, timeout=40
    )
    assert held.status == Delivery.Status.HELD, (held.status, held.last_error)
    assert held.attempts == 0  # five refusals, no attempt spent
    refused = DeliveryAttempt.objects.filter(delivery=delivery).values_list("http_status", flat=True)
    assert list(refused) == [401] * PAUSE_AFTER
    assert IntegrationHealth.objects.get(pk=account.mindbox.pk).paused_at is not None

    # The key is fixed and a manager resumes: the delivery goes, its attempts all still ahead.
    superuser = User.objects.create_superuser(username="op-401", password="x")
    client = Client()
    client.force_login(superuser)
    resumed = client.post(reverse("admin:mindbox_integration_mindboxintegration_resume", args=[account.mindbox.pk]))
    assert resumed.status_code == 302
    done = wait_for(
        lambda: (d := Delivery.objects.get(pk=delivery.pk)).status == Delivery.Status.DELIVERED and d, timeout=30
    )
    assert done.attempts == 1
    assert len(mindbox.received(transactionId=str(delivery.transaction_id))) == PAUSE_AFTER + 1
