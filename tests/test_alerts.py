"""Managers told by e-mail, through a real SMTP server (aiosmtpd on a free port): a real pause
(the stand-in Mindbox refuses the key until the delivery service pauses the integration) reaches
the account's manager once, a second check sends nothing, and resuming sends the recovery mail;
a failure spike is told too; the daily digest goes once a day; a mail that could not be sent is
sent by the next check. No key and no token in any mail."""

import email
from collections.abc import Iterator
from datetime import timedelta
from email import policy
from email.message import EmailMessage
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from django.conf import settings as django_settings
from django.contrib.auth.models import User
from django.utils import timezone

from harness import processes
from harness.mindbox_standin import Planned
from mindbox_integration.models import Account
from notifications import alerts, breaker, delivery, hourly
from notifications.models import AlertState, Delivery, DigestSent, HourlyStats, IntegrationHealth
from notifications.tasks import check_alerts, roll_up_hourly_stats
from tests.conftest import receive_call

pytestmark = pytest.mark.django_db

KEY = "sk-alert-never-mailed-5150"


class Inbox:
    """aiosmtpd's handler: every message the server accepted, as (recipients, message)."""

    def __init__(self) -> None:
        self.messages: list[tuple[list[str], EmailMessage]] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        message = email.message_from_bytes(envelope.content, policy=policy.default)
        self.messages.append((list(envelope.rcpt_tos), message))  # type: ignore[arg-type]
        return "250 OK"

    def to(self, address: str) -> list[EmailMessage]:
        return [message for recipients, message in self.messages if address in recipients]


class RefusingInbox(Inbox):
    """As Inbox, but refuses one recipient for good at RCPT, as a server does for an unknown mailbox."""

    def __init__(self, refused: str) -> None:
        super().__init__()
        self.refused = refused

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str, rcpt_options: Any) -> str:
        if address == self.refused:
            return "550 5.1.1 No such mailbox"
        envelope.rcpt_tos.append(address)
        return "250 OK"


def use_smtp(settings: Any, port: int) -> None:
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", port
    settings.EMAIL_HOST_USER = settings.EMAIL_HOST_PASSWORD = ""
    settings.EMAIL_USE_TLS = settings.EMAIL_USE_SSL = False
    settings.EMAIL_TIMEOUT = 5


def serving(inbox: Inbox, settings: Any) -> Iterator[Inbox]:
    server = Controller(inbox, hostname="127.0.0.1", port=processes.free_port())
    server.start()
    use_smtp(settings, server.port)
    try:
        yield inbox
    finally:
        server.stop()


@pytest.fixture
def smtp(settings) -> Iterator[Inbox]:
    yield from serving(Inbox(), settings)


@pytest.fixture
def refusing_smtp(settings) -> Iterator[RefusingInbox]:
    yield from serving(RefusingInbox("bad@example.com"), settings)  # type: ignore[misc]


def manager(account: Account, name: str) -> User:
    user = User.objects.create_user(username=name, email=f"{name}@example.com", is_staff=True)
    account.managers.add(user)
    return user


def subject(message: EmailMessage) -> str:
    return " ".join(str(message["Subject"]).split())  # unfolded


def body(message: EmailMessage) -> str:
    return message.get_body(preferencelist=("plain",)).get_content()  # type: ignore[union-attr]


def no_secrets(message: EmailMessage, account: Account) -> None:
    text = f"{subject(message)}\n{body(message)}"
    assert KEY not in text
    assert account.inbound_token not in text


@pytest.fixture
def watched(make_account, make_notification, settings):
    settings.DELIVERY_PAUSE_AFTER = 3
    settings.ALERT_DIGEST_HOUR = None
    settings.PUBLIC_BASE_URL = "https://portal.example.com"
    account = make_account(name="Acme", secret_key=KEY)
    make_notification(account)
    manager(account, "anna")
    other = make_account(name="Other")
    make_notification(other)
    manager(other, "boris")  # manages another account: told nothing about Acme
    return account


def send_due() -> None:
    """The worker's step, in this process: claim the due deliveries and send them to the stand-in."""
    delivery.deliver_due(queue=Delivery.Queue.FIRST_ATTEMPTS, limit=50)


