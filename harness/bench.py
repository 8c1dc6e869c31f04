"""`make bench`: the production processes (gunicorn, a Celery worker, beat) on PostgreSQL and a
private Redis, a stand-in Mindbox answering after BENCH_MINDBOX_DELAY (50 ms), and five
measurements: ingest, end to end, delivery, rendering and a backlog drain. Results go to
bench/results/<time>.json with the machine's description; the table is printed.

Benchmarks are not tests: nothing here asserts a speed. tests/test_bench_smoke.py runs a tiny
version so the code keeps working.
"""

import json
import os
import platform
import statistics
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import suppress
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import requests

from harness import processes
from harness.faults import Lab, Target

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


@dataclass
class Sizes:
    ingest_events: int = 2000
    concurrency: int = 16
    e2e_rate: float = 100.0
    e2e_seconds: float = 10.0
    delivery_events: int = 2000
    render_bodies: int = 50_000
    backlog_events: int = 20_000


SMOKE = Sizes(
    ingest_events=40,
    concurrency=4,
    e2e_rate=20,
    e2e_seconds=1,
    delivery_events=20,
    render_bodies=200,
    backlog_events=40,
)


@dataclass
class Results:
    machine: dict[str, Any]
    sizes: dict[str, Any]
    sections: dict[str, dict[str, float]] = field(default_factory=dict)


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


def _fire(urls: list[str], payloads: list[dict[str, Any]] | None, concurrency: int) -> tuple[float, list[float]]:
    """POST (or GET) each URL from `concurrency` threads; the wall time and each answer's time in s."""
    local = threading.local()

    def one(i: int) -> float:
        session = getattr(local, "session", None) or requests.Session()
        local.session = session
        started = time.perf_counter()
        if payloads is None:
            response = session.get(urls[i], timeout=30)
        else:
            response = session.post(urls[i], json=payloads[i], timeout=30)
        response.raise_for_status()
        return time.perf_counter() - started

    started = time.perf_counter()
    with ThreadPoolExecutor(concurrency) as pool:
        times = list(pool.map(one, range(len(urls))))
    return time.perf_counter() - started, times


def _payload(session: str, n: int) -> dict[str, Any]:
    return {**TYPICAL_VALUES, "call_session_id": session, "notification_mnemonic": "call_finished", "visitor_id": n}


def rendering(sizes: Sizes) -> dict[str, float]:
    from notifications.rendering import compile_body

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


def ingest(lab: Lab, target: Target, sizes: Sizes) -> dict[str, float]:
    """Events accepted per second with no worker running, and a bare request for comparison."""
    base = f"http://127.0.0.1:{lab.web_port}"
    n = sizes.ingest_events
    url = f"{base}/api/uis/events/calls/?token={target.token}"
    wall, times = _fire([url] * n, [_payload(f"ingest-{i}", i) for i in range(n)], sizes.concurrency)
    bare_wall, bare_times = _fire([f"{base}/healthz"] * n, None, sizes.concurrency)
    rate, bare_rate = n / wall, n / bare_wall
    # What was queued here must not be the next section's work.
    from notifications.models import InboundEvent

    lab.redis.flush()
    InboundEvent.objects.filter(account_id=target.account_id).delete()
    return {
        "events_per_s": round(rate, 1),
        "p50_ms": round(percentile(times, 50) * 1000, 1),
        "p99_ms": round(percentile(times, 99) * 1000, 1),
        "bare_per_s": round(bare_rate, 1),
        "bare_p50_ms": round(percentile(bare_times, 50) * 1000, 1),
        "bare_p99_ms": round(percentile(bare_times, 99) * 1000, 1),
        "ratio": round(rate / bare_rate, 3),
    }


def end_to_end(lab: Lab, target: Target, sizes: Sizes) -> dict[str, float]:
    """A steady rate of events with the worker running: UIS's request to Mindbox's receipt."""
    url = f"http://127.0.0.1:{lab.web_port}/api/uis/events/calls/?token={target.token}"
    count = max(1, int(sizes.e2e_rate * sizes.e2e_seconds))
    sent_at: dict[str, float] = {}
    local = threading.local()

    def one(i: int) -> None:
        session = getattr(local, "session", None) or requests.Session()
        local.session = session
        name = f"e2e-{i}"
        sent_at[name] = time.monotonic()
        session.post(url, json=_payload(name, i), timeout=30).raise_for_status()

    started = time.monotonic()
    with ThreadPoolExecutor(max(8, sizes.concurrency)) as pool:
        for i in range(count):
            delay = started + i / sizes.e2e_rate - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            pool.submit(one, i)
    # Reported as measured: when delivery cannot keep up, what arrived within the wait counts.
    with suppress(TimeoutError):
        lab.wait_until_delivered(target, count, timeout=max(120.0, 10 * sizes.e2e_seconds))
    received: dict[str, float] = {}
    for request in lab.standin.succeeded():
        if request.query.get("operation") == target.operation:
            name = str(json.loads(request.body)["customer"]["ids"]["uisCallSession"])
            received.setdefault(name, request.at)
    latencies = [received[name] - sent_at[name] for name in sent_at if name in received]
    return {
        "rate_per_s": sizes.e2e_rate,
        "events": count,
        "delivered": len(latencies),
        "p50_ms": round(percentile(latencies, 50) * 1000, 1),
        "p95_ms": round(percentile(latencies, 95) * 1000, 1),
        "p99_ms": round(percentile(latencies, 99) * 1000, 1),
    }


