"""Integration health in-process against the stand-in: refused keys pause and hold, resuming
sends what was held in order of arrival, an outage backs off without spending attempts."""

from datetime import timedelta

import pytest
from django.utils import timezone

from harness.mindbox_standin import Planned
from mindbox_integration.mindbox import MindboxClient
from notifications import breaker, dispatch
from notifications.delivery import attempt_delivery, deliver_due
from notifications.models import Delivery, DeliveryAttempt, InboundEvent, IntegrationHealth
from notifications.tasks import sweep_due_deliveries
from tests.conftest import receive_call

pytestmark = pytest.mark.django_db


@pytest.fixture
def client() -> MindboxClient:
    return MindboxClient(connect_timeout=2, read_timeout=2)


@pytest.fixture
def account(make_account, make_notification, settings):
    settings.DELIVERY_RETRY_SCHEDULE = [1, 1, 1, 1, 1, 1]
    settings.DELIVERY_PAUSE_AFTER = 3
    settings.DELIVERY_BACKOFF_AFTER = 2
    account = make_account(secret_key="sk-1")
    make_notification(account)
    return account


def receive(account, session: str) -> Delivery:
    return Delivery.objects.get(event_id=receive_call(account, session).event_id)


def due_now(*deliveries: Delivery) -> None:
    Delivery.objects.filter(pk__in=[d.pk for d in deliveries]).update(next_attempt_at=timezone.now())


def test_refused_keys_pause_the_integration_and_hold_its_deliveries(
    account, client, mindbox, django_capture_on_commit_callbacks
):
    deliveries = [receive(account, str(n)) for n in range(5)]
    mindbox.plan(*[Planned(status=401, payload={})] * 3)
    for d in deliveries[:3]:
        assert attempt_delivery(delivery_id=d.pk, client=client).sent
    state = IntegrationHealth.objects.get(pk=account.mindbox.pk)
    assert state.paused_at is not None
    assert "401" in state.pause_reason and "секретный ключ" in state.pause_reason
    assert set(Delivery.objects.values_list("status", flat=True)) == {"held"}

    # Held deliveries are not sent, new events are accepted and held too.
    due_now(*deliveries)
    assert attempt_delivery(delivery_id=deliveries[3].pk, client=client).sent is False
    later = receive(account, "99")
    assert later.status == Delivery.Status.HELD
    assert len(mindbox.requests) == 3

    queued: list[int] = []
    with django_capture_on_commit_callbacks(execute=True):
        assert breaker.resume(integration_id=account.mindbox.pk, enqueue=queued.extend) == 6
    assert queued == [d.pk for d in [*deliveries, later]]  # in order of arrival
    for delivery_id in queued:
        assert attempt_delivery(delivery_id=delivery_id, client=client).status == "delivered"
    state.refresh_from_db()
    assert state.paused_at is None and state.auth_failures == 0


def test_a_good_answer_between_refusals_resets_the_count(account, client, mindbox):
    deliveries = [receive(account, str(n)) for n in range(4)]
    mindbox.plan(
        Planned(status=403, payload={}), Planned(status=403, payload={}), Planned(), Planned(status=403, payload={})
    )
    for d in deliveries:
        attempt_delivery(delivery_id=d.pk, client=client)
    state = IntegrationHealth.objects.get(pk=account.mindbox.pk)
    assert state.paused_at is None and state.auth_failures == 1
    assert Delivery.objects.get(pk=deliveries[0].pk).status == Delivery.Status.PENDING  # retried later


def test_an_outage_backs_off_without_spending_attempts(account, client, mindbox):
    deliveries = [receive(account, str(n)) for n in range(10)]
    mindbox.plan(*[Planned(status=503, payload={})] * 2)
    results = [attempt_delivery(delivery_id=d.pk, client=client) for d in deliveries]
    # Two temporary failures open the back-off; the other eight wait without a request.
    assert sum(r.sent for r in results) == 2
    assert len(mindbox.requests) == 2
    state = IntegrationHealth.objects.get(pk=account.mindbox.pk)
    assert state.failure_streak == 2 and state.backoff_until > timezone.now()
    waiting = Delivery.objects.filter(pk__in=[d.pk for d in deliveries[2:]])
    assert all(d.attempts == 0 and d.next_attempt_at >= state.backoff_until for d in waiting)
    assert all(d.queued_until is None for d in waiting)  # the sweeper takes them when the back-off ends

    # Once the window passes, a success closes it.
    IntegrationHealth.objects.filter(pk=state.pk).update(backoff_until=timezone.now() - timedelta(seconds=1))
    due_now(*deliveries)
    assert attempt_delivery(delivery_id=deliveries[2].pk, client=client).status == "delivered"
    state.refresh_from_db()
    assert state.failure_streak == 0 and state.backoff_until is None


