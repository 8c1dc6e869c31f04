"""The delivery log: finding a customer's deliveries by what the event named (phone in any
formatting, e-mail, call session id, communication id), on the real database, scoped by tenancy."""

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from django.contrib.auth.models import User
from django.http import QueryDict
from django.test import Client
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.html import escape

from mindbox_integration import tenancy
from notifications import dispatch
from notifications.admin import ACCOUNT_LOOKUP
from notifications.models import Delivery, DeliveryAttempt, InboundEvent
from notifications.selectors import deliveries_about, delivery_timeline, events_about
from notifications.templatetags.delivery_log import span

pytestmark = pytest.mark.django_db


def event(account, communication_type: str = "calls", **values) -> Delivery:
    result = dispatch.receive_event(
        account=account, communication_type=communication_type, raw="{}", values=values, enqueue=lambda ids: None
    )
    return Delivery.objects.get(event_id=result.event_id)


@pytest.fixture
def log(make_account, make_notification):
    account = make_account()
    make_notification(account)
    make_notification(account, communication_type="offline_requests", name="Заявки")
    return account, {
        "anna": event(account, call_session_id="3190000001", contact_phone_number="79161234567"),
        "boris": event(account, call_session_id="3190000002", calling_phone_number=79031112233),
        "vera": event(account, "offline_requests", communication_id=88001234, visitor_email="Vera@Example.com"),
    }


@pytest.mark.parametrize(
    ("term", "who"),
    [
        ("+7 (916) 123-45-67", {"anna"}),
        ("9161234567", {"anna"}),
        ("8 916 123-45-67", {"anna"}),
        ("7903 111-22-33", {"boris"}),  # a number sent as a JSON number
        ("vera@example.COM", {"vera"}),
        ("3190000002", {"boris"}),
        ("88001234", {"vera"}),
        ("31900000", {"anna", "boris"}),
        ("  ", set()),
        ("nobody@example.com", set()),
    ],
)
def test_deliveries_are_found_by_what_the_event_named(log, term, who):
    _account, deliveries = log
    found = set(deliveries_about(deliveries=Delivery.objects.all(), term=term).values_list("pk", flat=True))
    assert found == {deliveries[name].pk for name in who}


def test_few_digits_are_not_taken_for_a_phone_number(log):
    assert not deliveries_about(deliveries=Delivery.objects.all(), term="4567").exists()


def test_the_admins_search_finds_a_customer_in_the_managers_accounts_only(log, make_account, make_notification):
    account, deliveries = log
    other = make_account(name="Beta")
    make_notification(other)
    theirs = event(other, call_session_id="1", contact_phone_number="79161234567")  # the same customer elsewhere
    user = User.objects.create_user(username="manager", password="x", is_staff=True)
    user.groups.add(tenancy.ensure_managers_group())
    account.managers.add(user)
    client = Client()
    client.force_login(user)
    response = client.get(reverse("admin:notifications_delivery_changelist"), {"q": "8 916 123 45 67"})
    assert {d.pk for d in response.context["cl"].result_list} == {deliveries["anna"].pk}
    admin = Client()
    admin.force_login(User.objects.create_superuser(username="root", password="x"))
    response = admin.get(reverse("admin:notifications_delivery_changelist"), {"q": "79161234567"})
    assert {d.pk for d in response.context["cl"].result_list} == {deliveries["anna"].pk, theirs.pk}
    # The fields searched before still are.
    response = client.get(
        reverse("admin:notifications_delivery_changelist"), {"q": str(deliveries["vera"].transaction_id)}
    )
    assert {d.pk for d in response.context["cl"].result_list} == {deliveries["vera"].pk}


# --- The events list: searched by what the event named, with the same helper.


