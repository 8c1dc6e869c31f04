"""The delivery log: finding a customer's deliveries by what the event named (phone in any
formatting, e-mail, call session id, communication id), on the real database, scoped by tenancy."""

from datetime import timedelta

import pytest
from django.contrib.auth.models import User
from django.http import QueryDict
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext

from mindbox_integration import tenancy
from notifications import dispatch
from notifications.admin import ACCOUNT_LOOKUP
from notifications.models import Delivery, InboundEvent
from notifications.selectors import deliveries_about, events_about

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
        "created_at__gte": old,
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
    # The time filter as the page offers it: its "past 7 days" link, which keeps the other filters.
    response = manager.get(DELIVERIES, params)
    (past_week,) = [
        choice
        for choice in filter_spec(response, "created_at__gte").choices(response.context["cl"])
        if str(choice["display"]) == gettext("Past 7 days")
    ]
    query = dict(QueryDict(past_week["query_string"].lstrip("?")).items())
    assert listed(manager.get(DELIVERIES, query)) == {wanted.pk}
    # Without any one filter, the delivery only it excluded comes back.
    for parameter, excluded in differing.items():
        without = {k: v for k, v in query.items() if not k.startswith(parameter.split("__exact")[0])}
        assert listed(manager.get(DELIVERIES, without)) == {wanted.pk, excluded.pk}, parameter
    # An operation is one account's: without both of those filters, the other account's comes back too.
    without = {k: v for k, v in query.items() if k not in (ACCOUNT_LOOKUP, "notification__operation__id__exact")}
    assert listed(manager.get(DELIVERIES, without)) == {wanted.pk, other_operation.pk, other_account.pk}
