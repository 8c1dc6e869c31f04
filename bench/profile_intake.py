"""Profile the inbound endpoint in one process: events POSTed through the whole WSGI stack
(every middleware, as gunicorn calls it) into PostgreSQL and Redis. Prints the CPU per event
of this process and of its PostgreSQL backends, statements and round trips per event, and
optionally a cProfile summary. Not a test: it measures, nothing fails on speed.

    DATABASE_URL=postgres://postgres@localhost:5432/<scratch db> REDIS_URL=redis://localhost:6379/<n> \\
        python bench/profile_intake.py --events 2000 [--cprofile 25] [--no-publish] [--without axes,messages]

The database is migrated and given one account with one notification; its events pile up
(each run posts new ones). `--without` drops middleware whose dotted path contains a name, to
price each one by difference; `--log-level WARNING` prices the per-event log line.
"""

import argparse
import cProfile
import io
import json
import os
import pstats
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "integration_portal.settings")
os.environ.setdefault("INBOUND_RATE_BURST", "1000000000")  # measure the limit's cost, not its refusals

BODY = {
    "notification_mnemonic": "call_finished",
    "visitor_name": "Анна Петрова",
    "contact_phone_number": "79161234567",
    "virtual_phone_number": "74951234567",
    "visitor_email": "anna@example.com",
    "direction": "in",
}
TEMPLATE = (
    '{"customer": {"fullName": {{visitor_name}}, "mobilePhone": {{contact_phone_number}}, '
    '"email": {{visitor_email}}}, "comment": "Звонок на {{virtual_phone_number}}"}'
)
URL = "https://api.mindbox.ru/v3/operations/async?endpointId=bench&operation=Zvonok"


def arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=2000)
    parser.add_argument("--warmup", type=int, default=200)
    parser.add_argument("--cprofile", type=int, default=0, metavar="TOP", help="print the TOP functions by own time")
    parser.add_argument("--no-publish", action="store_true", help="replace enqueue_deliveries with a no-op")
    parser.add_argument("--without", default="", help="comma-separated middleware names to drop")
    parser.add_argument("--log-level", default="", help="the root logger's level for the run")
    parser.add_argument(
        "--gunicorn", action="store_true", help="post over HTTP to gunicorn (gunicorn.conf.py) from 16 threads instead"
    )
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--bare", action="store_true", help="with --gunicorn: GET /healthz instead, the floor")
    parser.add_argument(
        "--parts", action="store_true", help="time each middleware, the metrics counter and the log line on their own"
    )
    return parser.parse_args()


def set_up(args: argparse.Namespace) -> str:
    """Settings changed before the app is built; migrate; the account's token."""
    import django
    from django.conf import settings

    drop = [name for name in args.without.split(",") if name]
    if drop:
        settings.MIDDLEWARE = [m for m in settings.MIDDLEWARE if not any(name in m for name in drop)]
    django.setup()
    import logging

    if args.log_level:
        logging.getLogger().setLevel(args.log_level)
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    from mindbox_integration import services
    from mindbox_integration.models import Notification, Operation

    created = services.create_account(name="Profile", uis_app_id=f"prof-{uuid.uuid4().hex[:10]}", actor="profile")
    integration = created.account.mindbox
    integration.active = True
    integration.save()
    operation = Operation.objects.create(integration=integration, name="Zvonok")
    Notification.objects.create(
        operation=operation, name="calls", url=URL, communication_type="calls", filters={}, body=TEMPLATE
    )
    if args.no_publish:
        from notifications import tasks

        original = tasks.enqueue_deliveries
        for module in list(sys.modules.values()):
            if getattr(module, "enqueue_deliveries", None) is original:
                module.enqueue_deliveries = lambda ids, queue="": None  # type: ignore[attr-defined]
    return created.token


def environ(token: str, n: int) -> dict[str, Any]:
    body = json.dumps({**BODY, "call_session_id": f"{uuid.uuid4().hex}-{n}"}).encode()
    return {
        "REQUEST_METHOD": "POST",
        "SCRIPT_NAME": "",
        "PATH_INFO": "/api/uis/events/calls/",
        "QUERY_STRING": f"token={token}",
        "CONTENT_TYPE": "application/json",
        "CONTENT_LENGTH": str(len(body)),
        "SERVER_NAME": "127.0.0.1",
        "SERVER_PORT": "8000",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "HTTP_HOST": "127.0.0.1:8000",
        "HTTP_USER_AGENT": "UIS",
        "REMOTE_ADDR": "127.0.0.1",
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": "http",
        "wsgi.input": io.BytesIO(body),
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": False,
        "wsgi.multiprocess": True,
        "wsgi.run_once": False,
    }


