"""Batches: one claim, one load, one write of attempts and a few of outcomes, however many
deliveries; each delivery keeps its own claim, attempt row, transactionId and outcome."""

import math
import threading
from datetime import timedelta

import pytest
import redis
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from harness.mindbox_standin import Planned
from mindbox_integration.mindbox import MindboxClient
from notifications import claimed, delivery, doorbell, recording
from notifications.bulk import insert_each, update_each
from notifications.delivery import deliver_due
from notifications.models import Delivery, DeliveryAttempt, IntegrationHealth
from tests.conftest import receive_call

pytestmark = pytest.mark.django_db


@pytest.fixture
def client() -> MindboxClient:
    return MindboxClient(connect_timeout=2, read_timeout=2)


def claim_ids(*, now, skip_integrations=()) -> list[int]:
    """What the worker's claim of the first-attempts queue takes (up to five)."""
    deliveries, _ = claimed.claim_due(queue="deliveries", now=now, limit=5, skip_integrations=skip_integrations)
    return [d.pk for d in deliveries]


def statements_for(count: int, make_account, make_notification, client) -> int:
    account = make_account(secret_key=f"sk-batch-{count}")
    make_notification(account)
    for n in range(count):
        receive_call(account, f"batch-{count}-{n}")
    with CaptureQueriesContext(connection) as queries:
        batch = deliver_due(queue="deliveries", limit=100, client=client)
    assert batch.claimed == count
    assert {r.outcome for r in batch.results.values()} == {"delivered"}
    return len(queries)


def test_a_batch_costs_the_same_statements_for_few_or_many(make_account, make_notification, client, mindbox):
    few = statements_for(3, make_account, make_notification, client)
    many = statements_for(40, make_account, make_notification, client)
    assert many == few, (few, many)
    # claim and load (one statement), the attempt rows, the answers (deliveries and attempts in
    # one statement, notifications.recording), and the health's reset
    assert many <= 4, many
    assert Delivery.objects.filter(status=Delivery.Status.DELIVERED).count() == 43
    assert DeliveryAttempt.objects.filter(outcome="delivered").count() == 43
    # Each request carried its own delivery's transactionId.
    sent = {r.query["transactionId"] for r in mindbox.requests}
    assert sent == {str(t) for t in Delivery.objects.values_list("transaction_id", flat=True)}


def test_each_delivery_of_a_batch_gets_its_own_outcome(make_account, make_notification, client, mindbox, settings):
    settings.DELIVERY_RETRY_SCHEDULE = [10]
    healthy, paused = make_account(secret_key="sk-a"), make_account(secret_key="sk-b")
    make_notification(healthy)
    make_notification(paused)
    IntegrationHealth.objects.create(integration=paused.mindbox, paused_at=timezone.now(), pause_reason="keys")
    ids = {}
    for n in range(4):
        ids[f"h{n}"] = Delivery.objects.get(event_id=receive_call(healthy, f"h{n}").event_id).pk
    ids["p0"] = Delivery.objects.get(event_id=receive_call(paused, "p0").event_id).pk
    Delivery.objects.filter(pk=ids["p0"]).update(status=Delivery.Status.PENDING, next_attempt_at=timezone.now())
    # One answer each, in whatever order the concurrent requests arrive: 1 success, 1 retry, 1 refusal, 1 success.
    mindbox.plan(
        Planned(),
        Planned(status=503, payload={"status": "InternalServerError"}),
        Planned(payload={"status": "ValidationError", "validationMessages": []}),
        Planned(),
    )
    batch = deliver_due(queue="deliveries", limit=50, client=client)
    assert batch.claimed == 5
    assert batch.results[ids["p0"]].outcome == "held"
    outcomes = sorted(batch.results[ids[f"h{n}"]].outcome for n in range(4))
    assert outcomes == ["delivered", "delivered", "failed", "retry"]
    rows = {d.pk: d for d in Delivery.objects.filter(pk__in=ids.values())}
    assert rows[ids["p0"]].status == Delivery.Status.HELD
    retried = [d for d in rows.values() if d.status == Delivery.Status.PENDING]
    (retry,) = retried
    assert retry.queue == "retries" and retry.attempts == 1 and retry.claimed_until is None
    assert "HTTP 503" in retry.last_error
    assert all(d.claimed_until is None for d in rows.values())
    # A short wait is woken again, once per queue and second.
    assert [queue for queue, _ in batch.wake_ups] == ["retries"]
    # ...at the time stored on the row (not counted from when the batch's answers came in).
    assert batch.wake_ups == [("retries", float(math.ceil(retry.next_attempt_at.timestamp())))]
    # Every request had its attempt row, completed with its own answer.
    attempts = DeliveryAttempt.objects.filter(delivery__in=[ids[f"h{n}"] for n in range(4)])
    assert sorted(attempts.values_list("http_status", flat=True)) == [200, 200, 200, 503]
    assert not attempts.filter(outcome="sending").exists()


