"""`make bench`: the production processes (the web server, a Celery worker, beat) on PostgreSQL and a
private Redis, a stand-in Mindbox answering after BENCH_MINDBOX_DELAY (50 ms), and what an event
costs and how fast it goes:

- ingest alone (no worker running): `wrk` POSTs unique call events over 16 connections for a
  fixed time; events stored per second, latency, and CPU milliseconds per event per process
  group (web server, worker, beat, PostgreSQL server-wide, the private Redis; `wrk` and the
  stand-in apart);
- drain alone: one worker with default settings sends those events' deliveries; deliveries per
  second and CPU per delivery, until the stand-in has received every one;
- their sum per event, and the ceiling it sets: cores x 1000 / (CPU ms per event);
- the same ingest under `gunicorn integration_portal.wsgi:application` (the command kept for
  operators' scripts), for comparison;
- bare requests through the web server: `/healthz` (answered in the first middleware) and an unknown
  path (every middleware, then Django's 404);
- two workers draining as many deliveries as the one did;
- a paced end-to-end run (BENCH_E2E_RATE events/s for BENCH_E2E_SECONDS, 200/s for 10 s by
  default) with a worker running: from the POST sent to the stand-in receiving the request;
- rendering a typical body, and a backlog drained while the worker's memory is sampled.

Results go to bench/results/<time>.json with the machine's description; the table, each figure
beside its goal, is printed. Benchmarks are not tests: nothing here asserts a speed.
tests/test_bench_smoke.py runs a tiny version so the code keeps working.
"""

import json
import os
import platform
import statistics
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager, suppress
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from harness import cpu, loadgen, processes
from harness.faults import Lab, Target
from harness.mindbox_standin import MindboxStandIn

RESULTS = processes.ROOT / "bench" / "results"
# Production leases and timeouts (the lab's are shortened for fault runs), and no per-token rate
# limit: the bench measures the event's way, not the limit, which would answer 429.
BENCH_ENV = {
    "INBOUND_RATE_PER_SECOND": "1000000",
    "INBOUND_RATE_BURST": "1000000",
    "DELIVERY_QUEUE_LEASE": "120",
    "DELIVERY_CLAIM_SECONDS": "120",
    "DELIVERY_SWEEP_INTERVAL": "30",
    "MINDBOX_CONNECT_TIMEOUT": "5",
    "MINDBOX_READ_TIMEOUT": "15",
}
TYPICAL_BODY = (
    '{"customer": {"fullName": {{visitor_name}}, "mobilePhone": {{contact_phone_number}}, '
    '"email": {{visitor_email}}, "ids": {"uisCallSession": {{call_session_id}}}, '
    '"customFields": {"source": {{utm_source}}, "campaign": {{campaign_name}}}}, '
    '"pointOfContact": "UIS", "comment": "Звонок на {{virtual_phone_number}} ({{call_source}})"}'
)
TYPICAL_VALUES = {
    "visitor_name": "Анна Петрова",
    "contact_phone_number": "79161234567",
    "visitor_email": "anna@example.com",
    "call_session_id": "3485121",
    "utm_source": "yandex",
    "campaign_name": "Весна",
    "virtual_phone_number": "74951234567",
    "call_source": "site",
}
# The process groups whose CPU an event costs; the load generator and the stand-in are apart.
COUNTED = ("web", "worker", "beat", "postgres", "redis")
APART = ("postgres, bench database", "load generator", "stand-in")
GROUP_LABELS = {
    "web": "web server (granian: main + workers)",
    "worker": "Celery worker(s) (+ children)",
    "beat": "Celery beat",
    "postgres": "PostgreSQL (server-wide: every postgres process on the machine)",
    "redis": "Redis (the bench's own)",
    "postgres, bench database": "PostgreSQL, the bench database's backends only, apart",
    "load generator": "load generator (wrk; in-process sender and polling elsewhere), apart",
    "stand-in": "stand-in Mindbox (its thread), apart",
}
# The goals of the performance issue, each figure shown beside its own.
GOALS = {
    "cpu_ms_per_event": 4.0,
    "cpu_ms_per_event_stretch": 2.0,
    "ingest_per_s": 800.0,
    "ingest_p99_ms": 50.0,
    "drain_per_s": 400.0,
    "paced_rate": 200.0,
    "paced_p50_ms": 25.0,
    "paced_p99_ms": 150.0,
    "render_per_s": 100_000.0,
    "rss_growth": 0.05,  # the backlog's last tenth at most 5 % above its second quarter: flat
}