@pytest.mark.parametrize(
    ("term", "who"),
    [("8 (916) 123-45-67", {"anna"}), ("VERA@example.com", {"vera"}), ("3190000002", {"boris"}), (" ", set())],
)
def test_events_are_found_by_what_they_named(log, term, who):
    _account, deliveries = log
    found = set(events_about(events=InboundEvent.objects.all(), term=term).values_list("pk", flat=True))
    assert found == {deliveries[name].event_id for name in who}


def manager_of(*accounts, username: str = "manager") -> Client:
    user = User.objects.create_user(username=username, password="x", is_staff=True)
    user.groups.add(tenancy.ensure_managers_group())
    for account in accounts:
        account.managers.add(user)
    client = Client()
    client.force_login(user)
    return client


def listed(response) -> set[int]:
    assert response.status_code == 200
    return {row.pk for row in response.context["cl"].result_list}


def test_the_events_search_finds_a_customer_in_the_managers_accounts_only(log, make_account, make_notification):
    account, deliveries = log
    other = make_account(name="Beta")
    make_notification(other)
    theirs = event(other, call_session_id="1", contact_phone_number="79161234567")
    events = reverse("admin:notifications_inboundevent_changelist")
    manager = manager_of(account)
    assert listed(manager.get(events, {"q": "+7 916 123-45-67"})) == {deliveries["anna"].event_id}
    assert listed(manager.get(events, {"q": "vera@EXAMPLE.com"})) == {deliveries["vera"].event_id}
    admin = Client()
    admin.force_login(User.objects.create_superuser(username="root", password="x"))
    assert listed(admin.get(events, {"q": "9161234567"})) == {deliveries["anna"].event_id, theirs.event_id}


# --- Per account: the account filter, scoped; the other filters with it.

DELIVERIES = reverse("admin:notifications_delivery_changelist")


def filter_spec(response, parameter: str):
    (spec,) = [s for s in response.context["cl"].filter_specs if parameter in s.expected_parameters()]
    return spec


def test_the_account_filter_offers_and_finds_only_the_managers_accounts(make_account, make_notification):
    alpha, beta, gamma = (make_account(name=name) for name in ("Alpha", "Beta", "Gamma"))
    made = {}
    for account in (alpha, beta, gamma):
        make_notification(account)
        made[account.pk] = event(account, call_session_id=f"{account.pk}-1").pk
    manager = manager_of(alpha, gamma)

    response = manager.get(DELIVERIES)
    assert listed(response) == {made[alpha.pk], made[gamma.pk]}
    assert {pk for pk, _ in filter_spec(response, ACCOUNT_LOOKUP).lookup_choices} == {alpha.pk, gamma.pk}
    assert listed(manager.get(DELIVERIES, {ACCOUNT_LOOKUP: gamma.pk})) == {made[gamma.pk]}
    # Another account's id in the URL finds nothing, and its name is nowhere on the page.
    forged = manager.get(DELIVERIES, {ACCOUNT_LOOKUP: beta.pk})
    assert listed(forged) == set()
    assert beta.name not in forged.content.decode()
    # Nor through the events list.
    assert (
        listed(manager.get(reverse("admin:notifications_inboundevent_changelist"), {"account__id__exact": beta.pk}))
        == set()
    )

    admin = Client()
    admin.force_login(User.objects.create_superuser(username="root", password="x"))
    response = admin.get(DELIVERIES, {ACCOUNT_LOOKUP: beta.pk})
    assert listed(response) == {made[beta.pk]}
    assert {pk for pk, _ in filter_spec(response, ACCOUNT_LOOKUP).lookup_choices} == {alpha.pk, beta.pk, gamma.pk}