def test_update_each_writes_each_rows_own_values_nulls_included(make_account, make_notification):
    account = make_account()
    make_notification(account)
    first, second = (Delivery.objects.get(event_id=receive_call(account, s).event_id) for s in ("u1", "u2"))
    later = timezone.now().replace(microsecond=0)
    first.last_error, first.next_attempt_at, first.attempts = "one", None, 3
    second.last_error, second.next_attempt_at, second.attempts = "two", later, 5
    update_each(Delivery, [first, second], ["last_error", "next_attempt_at", "attempts"])
    assert list(
        Delivery.objects.filter(pk__in=[first.pk, second.pk])
        .order_by("pk")
        .values_list("last_error", "next_attempt_at", "attempts")
    ) == [("one", None, 3), ("two", later, 5)]


def test_the_in_flight_bound_leaves_the_rest_due_at_no_cost(make_account, make_notification, client, mindbox, settings):
    settings.DELIVERY_MAX_IN_FLIGHT = 2
    account = make_account()
    make_notification(account)
    for n in range(5):
        receive_call(account, f"bound-{n}")
    woken = []
    batch = deliver_due(queue="deliveries", limit=5, client=client, wake=woken.append)
    assert sorted(r.outcome for r in batch.results.values()) == ["delivered"] * 2 + ["in_flight_bound"] * 3
    assert len(mindbox.requests) == 2
    waiting = Delivery.objects.filter(status=Delivery.Status.PENDING)
    assert waiting.count() == 3
    assert all(d.claimed_until is None and d.attempts == 0 and d.next_attempt_at <= timezone.now() for d in waiting)
    assert not DeliveryAttempt.objects.filter(delivery__in=waiting).exists()
    # Held back, not given up: the queue is woken once the batch's answers are in.
    assert woken == ["deliveries"]
    # A claim skips an integration at its bound rather than take its deliveries again.
    assert claim_ids(now=timezone.now(), skip_integrations=[account.mindbox.pk]) == []
    assert len(claim_ids(now=timezone.now())) == 3


def _in_flight_while_batch_waits(
    account, client, mindbox, first: Planned, late: Planned
) -> tuple[list[int], dict[int, str]]:
    """Deliver two events, answered `first` at once and `late` 1.5 s late: the batch's
    in-flight count for the integration, sampled every 10 ms meanwhile, and the outcomes."""
    for n in range(2):
        receive_call(account, f"free-{n}")
    mindbox.plan(first, late)
    seen: list[int] = []
    stop = threading.Event()

    def watch() -> None:
        while not stop.wait(0.01):
            seen.append(delivery._in_flight.counts[account.mindbox.pk])

    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        batch = deliver_due(queue="deliveries", limit=5, client=client)
    finally:
        stop.set()
        watcher.join()
    assert delivery._in_flight.counts[account.mindbox.pk] == 0
    return seen, {pk: r.outcome for pk, r in batch.results.items()}


def test_a_delivered_answer_frees_its_in_flight_place_before_the_batch_s_slowest(
    make_account, make_notification, client, mindbox
):
    account = make_account()
    make_notification(account)
    seen, outcomes = _in_flight_while_batch_waits(account, client, mindbox, Planned(), Planned(delay=1.5))
    assert sorted(outcomes.values()) == ["delivered"] * 2
    # While the batch waited for its slow answer, the fast one's place was free for others.
    assert seen.count(1) > 50 and 2 in seen