@dataclass
class Sizes:
    ingest_seconds: int = 10
    connections: int = 16
    wrk_threads: int = 2
    bare_seconds: int = 5
    e2e_rate: float = 200.0
    e2e_seconds: float = 10.0
    e2e_warm_seconds: float = 2.0
    render_bodies: int = 50_000
    backlog_events: int = 20_000


SMOKE = Sizes(
    ingest_seconds=1,
    connections=4,
    bare_seconds=1,
    e2e_rate=20,
    e2e_seconds=1,
    e2e_warm_seconds=0.5,
    render_bodies=200,
    backlog_events=40,
)


@dataclass
class Results:
    machine: dict[str, Any]
    sizes: dict[str, Any]
    sections: dict[str, dict[str, Any]] = field(default_factory=dict)


def machine() -> dict[str, Any]:
    model = ""
    memory = ""
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            model = line.split(":", 1)[1].strip()
            break
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal"):
            memory = line.split(":", 1)[1].strip()
    return {
        # Other work on the machine during the run shows here (1, 5 and 15 minutes, at the start).
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "cpus": os.cpu_count(),
        "cpu": model,
        "memory": memory,
        "python": platform.python_version(),
        "system": platform.platform(),
    }


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q / 100 * len(ordered)))] if ordered else 0.0


def _payload(session: str, n: int) -> dict[str, Any]:
    return {**TYPICAL_VALUES, "call_session_id": session, "notification_mnemonic": "call_finished", "visitor_id": n}


def _wrk_fixed() -> str:
    """The event `wrk` posts, as _payload() makes it, without its session, visitor and final brace."""
    fixed = {k: v for k, v in _payload("", 0).items() if k not in ("call_session_id", "visitor_id")}
    return json.dumps(fixed, ensure_ascii=False)[:-1]


class Arrivals:
    """The sessions the stand-in accepted for one operation, with when each first arrived, read
    incrementally: each poll parses only the requests that came since the last one."""

    def __init__(self, standin: MindboxStandIn, operation: str) -> None:
        self.standin = standin
        self.operation = operation
        self.seen = 0
        self.first: dict[str, float] = {}

    def update(self) -> int:
        with self.standin.lock:
            new = self.standin.requests[self.seen :]
        self.seen += len(new)
        for request in new:
            if request.succeeded and request.query.get("operation") == self.operation:
                session = str(json.loads(request.body)["customer"]["ids"]["uisCallSession"])
                self.first.setdefault(session, request.at)
        return len(self.first)

    def wait_for(self, count: int, timeout: float) -> bool:
        """Until `count` sessions arrived; False when the time ran out first."""
        with suppress(TimeoutError):
            processes.wait_until(lambda: self.update() >= count, timeout=timeout, what="deliveries", interval=0.2)
            return True
        return False


def _background(lab: Lab, name: str) -> processes.Proc:
    return next(proc for proc in lab.background if proc.name == name)


def _probes(lab: Lab, workers: list[processes.Proc], web: processes.Proc | None = None) -> dict[str, cpu.Probe]:
    from django.conf import settings

    web, beat = web or _background(lab, "web"), _background(lab, "beat")
    assert lab.redis.proc is not None
    redis_pid = lab.redis.proc.popen.pid
    return {
        "web": lambda: cpu.tree_seconds(web.popen.pid),
        "worker": lambda: cpu.trees_seconds(proc.popen.pid for proc in workers),
        "beat": lambda: cpu.tree_seconds(beat.popen.pid),
        "postgres": lambda: cpu.named_seconds("postgres"),
        "postgres, bench database": cpu.DatabaseBackends(str(settings.DATABASES["default"]["NAME"])),
        "redis": lambda: cpu.tree_seconds(redis_pid),
        "stand-in": lab.standin.cpu_seconds,
        # This process (the paced sender, the polling), less the stand-in's thread.
        "load generator": lambda: cpu.this_process_seconds() - lab.standin.cpu_seconds(),
    }


def _claims() -> tuple[float, float]:
    """(claims, deliveries claimed) so far, every process's, from the metrics directory they share."""
    from prometheus_client import CollectorRegistry, multiprocess

    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
    totals = {"count": 0.0, "sum": 0.0}
    for family in registry.collect():
        if family.name == "portal_delivery_batch_size":
            for sample in family.samples:
                for part in totals:
                    if sample.name.endswith(f"_{part}"):
                        totals[part] += sample.value
    return totals["count"], totals["sum"]


