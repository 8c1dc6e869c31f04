"""Writing an event and its deliveries (notifications.event_store): one statement on PostgreSQL,
the ORM elsewhere (SQLite, `make run`), the same answers from both; and what a warm event costs."""

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from mindbox_integration import versions
from mindbox_integration.models import Account, Notification
from notifications import dispatch, event_store
from notifications.models import Delivery, InboundEvent, IntegrationHealth

ROOT = Path(__file__).resolve().parent.parent
CALL = {"call_session_id": "77", "notification_mnemonic": "call_finished", "visitor_name": "Анна", "direction": "in"}


def receive(account: Account, values: dict[str, Any], queued: list[list[int]] | None = None) -> dispatch.IntakeResult:
    return dispatch.receive_event(
        account=account,
        communication_type="calls",
        raw=json.dumps(values),
        values=values,
        enqueue=(queued.append if queued is not None else lambda ids: None),
        request_id="req-1",
    )


@pytest.mark.django_db
def test_a_repeat_answers_the_first_event_and_stores_nothing(
    make_account, make_notification, django_capture_on_commit_callbacks
):
    account = make_account()
    make_notification(account)
    queued: list[list[int]] = []
    with django_capture_on_commit_callbacks(execute=True):
        first = receive(account, CALL, queued)
    with django_capture_on_commit_callbacks(execute=True):
        again = receive(account, {**CALL, "visitor_name": "Другое имя"}, queued)
    assert (first.duplicate, first.deliveries) == (False, 1)
    assert (again.event_id, again.duplicate, again.deliveries) == (first.event_id, True, 0)
    assert InboundEvent.objects.count() == 1 and Delivery.objects.count() == 1
    delivery = Delivery.objects.get()
    assert queued == [[delivery.pk]]  # after commit, the pending ones; nothing for the repeat
    event = InboundEvent.objects.get()
    assert event.request_id == "req-1" and event.values == CALL and event.note == ""


OUTGOING = {"conditions": [{"field": "direction", "mode": "include", "values": ["out"]}]}


@pytest.mark.django_db
def test_statuses_and_the_note_are_written_with_the_rows(make_account, make_notification):
    account = make_account()
    make_notification(account, name="ok")
    make_notification(account, name="broken", body='{"a": {{visitor_name}}')  # not JSON: fails at once
    make_notification(account, name="outgoing", filters=OUTGOING)
    result = receive(account, CALL)
    assert result.deliveries == 2  # "outgoing" is filtered out
    by_name = {d.notification.name: d for d in Delivery.objects.filter(event_id=result.event_id)}
    assert by_name["ok"].status == Delivery.Status.PENDING and by_name["ok"].next_attempt_at is not None
    assert by_name["broken"].status == Delivery.Status.FAILED and by_name["broken"].last_error.startswith("cannot")
    assert by_name["broken"].finished_at is not None and by_name["broken"].queued_until is None
    IntegrationHealth.objects.create(integration=account.mindbox, paused_at=timezone.now())
    held = receive(account, {**CALL, "call_session_id": "78"})
    assert Delivery.objects.get(event_id=held.event_id, notification__name="ok").status == Delivery.Status.HELD
    # An event that makes no delivery says why, written with the event (no second statement).
    quiet = make_account()
    make_notification(quiet, name="outgoing", filters=OUTGOING)
    skipped = receive(quiet, CALL)
    assert skipped.deliveries == 0
    assert InboundEvent.objects.get(pk=skipped.event_id).note == "ни одно уведомление не прошло условия фильтра"
    off = receive(make_account(active=False), CALL)
    assert InboundEvent.objects.get(pk=off.event_id).note == "интеграция с Mindbox выключена"


@pytest.mark.django_db
def test_the_orm_path_gives_the_same_answers(make_account, make_notification):
    account = make_account()
    notification = make_notification(account)
    now = timezone.now()

    def rows(identity: str) -> tuple[InboundEvent, list[Delivery]]:
        event = InboundEvent(
            account=account, communication_type="calls", raw="{}", values={}, identity=identity, received_at=now
        )
        statuses = [Delivery.Status.PENDING, Delivery.Status.HELD]
        return event, [
            Delivery(notification=notification if i == 0 else None, url="u", body="{}", status=s, created_at=now)
            for i, s in enumerate(statuses)
        ]

    event, deliveries = rows("call:1:x")
    stored = event_store.store_with_orm(event=event, deliveries=deliveries)
    assert not stored.duplicate and stored.event_id == event.pk
    assert stored.pending == [deliveries[0].pk]
    assert Delivery.objects.filter(event_id=stored.event_id).count() == 2
    event, deliveries = rows("call:1:x")
    assert event_store.store_with_orm(event=event, deliveries=deliveries) == event_store.Stored(
        event_id=stored.event_id, duplicate=True, pending=[]
    )
    # And PostgreSQL's one statement, for the same rows, answers alike.
    event, deliveries = rows("call:2:x")
    one = event_store.store(event=event, deliveries=deliveries)
    assert not one.duplicate and len(one.pending) == 1
    event, deliveries = rows("call:2:x")
    assert event_store.store(event=event, deliveries=deliveries).duplicate


