"""The admin's dead-letter and health tools, through the test client on the real database: the
resend and re-render actions and buttons, resending an integration's failures since a time, the
integration page's "Sending" block, and who may do any of it.

Messages are checked by level and by the numbers they carry, not by wording: the admin speaks
Russian and its catalogue is translated apart. Queued deliveries are read back from Redis, where
`enqueue_deliveries` publishes them (no worker runs in this module)."""

import json
import os
import re
import uuid
from collections.abc import Iterator
from datetime import timedelta

import pytest
import redis
from django.conf import settings as django_settings
from django.contrib.auth.models import Permission, User
from django.contrib.messages import constants as levels
from django.contrib.messages import get_messages
from django.test import Client
from django.urls import resolve, reverse
from django.utils import timezone

from mindbox_integration.mindbox import MindboxClient
from notifications import bulk_jobs, dispatch
from notifications.admin_bulk_jobs import job_url
from notifications.delivery import attempt_delivery
from notifications.models import BulkJob, Delivery, DeliveryAttempt, InboundEvent, IntegrationHealth
from notifications.tasks import enqueue_replays, sweep_due_deliveries
from tests.conftest import receive_call, woken

pytestmark = pytest.mark.django_db

BROKEN_BODY = '{"customer": {"fullName": {{visitor_name}}'  # a closing brace short
FIXED_BODY = '{"customer": {"fullName": {{visitor_name}}}}'
ACCOUNT_LOOKUP = "event__account__id__exact"
CHANGELIST = "admin:notifications_delivery_changelist"


@pytest.fixture(autouse=True)
def broker() -> Iterator[redis.Redis]:
    """The test Redis with an empty task queue, so what a test reads there is its own; emptied
    again after every test, so no later worker gets messages for deliveries rolled back here."""
    connection = redis.Redis.from_url(os.environ["REDIS_URL"])
    connection.delete(*django_settings.ALL_QUEUES)
    yield connection
    connection.delete(*django_settings.ALL_QUEUES)


def queued(broker: redis.Redis) -> list[int]:
    return woken(broker, "replays")


def receive_all(account, session: str) -> list[Delivery]:
    """One call event; its deliveries by notification name."""
    event_id = receive_call(account, session).event_id
    return list(Delivery.objects.filter(event_id=event_id).order_by("notification__name"))


def receive(account, session: str) -> Delivery:
    (delivery,) = receive_all(account, session)
    return delivery


def mark(delivery: Delivery, status: str, **fields) -> Delivery:
    Delivery.objects.filter(pk=delivery.pk).update(status=status, **fields)
    delivery.refresh_from_db()
    return delivery


def fail(delivery: Delivery) -> Delivery:
    return mark(
        delivery,
        Delivery.Status.FAILED,
        attempts=1,
        last_error="ValidationError: bad",
        queued_until=None,
        finished_at=timezone.now(),
    )


def messages_of(response) -> list[tuple[int, str]]:
    return [(m.level, str(m)) for m in get_messages(response.wsgi_request)]


def run_action(client, action: str, deliveries: list[Delivery]):
    data = {"action": action, "_selected_action": [str(d.pk) for d in deliveries], "index": "0"}
    return client.post(reverse(CHANGELIST), data)


def job_of(response) -> BulkJob:
    """The bulk job whose page a response redirects to."""
    assert response.status_code == 302
    match = resolve(response.url)
    assert match.url_name == "notifications_bulkjob_change", response.url
    return BulkJob.objects.get(pk=match.kwargs["object_id"])


def run_job(job: BulkJob, capture) -> BulkJob:
    """What the worker's task does with the job's message (tests/test_bulk_jobs.py runs a real
    worker); its wake-ups published as they would be."""
    with capture(execute=True):
        done = bulk_jobs.run(job_id=job.pk, enqueue=enqueue_replays, chunk_size=2)
    assert done is not None
    return done