def post(app: Callable[..., Any], token: str, n: int) -> str:
    status: list[str] = []
    result = app(environ(token, n), lambda s, headers, exc_info=None: status.append(s))
    try:
        b"".join(result)
    finally:
        result.close()  # request_finished: the connection goes back to the pool, as under gunicorn
    return status[0]


def traced(action: Callable[[], object]) -> list[str]:
    """What this process sent PostgreSQL during action, one line per round trip (libpq's trace of
    every pooled connection: a simple Query or an extended-protocol Sync is one exchange)."""
    import tempfile

    from django.db import connection

    pool = getattr(connection, "pool", None)  # PostgreSQL's wrapper only
    connections = list(pool._pool) if pool is not None else []  # idle between requests
    sent: list[str] = []
    statement = "Sync"
    with tempfile.TemporaryFile() as sink:
        for conn in connections:
            conn.pgconn.trace(sink.fileno())
        try:
            action()
        finally:
            for conn in connections:
                conn.pgconn.untrace()
        sink.seek(0)
        for line in sink.read().decode(errors="replace").splitlines():
            fields = line.split("\t")
            if len(fields) <= 3 or fields[1] != "F":
                continue
            message = " ".join(" ".join(fields[3:]).split())
            if message.startswith("Parse"):  # server-side binding: the statement, then Bind, Execute, Sync
                statement = message
            elif message.startswith("Query"):
                sent.append(message[:150])
            elif message.startswith("Sync"):
                sent.append(statement[:150])
    return sent


def backend_cpu(dbname: str) -> float:
    """CPU seconds of PostgreSQL's backends on this database (same machine: /proc)."""
    import psycopg
    from django.db import connection

    params = connection.get_connection_params()
    params.pop("pool", None)
    params.pop("cursor_factory", None)
    params.pop("prepare_threshold", None)
    with psycopg.connect(**params, autocommit=True) as conn:
        pids = [
            row[0]
            for row in conn.execute(
                "SELECT pid FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()", [dbname]
            )
        ]
    tick = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / tick
    return total


def run(app: Callable[..., Any], token: str, start: int, count: int) -> Iterator[str]:
    for n in range(start, start + count):
        yield post(app, token, n)


def over_http(args: argparse.Namespace, token: str) -> None:
    """The production web process (gunicorn with gunicorn.conf.py), posted to from threads: its
    CPU (master and workers) and PostgreSQL's per event. The client runs on the same cores."""
    from concurrent.futures import ThreadPoolExecutor

    import requests
    from django.conf import settings

    from harness import processes

    port = processes.free_port()
    env = {**os.environ, "DATABASE_URL": os.environ["DATABASE_URL"]}
    server = processes.web(env=env, log_dir=Path(settings.VAR_DIR) / "profile-web", port=port)
    url = f"http://127.0.0.1:{port}/api/uis/events/calls/?token={token}"
    try:

        def one(n: int) -> tuple[int, float]:
            payload = {**BODY, "call_session_id": f"{uuid.uuid4().hex}-{n}"}
            started = time.perf_counter()
            if args.bare:
                status = requests.get(f"http://127.0.0.1:{port}/healthz", timeout=30).status_code
            else:
                status = requests.post(url, json=payload, timeout=30).status_code
            return status, time.perf_counter() - started

        with ThreadPoolExecutor(args.concurrency) as pool:
            list(pool.map(one, range(args.warmup)))
            dbname = settings.DATABASES["default"]["NAME"]
            pg_before, cpu_before = backend_cpu(dbname), processes.cpu_seconds(server.popen.pid)
            started = time.perf_counter()
            answers = list(pool.map(one, range(args.events)))
            wall = time.perf_counter() - started
            cpu = processes.cpu_seconds(server.popen.pid) - cpu_before
            pg = backend_cpu(dbname) - pg_before
    finally:
        server.stop()
    n = args.events
    times = sorted(t for _, t in answers)
    statuses = [s for s, _ in answers]
    counts = {s: statuses.count(s) for s in set(statuses)}
    print(f"answers: {counts}")
    print(
        f"{n} events over HTTP from {args.concurrency} threads: {n / wall:.0f}/s, p50 {times[n // 2] * 1000:.1f} ms, "
        f"p99 {times[min(n - 1, n * 99 // 100)] * 1000:.1f} ms; {cpu / n * 1000:.3f} ms CPU each in gunicorn, "
        f"{pg / n * 1000:.3f} ms in PostgreSQL"
    )


def _per_call(action: Callable[[], object], n: int) -> float:
    """CPU microseconds per call of action."""
    started = time.process_time()
    for _ in range(n):
        action()
    return (time.process_time() - started) / n * 1e6