def _batching(before: tuple[float, float], events: int) -> dict[str, Any]:
    """How the deliveries went out in batches since `before`: claims per event, and the mean
    deliveries per claim that found any."""
    count, total = (now - then for now, then in zip(_claims(), before, strict=True))
    return {
        "claims_per_event": round(count / events, 2) if events else 0.0,
        "deliveries_per_claim": round(total / count, 2) if count else 0.0,
    }


def _cost(seconds: dict[str, float], units: int) -> dict[str, Any]:
    """Per-unit CPU: each counted group, their total, and the apart ones."""
    per = cpu.per_unit_ms(seconds, units)
    return {
        "cpu_ms": {name: per[name] for name in COUNTED},
        "cpu_ms_total": round(sum(per[name] for name in COUNTED), 3),
        "apart_ms": {name: per[name] for name in APART},
    }


def _bench_target(lab: Lab, scenario: str) -> Target:
    """An account whose one notification sends the typical body (the fault runs' is shorter)."""
    from mindbox_integration.models import Notification

    target = lab.target(scenario)
    Notification.objects.filter(operation__integration__account_id=target.account_id).update(body=TYPICAL_BODY)
    return target


@contextmanager
def _workers(lab: Lab, name: str, count: int) -> Iterator[list[processes.Proc]]:
    """`count` workers started together (so none drains long alone), stopped at the end."""
    with ThreadPoolExecutor(count) as pool:
        procs = list(pool.map(lambda n: lab.worker(f"{name}-{n}"), range(count)))
    try:
        yield procs
    finally:
        for proc in procs:
            proc.stop()


def _settle(count: Callable[[], int], quiet: float = 0.5, timeout: float = 10.0) -> int:
    """A count once it stopped moving (requests wrk abandoned at its end still finish)."""
    last, deadline = count(), time.monotonic() + timeout
    while time.monotonic() < deadline:
        time.sleep(quiet)
        now = count()
        if now == last:
            break
        last = now
    return last


# --- Sections


def rendering(sizes: Sizes) -> dict[str, Any]:
    from core.rendering import compile_body

    template = compile_body(TYPICAL_BODY)
    started = time.perf_counter()
    for _ in range(sizes.render_bodies):
        rendered = template.render_json(TYPICAL_VALUES)
    ours = sizes.render_bodies / (time.perf_counter() - started)
    document = json.loads(rendered)
    started = time.perf_counter()
    for _ in range(sizes.render_bodies):
        json.dumps(document, ensure_ascii=False)
    baseline = sizes.render_bodies / (time.perf_counter() - started)
    return {"bodies_per_s": round(ours), "json_dumps_per_s": round(baseline), "ratio": round(ours / baseline, 3)}


def bare(lab: Lab, sizes: Sizes, path: str) -> dict[str, Any]:
    """GETs through the web server with no event work: what a request costs before the endpoint's own."""
    window = cpu.Window(_probes(lab, []))
    run = loadgen.run(
        f"http://127.0.0.1:{lab.web_port}{path}",
        connections=sizes.connections,
        seconds=sizes.bare_seconds,
        threads=sizes.wrk_threads,
    )
    _, seconds = window.stop()
    seconds["load generator"] = run.cpu_seconds
    answered = int(run.report["requests"])
    return {
        "path": path,
        "requests": answered,
        "status_2xx": run.ok,
        "per_s": round(answered / run.seconds, 1),
        "p50_ms": run.latency_ms("p50"),
        "p99_ms": run.latency_ms("p99"),
        **_cost(seconds, answered),
    }


def ingest(
    lab: Lab, target: Target, sizes: Sizes, *, web: processes.Proc | None = None, port: int | None = None
) -> dict[str, Any]:
    """Unique call events over `connections` connections for a fixed time, no worker running.
    What is stored stays: the drain section sends its deliveries. `web` and `port`: another web
    server than the lab's, its CPU counted as the web server's."""
    from notifications.models import Delivery, InboundEvent

    events = InboundEvent.objects.filter(account_id=target.account_id)
    url = f"http://127.0.0.1:{port or lab.web_port}/api/uis/events/calls/?token={target.token}"
    window = cpu.Window(_probes(lab, [], web))
    run = loadgen.run(
        url,
        connections=sizes.connections,
        seconds=sizes.ingest_seconds,
        threads=sizes.wrk_threads,
        run_id=f"ingest{time.time_ns()}",
        post_fixed=_wrk_fixed(),
    )
    stored = _settle(events.count)
    _, seconds = window.stop()
    seconds["load generator"] = run.cpu_seconds
    deliveries = Delivery.objects.filter(event__account_id=target.account_id).count()
    return {
        "connections": sizes.connections,
        "seconds": round(run.seconds, 2),
        "events": stored,
        "wrk_2xx": run.ok,
        "wrk_not_2xx": int(run.report["requests"]) - run.ok,
        "wrk_errors": sum(int(run.report[f"errors_{e}"]) for e in ("connect", "read", "write", "timeout")),
        "deliveries": deliveries,
        "events_per_s": round(stored / run.seconds, 1),
        "p50_ms": run.latency_ms("p50"),
        "p99_ms": run.latency_ms("p99"),
        **_cost(seconds, stored),
    }