def test_a_failed_answer_keeps_its_place_until_the_batch_counted_it(make_account, make_notification, client, mindbox):
    account = make_account()
    make_notification(account)
    failed = Planned(status=503, payload={"status": "InternalServerError"})
    seen, outcomes = _in_flight_while_batch_waits(
        account, client, mindbox, failed, Planned(status=503, payload={"status": "InternalServerError"}, delay=1.5)
    )
    assert sorted(outcomes.values()) == ["retry"] * 2
    # Not freed before back-off could hear of it: a failing Mindbox gets no more than the bound.
    assert 1 not in seen and seen.count(2) > 50


def test_a_doorbell_calls_once_until_answered(settings):
    calls = redis.Redis.from_url(settings.REDIS_URL)
    assert doorbell.call(queue="t-bell") is True
    assert doorbell.call(queue="t-bell") is False  # a call waits already
    assert calls.llen(doorbell.calls_key("t-bell")) == 1
    assert doorbell.call(queue="t-bell", force=True) is True  # the sweeper's: still one call waiting
    assert calls.llen(doorbell.calls_key("t-bell")) == 1
    assert doorbell.queue_of(doorbell.calls_key("t-bell").encode()) == "t-bell"
    assert calls.lpop(doorbell.calls_key("t-bell")) == b"1"  # a worker takes it, then answers
    doorbell.answer(queue="t-bell")
    assert doorbell.call(queue="t-bell") is True
    assert 0 < calls.pttl(doorbell.calls_key("t-bell")) <= doorbell.DOORBELL_LEASE * 1000  # no one listens: it goes


def test_a_wake_up_due_later_rings_a_bell_of_its_own(settings):
    assert doorbell.ring(queue="t-bell", at=123, ttl=5) is True
    assert doorbell.ring(queue="t-bell", at=123, ttl=5) is False  # its message is on its way
    assert doorbell.ring(queue="t-bell", at=124, ttl=5) is True  # another time has its own
    doorbell.answer(queue="t-bell", at=123)
    assert doorbell.ring(queue="t-bell", at=123, ttl=5) is True
    settings.REDIS_URL = ""
    assert doorbell.ring(queue="t-bell", at=1, ttl=5) is doorbell.ring(queue="t-bell", at=1, ttl=5) is True


def test_a_queue_whose_claim_skipped_a_bound_integration_is_woken_when_it_drops_below(
    make_account, make_notification, client, mindbox, settings
):
    settings.DELIVERY_MAX_IN_FLIGHT = 1
    account = make_account()
    make_notification(account)
    receive_call(account, "skip-1")
    woken: list[str] = []
    # While another batch of this process has the one request allowed on its way...
    assert delivery._in_flight.take(account.mindbox.pk, 1) == 1
    try:
        skipped = deliver_due(queue="deliveries", limit=5, client=client, wake=woken.append)
        assert skipped.claimed == 0 and woken == []  # passed by, not taken and let go
    finally:
        for queue in delivery._in_flight.give_back([(account.mindbox.pk, 1)]):
            woken.append(queue)
    # ...the queue is woken when that batch gives its request back.
    assert woken == ["deliveries"]
    assert deliver_due(queue="deliveries", limit=5, client=client).claimed == 1


def test_a_delivery_waiting_for_its_slot_is_not_claimed_before_it(make_account, make_notification):
    account = make_account()
    make_notification(account)
    waiting = Delivery.objects.get(event_id=receive_call(account, "slot-1").event_id)
    slot = timezone.now() + timedelta(milliseconds=500)
    Delivery.objects.filter(pk=waiting.pk).update(next_attempt_at=slot, send_slot=slot)
    # Within the claim's early tolerance of a second, but the slot has not come.
    assert claim_ids(now=timezone.now()) == []
    assert claim_ids(now=slot) == [waiting.pk]