@pytest.mark.django_db(transaction=True)
def test_a_warm_event_is_one_statement(client, make_account, make_notification):
    versions.bump()  # the stamp's row, as the migration leaves it (a flush emptied the table)
    account = make_account()
    make_notification(account)
    url = f"/api/uis/events/calls/?token={account.inbound_token}"

    def post(session: str) -> Any:
        return client.post(url, data=json.dumps({**CALL, "call_session_id": session}), content_type="application/json")

    with CaptureQueriesContext(connection) as cold:
        assert post("1").status_code == 202
    with CaptureQueriesContext(connection) as warm:
        assert post("2").status_code == 202
    assert len(cold) == 3  # the token, the notifications, the write
    assert len(warm) == 1, [q["sql"][:80] for q in warm.captured_queries]  # the write, checking the token in it
    assert post("2").json()["duplicate"] is True


@pytest.mark.django_db(transaction=True)
def test_a_notification_deleted_unannounced_is_not_a_failed_event(make_account, make_notification):
    versions.bump()
    account = make_account()
    notification = make_notification(account)
    assert receive(account, CALL).deliveries == 1  # the plan is cached
    # Deleted below the ORM's signals: no new stamp, so the cached plan still names it.
    Delivery.objects.filter(notification=notification).update(notification=None)  # what Django's SET_NULL does
    Notification.objects.filter(pk=notification.pk)._raw_delete(connection.alias)
    result = receive(account, {**CALL, "call_session_id": "78"})
    assert not result.duplicate and result.deliveries == 0  # refused by the database, tried afresh
    assert InboundEvent.objects.get(pk=result.event_id).note != ""


SQLITE_SCRIPT = """
import json, django
django.setup()
from django.core.management import call_command
from django.test import Client
from mindbox_integration import services
from mindbox_integration.models import Notification, Operation
from notifications.models import Delivery

call_command("migrate", verbosity=0)
created = services.create_account(name="Local", uis_app_id="1", actor="tests")
integration = created.account.mindbox
integration.active = True
integration.save()
operation = Operation.objects.create(integration=integration, name="Zvonok")
notification = Notification.objects.create(
    operation=operation, name="calls", communication_type="calls",
    url="https://api.mindbox.ru/v3/operations/async?endpointId=a&operation=Zvonok",
    body='{"customer": {"fullName": {{visitor_name}}}}',
)
client = Client(HTTP_HOST="127.0.0.1")
url = "/api/uis/events/calls/?token=" + created.token
def post(session):
    body = json.dumps({"call_session_id": session, "visitor_name": "Anna"})
    response = client.post(url, data=body, content_type="application/json")
    return [response.status_code, response.json()]
answers = [post("1"), post("1")]
notification.active = False
notification.save()
answers.append(post("2"))
print(json.dumps({"answers": answers, "statuses": list(Delivery.objects.values_list("status", flat=True))}))
"""


def test_sqlite_takes_the_orm_path_with_the_same_answers(tmp_path):
    """The embedded set-up (`make run`): SQLite, no Redis; the broker is its SQLite file in var/."""
    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{tmp_path / 'portal.sqlite3'}",
        "REDIS_URL": "",
        "DJANGO_SETTINGS_MODULE": "integration_portal.settings",
    }
    done = subprocess.run(
        [sys.executable, "-c", SQLITE_SCRIPT], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    first, repeat, after_change = result["answers"]
    assert first == [202, {"event_id": first[1]["event_id"], "deliveries": 1}]
    assert repeat == [200, {"event_id": first[1]["event_id"], "duplicate": True}]
    assert after_change[0] == 202 and after_change[1]["deliveries"] == 0  # the change was seen
    assert result["statuses"] == ["pending"]