def ingest_gunicorn(lab: Lab, sizes: Sizes) -> dict[str, Any]:
    """The ingest again, under `gunicorn integration_portal.wsgi:application` and gunicorn.conf.py
    (the lab's own web server idle meanwhile)."""
    from notifications.models import Delivery

    port = processes.free_port()
    server = processes.gunicorn(env=lab.env, log_dir=lab.log_dir, port=port, name="bench-gunicorn")
    warm, target = _bench_target(lab, "bench_gunicorn_warm"), _bench_target(lab, "bench_ingest_gunicorn")
    try:
        # As warm as the lab's server, which the bare requests went through: every process has
        # taken events of an account before the measured ones.
        ingest(lab, warm, replace(sizes, ingest_seconds=min(2, sizes.ingest_seconds)), web=server, port=port)
        return ingest(lab, target, sizes, web=server, port=port)
    finally:
        server.stop()
        # Its deliveries are not the later phases' to send (nor their CPU to count).
        Delivery.objects.filter(event__account_id__in=[warm.account_id, target.account_id]).delete()


def drain(lab: Lab, target: Target, deliveries: int, *, workers: int, name: str) -> dict[str, Any]:
    """Queued deliveries sent by `workers` workers with default settings, until the stand-in has
    them all. Measured from when every worker is ready; what went before is not counted."""
    arrivals = Arrivals(lab.standin, target.operation)
    with _workers(lab, name, workers) as procs:
        at_start = arrivals.update()
        window = cpu.Window(_probes(lab, procs))
        complete = arrivals.wait_for(deliveries, timeout=120 + deliveries / 10)
        wall, seconds = window.stop()
        sent = arrivals.update() - at_start
    return {
        "workers": workers,
        "deliveries": deliveries,
        "measured": sent,
        "complete": complete,
        "seconds": round(wall, 2),
        "per_s": round(sent / wall, 1) if wall else 0.0,
        **_cost(seconds, sent),
    }


def queue_deliveries(lab: Lab, target: Target, count: int, prefix: str) -> None:
    """`count` events stored straight into the database, as if no worker ran, then queued."""
    from mindbox_integration.models import Account
    from notifications.dispatch import receive_event
    from notifications.models import Delivery

    account = Account.objects.get(pk=target.account_id)
    for i in range(count):
        receive_event(
            account=account,
            communication_type="calls",
            raw="",
            values=_payload(f"{prefix}-{i}", i),
            enqueue=lambda ids: None,
        )
    pending = Delivery.objects.filter(event__account_id=target.account_id, status=Delivery.Status.PENDING)
    lab.enqueue(list(pending.values_list("pk", flat=True)))