def summary_of(client, job: BulkJob) -> dict[str, str]:
    page = client.get(reverse("admin:notifications_bulkjob_change", args=[job.pk])).content.decode()
    return dict(re.findall(r'<dd data-summary="(\w+)">(\d+)</dd>', page))


def integration_url(integration) -> str:
    return reverse("admin:mindbox_integration_mindboxintegration_change", args=[integration.pk])


@pytest.fixture
def account(make_account, make_notification):
    account = make_account()
    make_notification(account)
    return account


def test_changelist_shows_the_account_and_finds_deliveries_by_it(admin_client, account):
    delivery = fail(receive(account, "1"))
    response = admin_client.get(reverse(CHANGELIST), {"q": account.uis_app_id})
    assert response.status_code == 200
    assert list(response.context["cl"].result_list) == [delivery]
    assert account.name in response.content.decode()
    assert admin_client.get(reverse(CHANGELIST), {"q": "no such account"}).context["cl"].result_count == 0


def test_resend_action_queues_failed_deliveries_and_skips_the_rest(
    admin_client, account, broker, django_capture_on_commit_callbacks
):
    failed = [fail(receive(account, str(n))) for n in range(2)]
    delivered = mark(receive(account, "9"), Delivery.Status.DELIVERED)
    with django_capture_on_commit_callbacks(execute=True):
        response = run_action(admin_client, "resend_selected", [*failed, delivered])
    job = job_of(response)  # the action only starts a job: nothing is resent yet
    assert (job.kind, job.status, job.total) == ("resend", "queued", 3)
    assert queued(broker) == [] and Delivery.objects.get(pk=failed[0].pk).status == Delivery.Status.FAILED
    assert [level for level, _ in messages_of(response)] == [levels.SUCCESS]
    job = run_job(job, django_capture_on_commit_callbacks)
    assert (job.status, job.done_count, job.skipped, job.summary["queued"]) == ("done", 3, 1, 2)
    assert queued(broker) == [d.pk for d in failed]

    for before in failed:
        resent = Delivery.objects.get(pk=before.pk)
        assert resent.status == Delivery.Status.PENDING and resent.attempts == 0 and resent.last_error == ""
        assert resent.transaction_id == before.transaction_id  # Mindbox can tell it is the same request
    assert Delivery.objects.get(pk=delivered.pk).status == Delivery.Status.DELIVERED
    assert summary_of(admin_client, job) == {"queued": "2", "skipped": "1"}  # two queued, one skipped


def test_rerender_action_takes_the_fixed_template_and_names_what_still_cannot_render(
    admin_client, make_account, make_notification, broker, django_capture_on_commit_callbacks
):
    account = make_account()
    fixed = make_notification(account, body=BROKEN_BODY, name="fixed later")
    make_notification(account, body=BROKEN_BODY, name="still broken")
    first, broken = receive_all(account, "1")  # "fixed later", "still broken"
    waiting = mark(receive_all(account, "2")[0], Delivery.Status.HELD)  # "fixed later", say paused since
    assert first.status == broken.status == Delivery.Status.FAILED
    fixed.body = FIXED_BODY
    fixed.save()

    with django_capture_on_commit_callbacks(execute=True):
        response = run_action(admin_client, "rerender_selected", [first, broken, waiting])
    job = run_job(job_of(response), django_capture_on_commit_callbacks)
    assert queued(broker) == [first.pk]

    first_now, broken_now, waiting_now = (Delivery.objects.get(pk=d.pk) for d in (first, broken, waiting))
    assert first_now.status == Delivery.Status.PENDING and json.loads(first_now.body) == {
        "customer": {"fullName": "v1"}
    }
    assert first_now.transaction_id != first.transaction_id  # a different request now
    assert waiting_now.status == Delivery.Status.HELD and waiting_now.transaction_id != waiting.transaction_id
    assert broken_now.status == Delivery.Status.FAILED and broken_now.transaction_id == broken.transaction_id
    assert summary_of(admin_client, job) == {"queued": "1", "held": "1", "errors": "1", "skipped": "0"}
    # The job's page names what still cannot render, linked, in the admin's language.
    page = admin_client.get(reverse("admin:notifications_bulkjob_change", args=[job.pk])).content.decode()
    broken_url = reverse("admin:notifications_delivery_change", args=[broken.pk])
    assert f'<a href="{broken_url}">№{broken.pk}</a>' in page
    assert "запрос не удаётся сформировать из события" in page