def test_a_pause_is_told_once_and_the_recovery_too(watched, smtp, mindbox):
    account = watched
    check_alerts()  # the first check learns the states: both fine, nothing to tell
    assert smtp.messages == []

    mindbox.plan(*[Planned(status=401, payload={"status": "Unauthorized"})] * 3)
    for n in range(3):
        receive_call(account, f"refused-{n}")
    send_due()
    assert IntegrationHealth.objects.get(pk=account.mindbox.pk).paused_at is not None  # the real pause

    check_alerts()
    (told,) = smtp.to("anna@example.com")
    assert subject(told) == f"[UIS → Mindbox] Acme 1 ({account.uis_app_id}): Отправка приостановлена"
    assert "Mindbox" in body(told) and "401" in body(told)  # the pause's reason
    link = f"https://portal.example.com/admin/mindbox_integration/mindboxintegration/{account.mindbox.pk}/change/"
    assert link in body(told)
    no_secrets(told, account)
    assert smtp.to("boris@example.com") == []

    check_alerts()  # still paused: nothing new
    assert len(smtp.messages) == 1

    breaker.resume(integration_id=account.mindbox.pk, enqueue=lambda ids: None)
    check_alerts()
    assert len(smtp.messages) == 2
    recovered = smtp.to("anna@example.com")[1]
    assert "снова в порядке" in subject(recovered)
    assert "было: Отправка приостановлена" in body(recovered)
    no_secrets(recovered, account)
    check_alerts()
    assert len(smtp.messages) == 2
    assert AlertState.objects.get(pk=account.mindbox.pk).state == "ok"


def test_a_failure_spike_reaches_the_managers(watched, smtp, mindbox, settings):
    settings.TROUBLE_FAILURES_24H = 3
    account = watched
    mindbox.plan(*[Planned(status=503, payload={"status": "InternalServerError"})] * 3)
    for n in range(3):
        receive_call(account, f"down-{n}")
    send_due()
    check_alerts()
    assert smtp.messages == []  # failures are read from the hourly roll-up, which has not run yet
    roll_up_hourly_stats()
    check_alerts()
    (told,) = smtp.messages
    assert told[0] == ["anna@example.com"]
    assert subject(told[1]).endswith("Много ошибок")
    assert "Неуспешных запросов в Mindbox за 24 ч: 3" in body(told[1])
    no_secrets(told[1], account)
    check_alerts()
    assert len(smtp.messages) == 1


def test_failing_hovering_at_the_threshold_is_not_told_on_every_flip(smtp, make_account, settings):
    """Failures age out of the 24 hours one hour at a time: once told failing, the integration is
    fine again only under half TROUBLE_FAILURES_24H, not as soon as it dips under it."""
    settings.TROUBLE_FAILURES_24H = 4
    settings.ALERT_DIGEST_HOUR = None
    account = make_account(name="Acme")
    manager(account, "anna")
    now = timezone.now()
    start = hourly.floor_hour(now)
    for hours_ago, retried in ((23, 1), (22, 1), (0, 2)):  # as the roll-up writes them
        HourlyStats.objects.create(
            integration=account.mindbox, hour=start - timedelta(hours=hours_ago), retried=retried, rolled_at=now
        )
    alerts.check(now=now)  # 4 failures: failing
    assert [subject(message).endswith("Много ошибок") for _, message in smtp.messages] == [True]
    alerts.check(now=now + timedelta(hours=1))  # 3: under the threshold, not under half of it
    alerts.check(now=now + timedelta(hours=2))  # 2: half is not under half
    assert len(smtp.messages) == 1
    assert AlertState.objects.get(pk=account.mindbox.pk).state == "failing"
    alerts.check(now=now + timedelta(hours=24))  # 0: back to normal, told once
    assert len(smtp.messages) == 2 and "снова в порядке" in subject(smtp.messages[1][1])


def test_a_mail_that_could_not_be_sent_is_sent_by_the_next_check(watched, settings, make_account):
    account = watched
    IntegrationHealth.objects.create(integration=account.mindbox, paused_at=timezone.now(), pause_reason="x")
    use_smtp(settings, processes.free_port())  # nothing listens there
    check_alerts()  # logged, not raised; the state stays untold
    assert not AlertState.objects.filter(pk=account.mindbox.pk, state="paused").exists()
    inbox = Inbox()
    server = Controller(inbox, hostname="127.0.0.1", port=processes.free_port())
    server.start()
    try:
        use_smtp(settings, server.port)
        check_alerts()
    finally:
        server.stop()
    assert [recipients for recipients, _ in inbox.messages] == [["anna@example.com"]]


# Sorted by address, the refused and the unwritable ones come between those that are sent.
MANY_MANAGERS = ("anna", "bad", "carl", "dora")
UNWRITABLE = f"dora@{'x' * 70}.example.com"  # a domain label too long for IDNA: Django cannot encode it


def many_managers(account: Account) -> None:
    for name in MANY_MANAGERS:
        user = manager(account, name)
        if name == "dora":
            User.objects.filter(pk=user.pk).update(email=UNWRITABLE)


