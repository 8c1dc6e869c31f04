"""Fault runs: the real processes (the web server, Celery worker and beat) on PostgreSQL and a private
Redis, a stand-in Mindbox, and one fault per scenario in the middle of a batch of events. Each
scenario reports what UIS sent (answered 202), what reached Mindbox, what was lost, extra posts
(always under the same transactionId, which Mindbox de-duplicates) and the time to drain.

The tests in tests/test_faults.py run these scenarios; `make faults` prints the report.
"""

import json
import os
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests

from harness import processes
from harness.mindbox_standin import MindboxStandIn, Outage

# Short leases and a fast sweep, so a fault run drains in seconds rather than minutes; the
# mechanisms are the production ones.
FAST_RECOVERY = {
    "MINDBOX_CONNECT_TIMEOUT": "1",
    "MINDBOX_READ_TIMEOUT": "2",
    "DELIVERY_CLAIM_SECONDS": "5",
    "DELIVERY_QUEUE_LEASE": "5",
    "DELIVERY_SWEEP_INTERVAL": "1",
    "DELIVERY_RETRY_SCHEDULE": "1,2,4,8,16,32,64",
    "DELIVERY_BACKOFF_MAX": "4",
    # The scenarios post faster than one token's limit (50/s): a 429 is not what they measure.
    "INBOUND_RATE_PER_SECOND": "10000",
    "INBOUND_RATE_BURST": "10000",
}
BODY = '{"customer": {"fullName": {{visitor_name}}, "ids": {"uisCallSession": {{call_session_id}}}}}'
GOOD_FILTER = {"conditions": [{"field": "visitor_name", "mode": "exclude", "values": ["poison"]}]}
POISON_FILTER = {"conditions": [{"field": "visitor_name", "mode": "include", "values": ["poison"]}]}


@dataclass
class Report:
    scenario: str
    sent: int  # events UIS got 202 for
    delivered: int  # of those, events Mindbox accepted
    duplicate_posts: int  # accepted posts beyond one per event (same transactionId)
    conflicting_ids: int  # events posted under more than one transactionId: must be 0
    drain_seconds: float
    unrecorded: int = 0  # deliveries Mindbox accepted that the database does not show delivered
    interrupted: int = 0  # attempts left open by a stopped worker
    restarts: int = 0  # workers that exited by themselves and were restarted
    notes: list[str] = field(default_factory=list)

    @property
    def lost(self) -> int:
        return self.sent - self.delivered

    @property
    def ok(self) -> bool:
        return self.lost == 0 and self.conflicting_ids == 0 and self.unrecorded == 0


@dataclass
class Target:
    """One scenario's account: its inbound token and the operation name its posts carry."""

    token: str
    operation: str
    account_id: int