def test_backoff_doubles_up_to_the_maximum(settings):
    settings.DELIVERY_BACKOFF_AFTER = 5
    settings.DELIVERY_BACKOFF_MAX = 300
    assert [breaker.backoff_seconds(n) for n in (4, 5, 6, 7, 11, 50)] == [0, 5, 10, 20, 300, 300]


def test_switched_off_integration_holds_then_the_sweeper_releases_it(account, client, mindbox):
    delivery = receive(account, "1")
    account.mindbox.active = False
    account.mindbox.save()
    assert attempt_delivery(delivery_id=delivery.pk, client=client).status == "held"
    assert mindbox.requests == [] and not DeliveryAttempt.objects.exists()

    sweep_due_deliveries()  # still switched off: stays held
    assert Delivery.objects.get(pk=delivery.pk).status == Delivery.Status.HELD
    account.mindbox.active = True
    account.mindbox.save()
    sweep_due_deliveries()
    assert Delivery.objects.get(pk=delivery.pk).status == Delivery.Status.PENDING
    assert attempt_delivery(delivery_id=delivery.pk, client=client).status == "delivered"


def test_releasing_in_chunks_stops_when_the_integration_is_paused_or_switched_off(account, client):
    held = [receive(account, str(n)) for n in range(5)]
    account.mindbox.active = False
    account.mindbox.save()
    for delivery in held:
        assert attempt_delivery(delivery_id=delivery.pk, client=client).status == "held"
    released: list[int] = []
    # Switched off: nothing is released, however many chunks there are.
    assert breaker.release_all_held(integration_id=account.mindbox.pk, enqueue=released.extend, chunk=2) == 0
    account.mindbox.active = True
    account.mindbox.save()
    IntegrationHealth.objects.update_or_create(pk=account.mindbox.pk, defaults={"paused_at": timezone.now()})
    assert breaker.release_all_held(integration_id=account.mindbox.pk, enqueue=released.extend, chunk=2) == 0
    IntegrationHealth.objects.filter(pk=account.mindbox.pk).update(paused_at=None)
    assert breaker.release_all_held(integration_id=account.mindbox.pk, enqueue=released.extend, chunk=2) == 5
    assert Delivery.objects.filter(status=Delivery.Status.HELD).count() == 0


def test_an_event_that_made_no_delivery_says_why(make_account, make_notification):
    off = make_account(active=False)
    make_notification(off)
    event = dispatch.receive_event(
        account=off, communication_type="calls", raw="{}", values={"call_session_id": "1"}, enqueue=lambda ids: None
    )
    assert event.deliveries == 0
    on = make_account()
    make_notification(on, filters={"conditions": [{"field": "visitor_name", "mode": "include", "values": ["x"]}]})
    filtered = dispatch.receive_event(
        account=on, communication_type="calls", raw="{}", values={"call_session_id": "1"}, enqueue=lambda ids: None
    )
    untyped = dispatch.receive_event(
        account=on,
        communication_type="taxi_requests",
        raw="{}",
        values={"communication_id": "1"},
        enqueue=lambda ids: None,
    )
    notes = {pk: InboundEvent.objects.get(pk=pk).note for pk in (event.event_id, filtered.event_id, untyped.event_id)}
    assert notes[event.event_id] == "интеграция с Mindbox выключена"
    assert notes[filtered.event_id] == "ни одно уведомление не прошло условия фильтра"
    assert notes[untyped.event_id] == "нет активного уведомления для этого типа коммуникации"


def test_held_deliveries_whose_notification_was_deleted_fail_visibly(account, client, mindbox):
    delivery = receive(account, "1")
    Delivery.objects.filter(pk=delivery.pk).update(status=Delivery.Status.HELD)
    delivery.notification.delete()
    sweep_due_deliveries()
    delivery.refresh_from_db()
    assert delivery.status == Delivery.Status.FAILED
    assert delivery.last_error == "its notification was deleted before it could be sent"


def test_after_a_back_off_a_batch_sends_only_probes(account, client, mindbox):
    deliveries = [receive(account, f"probe-{n}") for n in range(10)]
    # The integration failed often enough to back off, and the window has just ended.
    IntegrationHealth.objects.create(
        integration=account.mindbox, failure_streak=5, backoff_until=timezone.now() - timedelta(seconds=1)
    )
    mindbox.plan(*[Planned(status=503, payload={})] * breaker.PROBES)
    batch = deliver_due(queue="deliveries", limit=50, client=client)
    assert len(mindbox.requests) == breaker.PROBES  # not the whole batch into a Mindbox that may still be down
    assert (
        sorted(r.outcome for r in batch.results.values())
        == ["backoff"] * (10 - breaker.PROBES) + ["retry"] * breaker.PROBES
    )
    waiting = Delivery.objects.filter(pk__in=[d.pk for d in deliveries], attempts=0)
    assert waiting.count() == 10 - breaker.PROBES
    state = IntegrationHealth.objects.get(pk=account.mindbox.pk)
    assert state.failure_streak == 5 + breaker.PROBES and state.backoff_until > timezone.now()  # doubled again