def parts(token: str, n: int = 4000) -> None:
    """The WSGI handler with the first k middleware around a view that answers at once, for each
    k (so each one's cost, process_view hooks included, is the step from k-1); the metrics counter;
    the event's log line through the configured handlers, to a file as gunicorn's stderr is."""
    import logging
    import tempfile
    import types

    from django.conf import settings
    from django.core.handlers.wsgi import WSGIHandler
    from django.http import HttpRequest, HttpResponse, JsonResponse
    from django.urls import clear_url_caches, path
    from django.views.decorators.csrf import csrf_exempt

    @csrf_exempt
    def answer(request: HttpRequest, communication_type: str) -> HttpResponse:
        return JsonResponse({"event_id": 1, "deliveries": 1}, status=202)

    urls = types.ModuleType("profile_urls")
    urls.urlpatterns = [path("api/uis/events/<str:communication_type>/", answer)]  # type: ignore[attr-defined]
    sys.modules["profile_urls"] = urls
    full = list(settings.MIDDLEWARE)
    # The inbound endpoint's own middleware would answer this path itself: left out here.
    chain = [m for m in full if not m.endswith(".InboundMiddleware")]
    settings.ROOT_URLCONF = "profile_urls"
    clear_url_caches()

    def handler_cost(middleware: list[str]) -> float:
        settings.MIDDLEWARE = middleware
        handler = WSGIHandler()

        def call() -> None:
            result = handler(environ(token, 0), lambda s, h, e=None: lambda data: None)
            result.close()

        _per_call(call, 200)
        return _per_call(call, n)

    previous = handler_cost([])
    print(f"WSGI handler, URL resolution, a JSON answer, no middleware: {previous:.1f} us")
    for k in range(1, len(chain) + 1):
        cost = handler_cost(chain[:k])
        print(f"  + {chain[k - 1].rsplit('.', 1)[-1]}: {cost - previous:+.1f} us")
        previous = cost
    settings.MIDDLEWARE = full
    from notifications.metrics import EVENTS

    print(f"metrics counter: {_per_call(lambda: EVENTS.labels(type='calls', answer=202).inc(), n):.1f} us")
    log = logging.getLogger("notifications.api.views")
    with tempfile.TemporaryFile("w") as sink:
        handlers = [h for h in logging.getLogger().handlers if isinstance(h, logging.StreamHandler)]
        streams = [(h, h.setStream(sink)) for h in handlers]
        line = lambda: log.info("%s event %s from account %s: %s", "calls", 123456, "100501", "1 deliveries")  # noqa: E731
        print(f"the event's log line (filter, format, write): {_per_call(line, n):.1f} us")
        for handler, stream in streams:
            handler.setStream(stream)


def main() -> None:
    args = arguments()
    token = set_up(args)
    if args.parts:
        parts(token)
        return
    if args.gunicorn:
        over_http(args, token)
        return
    from django.conf import settings
    from django.core.wsgi import get_wsgi_application

    app = get_wsgi_application()
    dbname = settings.DATABASES["default"]["NAME"]
    statuses = list(run(app, token, 0, args.warmup))
    sample = 20
    sent = traced(lambda: statuses.extend(run(app, token, args.warmup, sample)))
    profile = cProfile.Profile(time.process_time) if args.cprofile else None  # CPU, not waiting
    pg_before, cpu_before, wall_before = backend_cpu(dbname), time.process_time(), time.perf_counter()
    if profile:
        profile.enable()
    statuses += list(run(app, token, args.warmup + sample, args.events))
    if profile:
        profile.disable()
    cpu, wall = time.process_time() - cpu_before, time.perf_counter() - wall_before
    pg = backend_cpu(dbname) - pg_before
    answers = {s: statuses.count(s) for s in set(statuses)}
    n = args.events
    print(f"answers: {answers}")
    print(f"middleware: {[m.rsplit('.', 1)[-1] for m in settings.MIDDLEWARE]}")
    print(
        f"{n} events: {cpu / n * 1000:.3f} ms CPU each in this process, {pg / n * 1000:.3f} ms in PostgreSQL, "
        f"{wall / n * 1000:.3f} ms wall; {len(sent) / sample:.2f} round trips to PostgreSQL each"
        + (" (under cProfile: CPU inflated)" if profile else "")
    )
    print("one event's round trips:")
    for sql in sent[: len(sent) // sample]:
        print(f"  {sql}")
    if profile:
        out = io.StringIO()
        stats = pstats.Stats(profile, stream=out)
        stats.sort_stats("tottime").print_stats(args.cprofile)
        stats.sort_stats("cumulative").print_stats(args.cprofile * 2)
        print(out.getvalue())


if __name__ == "__main__":
    main()