def test_the_delivery_page_shows_attempts_and_resends_by_post_only(
    admin_client, account, broker, django_capture_on_commit_callbacks
):
    delivery = fail(receive(account, "1"))
    earlier = uuid.uuid4()  # as if sent before a re-render gave the delivery its current id
    DeliveryAttempt.objects.create(delivery=delivery, transaction_id=earlier, http_status=400, outcome="failed")
    page_url = reverse("admin:notifications_delivery_change", args=[delivery.pk])
    resend_url = reverse("admin:notifications_delivery_resend", args=[delivery.pk])
    page = admin_client.get(page_url).content.decode()
    assert f'action="{resend_url}"' in page
    assert f'action="{reverse("admin:notifications_delivery_rerender", args=[delivery.pk])}"' in page
    assert str(delivery.transaction_id) in page and str(earlier) in page  # the attempt's, in the inline

    assert admin_client.get(resend_url).status_code == 405
    assert Delivery.objects.get(pk=delivery.pk).status == Delivery.Status.FAILED
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(resend_url)
    assert response.status_code == 302 and response.url == page_url
    assert Delivery.objects.get(pk=delivery.pk).status == Delivery.Status.PENDING
    assert queued(broker) == [delivery.pk]
    assert [level for level, _ in messages_of(response)] == [levels.SUCCESS]
    # Pending now: nothing to resend, so no button.
    assert f'action="{resend_url}"' not in admin_client.get(page_url).content.decode()


def test_the_rerender_button_gives_a_new_transaction_id(
    admin_client, make_account, make_notification, django_capture_on_commit_callbacks
):
    account = make_account()
    notification = make_notification(account, body=BROKEN_BODY)
    delivery = receive(account, "1")
    notification.body = FIXED_BODY
    notification.save()
    url = reverse("admin:notifications_delivery_rerender", args=[delivery.pk])
    assert admin_client.get(url).status_code == 405
    with django_capture_on_commit_callbacks(execute=True):
        assert admin_client.post(url).status_code == 302
    now = Delivery.objects.get(pk=delivery.pk)
    assert now.status == Delivery.Status.PENDING and now.transaction_id != delivery.transaction_id


def test_the_buttons_need_the_csrf_token(account, admin_user):
    delivery = fail(receive(account, "1"))
    client = Client(enforce_csrf_checks=True)
    client.force_login(admin_user)
    assert client.post(reverse("admin:notifications_delivery_resend", args=[delivery.pk])).status_code == 403
    assert Delivery.objects.get(pk=delivery.pk).status == Delivery.Status.FAILED


def confirmation_fields(page: str) -> dict[str, str]:
    form = re.search(r'<form[^>]*id="resend-failed-confirm".*?</form>', page, re.S)
    assert form, "no confirmation form"
    fields = dict(re.findall(r'<input type="hidden" name="(\w+)" value="([^"]*)">', form.group(0)))
    assert fields.pop("csrfmiddlewaretoken")
    return fields


