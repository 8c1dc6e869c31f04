"""Reconciliation through UIS's Data API, against a local stand-in Data API and the stand-in
Mindbox: what UIS never notified reaches Mindbox once, what it did is not sent again, a second
run sends nothing, limits and a refused token stop a run, and the token is kept nowhere."""

import io
import zoneinfo
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from harness.uis_data_api_standin import StandIn
from mindbox_integration import services
from mindbox_integration.mindbox import MindboxClient
from mindbox_integration.models import Account
from notifications import dispatch, reconcile
from notifications.delivery import attempt_delivery
from notifications.models import Delivery, InboundEvent, Reconciliation
from tests.conftest import seen_keys, wait_for

pytestmark = pytest.mark.django_db

TOKEN = "uis-data-api-token-canary-5d2e91"
OFFLINE_BODY = '{"customer": {"fullName": {{visitor_name}}, "mobilePhone": {{contact_phone_number}}}}'
MOSCOW = zoneinfo.ZoneInfo("Europe/Moscow")


def uis_time(minutes_ago: float) -> str:
    """A time as the Data API writes it: the account's zone (the stand-in's is Moscow's)."""
    return (timezone.now() - timedelta(minutes=minutes_ago)).astimezone(MOSCOW).strftime("%Y-%m-%d %H:%M:%S")


def call_row(session: int, minutes_ago: float = 10, **extra: Any) -> dict[str, Any]:
    return {
        "id": session,
        "start_time": uis_time(minutes_ago),
        "direction": "in",
        "contact_phone_number": f"7916{session:07d}",
        "virtual_phone_number": "74951234567",
        "communication_id": session * 10,
        "is_lost": False,
        "tags": [{"tag_id": 5, "tag_name": "VIP"}],
        **extra,
    }


def offline_row(communication_id: int, minutes_ago: float = 10) -> dict[str, Any]:
    return {
        "id": communication_id + 1,
        "communication_id": communication_id,
        "date_time": uis_time(minutes_ago),
        "visitor_name": "Ольга",
        "visitor_phone_number": "79035550000",
        "text": "Перезвоните",
    }


@pytest.fixture
def data_api(settings: Any) -> Iterator[StandIn]:
    server = StandIn(token=TOKEN)
    settings.UIS_DATA_API_ALLOWED_HOSTS = [server.host]
    settings.UIS_DATA_API_REQUIRE_HTTPS = False
    settings.UIS_DATA_API_ALLOW_PRIVATE_NETWORKS = ["127.0.0.1"]
    settings.UIS_DATA_API_DEFAULT_URL = server.url
    yield server
    server.close()


@pytest.fixture
def account(make_account, make_notification, data_api) -> Account:
    account = make_account()
    make_notification(account, communication_type="calls")
    make_notification(account, communication_type="offline_requests", name="Заявки", body=OFFLINE_BODY)
    services.set_data_api_token(account=account, token=TOKEN)
    account.save()
    return account


def run(*args: str) -> str:
    out = io.StringIO()
    call_command("reconcile_uis", *args, stdout=out)
    return out.getvalue()


def deliver_pending() -> int:
    client = MindboxClient(connect_timeout=2, read_timeout=2)
    pending = list(Delivery.objects.filter(status=Delivery.Status.PENDING).values_list("pk", flat=True))
    for delivery_id in pending:
        attempt_delivery(delivery_id=delivery_id, client=client)
    return len(pending)