class Lab:
    """Stand-in Mindbox, a private Redis, the web server and beat for the whole run; workers per scenario."""

    def __init__(
        self, *, database_url: str, log_dir: Path, delay: float = 0.01, extra_env: dict[str, str] | None = None
    ) -> None:
        self.database_url = database_url
        self.extra_env = extra_env or {}
        self.log_dir = log_dir
        self.standin = MindboxStandIn(delay=delay)
        self.standin.silence_seconds = 3
        self.redis = processes.PrivateRedis(log_dir)
        self.web_port = processes.free_port()
        self.background: list[processes.Proc] = []
        self.http = requests.Session()
        self.pool = ThreadPoolExecutor(8)
        # Workers are restarted when they exit by themselves, as compose's restart policy does;
        # each restart is counted and reported with the scenario.
        self.workers: list[processes.Proc] = []
        self.restarts = 0
        self._reported_restarts = 0
        self._stop_supervising = threading.Event()
        self._supervisor = threading.Thread(target=self._supervise, daemon=True)

    @property
    def env(self) -> dict[str, str]:
        return {
            **os.environ,
            **FAST_RECOVERY,
            "DATABASE_URL": self.database_url,
            "REDIS_URL": self.redis.url,
            "MINDBOX_REQUIRE_HTTPS": "false",
            "MINDBOX_ALLOWED_HOSTS": self.standin.host,
            "MINDBOX_ALLOW_PRIVATE_NETWORKS": "127.0.0.1",  # the stand-in listens on loopback
            **self.extra_env,
        }

    def __enter__(self) -> "Lab":
        self.redis.start()
        self.background.append(processes.web(env=self.env, log_dir=self.log_dir, port=self.web_port))
        self.background.append(processes.beat(env=self.env, log_dir=self.log_dir))
        self._supervisor.start()
        return self

    def _supervise(self) -> None:
        while not self._stop_supervising.wait(0.5):
            for proc in list(self.workers):
                with proc.lock:  # a stop() waits until the replacement is in place, then stops it
                    if proc.stopped or proc.alive():
                        continue
                    try:
                        restarted = processes.worker(
                            env=self.env, log_dir=self.log_dir, name=proc.name, fresh_log=False
                        )
                    except Exception as exc:  # tried again next round; the scenario reports what is lost
                        print(f"could not restart {proc.name}: {exc}", flush=True)
                        continue
                    proc.popen = restarted.popen  # holders of proc now hold the new process
                    self.restarts += 1

    def __exit__(self, *exc: object) -> None:
        self._stop_supervising.set()
        if self._supervisor.is_alive():
            self._supervisor.join(timeout=70)
        for proc in self.background:
            proc.stop()
        self.redis.stop()
        self.standin.close()
        self.pool.shutdown()

    def worker(self, name: str) -> processes.Proc:
        proc = processes.worker(env=self.env, log_dir=self.log_dir, name=name)
        self.workers.append(proc)
        return proc

    @contextmanager
    def running_worker(self, name: str) -> Iterator[list[processes.Proc]]:
        """A worker for the scenario; the list holds it and any replacement the scenario starts."""
        workers = [self.worker(name)]
        try:
            yield workers
        finally:
            for proc in workers:
                proc.stop()

    def target(self, scenario: str, *, poison: bool = False) -> Target:
        from mindbox_integration import services
        from mindbox_integration.models import Notification, Operation

        created = services.create_account(
            name=f"Fault run: {scenario}", uis_app_id=f"fault-{time.time_ns()}", actor="faults"
        )
        account = created.account
        account.mindbox.active = True
        services.set_secret_key(integration=account.mindbox, key="sk-fault-run")
        account.mindbox.save()
        operation_name = f"Fault.{scenario}"
        operation = Operation.objects.create(integration=account.mindbox, name=operation_name)
        Notification.objects.create(
            operation=operation,
            name="calls",
            url=self.standin.url(operation_name),
            communication_type="calls",
            body=BODY,
            filters=GOOD_FILTER if poison else {},
        )
        if poison:
            poison_op = Operation.objects.create(integration=account.mindbox, name=f"{operation_name}.poison")
            Notification.objects.create(
                operation=poison_op,
                name="poison",
                url=self.standin.url(poison_op.name),
                communication_type="calls",
                body='{"customer": {"fullName": {{visitor_name}}',  # cannot render: saved around validation
                filters=POISON_FILTER,
            )
        return Target(token=created.token, operation=operation_name, account_id=account.pk)

    def send(self, target: Target, sessions: list[str], *, poison_every: int = 0) -> list[str]:
        """POST one call event per session, 8 at a time; the sessions UIS got 202 for."""
        url = f"http://127.0.0.1:{self.web_port}/api/uis/events/calls/?token={target.token}"

        def post(n: int, session: str) -> str | None:
            poisoned = poison_every and n % poison_every == 0
            payload = {
                "call_session_id": session,
                "notification_mnemonic": "call_finished",
                "visitor_name": "poison" if poisoned else f"Visitor {n}",
                "contact_phone_number": f"7916{n:07d}",
            }
            response = requests.post(url, json=payload, timeout=30)
            return session if response.status_code == 202 and not poisoned else None

        return [s for s in self.pool.map(post, range(len(sessions)), sessions) if s]

    def send_in_background(self, target: Target, sessions: list[str], **kwargs: Any) -> "Future[list[str]]":
        return ThreadPoolExecutor(1).submit(self.send, target, sessions, **kwargs)

    def enqueue(self, delivery_ids: list[int]) -> None:
        """Wake the queues of these deliveries on the lab's broker (this process's own settings may
        name another)."""
        from celery import current_app

        from notifications.models import Delivery
        from notifications.tasks import deliver_due

        queues = set(Delivery.objects.filter(pk__in=delivery_ids).values_list("queue", flat=True))
        with current_app.connection_for_write(self.redis.url) as connection:
            for queue in sorted(queues):
                deliver_due.apply_async((queue,), queue=queue, connection=connection)  # type: ignore[call-arg]

    def delivered_sessions(self, target: Target) -> set[str]:
        return {_session(r.body) for r in self.standin.succeeded() if r.query.get("operation") == target.operation}

    def wait_until_delivered(self, target: Target, count: int, timeout: float) -> None:
        processes.wait_until(
            lambda: len(self.delivered_sessions(target)) >= count, timeout=timeout, what=f"{count} deliveries"
        )

    def report(self, scenario: str, target: Target, accepted: list[str], started: float, timeout: float) -> Report:
        expected = set(accepted)
        with suppress(TimeoutError):  # what did not arrive is reported as lost
            processes.wait_until(
                lambda: expected <= self.delivered_sessions(target), timeout=timeout, what="every event delivered"
            )
        drained = time.monotonic() - started
        posts = [r for r in self.standin.succeeded() if r.query.get("operation") == target.operation]
        ids: dict[str, set[str]] = defaultdict(set)
        for request in self.standin.received(operation=target.operation):
            ids[_session(request.body)].add(request.query.get("transactionId", ""))
        delivered = self.delivered_sessions(target) & expected
        with suppress(TimeoutError):  # the worker records an answer just after Mindbox gives it
            processes.wait_until(lambda: not _undelivered_rows(target), timeout=30, what="deliveries recorded")
        restarts, self._reported_restarts = self.restarts - self._reported_restarts, self.restarts
        return Report(
            restarts=restarts,
            scenario=scenario,
            sent=len(expected),
            delivered=len(delivered),
            duplicate_posts=len(posts) - len({_session(r.body) for r in posts}),
            conflicting_ids=sum(1 for seen in ids.values() if len(seen) > 1),
            drain_seconds=round(drained, 1),
            unrecorded=_undelivered_rows(target),
        )