def test_resend_failed_since_previews_then_resends_only_that_integration_from_then(
    admin_client, account, make_account, make_notification, broker, django_capture_on_commit_callbacks
):
    other = make_account()
    make_notification(other)
    old, new, foreign = fail(receive(account, "1")), fail(receive(account, "2")), fail(receive(other, "3"))
    mark(receive(account, "4"), Delivery.Status.DELIVERED)
    Delivery.objects.filter(pk=old.pk).update(finished_at=timezone.now() - timedelta(days=2))  # failed long ago
    url = reverse("admin:notifications_delivery_resend_failed")

    # The changelist and the integration page link here; the integration page preselects itself.
    assert f'href="{url}"' in admin_client.get(reverse(CHANGELIST)).content.decode()
    form_page = admin_client.get(url, {"integration": account.mindbox.pk})
    assert form_page.status_code == 200
    form = form_page.context["form"]
    assert str(form["integration"].value()) == str(account.mindbox.pk)
    a_day_ago = timezone.make_naive(timezone.now() - timedelta(days=1))  # shown in the portal's time zone
    assert abs(form["since"].value() - a_day_ago) < timedelta(minutes=1)

    since = timezone.localtime(timezone.now() - timedelta(days=1)).strftime("%Y-%m-%dT%H:%M")
    data = {"integration": account.mindbox.pk, "since": since}
    preview = admin_client.post(url, {**data, "preview": "1"})
    assert preview.status_code == 200 and preview.context["preview"] == 1
    assert 'data-count="1"' in preview.content.decode()
    assert Delivery.objects.get(pk=new.pk).status == Delivery.Status.FAILED  # a preview changes nothing

    # Confirm as the page does: with the values the preview counted, carried in its hidden fields.
    confirm = confirmation_fields(preview.content.decode())
    assert confirm == {"integration": str(account.mindbox.pk), "since": since}
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(url, {**confirm, "confirm": "1"})
    job = job_of(response)
    assert [level for level, _ in messages_of(response)] == [levels.SUCCESS]
    assert (job.kind, job.integration_id, job.ids_fixed) == ("resend_failed_since", account.mindbox.pk, False)
    later = fail(receive(account, "5"))  # failed after the job was asked for: not taken
    job = run_job(job, django_capture_on_commit_callbacks)
    assert (job.total, job.summary["queued"]) == (1, 1)
    assert queued(broker) == [new.pk]
    statuses = dict(Delivery.objects.filter(pk__in=[old.pk, new.pk, foreign.pk, later.pk]).values_list("pk", "status"))
    assert statuses == {old.pk: "failed", new.pk: "pending", foreign.pk: "failed", later.pk: "failed"}
    # The job's page links to what it queued, while it waits to go.
    queued_url = admin_client.get(job_url(job)).context["queued_url"]
    assert f"{ACCOUNT_LOOKUP}={account.pk}" in queued_url and "status__exact=pending" in queued_url
    assert list(admin_client.get(queued_url).context["cl"].result_list) == [Delivery.objects.get(pk=new.pk)]


def test_resend_failed_since_refuses_an_incomplete_form(admin_client, account):
    response = admin_client.post(reverse("admin:notifications_delivery_resend_failed"), {"since": "", "confirm": "1"})
    assert response.status_code == 200
    assert set(response.context["form"].errors) == {"integration", "since"}


def test_the_integration_page_shows_a_pause_and_resuming_releases_what_was_held(
    admin_client, account, make_account, make_notification, broker, django_capture_on_commit_callbacks
):
    reason = "Mindbox refused 3 requests in a row with HTTP 401 (test)"
    IntegrationHealth.objects.create(integration=account.mindbox, paused_at=timezone.now(), pause_reason=reason)
    held = [receive(account, str(n)) for n in range(2)]
    assert {d.status for d in held} == {Delivery.Status.HELD}
    failed = fail(receive(account, "9"))
    other = make_account()
    make_notification(other)
    fail(receive(other, "10"))  # another integration's, not counted here

    response = admin_client.get(integration_url(account.mindbox))
    page = response.content.decode()
    resume_url = reverse("admin:mindbox_integration_mindboxintegration_resume", args=[account.mindbox.pk])
    assert 'data-paused="yes"' in page and reason in page
    assert '<td data-status="held">2</td>' in page and '<td data-status="failed">1</td>' in page
    assert f'action="{resume_url}" id="resume-sending"' in page
    resend_failed = reverse("admin:notifications_delivery_resend_failed")
    assert f'href="{resend_failed}?integration={account.mindbox.pk}"' in page
    failed_url = response.context["sending"]["failed_url"]
    assert f'href="{failed_url.replace("&", "&amp;")}"' in page
    assert list(admin_client.get(failed_url).context["cl"].result_list) == [failed]

    assert admin_client.get(resume_url).status_code == 405
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(resume_url)
    assert response.status_code == 302 and response.url == integration_url(account.mindbox)
    assert queued(broker) == [d.pk for d in held]  # in order of arrival
    assert set(Delivery.objects.filter(pk__in=[d.pk for d in held]).values_list("status", flat=True)) == {"pending"}
    assert IntegrationHealth.objects.get(pk=account.mindbox.pk).paused_at is None
    ((level, text),) = messages_of(response)
    assert level == levels.SUCCESS and "2" in text  # two held deliveries queued
    page = admin_client.get(integration_url(account.mindbox)).content.decode()
    assert 'data-paused="no"' in page and 'id="resume-sending"' not in page