def test_the_operation_filter_offers_the_managers_operations_of_the_chosen_account(make_account, make_notification):
    alpha, beta, gamma = (make_account(name=name) for name in ("Alpha", "Beta", "Gamma"))
    calls = {account.pk: make_notification(account).operation for account in (alpha, beta, gamma)}
    alpha_offline = make_notification(alpha, operation="Zayavka", communication_type="offline_requests").operation
    manager = manager_of(alpha, gamma)
    operation_lookup = "notification__operation__id__exact"

    def choices(**params) -> dict[int, str]:
        # Django leaves out a filter with fewer than two choices.
        specs = manager.get(DELIVERIES, params).context["cl"].filter_specs
        return {pk: name for s in specs if operation_lookup in s.expected_parameters() for pk, name in s.lookup_choices}

    every = choices()
    assert set(every) == {calls[alpha.pk].pk, alpha_offline.pk, calls[gamma.pk].pk}
    assert every[calls[gamma.pk].pk] == f"Zvonok ({gamma.name})"  # one name in two accounts: told apart
    assert set(choices(**{ACCOUNT_LOOKUP: alpha.pk})) == {calls[alpha.pk].pk, alpha_offline.pk}
    assert choices(**{ACCOUNT_LOOKUP: beta.pk}) == {}  # not the manager's: no choices either
    # Filtering by another account's operation from the URL finds nothing.
    event(beta, call_session_id="b-1")
    assert listed(manager.get(DELIVERIES, {operation_lookup: calls[beta.pk].pk})) == set()


def deliveries_of(account, communication_type: str = "calls", **values) -> dict[str, Delivery]:
    """One event through the real intake; its deliveries by notification name."""
    result = dispatch.receive_event(
        account=account, communication_type=communication_type, raw="{}", values=values, enqueue=lambda ids: None
    )
    return {d.notification.name: d for d in Delivery.objects.filter(event_id=result.event_id)}


def test_account_status_type_operation_and_time_filter_together(make_account, make_notification):
    alpha, beta = make_account(name="Alpha"), make_account(name="Beta")
    make_notification(alpha, name="calls")
    make_notification(alpha, name="offline", communication_type="offline_requests")  # the same operation
    make_notification(alpha, name="calls too", operation="Zvonok2")
    make_notification(beta, name="calls")
    # Each delivery but `wanted` differs from it in one respect (the other account's, in two).
    first = deliveries_of(alpha, call_session_id="a-1")
    wanted, other_operation = first["calls"], first["calls too"]
    delivered = deliveries_of(alpha, call_session_id="a-2")["calls"]
    old = deliveries_of(alpha, call_session_id="a-3")["calls"]
    other_type = deliveries_of(alpha, "offline_requests", communication_id="a-4")["offline"]
    other_account = deliveries_of(beta, call_session_id="b-1")["calls"]
    differing = {
        "status__exact": delivered,
        "event__communication_type__exact": other_type,
        "notification__operation__id__exact": other_operation,
        "created_at__from": old,
    }
    keep = {wanted.pk, other_account.pk, *(d.pk for d in differing.values())}
    Delivery.objects.exclude(pk__in=keep).delete()
    Delivery.objects.update(status=Delivery.Status.FAILED)
    Delivery.objects.filter(pk=delivered.pk).update(status=Delivery.Status.DELIVERED)
    Delivery.objects.filter(pk=old.pk).update(created_at=timezone.now() - timedelta(days=10))
    manager = manager_of(alpha, beta)
    params = {
        ACCOUNT_LOOKUP: alpha.pk,
        "status__exact": "failed",
        "event__communication_type__exact": "calls",
        "notification__operation__id__exact": wanted.notification.operation_id,
    }
    # The time filter as the page offers it: its "last 7 days" link (from a week ago to today),
    # which keeps the other filters.
    response = manager.get(DELIVERIES, params)
    (date_range,) = filter_spec(response, "created_at__from").choices(response.context["cl"])
    (past_week,) = [quick for quick in date_range["quick"] if str(quick["label"]) == "Последние 7 дней"]
    query = dict(QueryDict(past_week["url"].lstrip("?")).items())
    assert listed(manager.get(DELIVERIES, query)) == {wanted.pk}
    # Without any one filter, the delivery only it excluded comes back.
    for parameter, excluded in differing.items():
        without = {k: v for k, v in query.items() if not k.startswith(parameter.split("__exact")[0])}
        assert listed(manager.get(DELIVERIES, without)) == {wanted.pk, excluded.pk}, parameter
    # An operation is one account's: without both of those filters, the other account's comes back too.
    without = {k: v for k, v in query.items() if k not in (ACCOUNT_LOOKUP, "notification__operation__id__exact")}
    assert listed(manager.get(DELIVERIES, without)) == {wanted.pk, other_operation.pk, other_account.pk}