def _session(body: bytes) -> str:
    return str(json.loads(body)["customer"]["ids"]["uisCallSession"])


def _sessions(scenario: str, events: int) -> list[str]:
    return [f"{scenario}-{n}" for n in range(events)]


def _undelivered_rows(target: Target) -> int:
    from notifications.models import Delivery

    return (
        Delivery.objects.filter(event__account_id=target.account_id, notification__operation__name=target.operation)
        .exclude(status=Delivery.Status.DELIVERED)
        .count()
    )


def _attempt_outcomes(target: Target) -> dict[str, int]:
    from django.db.models import Count

    from notifications.models import DeliveryAttempt

    rows = (
        DeliveryAttempt.objects.filter(delivery__event__account_id=target.account_id)
        .values("outcome")
        .annotate(n=Count("pk"))
    )
    return {row["outcome"]: row["n"] for row in rows}


# --- Scenarios: each runs one fault in the middle of a batch and reports.

DRAIN_TIMEOUT = 120.0


def _worker_replaced(lab: Lab, *, events: int, name: str, scenario: str, graceful: bool) -> Report:
    """The worker goes a third of the way through the batch (SIGTERM or SIGKILL); a new one starts."""
    target = lab.target(name)
    started = time.monotonic()
    with lab.running_worker(f"{name}-a") as workers:
        sending = lab.send_in_background(target, _sessions(name, events))
        lab.wait_until_delivered(target, events // 3, timeout=60)
        if graceful:
            workers[0].stop()
        else:
            workers[0].kill()
        workers.append(lab.worker(f"{name}-b"))
        report = lab.report(scenario, target, sending.result(), started, DRAIN_TIMEOUT)
    report.interrupted = _attempt_outcomes(target).get("interrupted", 0)
    return report


def worker_killed(lab: Lab, *, events: int) -> Report:
    """SIGKILL the worker (pool and all) mid-batch, as when a machine dies."""
    report = _worker_replaced(
        lab, events=events, name="worker_killed", scenario="worker SIGKILL mid-batch", graceful=False
    )
    report.notes.append(f"{report.interrupted} attempts cut off by the kill were recorded as interrupted")
    return report


def worker_restarted(lab: Lab, *, events: int) -> Report:
    """SIGTERM the worker mid-batch (a deploy): it finishes what it holds."""
    report = _worker_replaced(
        lab, events=events, name="worker_restarted", scenario="worker SIGTERM mid-batch", graceful=True
    )
    report.notes.append(f"{report.interrupted} attempts interrupted (a graceful stop should leave none)")
    return report


def redis_flushed(lab: Lab, *, events: int) -> Report:
    """FLUSHALL on the broker a third of the way through: every queued message is gone."""
    target = lab.target("redis_flushed")
    started = time.monotonic()
    with lab.running_worker("worker-flushed"):
        sending = lab.send_in_background(target, _sessions("flushed", events))
        lab.wait_until_delivered(target, events // 3, timeout=60)
        lab.redis.flush()
        return lab.report("Redis flushed mid-batch", target, sending.result(), started, DRAIN_TIMEOUT)


def redis_down(lab: Lab, *, events: int) -> Report:
    """The broker is down while the whole batch comes in, then comes back."""
    target = lab.target("redis_down")
    started = time.monotonic()
    with lab.running_worker("worker-redis-down"):
        lab.redis.stop()
        try:
            accepted = lab.send(target, _sessions("down", events))
            lost_202 = events - len(accepted)
        finally:
            lab.redis.start()
        report = lab.report("Redis down while events come in", target, accepted, started, DRAIN_TIMEOUT)
    report.notes.append(f"{lost_202} events were refused while Redis was down (must be 0)")
    return report


def redis_frozen(lab: Lab, *, events: int, seconds: float = 8.0) -> Report:
    """The broker stops answering (SIGSTOP) mid-batch: connections hang rather than fail."""
    target = lab.target("redis_frozen")
    started = time.monotonic()
    with lab.running_worker("worker-redis-frozen"):
        sending = lab.send_in_background(target, _sessions("frozen", events))
        lab.wait_until_delivered(target, events // 4, timeout=60)
        lab.redis.freeze()
        try:
            time.sleep(seconds)
        finally:
            lab.redis.thaw()
        accepted = sending.result()
        report = lab.report(f"Redis frozen for {seconds:.0f} s", target, accepted, started, DRAIN_TIMEOUT)
    report.notes.append(f"{events - len(accepted)} events were refused while Redis was frozen (must be 0)")
    return report


def mindbox_outage(lab: Lab, *, events: int, seconds: float = 8.0) -> Report:
    """The stand-in stops answering (requests time out) for a while, then recovers."""
    target = lab.target("mindbox_outage")
    started = time.monotonic()
    with lab.running_worker("worker-outage"):
        sending = lab.send_in_background(target, _sessions("outage", events))
        lab.wait_until_delivered(target, events // 4, timeout=60)
        before = len(lab.standin.received(operation=target.operation))
        lab.standin.outage = Outage.SILENCE
        time.sleep(seconds)
        lab.standin.outage = None
        during = len(lab.standin.received(operation=target.operation)) - before
        report = lab.report(f"Mindbox silent for {seconds:.0f} s", target, sending.result(), started, DRAIN_TIMEOUT)
    report.notes.append(f"{during} requests reached the silent Mindbox in {seconds:.0f} s (back-off, not a hot loop)")
    return report


def noisy_neighbour(lab: Lab, *, events: int, seconds: float = 10.0) -> Report:
    """One integration's Mindbox is silent while another's events come in: the healthy one
    must not wait behind the failing one's timeouts."""
    down, healthy = lab.target("neighbour_down"), lab.target("neighbour_up")
    lab.standin.silent_operations.add(down.operation)
    try:
        with lab.running_worker("worker-neighbour"):
            failing = lab.send_in_background(down, _sessions("neighbour-down", events))
            time.sleep(1)  # the failing integration's deliveries are queued first
            started = time.monotonic()
            accepted = lab.send(healthy, _sessions("neighbour-up", events))
            # Without back-off, the silent one's timeouts would hold every worker for minutes.
            report = lab.report("one integration's Mindbox silent", healthy, accepted, started, timeout=60)
            remaining = seconds - (time.monotonic() - started)
            if remaining > 0:
                time.sleep(remaining)
            tried = len(lab.standin.received(operation=down.operation))
            lab.standin.silent_operations.discard(down.operation)
            other = lab.report("", down, failing.result(), started, DRAIN_TIMEOUT)
    finally:
        lab.standin.silent_operations.discard(down.operation)
    report.notes.append(
        "sent/delivered count both integrations; drain is the healthy one's, while the other was silent"
    )
    report.notes.append(
        f"the silent integration got {tried} requests for {events} events; after recovery "
        f"{other.delivered} of {other.sent} delivered, {other.lost} lost, {other.conflicting_ids} under other ids"
    )
    report.sent += other.sent
    report.delivered += other.delivered
    report.duplicate_posts += other.duplicate_posts
    report.conflicting_ids += other.conflicting_ids
    return report


def poison(lab: Lab, *, events: int) -> Report:
    """Every tenth event also matches a notification whose body cannot render: those deliveries
    fail visibly; the other events go through; after the fix a re-render sends them."""
    from mindbox_integration.models import Notification
    from notifications.models import Delivery
    from notifications.replay import rerender

    target = lab.target("poison", poison=True)
    started = time.monotonic()
    with lab.running_worker("worker-poison"):
        accepted = lab.send(target, _sessions("poison", events), poison_every=10)
        report = lab.report("poison events among good ones", target, accepted, started, DRAIN_TIMEOUT)
        dead = Delivery.objects.filter(event__account_id=target.account_id, status=Delivery.Status.FAILED)
        dead_ids = list(dead.values_list("pk", flat=True))
        reasons = set(dead.values_list("last_error", flat=True))
        report.notes.append(f"{len(dead_ids)} poison deliveries failed visibly: {'; '.join(sorted(reasons))}")
        Notification.objects.filter(operation__integration__account_id=target.account_id, name="poison").update(
            body='{"customer": {"fullName": {{visitor_name}}}}'
        )
        rerender(delivery_ids=dead_ids, enqueue=lab.enqueue)
        processes.wait_until(
            lambda: not Delivery.objects.filter(pk__in=dead_ids).exclude(status=Delivery.Status.DELIVERED).exists(),
            timeout=60,
            what="re-rendered poison deliveries delivered",
        )
        report.notes.append(f"after the template fix, {len(dead_ids)} re-rendered and delivered")
    return report


SCENARIOS: list[Callable[..., Report]] = [
    worker_killed,
    worker_restarted,
    redis_flushed,
    redis_down,
    redis_frozen,
    mindbox_outage,
    noisy_neighbour,
    poison,
]


def format_table(reports: list[Report]) -> str:
    header = (
        "scenario",
        "sent",
        "delivered",
        "lost",
        "duplicate posts",
        "other tx ids",
        "unrecorded",
        "worker restarts",
        "drain, s",
    )
    rows = [
        (
            r.scenario,
            r.sent,
            r.delivered,
            r.lost,
            r.duplicate_posts,
            r.conflicting_ids,
            r.unrecorded,
            r.restarts,
            f"{r.drain_seconds:.1f}",
        )
        for r in reports
    ]
    widths = [max(len(str(row[i])) for row in [header, *rows]) for i in range(len(header))]
    lines = [
        "  ".join(
            str(cell).ljust(w) if i == 0 else str(cell).rjust(w)
            for i, (cell, w) in enumerate(zip(row, widths, strict=True))
        )
        for row in [header, *rows]
    ]
    lines.insert(1, "  ".join("-" * w for w in widths))
    notes = [f"- {r.scenario}: {note}" for r in reports for note in r.notes]
    return "\n".join([*lines, "", *notes])


def main() -> int:
    """`make faults`: every scenario on its own database, then the table. Exit 1 if any lost."""
    database_url = os.environ.get("FAULTS_DATABASE_URL", "postgres://postgres@localhost:5432/integration_portal_faults")
    events = int(os.environ.get("FAULT_EVENTS", "300"))
    processes.setup_django(database_url)
    log_dir = processes.ROOT / "var" / "faults"
    print(f"fault run: {events} events per scenario; process logs in var/faults/", flush=True)
    reports = []
    with Lab(database_url=database_url, log_dir=log_dir) as lab:
        for scenario in SCENARIOS:
            reports.append(scenario(lab, events=events))
            print(f"  {reports[-1].scenario}: done", flush=True)
    print()
    print(format_table(reports))
    return 0 if all(r.ok for r in reports) else 1


if __name__ == "__main__":
    raise SystemExit(main())