def test_resuming_releases_a_chunk_in_the_request_and_the_sweeper_the_rest(
    admin_client, account, broker, settings, django_capture_on_commit_callbacks
):
    settings.BULK_JOB_CHUNK_SIZE = 2  # what the request may release itself
    IntegrationHealth.objects.create(integration=account.mindbox, paused_at=timezone.now(), pause_reason="paused")
    held = [receive(account, str(n)) for n in range(3)]
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(
            reverse("admin:mindbox_integration_mindboxintegration_resume", args=[account.mindbox.pk])
        )
    assert [level for level, _ in messages_of(response)] == [levels.INFO, levels.SUCCESS]  # the rest follow
    statuses = dict(Delivery.objects.filter(pk__in=[d.pk for d in held]).values_list("pk", "status"))
    assert [statuses[d.pk] for d in held] == ["pending", "pending", "held"]  # the oldest first
    with django_capture_on_commit_callbacks(execute=True):
        sweep_due_deliveries()
    assert Delivery.objects.get(pk=held[2].pk).status == Delivery.Status.PENDING


def test_a_healthy_integration_shows_no_resume_button(admin_client, account):
    page = admin_client.get(integration_url(account.mindbox)).content.decode()
    assert 'id="sending"' in page and 'data-paused="no"' in page
    assert 'id="resume-sending"' not in page


def switch(admin_client, integration, *, on: bool):
    data = {"_save": "Save", "operations-TOTAL_FORMS": "0", "operations-INITIAL_FORMS": "0"}
    if on:
        data["active"] = "on"
    response = admin_client.post(integration_url(integration), data)
    assert response.status_code == 302, response.context["adminform"].form.errors
    return response


def held_while_switched_off(admin_client, account) -> Delivery:
    delivery = receive(account, "1")
    switch(admin_client, account.mindbox, on=False)
    # The worker finds the integration switched off and holds it, spending no attempt.
    assert (
        attempt_delivery(delivery_id=delivery.pk, client=MindboxClient(connect_timeout=1, read_timeout=1)).status
        == "held"
    )
    return delivery


def test_switching_the_integration_on_releases_its_held_deliveries(
    admin_client, account, broker, django_capture_on_commit_callbacks
):
    delivery = held_while_switched_off(admin_client, account)
    with django_capture_on_commit_callbacks(execute=True):
        response = switch(admin_client, account.mindbox, on=True)
    assert Delivery.objects.get(pk=delivery.pk).status == Delivery.Status.PENDING
    assert queued(broker) == [delivery.pk]
    assert levels.INFO in [level for level, _ in messages_of(response)]


def test_switching_a_paused_integration_on_keeps_holding(
    admin_client, account, broker, django_capture_on_commit_callbacks
):
    delivery = held_while_switched_off(admin_client, account)
    IntegrationHealth.objects.create(integration=account.mindbox, paused_at=timezone.now(), pause_reason="paused")
    with django_capture_on_commit_callbacks(execute=True):
        switch(admin_client, account.mindbox, on=True)
    assert Delivery.objects.get(pk=delivery.pk).status == Delivery.Status.HELD  # only resuming lifts a pause
    assert queued(broker) == []


