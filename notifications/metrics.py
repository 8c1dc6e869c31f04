"""Prometheus metrics. Counters and the latency histogram are written by whichever process
does the work (gunicorn workers, Celery workers) into PROMETHEUS_MULTIPROC_DIR, which every
process of one installation shares; the queue and health gauges are read from the database
and the broker when /metrics is scraped, so they are the same whichever process answers."""

import hmac
import ipaddress
import logging
import os
import socket
from collections.abc import Iterator

from django.conf import settings
from django.db.models import Max, Min
from django.http import HttpRequest, HttpResponse
from django.utils import timezone
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest, values
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector

from integration_portal import heartbeat
from integration_portal.security import client_ip

log = logging.getLogger(__name__)

# Files are named by process; processes of different containers sharing the directory can have
# the same pid, so the host name goes into the name too (two writers of one file corrupt it).
_HOST = socket.gethostname()
values.ValueClass = values.MultiProcessValue(lambda: f"{_HOST}-{os.getpid()}")  # type: ignore[no-untyped-call]

EVENTS = Counter(
    "portal_events_received_total", "UIS events received, by communication type and HTTP answer", ["type", "answer"]
)
SITE_LINKS = Counter("portal_site_links_total", "Posts of the site script, by HTTP answer", ["answer"])
DELIVERIES = Counter(
    "portal_deliveries_total",
    "Delivery steps by outcome (delivered, retry, failed, held, backoff, rate_limited, in_flight_bound, claim_lost) and Mindbox operation",
    ["outcome", "operation"],
)
ATTEMPT_SECONDS = Histogram(
    "portal_attempt_duration_seconds",
    "Time of one request to Mindbox, by outcome",
    ["outcome"],
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20),
)

BATCH_SIZE = Histogram(
    "portal_delivery_batch_size",
    "Deliveries one task claimed at once, by queue (0: the claim found none due)",
    ["queue"],
    buckets=(0, 1, 2, 5, 10, 20, 50, 100),
)
RECONCILE_RUNS = Counter(
    "portal_reconcile_runs_total",
    "Reconciliation runs through UIS's Data API, by outcome (ok, partial, limited, token_refused, forbidden, refused, failed)",
    ["outcome"],
)
RECONCILE_COMMUNICATIONS = Counter(
    "portal_reconcile_communications_total",
    "Communications reconciliation checked, by type and result (checked, already_received, recovered)",
    ["type", "result"],
)
RECONCILE_FAILURES = Counter(
    "portal_reconcile_failures_total",
    "Reconciliation runs that did not complete, by outcome (every outcome but ok)",
    ["outcome"],
)


class StateCollector(Collector):
    """Gauges read at scrape time."""

    def collect(self) -> Iterator[Metric]:
        try:
            gauges = list(self._database_gauges())
        except Exception:  # the database is down: the counters still answer
            log.warning("metrics: the database did not answer", exc_info=True)
            gauges = []
        yield GaugeMetricFamily("portal_database_up", "1 when the database answered this scrape", 1 if gauges else 0)
        yield from gauges
        depths = broker_queue_depths()
        yield GaugeMetricFamily(
            "portal_broker_up", "1 when the broker answered this scrape", 0 if depths is None else 1
        )
        try:
            # Kept in the broker's Redis: not asked when that did not answer (portal_broker_up says so).
            beat_age = None if depths is None and settings.REDIS_URL else heartbeat.age()
        except heartbeat.Unreadable:
            beat_age = None
        if beat_age is not None:
            yield GaugeMetricFamily(
                "portal_beat_heartbeat_age_seconds",
                "Seconds since beat last ticked (+Inf when it never did)",
                beat_age,
            )
        if depths is not None:
            family = GaugeMetricFamily(
                "portal_broker_queue_length", "Messages waiting in each Celery queue", labels=["queue"]
            )
            for queue, depth in depths.items():
                family.add_metric([queue], depth)
            yield family

    def _database_gauges(self) -> Iterator[Metric]:
        from notifications.models import Delivery, InboundEvent, IntegrationHealth

        now = timezone.now()
        due = Delivery.objects.filter(status=Delivery.Status.PENDING, next_attempt_at__lte=now)
        oldest = due.aggregate(oldest=Min("next_attempt_at"))["oldest"]
        yield GaugeMetricFamily("portal_deliveries_due", "Pending deliveries whose time has come", due.count())
        yield GaugeMetricFamily(
            "portal_oldest_due_delivery_age_seconds",
            "How long the oldest due delivery has waited (0 when none)",
            (now - oldest).total_seconds() if oldest else 0.0,
        )
        yield GaugeMetricFamily(
            "portal_deliveries_held",
            "Deliveries held for a switched-off or paused integration",
            Delivery.objects.filter(status=Delivery.Status.HELD).count(),
        )
        yield GaugeMetricFamily(
            "portal_integrations_paused",
            "Integrations paused after refused keys",
            IntegrationHealth.objects.filter(paused_at__isnull=False).count(),
        )
        yield GaugeMetricFamily(
            "portal_integrations_backing_off",
            "Integrations backing off after temporary failures",
            IntegrationHealth.objects.filter(backoff_until__gt=now).count(),
        )
        last_event = InboundEvent.objects.aggregate(last=Max("received_at"))["last"]
        yield GaugeMetricFamily(
            "portal_last_event_age_seconds",
            "Seconds since the last event from UIS was received, any account (0 before the first)",
            (now - last_event).total_seconds() if last_event else 0.0,
        )


def broker_queue_depths() -> dict[str, int] | None:
    from integration_portal.celery import app

    queues = settings.ALL_QUEUES
    try:
        with app.connection_for_read() as conn:
            conn.ensure_connection(max_retries=1, timeout=2)
            channel = conn.default_channel
            # Not passive: on Redis a queue no worker has bound yet is "not found", though merely empty.
            return {queue: int(channel.queue_declare(queue=queue).message_count) for queue in queues}  # type: ignore[attr-defined]
    except Exception:
        return None  # the broker is down: /readyz says so; the gauge is simply absent


def registry() -> CollectorRegistry:
    """What a scrape shows: every process's counters (from the shared directory) and the gauges."""
    fresh = CollectorRegistry()
    MultiProcessCollector(fresh)  # type: ignore[no-untyped-call]
    fresh.register(StateCollector())
    return fresh


def allowed(request: HttpRequest) -> bool:
    """`Authorization: Bearer <METRICS_TOKEN>` when that is set; otherwise callers from
    METRICS_ALLOWED_NETWORKS (loopback by default). The caller is found as the lock-out finds it:
    behind TRUSTED_PROXY_COUNT proxies, the address the outermost one saw, so a proxy on this host
    does not make every caller loopback."""
    if settings.METRICS_TOKEN:
        scheme, _, given = request.headers.get("Authorization", "").partition(" ")
        return scheme == "Bearer" and hmac.compare_digest(given.strip().encode(), settings.METRICS_TOKEN.encode())
    try:
        address = ipaddress.ip_address(client_ip(request) or "")
    except ValueError:
        return False
    return any(address in ipaddress.ip_network(net) for net in settings.METRICS_ALLOWED_NETWORKS)


def metrics_response(request: HttpRequest) -> HttpResponse:
    if not allowed(request):
        return HttpResponse(
            "forbidden: set Authorization: Bearer <METRICS_TOKEN>\n", status=403, content_type="text/plain"
        )
    return HttpResponse(generate_latest(registry()), content_type=CONTENT_TYPE_LATEST)