def test_what_uis_never_notified_reaches_mindbox_once(account, data_api, mindbox):
    # A call UIS did notify, delivered the usual way.
    dispatch.receive_event(
        account=account,
        communication_type="calls",
        raw="{}",
        values={"call_session_id": 777, "notification_mnemonic": "call_finished", "visitor_name": "Анна"},
        enqueue=lambda ids: None,
    )
    assert deliver_pending() == 1
    data_api.rows = {
        "get.calls_report": [call_row(777), call_row(778)],
        "get.offline_messages_report": [offline_row(9001)],
    }

    out = run("--account", account.uis_app_id)

    assert f"account {account.uis_app_id}: checked 3, already received 1, recovered 2 (ok)" in out
    assert deliver_pending() == 2
    bodies = [r.json for r in mindbox.requests]
    assert len(bodies) == 3
    assert {"customer": {"mobilePhone": "79160000778"}, "comment": "Звонок на 74951234567"} in bodies
    assert {"customer": {"fullName": "Ольга", "mobilePhone": "79035550000"}} in bodies
    recovered = InboundEvent.objects.filter(account=account).exclude(recovered_from="")
    assert sorted(recovered.values_list("recovered_from", flat=True)) == [
        "data_api:get.calls_report",
        "data_api:get.offline_messages_report",
    ]
    call = recovered.get(communication_type="calls")
    assert call.values["call_session_id"] == 778 and call.values["tag_names"] == ["VIP"]
    assert call.values["app_id"] == account.uis_app_id

    # A second run over the same window finds everything received and sends nothing.
    out = run("--account", account.uis_app_id)
    assert "checked 3, already received 3, recovered 0 (ok)" in out
    assert deliver_pending() == 0
    assert len(mindbox.requests) == 3

    # UIS's notification of the recovered offline request, late: a duplicate, not sent again.
    late = dispatch.receive_event(
        account=account,
        communication_type="offline_requests",
        raw="{}",
        values={"communication_id": 9001, "visitor_name": "Ольга"},
        enqueue=lambda ids: None,
    )
    assert late.duplicate
    # And of the recovered call, whichever of the call's events it is.
    for kind in ("call_finished", "lost_call"):
        late = dispatch.receive_event(
            account=account,
            communication_type="calls",
            raw="{}",
            values={"call_session_id": 778, "notification_mnemonic": kind},
            enqueue=lambda ids: None,
        )
        assert late.duplicate
    assert deliver_pending() == 0
    # A call reconciliation never saw is not held back by any of this.
    fresh = dispatch.receive_event(
        account=account,
        communication_type="calls",
        raw="{}",
        values={"call_session_id": 779, "notification_mnemonic": "call_finished"},
        enqueue=lambda ids: None,
    )
    assert not fresh.duplicate and deliver_pending() == 1


def test_the_window_is_asked_in_the_accounts_time_zone_and_overlaps_the_last_run(account, data_api, settings):
    settings.UIS_RECONCILE_OVERLAP = 600
    data_api.timezone = "Asia/Novosibirsk"
    run("--account", account.uis_app_id)
    state = Reconciliation.objects.get(account=account)
    assert state.account_timezone == "Asia/Novosibirsk" and state.last_outcome == "ok"
    first_until = state.checked_until
    report = next(r for r in data_api.requests if r.method == "get.calls_report")
    local_until = first_until.astimezone(zoneinfo.ZoneInfo("Asia/Novosibirsk")).strftime("%Y-%m-%d %H:%M:%S")
    assert report.params["date_till"] == local_until
    data_api.requests.clear()
    run("--account", account.uis_app_id)
    report = next(r for r in data_api.requests if r.method == "get.calls_report")
    expected_from = (first_until - timedelta(seconds=600)).astimezone(zoneinfo.ZoneInfo("Asia/Novosibirsk"))
    assert report.params["date_from"] == expected_from.strftime("%Y-%m-%d %H:%M:%S")
    assert "get.account" not in data_api.methods()  # the zone is kept


def test_pages_are_followed(account, data_api, settings, mindbox):
    settings.UIS_DATA_API_PAGE_SIZE = 2
    data_api.rows = {"get.calls_report": [call_row(n) for n in range(1, 6)]}
    out = run("--account", account.uis_app_id)
    assert "checked 5, already received 0, recovered 5 (ok)" in out
    offsets = [r.params["offset"] for r in data_api.requests if r.method == "get.calls_report"]
    assert offsets == [0, 2, 4]
    assert deliver_pending() == 5


