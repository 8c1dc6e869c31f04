"""Shared fixtures: a stand-in Mindbox, configured accounts, and a real Celery worker."""

import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import redis
from django.conf import settings as django_settings
from django.db import connections

from harness import processes
from harness.mindbox_standin import MindboxStandIn
from mindbox_integration import services
from mindbox_integration.models import Account, Notification, Operation
from notifications import dispatch
from tests import browser_support

ROOT = Path(__file__).resolve().parent.parent

CALL_BODY = (
    '{"customer": {"fullName": {{visitor_name}}, "mobilePhone": {{contact_phone_number}}, '
    '"email": {{visitor_email}}}, "comment": "Звонок на {{virtual_phone_number}}"}'
)


# A Mindbox key that must never be written anywhere in clear: tests/test_secrets.py sends with it,
# and when the run ends every file it wrote under var/ is searched for it.
KNOWN_SECRET = "sk-KNOWN-leak-canary-7c41f0"
_started = time.time()
_skipped: list[str] = []


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if report.skipped:
        _skipped.append(report.nodeid)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Nothing skips here: a test that cannot run is a failure, so CI cannot pass by skipping.
    And the known key is in no file the run wrote (logs of every process, exports)."""
    leaks = [
        str(path.relative_to(ROOT))
        for path in (ROOT / "var").rglob("*")
        if path.is_file() and path.stat().st_mtime >= _started and KNOWN_SECRET.encode() in path.read_bytes()
    ]
    if leaks and exitstatus == 0:
        print(f"\nthe known secret key was written in clear to: {', '.join(leaks)}")
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
    if _skipped and exitstatus == 0:
        print(f"\n{len(_skipped)} test(s) skipped; the suite allows none: {', '.join(_skipped)}")
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_configure() -> None:
    if not os.environ.get("DATABASE_URL", "").startswith("postgres"):
        raise pytest.UsageError("the suite runs against PostgreSQL: run it with `make test`")
    if not os.environ.get("REDIS_URL"):
        raise pytest.UsageError("the suite runs against Redis: run it with `make test`")


@pytest.fixture(autouse=True)
def fresh_rate_limits() -> None:
    """Each test starts with full buckets: every request here comes from 127.0.0.1, and one
    test's failed tokens must not throttle the next one's. And with silent doorbells, so a
    wake-up it causes is published, not taken for one a previous test published."""
    client = redis.Redis.from_url(os.environ["REDIS_URL"])
    keys = [
        key
        for prefix in ("portal:inbound-rate:*", "portal:outbound-rate:*", "portal:doorbell:*")
        for key in client.scan_iter(match=prefix, count=1000)
    ]
    if keys:
        client.delete(*keys)


@pytest.fixture(scope="session")
def standin() -> Iterator[MindboxStandIn]:
    server = MindboxStandIn()
    yield server
    server.close()


@pytest.fixture
def mindbox(standin: MindboxStandIn, settings: Any) -> MindboxStandIn:
    """The stand-in, emptied, and allowed as a Mindbox host over plain http."""
    standin.reset()
    settings.MINDBOX_REQUIRE_HTTPS = False
    settings.MINDBOX_ALLOWED_HOSTS = [*django_settings.MINDBOX_ALLOWED_HOSTS, standin.host]
    settings.MINDBOX_ALLOW_PRIVATE_NETWORKS = ["127.0.0.1"]  # the stand-in's loopback address, explicitly
    return standin


@pytest.fixture
def make_account(db: None) -> Callable[..., Account]:
    counter = iter(range(1, 10_000))

    def make(*, active: bool = True, secret_key: str = "", name: str = "Acme") -> Account:
        n = next(counter)
        created = services.create_account(name=f"{name} {n}", uis_app_id=f"{100500 + n}", actor="tests")
        account = created.account
        account.inbound_token = created.token  # for posting events; the database keeps only its hash
        account.mindbox.active = active
        services.set_secret_key(integration=account.mindbox, key=secret_key)
        account.mindbox.save()
        return account

    return make


@pytest.fixture
def make_notification(mindbox: MindboxStandIn) -> Callable[..., Notification]:
    """A notification pointing at the stand-in (saved directly: validation is tested apart)."""

    def make(
        account: Account,
        *,
        operation: str = "Zvonok",
        communication_type: str = "calls",
        body: str = CALL_BODY,
        filters: dict[str, Any] | None = None,
        url: str | None = None,
        active: bool = True,
        name: str = "Входящие звонки",
    ) -> Notification:
        op, _ = Operation.objects.get_or_create(integration=account.mindbox, name=operation)
        return Notification.objects.create(
            operation=op,
            name=name,
            url=url or mindbox.url(operation),
            communication_type=communication_type,
            filters=filters or {},
            body=body,
            active=active,
        )

    return make


def receive_call(account: Account, session: str, visitor_name: str | None = None) -> dispatch.IntakeResult:
    """One call event through the real intake, its deliveries left for the test to send."""
    return dispatch.receive_event(
        account=account,
        communication_type="calls",
        raw="{}",
        values={"call_session_id": session, "visitor_name": visitor_name or f"v{session}"},
        enqueue=lambda ids: None,
    )


def inline_management(prefix: str, total: int, initial: int = 0) -> dict[str, str]:
    """The management form fields an admin inline formset posts with its rows."""
    return {
        f"{prefix}-TOTAL_FORMS": str(total),
        f"{prefix}-INITIAL_FORMS": str(initial),
        f"{prefix}-MIN_NUM_FORMS": "0",
        f"{prefix}-MAX_NUM_FORMS": "1000",
    }


def wait_for(condition: Callable[[], Any], timeout: float = 20.0, interval: float = 0.1) -> Any:
    """Poll until condition() is truthy; fail with a clear message otherwise."""
    deadline = time.monotonic() + timeout
    while True:
        result = condition()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s")
        time.sleep(interval)


def suite_database_url() -> str:
    """The test database (pytest-django's), for the processes the tests start."""
    db = django_settings.DATABASES["default"]
    return f"postgres://{db['USER']}@{db['HOST'] or 'localhost'}:{db['PORT'] or 5432}/{db['NAME']}"


@contextmanager
def running_worker(standin: MindboxStandIn, name: str = "worker", **settings: str) -> Iterator[processes.Proc]:
    """A real Celery worker process on the test database and the test Redis (flushed first: the
    suite's own database number), sending to the stand-in; `settings` add to its environment."""
    redis_url = os.environ["REDIS_URL"]
    redis.Redis.from_url(redis_url).flushdb()
    env = {
        **os.environ,
        "DATABASE_URL": suite_database_url(),
        "REDIS_URL": redis_url,
        "MINDBOX_REQUIRE_HTTPS": "false",
        "MINDBOX_ALLOWED_HOSTS": standin.host,
        "MINDBOX_ALLOW_PRIVATE_NETWORKS": "127.0.0.1",
        "DELIVERY_RETRY_SCHEDULE": "1,1,1",
        "MINDBOX_READ_TIMEOUT": "5",
        **settings,
    }
    worker = processes.worker(env=env, log_dir=ROOT / "var" / "test-worker", name=name)
    try:
        yield worker
    finally:
        worker.stop()


@contextmanager
def running_web(name: str, *, server: Callable[..., processes.Proc] = processes.web, **settings: str) -> Iterator[int]:
    """The production web server (`python -m integration_portal.web`, or `server`, such as
    processes.gunicorn) on the test database, on a free port (yielded); `settings` add to its
    environment."""
    port = processes.free_port()
    env = {**os.environ, "DATABASE_URL": suite_database_url(), **settings}
    proc = server(env=env, log_dir=ROOT / "var" / name, port=port)
    try:
        yield port
    finally:
        proc.stop()


@pytest.fixture(scope="module")
def celery_worker(django_db_setup: None, standin: MindboxStandIn) -> Iterator[processes.Proc]:
    """A real Celery worker process on the test database and the test Redis."""
    with running_worker(standin) as worker:
        yield worker


# --- Browser tests (tests/browser_support.py): Debian's Chromium against the live server.


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[pytest.TestReport]:
    report: pytest.TestReport = yield
    if report.when == "call":
        item.stash[_call_failed] = report.failed
    return report


_call_failed = pytest.StashKey[bool]()


@pytest.fixture
def shot(request: pytest.FixtureRequest) -> browser_support.Shots:
    """shot(page, "name"): a full-page screenshot under var/test-artifacts/browser/<test>/."""
    return browser_support.shots_for(request.node.nodeid)


@pytest.fixture
def page(
    live_server: Any, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest, shot: browser_support.Shots
) -> Iterator[Any]:
    """A Chromium page at 1280 px with clipboard access, for one test. Playwright's sync API
    keeps an event loop on this thread, so Django's ORM (the test's own set-up and checks) is
    told that it is safe here: the loop only drives the browser."""
    from playwright.sync_api import sync_playwright

    executable = browser_support.chromium_executable()
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, headless=True)
        context = browser.new_context(viewport=browser_support.DESKTOP, locale="ru-RU", base_url=live_server.url)
        context.grant_permissions(["clipboard-read", "clipboard-write"], origin=live_server.url)
        context.set_default_timeout(15_000)
        # Every asset comes from the app itself: no CDN, no other origin (but a stand-in a test
        # serves on purpose, which it adds to this list).
        allowed = request.node.stash.setdefault(browser_support.ALLOWED_ORIGINS, [live_server.url, "data:", "blob:"])
        elsewhere: list[str] = []
        context.on("request", lambda r: None if r.url.startswith(tuple(allowed)) else elsewhere.append(r.url))
        page = context.new_page()
        try:
            yield page
            assert not elsewhere, f"the page asked other origins for: {elsewhere}"
        finally:
            if request.node.stash.get(_call_failed, False):
                shot(page, "failed")
            # While Playwright's loop is set, Django keeps this thread's connections apart (asgiref
            # treats the thread as async); close them now, or they outlive the test unseen.
            connections.close_all()
            context.close()
            browser.close()


def woken(broker: redis.Redis, queue: str = "replays") -> list[int]:
    """The deliveries a worker would take from `queue` now: its due pending ones, oldest first,
    provided a call for that queue waits (what a resend or a release leaves, notifications.doorbell)."""
    from notifications import doorbell
    from notifications.models import Delivery

    if not broker.llen(doorbell.calls_key(queue)):
        return []
    rows = Delivery.objects.filter(status=Delivery.Status.PENDING, queue=queue).order_by("created_at", "pk")
    return list(rows.values_list("pk", flat=True))


def seen_keys(account_id: int, communication_type: str) -> set[str]:
    """What the import command passes config_io: the keys UIS has sent the account."""
    from notifications.selectors import seen_mnemonics

    return seen_mnemonics(account_id=account_id, communication_type=communication_type)