def test_a_transport_that_fails_leaves_each_delivery_recorded_for_a_retry(make_account, make_notification, mindbox):
    class Broken(MindboxClient):
        def send_many(self, requests, *, policy, on_answer=None):
            raise RuntimeError("the loop is gone")

    account = make_account()
    make_notification(account)
    receive_call(account, "broken-1")
    batch = deliver_due(queue="deliveries", limit=5, client=Broken(connect_timeout=1, read_timeout=1))
    (result,) = batch.results.values()
    assert result.outcome == "retry"
    row = Delivery.objects.get()
    assert row.claimed_until is None and row.attempts == 1 and "RuntimeError" in row.last_error
    (attempt,) = DeliveryAttempt.objects.filter(delivery=row)
    assert attempt.outcome == "retry"  # completed, not left `sending` to count as a crash later


def test_a_batch_is_loaded_in_one_statement_with_every_relation_it_reads(make_account, make_notification):
    """claimed.load (the batch's load, one statement of fixed text) gives the same instances as
    the ORM's select_related, and reading their relations makes no further query."""
    healthy, unhealthy = make_account(secret_key="sk-load-a"), make_account(secret_key="sk-load-b")
    with_headers = make_notification(healthy)
    with_headers.headers = {"User-Agent": "uis-{{call_session_id}}"}
    with_headers.save()
    gone = make_notification(unhealthy)
    IntegrationHealth.objects.create(integration=unhealthy.mindbox, failure_streak=2)
    ids = [
        Delivery.objects.get(event_id=receive_call(account, session).event_id).pk
        for account, session in ((healthy, "load-1"), (unhealthy, "load-2"), (healthy, "load-3"))
    ]
    DeliveryAttempt.objects.create(delivery_id=ids[2], transaction_id=None)  # left "sending" by a killed worker
    gone.delete()  # its delivery stays, with no notification
    with CaptureQueriesContext(connection) as queries:
        loaded = claimed.load(ids)
        read = [
            (
                d.pk,
                d.headers,
                d.error_params,
                d.transaction_id,
                d.event.request_id,
                d.open_attempts,
                d.notification and d.notification.operation.name,
                d.notification and d.notification.operation.integration.send_rate_limit,
                d.notification and getattr(d.notification.operation.integration, "health", None),
            )
            for d in loaded
        ]
    assert len(queries) == 1, [q["sql"] for q in queries]
    assert [row[0] for row in read] == ids  # due order: as received
    assert {d.status for d in loaded} == {Delivery.Status.PENDING}
    assert read[0][1] == {"User-Agent": "uis-load-1"} and read[0][2] == {}  # JSON columns decoded
    assert read[1][6] is None  # the deleted notification
    assert [row[5] for row in read] == [0, 0, 1]
    assert read[0][8] is None and read[2][8] is None  # no health row: known, not queried
    # Field for field what the ORM's own query gives (the fallback used off PostgreSQL).
    orm = claimed._load_with_orm(ids)
    for ours, theirs in zip(loaded, orm, strict=True):
        for field in Delivery._meta.concrete_fields:
            assert getattr(ours, field.attname) == getattr(theirs, field.attname), field.name
        assert ours.open_attempts == theirs.open_attempts
        if theirs.notification is not None:
            integration = ours.notification.operation.integration
            assert integration.secret_key_encrypted == theirs.notification.operation.integration.secret_key_encrypted
            assert integration.pk == theirs.notification.operation.integration_id


def test_insert_each_inserts_every_row_and_sets_its_key_in_order(make_account, make_notification):
    account = make_account()
    make_notification(account)
    deliveries = [Delivery.objects.get(event_id=receive_call(account, f"ins-{n}").event_id) for n in range(3)]
    attempts = [
        DeliveryAttempt(delivery=d, transaction_id=d.transaction_id, error=f"e{n}") for n, d in enumerate(deliveries)
    ]
    insert_each(DeliveryAttempt, attempts)
    assert all(a.pk and not a._state.adding for a in attempts)
    stored = {a.pk: a for a in DeliveryAttempt.objects.filter(pk__in=[a.pk for a in attempts])}
    for n, (attempt, its) in enumerate(zip(attempts, deliveries, strict=True)):
        row = stored[attempt.pk]
        assert (row.delivery_id, row.transaction_id, row.error, row.outcome) == (
            its.pk,
            its.transaction_id,
            f"e{n}",
            DeliveryAttempt.Outcome.SENDING,
        )