def test_the_day_reserve_is_never_spent(account, data_api, settings):
    settings.UIS_DATA_API_DAY_RESERVE_PERCENT = 20
    data_api.day_limit, data_api.day_remaining = 100, 22
    data_api.rows = {"get.calls_report": [call_row(1)]}
    with pytest.raises(CommandError):
        run("--account", account.uis_app_id)
    state = Reconciliation.objects.get(account=account)
    assert state.last_outcome == "limited"
    assert data_api.day_remaining >= 20  # the stand-in's count: the reserve is untouched
    assert state.day_limit == 100 and state.day_remaining == data_api.day_remaining
    assert state.checked_until is None  # the window is tried again next time
    # The next run knows the day's allowance is at the reserve: it makes no call at all.
    calls = len(data_api.requests)
    with pytest.raises(CommandError):
        run("--account", account.uis_app_id)
    assert len(data_api.requests) == calls
    # Once the day has renewed, it asks again.
    Reconciliation.objects.filter(account=account).update(day_resets_at=timezone.now() - timedelta(seconds=1))
    data_api.day_remaining = 100
    assert "(ok)" in run("--account", account.uis_app_id)


def test_an_exceeded_limit_stops_the_run_and_keeps_the_window(account, data_api):
    data_api.rows = {"get.calls_report": [call_row(1)]}
    run("--account", account.uis_app_id)  # learns the zone
    Reconciliation.objects.filter(account=account).update(checked_until=None)
    data_api.planned_errors = [{"code": -32029, "mnemonic": "limit_exceeded"}]
    with pytest.raises(CommandError):
        run("--account", account.uis_app_id)
    state = Reconciliation.objects.get(account=account)
    assert state.last_outcome == "limited" and "limit_exceeded" in state.last_error
    assert state.checked_until is None and state.stopped_at is None


def test_the_minute_allowance_is_waited_for(account, data_api, settings):
    settings.UIS_DATA_API_PAGE_SIZE = 1
    data_api.minute_remaining = 3  # get.account, then two pages: the third call must wait
    data_api.rows = {"get.calls_report": [call_row(1), call_row(2), call_row(3)]}
    waits: list[float] = []

    def sleep(seconds: float) -> None:
        waits.append(seconds)
        data_api.minute_remaining = 100  # the minute has passed

    result = reconcile.reconcile_account(account_id=account.pk, enqueue=lambda ids: None, sleep=sleep)
    assert result.outcome == "ok" and result.counts.recovered == 3
    assert waits == [30.0]


def test_a_refused_token_stops_reconciliation_and_touches_no_delivery(account, data_api, mindbox):
    dispatch.receive_event(
        account=account, communication_type="calls", raw="{}", values={"call_session_id": 1}, enqueue=lambda ids: None
    )
    data_api.token = "another-token"
    with pytest.raises(CommandError):
        out = run("--account", account.uis_app_id)
    state = Reconciliation.objects.get(account=account)
    assert state.last_outcome == "token_refused" and state.stopped_at is not None
    assert "access_token_invalid" in state.last_error
    assert Delivery.objects.get().status == Delivery.Status.PENDING  # delivery is not reconciliation's business
    requests = len(data_api.requests)
    out = run("--account", account.uis_app_id)
    assert "skipped: stopped: the Data API token was refused" in out
    assert len(data_api.requests) == requests
    assert reconcile.accounts_to_reconcile() == []
    # A new token lets it run again.
    data_api.token = TOKEN
    services.set_data_api_token(account=account, token=TOKEN)
    account.save()
    assert "(ok)" in run("--account", account.uis_app_id)


def test_the_token_appears_nowhere(account, data_api, mindbox, admin_client, tmp_path, caplog):
    caplog.set_level("DEBUG")
    data_api.rows = {"get.calls_report": [call_row(1)]}
    out = run("--account", account.uis_app_id)
    deliver_pending()
    data_api.planned_errors = [{"code": -32001, "mnemonic": "access_token_blocked", "message": f"blocked {TOKEN}"}]
    with pytest.raises(CommandError) as refused:
        out += run("--account", account.uis_app_id)
    assert TOKEN in {r.params["access_token"] for r in data_api.requests}  # it was used
    assert TOKEN not in out and TOKEN not in str(refused.value)
    assert "access_token_blocked" in caplog.text and TOKEN not in caplog.text
    call_command("export_integrations", str(tmp_path / "export.json"))
    assert TOKEN not in (tmp_path / "export.json").read_text()
    for url in (f"/admin/mindbox_integration/account/{account.pk}/change/", "/admin/notifications/inboundevent/"):
        assert TOKEN not in admin_client.get(url).content.decode()
    from django.apps import apps

    for model in apps.get_models():
        for row in model.objects.all():
            assert TOKEN not in repr(row.__dict__), model.__name__
    assert TOKEN not in repr(reconcile.policy())