def paced(lab: Lab, target: Target, sizes: Sizes) -> dict[str, Any]:
    """A steady rate of events with a worker running: from the POST sent to the stand-in
    receiving the request (before its delay). The sender is open loop: a slow answer never
    holds back the next event. The worker is started for this phase, and its first seconds
    (its database connections and their server processes opened, its sending loop's first
    connections, each web process's first event of this account) are slower than the steady
    rate the goal is about: BENCH_E2E_WARM_SECONDS at the same rate go first, measured apart."""
    url = f"http://127.0.0.1:{lab.web_port}/api/uis/events/calls/?token={target.token}"
    count = max(1, int(sizes.e2e_rate * sizes.e2e_seconds))
    warm_count = int(sizes.e2e_rate * sizes.e2e_warm_seconds)
    names = [f"paced-{i}" for i in range(count)]
    warm_names = [f"paced-warm-{i}" for i in range(warm_count)]
    bodies = [json.dumps(_payload(name, i), ensure_ascii=False).encode() for i, name in enumerate(names)]
    warm_bodies = [json.dumps(_payload(name, i), ensure_ascii=False).encode() for i, name in enumerate(warm_names)]
    arrivals = Arrivals(lab.standin, target.operation)
    with lab.running_worker("bench-paced") as workers:
        warm = loadgen.paced(url, warm_bodies, sizes.e2e_rate) if warm_bodies else None
        window = cpu.Window(_probes(lab, workers))
        claims_before = _claims()
        sent = loadgen.paced(url, bodies, sizes.e2e_rate)
        accepted = sum(1 for status in sent.status if 200 <= status < 300)
        warm_accepted = sum(1 for status in warm.status if 200 <= status < 300) if warm else 0
        # Reported as measured: when delivery cannot keep up, what arrived within the wait counts.
        complete = arrivals.wait_for(accepted + warm_accepted, timeout=max(120.0, 10 * sizes.e2e_seconds))
        _, seconds = window.stop()
        batching = _batching(claims_before, count)
    latencies = _latencies(arrivals, names, sent)
    span = max(sent.sent) - min(sent.sent)
    warm_latencies = _latencies(arrivals, warm_names, warm) if warm else []
    return {
        "rate_per_s": sizes.e2e_rate,
        "seconds": sizes.e2e_seconds,
        "events": count,
        "sent_per_s": round((count - 1) / span, 1) if span else float(count),
        "sender_lag_p99_ms": round(percentile(sent.lag, 99) * 1000, 1),
        "refused": count - accepted,
        "delivered": len(latencies),
        "complete": complete and accepted == count,
        "p50_ms": round(percentile(latencies, 50) * 1000, 1),
        "p95_ms": round(percentile(latencies, 95) * 1000, 1),
        "p99_ms": round(percentile(latencies, 99) * 1000, 1),
        "warm_up_seconds": sizes.e2e_warm_seconds,
        "warm_up_p50_ms": round(percentile(warm_latencies, 50) * 1000, 1) if warm_latencies else None,
        "warm_up_p99_ms": round(percentile(warm_latencies, 99) * 1000, 1) if warm_latencies else None,
        **batching,
        **_cost(seconds, len(latencies)),
    }


def _latencies(arrivals: Arrivals, names: list[str], sent: loadgen.PacedRun) -> list[float]:
    """Seconds from each POST sent to its request's arrival at the stand-in, for those that arrived."""
    sent_at = dict(zip(names, sent.sent, strict=True))
    return [arrivals.first[name] - sent_at[name] for name in names if name in arrivals.first]