def test_a_refused_address_keeps_nobody_else_from_one_mail_per_change(refusing_smtp, make_account, settings, caplog):
    settings.ALERT_DIGEST_HOUR = None
    account = make_account(name="Acme")
    many_managers(account)
    IntegrationHealth.objects.create(integration=account.mindbox, paused_at=timezone.now(), pause_reason="refused")
    check_alerts()
    check_alerts()  # still paused: the change was told, whatever one address said
    assert [recipients for recipients, _ in refusing_smtp.messages] == [["anna@example.com"], ["carl@example.com"]]
    assert AlertState.objects.get(pk=account.mindbox.pk).state == "paused"
    refusals = [r.getMessage() for r in caplog.records if "refused for good" in r.getMessage()]
    assert any("550 5.1.1" in line for line in refusals)
    assert any("UnicodeError" in line for line in refusals)


def test_a_refused_address_keeps_nobody_else_from_one_digest_a_day(refusing_smtp, make_account, settings):
    settings.ALERT_DIGEST_HOUR = 0
    settings.ALERT_CHANGE_MAILS = False
    account = make_account(name="Acme")
    many_managers(account)
    IntegrationHealth.objects.create(integration=account.mindbox, paused_at=timezone.now(), pause_reason="refused")
    check_alerts()
    check_alerts()
    assert [recipients for recipients, _ in refusing_smtp.messages] == [["anna@example.com"], ["carl@example.com"]]
    assert DigestSent.objects.filter(day=timezone.localdate()).exists()


def test_a_digest_whose_making_fails_is_made_by_the_next_check(smtp, make_account, settings):
    settings.ALERT_DIGEST_HOUR = 0
    settings.ALERT_CHANGE_MAILS = False
    account = make_account(name="Acme")
    manager(account, "anna")
    IntegrationHealth.objects.create(integration=account.mindbox, paused_at=timezone.now(), pause_reason="refused")
    settings.TROUBLE_BACKLOG_MINUTES = "not a number"  # reading the facts raises after the day is claimed
    assert alerts.send_digest(now=timezone.now()) == 0  # logged, not raised
    assert smtp.messages == [] and not DigestSent.objects.exists()
    settings.TROUBLE_BACKLOG_MINUTES = 10
    check_alerts()
    assert [recipients for recipients, _ in smtp.messages] == [["anna@example.com"]]


def test_only_managers_who_may_log_in_are_mailed(smtp, make_account, settings):
    settings.ALERT_DIGEST_HOUR = None
    account = make_account(name="Acme")
    manager(account, "anna")
    left = manager(account, "boris")
    left.is_active = False
    left.save()
    no_admin = manager(account, "carl")
    no_admin.is_staff = False  # kept on the account, but the admin turns them away
    no_admin.save()
    IntegrationHealth.objects.create(integration=account.mindbox, paused_at=timezone.now(), pause_reason="refused")
    check_alerts()
    assert [recipients for recipients, _ in smtp.messages] == [["anna@example.com"]]


def test_the_daily_digest_goes_once_a_day_to_each_manager_of_accounts_in_trouble(smtp, make_account, settings):
    settings.ALERT_DIGEST_HOUR = 0  # due from midnight: now
    settings.ALERT_CHANGE_MAILS = False  # the digest alone
    first, second, calm = (make_account(name=name) for name in ("First", "Second", "Calm"))
    anna = manager(first, "anna")
    second.managers.add(anna)
    manager(calm, "boris")
    for account in (first, second):
        IntegrationHealth.objects.create(integration=account.mindbox, paused_at=timezone.now(), pause_reason="refused")
    check_alerts()
    (digest,) = smtp.messages
    assert digest[0] == ["anna@example.com"]
    assert subject(digest[1]) == "[UIS → Mindbox] Требуют внимания интеграций: 2"
    assert "First 1" in body(digest[1]) and "Second 2" in body(digest[1])
    check_alerts()
    assert len(smtp.messages) == 1  # once a day, and no change mails


def test_beat_runs_the_check_on_the_maintenance_queue():
    entry = django_settings.CELERY_BEAT_SCHEDULE["check-alerts"]
    assert entry["task"] == "notifications.tasks.check_alerts"
    assert entry["schedule"] == django_settings.ALERT_CHECK_INTERVAL
    assert entry["options"] == {"expires": django_settings.ALERT_CHECK_INTERVAL}  # no pile-up after an outage
    assert django_settings.CELERY_TASK_ROUTES["notifications.tasks.check_alerts"] == {"queue": "maintenance"}


def test_a_5xx_to_the_sender_or_to_the_data_is_refused_for_good_and_a_4xx_is_not():
    import smtplib

    assert alerts._refused_for_good(smtplib.SMTPDataError(554, b"message rejected"))
    assert alerts._refused_for_good(smtplib.SMTPSenderRefused(550, b"no such sender", "portal@localhost"))
    assert not alerts._refused_for_good(smtplib.SMTPDataError(451, b"try again later"))
    assert not alerts._refused_for_good(smtplib.SMTPServerDisconnected("gone"))