def test_the_claim_loads_its_batch_in_the_same_statement(make_account, make_notification):
    """claimed.claim_due: the claim's UPDATE and the batch's load in one round trip, with the
    lease on every row it took and nothing of an integration it was told to skip."""
    wanted, skipped = make_account(secret_key="sk-c1"), make_account(secret_key="sk-c2")
    make_notification(wanted)
    make_notification(skipped)
    ids = [Delivery.objects.get(event_id=receive_call(wanted, f"claim-{n}").event_id).pk for n in range(3)]
    receive_call(skipped, "claim-skipped")
    now = timezone.now()
    with CaptureQueriesContext(connection) as queries:
        deliveries, lease = claimed.claim_due(
            queue="deliveries", now=now, limit=10, skip_integrations=[skipped.mindbox.pk]
        )
        names = [d.notification.operation.integration.pk for d in deliveries]
    assert len(queries) == 1
    assert [d.pk for d in deliveries] == ids and names == [wanted.mindbox.pk] * 3
    assert all(d.claimed_until == lease for d in deliveries)  # the row as the claim left it
    assert set(Delivery.objects.filter(claimed_until=lease).values_list("pk", flat=True)) == set(ids)
    # Claimed once: a second claim finds only the skipped integration's delivery.
    again, _ = claimed.claim_due(queue="deliveries", now=now, limit=10)
    assert [d.notification.operation.integration.pk for d in again] == [skipped.mindbox.pk]


def test_answers_are_written_in_one_statement_and_a_lost_claims_attempt_is_history(make_account, make_notification):
    """recording.write: the deliveries still ours take their answers; the attempt of one whose
    claim another worker holds now keeps the answer with its late words, and its delivery is left
    as that worker has it."""
    account = make_account()
    make_notification(account)
    ids = [Delivery.objects.get(event_id=receive_call(account, f"rec-{n}").event_id).pk for n in range(2)]
    now = timezone.now()
    deliveries, lease = claimed.claim_due(queue="deliveries", now=now, limit=10)
    attempts = [DeliveryAttempt(delivery=d, transaction_id=d.transaction_id) for d in deliveries]
    insert_each(DeliveryAttempt, attempts)
    other = lease + timedelta(seconds=5)
    Delivery.objects.filter(pk=ids[1]).update(claimed_until=other)  # another worker's claim now
    for its, attempt in zip(deliveries, attempts, strict=True):
        its.status, its.claimed_until, its.attempts = Delivery.Status.DELIVERED, None, 1
        attempt.http_status, attempt.outcome, attempt.error = 200, "delivered", ""
    late = [recording.Words(error=f"late {n}", error_code="answered_late", error_params={"n": n}) for n in range(2)]
    with CaptureQueriesContext(connection) as queries:
        ours = recording.write(
            deliveries=deliveries,
            fields=["status", "claimed_until", "attempts"],
            lease=lease,
            attempts=attempts,
            late=late,
        )
    assert len(queries) == 1
    assert ours == {ids[0]}
    rows = {d.pk: d for d in Delivery.objects.filter(pk__in=ids)}
    assert (rows[ids[0]].status, rows[ids[0]].claimed_until, rows[ids[0]].attempts) == ("delivered", None, 1)
    assert (rows[ids[1]].status, rows[ids[1]].claimed_until, rows[ids[1]].attempts) == ("pending", other, 0)
    stored = {a.delivery_id: a for a in DeliveryAttempt.objects.filter(delivery__in=ids)}
    assert (stored[ids[0]].http_status, stored[ids[0]].error, stored[ids[0]].error_code) == (200, "", "")
    assert (stored[ids[1]].http_status, stored[ids[1]].outcome) == (200, "delivered")
    assert (stored[ids[1]].error, stored[ids[1]].error_code, stored[ids[1]].error_params) == (
        "late 1",
        "answered_late",
        {"n": 1},
    )
    assert attempts[1].error == "late 1" and attempts[0].error == ""  # the instances say what was written