def delivery(lab: Lab, target: Target, sizes: Sizes) -> dict[str, float]:
    """Deliveries queued while no worker runs, then one worker drains them."""
    n = sizes.delivery_events
    url = f"http://127.0.0.1:{lab.web_port}/api/uis/events/calls/?token={target.token}"
    _fire([url] * n, [_payload(f"delivery-{i}", i) for i in range(n)], sizes.concurrency)
    worker = lab.worker("bench-delivery")
    try:
        cpu_before = processes.cpu_seconds(worker.popen.pid)
        started = time.monotonic()
        lab.wait_until_delivered(target, n, timeout=600)
        wall = time.monotonic() - started
        cpu = processes.cpu_seconds(worker.popen.pid) - cpu_before
    finally:
        worker.stop()
    return {
        "deliveries": n,
        "per_s": round(n / wall, 1),
        "cpu_ms_per_delivery": round(cpu / n * 1000, 2),
    }


def backlog(lab: Lab, target: Target, sizes: Sizes) -> dict[str, float]:
    """A backlog held while no worker ran (written straight into the database), then drained:
    the drain rate and the worker's memory along the way."""
    from mindbox_integration.models import Account
    from notifications.dispatch import receive_event
    from notifications.models import Delivery

    account = Account.objects.get(pk=target.account_id)
    for i in range(sizes.backlog_events):
        values = {**_payload(f"backlog-{i}", i)}
        receive_event(account=account, communication_type="calls", raw="", values=values, enqueue=lambda ids: None)
    pending = Delivery.objects.filter(event__account_id=target.account_id, status=Delivery.Status.PENDING)
    lab.enqueue(list(pending.values_list("pk", flat=True)))
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
        lab.wait_until_delivered(target, sizes.backlog_events, timeout=3600)
        wall = time.monotonic() - started
    finally:
        stop.set()
        sampler.join()
        worker.stop()
    mib = 1024 * 1024
    first = statistics.mean(samples[: max(1, len(samples) // 10)]) if samples else 0
    last = statistics.mean(samples[-max(1, len(samples) // 10) :]) if samples else 0
    return {
        "deliveries": sizes.backlog_events,
        "drain_per_s": round(sizes.backlog_events / wall, 1),
        "rss_start_mib": round(first / mib, 1),
        "rss_peak_mib": round(max(samples, default=0) / mib, 1),
        "rss_end_mib": round(last / mib, 1),
    }


def run(lab: Lab, sizes: Sizes, log: Callable[[str], None] = print) -> Results:
    results = Results(machine=machine(), sizes=asdict(sizes))
    results.sections["rendering"] = rendering(sizes)
    log("rendering: done")
    results.sections["ingest"] = ingest(lab, lab.target("bench_ingest"), sizes)
    log("ingest: done")
    results.sections["delivery"] = delivery(lab, lab.target("bench_delivery"), sizes)
    log("delivery: done")
    with lab.running_worker("bench-e2e"):
        results.sections["end_to_end"] = end_to_end(lab, lab.target("bench_e2e"), sizes)
    log("end to end: done")
    results.sections["backlog"] = backlog(lab, lab.target("bench_backlog"), sizes)
    log("backlog: done")
    return results


def format_table(results: Results) -> str:
    s = results.sections
    rows = [
        (
            "ingest, events/s (no worker)",
            s["ingest"]["events_per_s"],
            f"p50 {s['ingest']['p50_ms']} ms, p99 {s['ingest']['p99_ms']} ms",
        ),
        (
            "bare Django request/s",
            s["ingest"]["bare_per_s"],
            f"p50 {s['ingest']['bare_p50_ms']} ms; ingest/bare {s['ingest']['ratio']}",
        ),
        (
            f"end to end at {s['end_to_end']['rate_per_s']:g}/s",
            f"p50 {s['end_to_end']['p50_ms']} ms",
            f"p95 {s['end_to_end']['p95_ms']} ms, p99 {s['end_to_end']['p99_ms']} ms",
        ),
        (
            "delivery, per s (stand-in delay)",
            s["delivery"]["per_s"],
            f"{s['delivery']['cpu_ms_per_delivery']} ms CPU each",
        ),
        ("rendering, bodies/s", s["rendering"]["bodies_per_s"], f"json.dumps {s['rendering']['json_dumps_per_s']}/s"),
        (
            f"backlog of {s['backlog']['deliveries']}, drained/s",
            s["backlog"]["drain_per_s"],
            f"RSS {s['backlog']['rss_start_mib']} → peak {s['backlog']['rss_peak_mib']} → {s['backlog']['rss_end_mib']} MiB",
        ),
    ]
    width = max(len(r[0]) for r in rows)
    return "\n".join(f"{name.ljust(width)}  {str(value).rjust(12)}  {note}" for name, value, note in rows)


def save(results: Results) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{datetime.now(UTC):%Y%m%dT%H%M%SZ}.json"
    path.write_text(json.dumps(asdict(results), indent=2, ensure_ascii=False) + "\n")
    return path


def main() -> int:
    database_url = os.environ.get("BENCH_DATABASE_URL", "postgres://postgres@localhost:5432/integration_portal_bench")
    delay = float(os.environ.get("BENCH_MINDBOX_DELAY", "0.05"))
    processes.setup_django(database_url)
    from django.core.management import call_command

    call_command("flush", interactive=False, verbosity=0)
    sizes = Sizes()
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
