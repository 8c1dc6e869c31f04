"""The delivery log: finding a customer's deliveries by what the event named (phone in any
formatting, e-mail, call session id, communication id), on the real database, scoped by tenancy."""

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.urls import reverse

from mindbox_integration import tenancy
from notifications import dispatch
from notifications.models import Delivery
from notifications.selectors import deliveries_about

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