def backlog(lab: Lab, target: Target, sizes: Sizes) -> dict[str, Any]:
    """A backlog held while no worker ran (written straight into the database), then drained:
    the drain rate and the worker's memory along the way."""
    queue_deliveries(lab, target, sizes.backlog_events, "backlog")
    arrivals = Arrivals(lab.standin, target.operation)
    worker = lab.worker("bench-backlog")
    samples: list[int] = []
    stop = threading.Event()

    def sample() -> None:
        while not stop.is_set():
            samples.append(processes.rss_bytes(worker.popen.pid))
            stop.wait(0.5)

    sampler = threading.Thread(target=sample, daemon=True)
    try:
        started = time.monotonic()
        sampler.start()
        arrivals.wait_for(sizes.backlog_events, timeout=3600)
        wall = time.monotonic() - started
    finally:
        stop.set()
        sampler.join()
        worker.stop()
    mib = 1024 * 1024
    n = len(samples)
    tenth = max(1, n // 10)
    first = statistics.mean(samples[:tenth]) if samples else 0
    # The second quarter: past the start, while the worker's threads and pools fill.
    middle = statistics.mean(samples[n // 4 : max(n // 2, n // 4 + 1)]) if samples else 0
    last = statistics.mean(samples[-tenth:]) if samples else 0
    return {
        "deliveries": sizes.backlog_events,
        "delivered": len(arrivals.first),
        "drain_per_s": round(len(arrivals.first) / wall, 1),
        "rss_start_mib": round(first / mib, 1),
        "rss_mid_mib": round(middle / mib, 1),
        "rss_peak_mib": round(max(samples, default=0) / mib, 1),
        "rss_end_mib": round(last / mib, 1),
        # Twenty samples evenly through the drain, to tell a warm-up from a leak.
        "rss_trace_mib": [round(samples[k * n // 20] / mib, 1) for k in range(20)] if n >= 20 else [],
    }


def cost(ingested: dict[str, Any], drained: dict[str, Any]) -> dict[str, Any]:
    """An event's CPU end to end: ingest's per event plus the drain's per delivery times the
    deliveries an event makes; and the rate the machine's cores could sustain at that cost."""
    per_event = drained["deliveries"] / ingested["events"] if ingested["events"] else 1.0
    groups = {name: round(ingested["cpu_ms"][name] + drained["cpu_ms"][name] * per_event, 3) for name in COUNTED}
    total = round(sum(groups.values()), 3)
    cores = os.cpu_count() or 1
    return {
        "deliveries_per_event": round(per_event, 3),
        "cpu_ms": groups,
        "cpu_ms_total": total,
        "cores": cores,
        "ceiling_events_per_s": round(cores * 1000 / total, 1) if total else 0.0,
    }


def run(lab: Lab, sizes: Sizes, log: Callable[[str], None] = print) -> Results:
    results = Results(machine=machine(), sizes={**asdict(sizes), "mindbox_delay_ms": lab.standin.delay * 1000})
    s = results.sections
    s["rendering"] = rendering(sizes)
    log("rendering: done")
    s["bare_healthz"] = bare(lab, sizes, "/healthz")
    s["bare_middleware"] = bare(lab, sizes, "/bench/no-such-page/")
    log("bare requests: done")
    target = _bench_target(lab, "bench_ingest")
    s["ingest"] = ingest(lab, target, sizes)
    log(f"ingest: {s['ingest']['events']} events stored")
    s["drain"] = drain(lab, target, s["ingest"]["deliveries"], workers=1, name="bench-drain")
    log("drain, one worker: done")
    s["cost"] = cost(s["ingest"], s["drain"])
    s["ingest_gunicorn"] = ingest_gunicorn(lab, sizes)
    log("ingest under gunicorn: done")
    two = _bench_target(lab, "bench_drain_two")
    queue_deliveries(lab, two, s["ingest"]["deliveries"], "two")
    s["drain_two_workers"] = drain(lab, two, s["ingest"]["deliveries"], workers=2, name="bench-drain-two")
    log("drain, two workers: done")
    s["paced"] = paced(lab, _bench_target(lab, "bench_paced"), sizes)
    log("paced end to end: done")
    s["backlog"] = backlog(lab, _bench_target(lab, "bench_backlog"), sizes)
    log("backlog: done")
    results.machine["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
    return results


# --- The table


def _mark(met: bool) -> str:
    return "met" if met else "NOT MET"


def _ms(value: float) -> str:
    return f"{value:.2f}" if value < 100 else f"{value:.0f}"


def goals_rows(results: Results) -> list[tuple[str, str, str, str]]:
    """(measure, result, goal, status) for each figure that has a goal, then the others."""
    s = results.sections
    c, i, d, d2, p = s["cost"], s["ingest"], s["drain"], s["drain_two_workers"], s["paced"]
    total = c["cpu_ms_total"]
    stand_in = f"the {results.sizes.get('mindbox_delay_ms', 0):g} ms stand-in"
    paced_at = p["rate_per_s"] >= GOALS["paced_rate"]
    rss_flat = s["backlog"]["rss_end_mib"] <= s["backlog"]["rss_mid_mib"] * (1 + GOALS["rss_growth"])
    rows = [
        (
            "CPU per event, all processes (ingest + drain)",
            f"{total:.2f} ms",
            f"<= {GOALS['cpu_ms_per_event']:g} ms (stretch {GOALS['cpu_ms_per_event_stretch']:g} ms)",
            _mark(total <= GOALS["cpu_ms_per_event"])
            + (", stretch met" if total <= GOALS["cpu_ms_per_event_stretch"] else ", stretch not met"),
        ),
        (
            f"ceiling at that cost, {c['cores']} cores",
            f"{c['ceiling_events_per_s']:g} events/s",
            f"(>= {c['cores'] * 1000 / GOALS['cpu_ms_per_event']:g}/s at the goal)",
            "",
        ),
        (
            f"ingest, no worker, {i['connections']} connections",
            f"{i['events_per_s']:g} events/s, p50 {_ms(i['p50_ms'])} ms, p99 {_ms(i['p99_ms'])} ms "
            f"({i['events']} stored; wrk: {i['wrk_2xx']} 2xx, {i['wrk_not_2xx']} other, {i['wrk_errors']} errors)",
            f">= {GOALS['ingest_per_s']:g}/s over 16 connections, p99 <= {GOALS['ingest_p99_ms']:g} ms",
            _mark(
                i["connections"] >= 16
                and i["events_per_s"] >= GOALS["ingest_per_s"]
                and i["p99_ms"] <= GOALS["ingest_p99_ms"]
            ),
        ),
        (
            f"drain, one worker, against {stand_in}",
            f"{d['per_s']:g} deliveries/s" + ("" if d["complete"] else " (did not finish)"),
            f">= {GOALS['drain_per_s']:g}/s against the 50 ms stand-in",
            _mark(d["per_s"] >= GOALS["drain_per_s"] and d["complete"]),
        ),
        (
            f"paced end to end at {p['rate_per_s']:g}/s for {p['seconds']:g} s (sent at {p['sent_per_s']:g}/s)"
            + (f", after {p['warm_up_seconds']:g} s of warm-up" if p.get("warm_up_p99_ms") is not None else ""),
            f"p50 {_ms(p['p50_ms'])} ms, p95 {_ms(p['p95_ms'])} ms, p99 {_ms(p['p99_ms'])} ms"
            + ("" if p["complete"] else f" ({p['delivered']} of {p['events']} arrived)"),
            f"at {GOALS['paced_rate']:g}/s: p50 <= {GOALS['paced_p50_ms']:g} ms, p99 <= {GOALS['paced_p99_ms']:g} ms",
            _mark(p["complete"] and p["p50_ms"] <= GOALS["paced_p50_ms"] and p["p99_ms"] <= GOALS["paced_p99_ms"])
            + ("" if paced_at else f" at {p['rate_per_s']:g}/s (the goal is at {GOALS['paced_rate']:g}/s)"),
        ),
        (
            "paced: the warm-up, just after the worker started",
            f"p50 {_ms(p['warm_up_p50_ms'])} ms, p99 {_ms(p['warm_up_p99_ms'])} ms"
            if p.get("warm_up_p99_ms") is not None
            else "none",
            "(not measured against the goal)",
            "",
        ),
        (
            "paced: how the deliveries went out",
            f"{p.get('claims_per_event', 0):g} claims per event, {p.get('deliveries_per_claim', 0):g} deliveries per claim",
            f"(CPU {p['cpu_ms_total']:.2f} ms per event)",
            "",
        ),
        (
            "rendering a typical body, one core",
            f"{s['rendering']['bodies_per_s']:,}/s",
            f">= {GOALS['render_per_s']:,.0f}/s (json.dumps {s['rendering']['json_dumps_per_s']:,}/s)",
            _mark(s["rendering"]["bodies_per_s"] >= GOALS["render_per_s"]),
        ),
        (
            f"backlog of {s['backlog']['deliveries']}, one worker",
            f"{s['backlog']['drain_per_s']:g}/s; RSS {s['backlog']['rss_start_mib']:g} → "
            f"{s['backlog']['rss_mid_mib']:g} → peak {s['backlog']['rss_peak_mib']:g} → "
            f"{s['backlog']['rss_end_mib']:g} MiB",
            "flat memory once started",
            _mark(rss_flat),
        ),
        (
            f"drain, two workers, against {stand_in}",
            f"{d2['per_s']:g} deliveries/s, {d2['cpu_ms_total']:.2f} ms CPU each"
            + ("" if d2["complete"] else " (did not finish)"),
            f"(one worker: {d['per_s']:g}/s, {d['cpu_ms_total']:.2f} ms)",
            "",
        ),
    ]
    g = s["ingest_gunicorn"]
    rows.append(
        (
            "ingest under gunicorn (the kept command), for comparison",
            f"{g['events_per_s']:g} events/s, p50 {_ms(g['p50_ms'])} ms, p99 {_ms(g['p99_ms'])} ms; "
            f"gunicorn {g['cpu_ms']['web']:.2f} ms CPU an event",
            "(not measured against the goal)",
            "",
        )
    )
    for key, what in (("bare_healthz", "/healthz, first middleware"), ("bare_middleware", "unknown path → 404")):
        b = s[key]
        rows.append(
            (
                f"bare request: {what}",
                f"{b['per_s']:g}/s, p50 {_ms(b['p50_ms'])} ms; web server {b['cpu_ms']['web']:.2f} ms CPU each",
                "(for comparison)",
                "",
            )
        )
    return rows


def cpu_rows(results: Results) -> list[list[str]]:
    """CPU milliseconds per unit: a row per process group, a column per phase."""
    s = results.sections
    columns = [
        ("ingest /event", s["ingest"]),
        ("ingest, gunicorn /event", s["ingest_gunicorn"]),
        ("drain /delivery", s["drain"]),
        ("sum /event", s["cost"]),
        ("2 workers /delivery", s["drain_two_workers"]),
        ("paced /event", s["paced"]),
        ("/healthz /req", s["bare_healthz"]),
        ("404 /req", s["bare_middleware"]),
    ]
    table = [["CPU ms per unit", *(name for name, _ in columns)]]
    for group in COUNTED:
        table.append([GROUP_LABELS[group], *(f"{section['cpu_ms'][group]:.3f}" for _, section in columns)])
    table.append(["total (counted)", *(f"{section['cpu_ms_total']:.3f}" for _, section in columns)])
    for group in APART:
        table.append(
            [
                GROUP_LABELS[group],
                *(f"{section['apart_ms'][group]:.3f}" if "apart_ms" in section else "" for _, section in columns),
            ]
        )
    return table


def _grid(rows: list[list[str]], *, numbers: bool = True) -> str:
    """Columns padded to their widest cell; with `numbers`, all but the first right-aligned."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = [
        "  ".join(
            cell.rjust(w) if numbers and i > 0 else cell.ljust(w)
            for i, (cell, w) in enumerate(zip(row, widths, strict=True))
        ).rstrip()
        for row in rows
    ]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def format_table(results: Results) -> str:
    goals = [["measure", "result", "goal", "status"], *(list(row) for row in goals_rows(results))]
    load = results.machine.get("load_average", [])
    return "\n".join(
        [
            _grid(goals, numbers=False),
            "",
            _grid(cpu_rows(results)),
            "",
            "PostgreSQL's CPU is server-wide: every postgres process on this machine, whoever it served",
            "(the row of the bench database's backends shows the bench's own part, without the server's",
            "shared processes and backends that disconnected).",
            "The load generator (wrk, or this process for the paced run and the drains' polling) and the",
            "stand-in run on the same cores; their CPU is shown apart and not counted in the totals.",
            f"Load average at the start (1, 5, 15 min): {', '.join(map(str, load))}; "
            f"at the end: {', '.join(map(str, results.machine.get('load_average_at_end', [])))}.",
        ]
    )


def save(results: Results) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{datetime.now(UTC):%Y%m%dT%H%M%SZ}.json"
    path.write_text(json.dumps(asdict(results), indent=2, ensure_ascii=False) + "\n")
    return path


def sizes_from_env() -> Sizes:
    """The full sizes, each overridable: BENCH_INGEST_SECONDS, BENCH_CONNECTIONS, BENCH_BARE_SECONDS,
    BENCH_E2E_RATE, BENCH_E2E_SECONDS, BENCH_E2E_WARM_SECONDS, BENCH_BACKLOG_EVENTS, BENCH_RENDER_BODIES."""
    sizes = Sizes()
    for name, attribute in (
        ("BENCH_INGEST_SECONDS", "ingest_seconds"),
        ("BENCH_CONNECTIONS", "connections"),
        ("BENCH_BARE_SECONDS", "bare_seconds"),
        ("BENCH_E2E_RATE", "e2e_rate"),
        ("BENCH_E2E_SECONDS", "e2e_seconds"),
        ("BENCH_E2E_WARM_SECONDS", "e2e_warm_seconds"),
        ("BENCH_BACKLOG_EVENTS", "backlog_events"),
        ("BENCH_RENDER_BODIES", "render_bodies"),
    ):
        if os.environ.get(name):
            kind = type(getattr(sizes, attribute))
            setattr(sizes, attribute, kind(float(os.environ[name])))
    return sizes


def main() -> int:
    database_url = os.environ.get("BENCH_DATABASE_URL", "postgres://postgres@localhost:5432/integration_portal_bench")
    delay = float(os.environ.get("BENCH_MINDBOX_DELAY", "0.05"))
    processes.setup_django(database_url)
    from django.core.management import call_command

    call_command("flush", interactive=False, verbosity=0)
    sizes = sizes_from_env()
    print(f"bench: stand-in Mindbox answers after {delay * 1000:.0f} ms; logs in var/bench/", flush=True)
    log_dir = processes.ROOT / "var" / "bench"
    with Lab(database_url=database_url, log_dir=log_dir, delay=delay, extra_env=BENCH_ENV) as lab:
        results = run(lab, sizes, log=lambda line: print(f"  {line}", flush=True))
    path = save(results)
    print()
    print(format_table(results))
    print(f"\nsaved to {path.relative_to(processes.ROOT)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