def test_a_host_not_allowed_is_refused_without_a_request(account, data_api, settings):
    settings.UIS_DATA_API_ALLOWED_HOSTS = ["dataapi.uiscom.ru"]
    with pytest.raises(CommandError):
        run("--account", account.uis_app_id)
    state = Reconciliation.objects.get(account=account)
    assert state.last_outcome == "refused"
    assert "not an allowed UIS Data API host" in state.last_error and "UIS_DATA_API_ALLOWED_HOSTS" in state.last_error
    assert data_api.requests == []


def test_explicit_window_and_types_without_notifications(account, data_api, mindbox):
    account.mindbox.operations.get().notifications.filter(communication_type="offline_requests").delete()
    data_api.rows = {
        "get.calls_report": [call_row(1, minutes_ago=300)],
        "get.offline_messages_report": [offline_row(5, minutes_ago=300)],
    }
    since = timezone.localtime(timezone.now() - timedelta(minutes=400)).strftime("%Y-%m-%d %H:%M:%S")
    until = timezone.localtime(timezone.now() - timedelta(minutes=200)).strftime("%Y-%m-%d %H:%M:%S")
    out = run("--account", account.uis_app_id, "--since", since, "--until", until)
    assert f"checked 1, already received 0, recovered 1 (ok) for {since} – {until}" in out
    assert "get.offline_messages_report" not in data_api.methods()  # nothing would be sent for them


@pytest.mark.django_db(transaction=True)
def test_a_run_in_progress_makes_another_skip_and_holds_no_transaction(account, data_api):
    """Two runs of one account never overlap (the lease), and the run waiting on the Data API
    holds nothing in the database meanwhile: the row can be written and read."""
    from concurrent.futures import ThreadPoolExecutor

    from django.db import connection

    def run_once() -> reconcile.RunResult:
        try:
            return reconcile.reconcile_account(account_id=account.pk, enqueue=lambda ids: None)
        finally:
            connection.close()

    data_api.rows = {"get.calls_report": [call_row(1)]}
    data_api.answering.clear()  # the first run waits on its first call
    with ThreadPoolExecutor(1) as pool:
        first = pool.submit(run_once)
        wait_for(lambda: Reconciliation.objects.filter(account=account, lease_until__isnull=False).exists(), timeout=10)
        second = run_once()
        assert second.skipped == "another run is reconciling this account"
        # Nothing is locked while the first waits: a write to its row goes through at once.
        with connection.cursor() as cursor:
            cursor.execute("SET lock_timeout = '2s'")
            Reconciliation.objects.filter(account=account).update(last_error="")
            cursor.execute("SET lock_timeout = 0")
        data_api.answering.set()
        result = first.result(timeout=30)
    assert result.outcome == "ok" and result.counts.recovered == 1
    assert Reconciliation.objects.get(account=account).lease_until is None  # given back


def test_a_lease_left_by_a_run_that_died_runs_out(account, data_api):
    data_api.rows = {"get.calls_report": [call_row(1)]}
    Reconciliation.objects.create(account=account, lease_until=timezone.now() + timedelta(minutes=1))
    held = reconcile.reconcile_account(account_id=account.pk, enqueue=lambda ids: None)
    assert held.skipped == "another run is reconciling this account" and data_api.requests == []
    Reconciliation.objects.filter(account=account).update(lease_until=timezone.now() - timedelta(seconds=1))
    result = reconcile.reconcile_account(account_id=account.pk, enqueue=lambda ids: None)
    assert result.outcome == "ok" and result.counts.recovered == 1


