"""The per-integration rate limit towards Mindbox: one schedule of send slots in Redis, shared by
every worker; waiting for a slot costs no attempt."""

import time
from datetime import timedelta

import pytest
from django.test import override_settings
from django.utils import timezone

from mindbox_integration.mindbox import MindboxClient
from notifications import claims, ratelimit
from notifications.delivery import attempt_delivery
from notifications.models import Delivery
from tests.conftest import receive_call, wait_for


def test_slots_go_at_once_up_to_the_burst_then_one_per_interval():
    slots = [ratelimit.reserve(key="t-slots", rate=2, burst=2, horizon=10, now=1000.0) for _ in range(5)]
    assert slots == pytest.approx([0, 0, 0.5, 1.0, 1.5])
    # Later, the schedule has moved on: a caller after a quiet spell goes at once again.
    assert ratelimit.reserve(key="t-slots", rate=2, burst=2, horizon=10, now=1010.0) == 0


def test_a_slot_beyond_the_horizon_is_not_reserved():
    for _ in range(3):
        ratelimit.reserve(key="t-horizon", rate=1, burst=1, horizon=1, now=2000.0)
    # Slots at 0 and 1 s are taken; the next would be 2 s away, past the horizon of 1 s.
    assert ratelimit.reserve(key="t-horizon", rate=1, burst=1, horizon=1, now=2000.0) is None
    assert ratelimit.reserve(key="t-horizon", rate=1, burst=1, horizon=1, now=2000.0) is None
    # Nothing was reserved by the refusals: once the schedule catches up, the next slot is free.
    assert ratelimit.reserve(key="t-horizon", rate=1, burst=1, horizon=1, now=2001.5) == pytest.approx(0.5)


def test_without_redis_there_is_no_limit():
    with override_settings(REDIS_URL=""):
        assert [ratelimit.reserve(key="t-none", rate=1, burst=1, horizon=1) for _ in range(5)] == [0] * 5


@pytest.mark.django_db
def test_a_delivery_over_the_limit_waits_for_its_slot_without_an_attempt(make_account, make_notification, mindbox):
    account = make_account(secret_key="sk-rate")
    account.mindbox.send_rate_limit = 1
    account.mindbox.save()
    make_notification(account)
    first, second = (Delivery.objects.get(event_id=receive_call(account, s).event_id) for s in ("r1", "r2"))
    client = MindboxClient(connect_timeout=2, read_timeout=2)

    assert attempt_delivery(delivery_id=first.pk, client=client).status == Delivery.Status.DELIVERED
    waiting = attempt_delivery(delivery_id=second.pk, client=client)
    assert (waiting.sent, waiting.outcome) == (False, "rate_limited")
    assert 0 < waiting.requeue_in <= 1
    second.refresh_from_db()
    assert second.status == Delivery.Status.PENDING and second.attempts == 0 and second.claimed_until is None
    assert second.next_attempt_at > timezone.now()
    assert second.send_slot == second.next_attempt_at  # its reserved slot, kept with it
    assert second.queued_until > second.send_slot  # a wake-up of its queue comes then
    assert not second.attempt_log.exists()
    assert len(mindbox.requests) == 1

    # Claimed long after its slot (a busy or restarted worker), it asks for a new one.
    Delivery.objects.filter(pk=second.pk).update(
        next_attempt_at=timezone.now(), send_slot=timezone.now() - timedelta(seconds=30)
    )
    late = attempt_delivery(delivery_id=second.pk, client=client)
    assert late.outcome == "rate_limited" and len(mindbox.requests) == 1

    # Claimed at its reserved slot, it sends without asking for another (the schedule is full).
    Delivery.objects.filter(pk=second.pk).update(next_attempt_at=timezone.now(), send_slot=timezone.now())
    assert attempt_delivery(delivery_id=second.pk, client=client).status == Delivery.Status.DELIVERED
    second.refresh_from_db()
    assert second.attempts == 1 and second.send_slot is None
    assert len(mindbox.requests) == 2


def test_many_slots_in_one_round_trip_match_one_at_a_time():
    many = ratelimit.reserve_many(key="t-many", rate=2, burst=2, horizon=1, count=6, now=3000.0)
    singles = [ratelimit.reserve(key="t-single", rate=2, burst=2, horizon=1, now=3000.0) for _ in range(6)]
    assert many == singles == pytest.approx([0, 0, 0.5, 1.0, None, None])
    # Only what was granted was reserved: the next caller after a second gets the freed slot.
    assert ratelimit.reserve_many(key="t-many", rate=2, burst=2, horizon=1, count=1, now=3001.0) == pytest.approx([0.5])


@pytest.mark.django_db(transaction=True)
def test_a_worker_keeps_to_the_limit_and_delivers_everything(
    celery_worker, live_server, mindbox, make_account, make_notification
):
    import requests

    account = make_account(secret_key="sk-rate-e2e")
    account.mindbox.send_rate_limit = 4
    account.mindbox.save()
    make_notification(account)
    url = f"{live_server.url}/api/uis/events/calls/?token={account.inbound_token}"
    posted = time.monotonic()  # the stand-in stamps its requests with the same, system-wide clock
    for n in range(16):
        payload = {"call_session_id": f"rate-{n}", "notification_mnemonic": "call_finished", "visitor_name": "Анна"}
        assert requests.post(url, json=payload, timeout=10).status_code == 202
    wait_for(lambda: Delivery.objects.filter(status=Delivery.Status.DELIVERED).count() == 16, timeout=30)

    times = sorted(request.at for request in mindbox.requests)
    # One slot each 1/4 s (a burst of one), the first no sooner than the first event was posted;
    # a request may leave late (a busy machine) or up to SLOT_EARLY before its slot, never sooner.
    # So the k-th request to arrive comes no sooner than k/4 s after the posting began.
    early = claims.SLOT_EARLY.total_seconds()
    for k, at in enumerate(times):
        assert at - posted >= k * 0.25 - early, f"request {k} came {at - posted:.3f} s after the first post"
    assert set(Delivery.objects.values_list("attempts", flat=True)) == {1}  # waiting cost no attempt