# --- A delivery's timeline (notifications.selectors.delivery_timeline) and its page.

T0 = datetime(2026, 11, 24, 18, 0, tzinfo=UTC)


def attempt(delivery, seconds: float, outcome: str, **fields) -> DeliveryAttempt:
    """As the worker records one (with the delivery's transaction id), at T0 + seconds."""
    return DeliveryAttempt.objects.create(
        delivery=delivery,
        transaction_id=delivery.transaction_id,
        started_at=T0 + timedelta(seconds=seconds),
        outcome=outcome,
        **fields,
    )


@pytest.fixture
def delivery(make_account, make_notification) -> Delivery:
    account = make_account()
    make_notification(account)
    made = event(account, call_session_id="3190000001", contact_phone_number="79161234567")
    InboundEvent.objects.filter(pk=made.event_id).update(received_at=T0)
    made.refresh_from_db()
    return made


def test_the_timeline_lists_the_event_every_attempt_in_order_and_where_it_stands(delivery):
    # Created out of order: the timeline goes by when each attempt started.
    attempt(delivery, 75, "failed", http_status=400, duration_ms=95, error="HTTP 400; gave up", response_body="{}")
    attempt(delivery, 2, "retry", http_status=500, duration_ms=1200, error="HTTP 500", response_body="oops")
    attempt(delivery, 14, "interrupted", error="the worker stopped before Mindbox's answer was recorded")
    Delivery.objects.filter(pk=delivery.pk).update(
        status="failed", attempts=3, last_error="HTTP 400; gave up", finished_at=T0 + timedelta(seconds=76)
    )
    delivery.refresh_from_db()

    timeline = delivery_timeline(delivery=delivery)

    assert [e.kind for e in timeline] == ["received", "attempt", "attempt", "attempt", "now"]
    received, first, second, third, now = timeline
    assert received.at == T0
    assert [(e.number, e.state, e.at) for e in (first, second, third)] == [
        (1, "retry", T0 + timedelta(seconds=2)),
        (2, "interrupted", T0 + timedelta(seconds=14)),
        (3, "failed", T0 + timedelta(seconds=75)),
    ]
    # Each wait: since the event arrived for the first, since the attempt before for the rest.
    assert [(e.gap, e.previous) for e in (first, second, third)] == [
        (timedelta(seconds=2), 0),
        (timedelta(seconds=12), 1),
        (timedelta(seconds=61), 2),
    ]
    assert (first.http_status, first.duration, first.error.text, first.response) == (
        500,
        timedelta(milliseconds=1200),
        "HTTP 500",
        "oops",
    )
    assert (second.http_status, second.duration) == (None, None)
    assert first.earlier_transaction_id == ""  # the delivery's own, shown once on its page
    assert (now.state, now.at, now.error.text) == ("failed", T0 + timedelta(seconds=76), "HTTP 400; gave up")


def test_an_attempt_under_an_earlier_transaction_id_names_it(delivery):
    earlier = uuid.uuid4()  # as if sent before a re-render gave the delivery a new id
    DeliveryAttempt.objects.create(delivery=delivery, transaction_id=earlier, started_at=T0, outcome="failed")
    (entry,) = [e for e in delivery_timeline(delivery=delivery) if e.kind == "attempt"]
    assert entry.earlier_transaction_id == str(earlier)