def test_events_that_made_no_delivery_can_be_listed(admin_client, account, make_account, make_notification):
    made = receive(account, "1").event
    off = make_account(active=False)
    make_notification(off)
    skipped = InboundEvent.objects.get(
        pk=dispatch.receive_event(
            account=off, communication_type="calls", raw="{}", values={"call_session_id": "2"}, enqueue=lambda ids: None
        ).event_id
    )
    assert skipped.note and not made.note
    url = reverse("admin:notifications_inboundevent_changelist")
    assert list(admin_client.get(url, {"made_no_delivery": "yes"}).context["cl"].result_list) == [skipped]
    assert list(admin_client.get(url, {"made_no_delivery": "no"}).context["cl"].result_list) == [made]
    listing = admin_client.get(url).content.decode()
    assert skipped.note in listing
    detail = admin_client.get(reverse("admin:notifications_inboundevent_change", args=[skipped.pk]))
    assert skipped.note in detail.content.decode()


def staff(account, *permissions: str) -> Client:
    """A staff user managing `account` (tenancy: they see nothing else) with these permissions."""
    user = User.objects.create_user(username=f"staff-{len(permissions)}", password="x", is_staff=True)
    account.managers.add(user)
    for name in permissions:
        app_label, codename = name.split(".")
        user.user_permissions.add(Permission.objects.get(content_type__app_label=app_label, codename=codename))
    client = Client()
    client.force_login(user)
    return client


def offered_actions(client) -> set[str]:
    form = client.get(reverse(CHANGELIST)).context["action_form"]  # None when no action is allowed
    return {name for name, _ in form.fields["action"].choices} if form else set()


def test_staff_without_the_permissions_are_refused(account):
    delivery = fail(receive(account, "1"))
    IntegrationHealth.objects.create(integration=account.mindbox, paused_at=timezone.now(), pause_reason="paused")
    client = staff(account, "notifications.view_delivery", "mindbox_integration.view_mindboxintegration")
    assert client.get(reverse("admin:notifications_delivery_change", args=[delivery.pk])).status_code == 200
    for url in (
        reverse("admin:notifications_delivery_resend", args=[delivery.pk]),
        reverse("admin:notifications_delivery_rerender", args=[delivery.pk]),
        reverse("admin:notifications_delivery_resend_failed"),
        reverse("admin:mindbox_integration_mindboxintegration_resume", args=[account.mindbox.pk]),
    ):
        assert (
            client.post(
                url, {"integration": account.mindbox.pk, "since": "2000-01-01T00:00", "confirm": "1"}
            ).status_code
            == 403
        ), url
    assert client.get(reverse("admin:notifications_delivery_resend_failed")).status_code == 403
    page = client.get(integration_url(account.mindbox)).content.decode()
    assert 'data-paused="yes"' in page  # they see the pause, and no way to lift it or resend
    assert 'id="resume-sending"' not in page and "resend-failed-link" not in page
    actions = offered_actions(client)
    assert "resend_selected" not in actions and "rerender_selected" not in actions
    assert Delivery.objects.get(pk=delivery.pk).status == Delivery.Status.FAILED
    assert IntegrationHealth.objects.get(pk=account.mindbox.pk).paused_at is not None


def test_staff_with_the_change_permission_may_resend(account, django_capture_on_commit_callbacks):
    delivery = fail(receive(account, "1"))
    client = staff(account, "notifications.change_delivery")
    actions = offered_actions(client)
    assert "resend_selected" in actions and "rerender_selected" in actions
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("admin:notifications_delivery_resend", args=[delivery.pk]))
    assert response.status_code == 302
    assert Delivery.objects.get(pk=delivery.pk).status == Delivery.Status.PENDING