def test_the_beat_task_reconciles_accounts_with_a_token(account, data_api, make_account):
    from notifications.tasks import reconcile_accounts

    make_account()  # no token: not asked
    data_api.rows = {"get.calls_report": [call_row(1)]}
    reconcile_accounts()
    assert Reconciliation.objects.get(account=account).last_recovered == 1
    assert Reconciliation.objects.count() == 1


def test_the_command_refuses_what_it_cannot_read(account, data_api):
    with pytest.raises(CommandError):
        run("--account", account.uis_app_id, "--since", "yesterday")
    with pytest.raises(CommandError):
        run("--account", "no-such-account")


def test_import_takes_the_token_and_export_never_gives_it(db):
    from mindbox_integration.config_io import ConfigError, export_config, import_config

    data = {
        "accounts": [
            {
                "name": "Импорт",
                "uis_app_id": "770001",
                "uis_data_api": {"url": "https://dataapi.comagic.ru/v2.0", "token": TOKEN},
            }
        ]
    }
    summary = import_config(data, actor="tests", seen=seen_keys)
    account = Account.objects.get(uis_app_id="770001")
    assert services.data_api_token(account=account) == TOKEN
    assert account.data_api_endpoint == "https://dataapi.comagic.ru/v2.0"
    assert TOKEN not in repr(summary) and TOKEN not in account.data_api_token_encrypted
    exported = export_config()
    (item,) = exported["accounts"]
    assert item["uis_data_api"] == {"url": "https://dataapi.comagic.ru/v2.0"}
    assert TOKEN not in repr(exported)
    again = import_config(exported, actor="tests", seen=seen_keys)
    assert again.updated == 0  # the export imports back unchanged, the token kept
    assert services.data_api_token(account=Account.objects.get(pk=account.pk)) == TOKEN
    from mindbox_integration.models import ConfigChange

    change = ConfigChange.objects.filter(account=account, changes__has_key="data_api_token").get()
    assert change.changes["data_api_token"] == "changed"
    bad = {"accounts": [{"name": "x", "uis_app_id": "770002", "uis_data_api": {"token": f"{TOKEN} with spaces"}}]}
    with pytest.raises(ConfigError) as refused:
        import_config(bad, actor="tests", seen=seen_keys)
    assert "uis_data_api.token" in str(refused.value) and TOKEN not in str(refused.value)


def test_the_admin_sets_the_token_write_only_and_shows_reconciliation(admin_client, account, data_api, mindbox):
    from django.urls import reverse

    url = reverse("admin:mindbox_integration_account_change", args=[account.pk])
    page = admin_client.get(url).content.decode()
    assert TOKEN not in page and "задан (скрыт)" in page
    form = {"name": account.name, "uis_app_id": account.uis_app_id, "data_api_url": "", "new_data_api_token": ""}
    response = admin_client.post(url, {**form, "data_api_url": "https://evil.example/v2.0"})
    assert response.status_code == 200 and "UIS_DATA_API_ALLOWED_HOSTS" in response.content.decode()
    response = admin_client.post(url, {**form, "new_data_api_token": "fresh-token-0042"})
    assert response.status_code == 302
    account.refresh_from_db()
    assert services.data_api_token(account=account) == "fresh-token-0042"
    assert "fresh-token-0042" not in admin_client.get(url).content.decode()
    admin_client.post(url, form)  # blank keeps it
    account.refresh_from_db()
    assert services.data_api_token(account=account) == "fresh-token-0042"

    data_api.token = "fresh-token-0042"
    data_api.rows = {"get.calls_report": [call_row(1), call_row(2)]}
    run("--account", account.uis_app_id)
    integration_page = admin_client.get(
        reverse("admin:mindbox_integration_mindboxintegration_change", args=[account.mindbox.pk])
    ).content.decode()
    assert "восстановлено через Data API за 24 ч: 2" in integration_page
    assert "Проверено 2, уже получено 0, восстановлено 2" in integration_page
    assert "осталось" in integration_page and "из 1000" in integration_page
    events = admin_client.get(reverse("admin:notifications_inboundevent_changelist") + "?recovered=yes")
    assert events.context["cl"].result_count == 2
    events = admin_client.get(reverse("admin:notifications_inboundevent_changelist") + "?recovered=no")
    assert events.context["cl"].result_count == 0