def test_a_pending_delivery_shows_its_next_attempt_and_a_held_one_none(delivery):
    attempt(delivery, 3, "retry", http_status=503, duration_ms=40, error="HTTP 503")
    Delivery.objects.filter(pk=delivery.pk).update(
        status="pending", attempts=1, last_error="HTTP 503", next_attempt_at=T0 + timedelta(seconds=63)
    )
    delivery.refresh_from_db()
    *_, next_attempt, now = delivery_timeline(delivery=delivery)
    assert (next_attempt.kind, next_attempt.at) == ("next", T0 + timedelta(seconds=63))
    assert (next_attempt.gap, next_attempt.previous) == (timedelta(seconds=60), 1)
    assert (now.kind, now.state, now.at, now.error.text) == ("now", "pending", None, "")  # the error is the attempt's

    Delivery.objects.filter(pk=delivery.pk).update(status="held")
    delivery.refresh_from_db()
    assert [e.kind for e in delivery_timeline(delivery=delivery)] == ["received", "attempt", "now"]


def test_a_delivery_that_failed_before_any_attempt_says_why(delivery):
    Delivery.objects.filter(pk=delivery.pk).update(
        status="failed", last_error="its notification was deleted", finished_at=T0
    )
    delivery.refresh_from_db()
    received, now = delivery_timeline(delivery=delivery)
    assert (received.kind, now.kind, now.error.text) == ("received", "now", "its notification was deleted")


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        (timedelta(milliseconds=350), "350 мс"),
        (timedelta(seconds=4.25), "4,2 с"),
        (timedelta(seconds=42), "42 с"),
        (timedelta(seconds=185), "3 мин 5 с"),
        (timedelta(hours=2, minutes=10, seconds=9), "2 ч 10 мин"),
        (timedelta(days=1, hours=3, minutes=1), "1 д 3 ч"),
        (None, ""),
    ],
)
def test_waits_and_durations_read_short(value, shown):
    with translation.override("ru"):
        assert span(value) == shown


def test_the_delivery_page_shows_the_event_and_the_timeline_and_the_event_page_its_deliveries(
    make_account, make_notification
):
    key = "sk-timeline-never-shown-5521"
    account = make_account(secret_key=key)
    make_notification(account)
    make_notification(account, operation="Zvonok2", name="Звонки ещё раз")
    made = deliveries_of(account, call_session_id="3190000077", contact_phone_number="79161234567")
    delivery = made["Входящие звонки"]
    attempt(delivery, 1, "retry", http_status=500, duration_ms=30, error="HTTP 500")
    attempt(delivery, 12, "failed", http_status=400, duration_ms=20, error="HTTP 400")
    Delivery.objects.filter(pk=delivery.pk).update(status="failed", last_error="HTTP 400", finished_at=T0)
    manager = manager_of(account)

    page = manager.get(reverse("admin:notifications_delivery_change", args=[delivery.pk])).content.decode()
    event_url = reverse("admin:notifications_inboundevent_change", args=[delivery.event_id])
    assert f'<a href="{event_url}">' in page
    for shown in ("3190000077", "Звонки", escape('"contact_phone_number": "79161234567"')):
        assert shown in page
    assert page.count('class="timeline-entry') == 4  # received, two attempts, now
    assert 'data-number="2"' in page and "HTTP 400" in page
    assert key not in page

    event_page = manager.get(event_url).content.decode()
    for other in made.values():
        assert reverse("admin:notifications_delivery_change", args=[other.pk]) in event_page


def test_the_account_and_integration_pages_link_to_the_accounts_log(make_account):
    account = make_account()
    manager = manager_of(account)
    wanted = f"{DELIVERIES}?{ACCOUNT_LOOKUP}={account.pk}"
    for page in (
        reverse("admin:mindbox_integration_account_change", args=[account.pk]),
        reverse("admin:mindbox_integration_mindboxintegration_change", args=[account.mindbox.pk]),
    ):
        assert f'href="{wanted}" class="delivery-log-link"' in manager.get(page).content.decode()