def test_metrics_count_runs_communications_and_failures(client, account, data_api):
    from prometheus_client.parser import text_string_to_metric_families

    def samples() -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
        text = client.get("/metrics").content.decode()
        return {
            (s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text)
            for s in family.samples
        }

    before = samples()
    data_api.rows = {"get.calls_report": [call_row(1), call_row(2)]}
    run("--account", account.uis_app_id)
    data_api.planned_errors = [{"code": -32029, "mnemonic": "limit_exceeded"}]
    with pytest.raises(CommandError):
        run("--account", account.uis_app_id)
    after = samples()

    def grew(name: str, **labels: str) -> float:
        key = (name, tuple(sorted(labels.items())))
        return after.get(key, 0.0) - before.get(key, 0.0)

    assert grew("portal_reconcile_runs_total", outcome="ok") == 1
    assert grew("portal_reconcile_runs_total", outcome="limited") == 1
    assert grew("portal_reconcile_failures_total", outcome="limited") == 1
    assert grew("portal_reconcile_communications_total", type="calls", result="checked") == 2
    assert grew("portal_reconcile_communications_total", type="calls", result="recovered") == 2


def test_the_token_moves_to_a_new_encryption_key(account, settings):
    from cryptography.fernet import Fernet

    old_key = settings.FIELD_ENCRYPTION_KEYS[0]
    new_key = Fernet.generate_key().decode()
    settings.FIELD_ENCRYPTION_KEYS = [new_key, old_key]
    call_command("reencrypt_secrets", stdout=io.StringIO())
    settings.FIELD_ENCRYPTION_KEYS = [new_key]  # the old key dropped
    account.refresh_from_db()
    assert services.data_api_token(account=account) == TOKEN


def test_a_window_never_ends_in_the_future(account, data_api):
    until = timezone.localtime(timezone.now() + timedelta(days=1)).strftime("%Y-%m-%d %H:%M:%S")
    run("--account", account.uis_app_id, "--until", until)
    state = Reconciliation.objects.get(account=account)
    assert state.checked_until is not None and state.checked_until < timezone.now()


def test_a_late_notification_through_the_endpoint_is_a_duplicate(client, account, data_api):
    data_api.rows = {"get.calls_report": [call_row(4242)]}
    run("--account", account.uis_app_id)
    url = f"/api/uis/events/calls/?token={account.inbound_token}"
    # The first request reads the token; the second is checked inside the event's own statement.
    for kind in ("call_finished", "call_recorded"):
        answer = client.post(
            url, {"call_session_id": "4242", "notification_mnemonic": kind}, content_type="application/json"
        )
        assert answer.status_code == 200 and answer.json()["duplicate"] is True
    answer = client.post(
        url, {"call_session_id": "4243", "notification_mnemonic": "call_finished"}, content_type="application/json"
    )
    assert answer.status_code == 202


def test_a_call_that_ended_within_the_settle_time_waits_for_the_next_run(account, data_api, settings):
    settings.UIS_RECONCILE_SETTLE = 120
    # Started 40 min ago, ended a moment ago: its notification may still be on its way.
    data_api.rows = {"get.calls_report": [call_row(1, minutes_ago=40, finish_time=uis_time(0.5)), call_row(2)]}
    out = run("--account", account.uis_app_id)
    assert "checked 1, already received 0, recovered 1 (ok)" in out
    state = Reconciliation.objects.get(account=account)
    started = datetime.strptime(data_api.rows["get.calls_report"][0]["start_time"], "%Y-%m-%d %H:%M:%S")
    assert state.checked_until == started.replace(tzinfo=MOSCOW)  # the next run reads it again
    data_api.rows["get.calls_report"][0]["finish_time"] = uis_time(5)  # as if time had passed
    out = run("--account", account.uis_app_id)
    assert "checked 2, already received 1, recovered 1 (ok)" in out
