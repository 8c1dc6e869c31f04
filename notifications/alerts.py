"""Managers told by e-mail: when an integration pauses, when its failures spike, and when it
recovers, once per change; and, with ALERT_DIGEST_HOUR set, a daily digest of their accounts'
trouble. Beat runs `check` every ALERT_CHECK_INTERVAL seconds (notifications.tasks.check_alerts).

Trouble is what the overview shows (notifications.attention, notifications.trouble). The state
last told is kept per integration (AlertState) and moved by a compare-and-set before a mail goes,
so overlapping runs send once. Each mail goes on its own: an address the server refuses for good
is logged and skipped, the others still go; only when none went out for a passing reason (the
server down, the connection dropped) is the state put back, for the next run to try again, so
nobody is mailed the same change twice. Mails name the account and say what is wrong and where
to act, never a key or a token: a pause's reason is the portal's own text."""

import contextlib
import logging
import smtplib
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.core import mail
from django.core.mail.backends.base import BaseEmailBackend
from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import gettext

from mindbox_integration.models import Account, MindboxIntegration
from notifications import attention
from notifications.models import AlertState, DigestSent
from notifications.trouble import ALERT_KINDS, OK, Facts, Kind, Limits, Trouble, alert_state, troubles
from notifications.trouble_words import KIND_LABELS, describe

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Change:
    facts: Facts
    found: list[Trouble]
    before: str | None  # None: never recorded
    after: str

    @property
    def mailed(self) -> bool:
        """Into a mailed trouble, or out of one to ok; switching off or on is the manager's own doing."""
        return self.after in ALERT_KINDS or (self.after == OK and self.before in ALERT_KINDS)


@dataclass(frozen=True)
class Told:
    changes: int  # integrations whose state changed
    mails: int  # messages sent (one per manager and change)


def check(*, now: datetime) -> Told:
    """Every integration's state against the one last told; a mail to its account's managers for
    each change that is mailed (see Change.mailed)."""
    limits = attention.limits()
    told = dict(AlertState.objects.values_list("integration_id", "state"))
    changes: list[Change] = []
    for facts in attention.integration_facts(integrations=MindboxIntegration.objects.all(), now=now, limits=limits):
        found = troubles(facts, limits, now)
        after = alert_state(facts, found)
        if told.get(facts.integration_id) != after:
            changes.append(Change(facts, found, told.get(facts.integration_id), after))
    if not changes:
        return Told(changes=0, mails=0)
    addresses = managers_addresses(account_ids=[change.facts.account_id for change in changes if change.mailed])
    mails = 0
    for change in changes:
        if not _claim(change, now):
            continue  # another run took it
        if not change.mailed or not settings.ALERT_CHANGE_MAILS:
            continue
        about = f"account {change.facts.account_id} ({change.after})"
        try:
            sent = send_each(
                [_change_mail(change, limits, to) for to in addresses.get(change.facts.account_id, [])], about=about
            )
        except Exception:
            sent = Sent(failed=1)
            log.exception("could not mail the managers of %s", about)
        mails += sent.sent
        if sent.try_again:
            _unclaim(change)
            log.warning("no mail about %s went out; the next check tries again", about)
    return Told(changes=len(changes), mails=mails)


@dataclass
class Sent:
    sent: int = 0
    refused: int = 0  # refused for good (a 5xx for the address, an address that cannot be written)
    failed: int = 0  # not sent for a passing reason

    @property
    def try_again(self) -> bool:
        """Nothing went out, and something might later: a check that tries again mails nobody twice."""
        return self.sent == 0 and self.failed > 0


def send_each(messages: list[mail.EmailMessage], *, about: str) -> Sent:
    """Each message on its own, over one connection (opened again after one dropped), so one
    refused address does not keep the rest from going or make them go twice. Logs what was not
    sent: the addresses and the server's code, no message and no credentials."""
    done = Sent()
    if not messages:
        return done
    connection = mail.get_connection()
    try:
        for index, message in enumerate(messages):
            to = ", ".join(message.to)
            try:
                connection.open()  # no-op while open
            except Exception as error:
                done.failed += len(messages) - index
                log.warning("could not reach the mail server for %s: %s", about, _reason(error))
                break
            try:
                done.sent += connection.send_messages([message]) or 0
            except Exception as error:
                if _refused_for_good(error):
                    done.refused += 1
                    log.warning("the mail to %s about %s was refused for good: %s", to, about, _reason(error))
                else:
                    done.failed += 1
                    log.warning("could not send the mail to %s about %s: %s", to, about, _reason(error))
                    _close(connection)  # a dropped connection is opened anew for the next message
    finally:
        _close(connection)
    return done


def _refused_for_good(error: Exception) -> bool:
    """A permanent refusal of this message: the server's 5xx for every recipient, for the sender
    or for the data, or an address that cannot be written into the envelope (ValueError,
    UnicodeError)."""
    if isinstance(error, smtplib.SMTPRecipientsRefused):
        return all(500 <= code < 600 for code, _reply in error.recipients.values())
    # A 5xx to the sender or to the message itself: sending it again changes nothing.
    if isinstance(error, smtplib.SMTPSenderRefused | smtplib.SMTPDataError):
        return 500 <= error.smtp_code < 600
    return isinstance(error, ValueError)


def _reason(error: Exception) -> str:
    if isinstance(error, smtplib.SMTPRecipientsRefused):
        return "; ".join(f"{code} {_text(reply)}" for code, reply in error.recipients.values())
    if isinstance(error, smtplib.SMTPResponseException):
        return f"{error.smtp_code} {_text(error.smtp_error)}"
    return type(error).__name__


def _text(reply: bytes | str) -> str:
    return (reply.decode(errors="replace") if isinstance(reply, bytes) else reply)[:200]


def _close(connection: BaseEmailBackend) -> None:
    with contextlib.suppress(Exception):  # gone already: the next open starts afresh
        connection.close()


def _claim(change: Change, now: datetime) -> bool:
    if change.before is None:
        try:
            with transaction.atomic():
                AlertState.objects.create(
                    integration_id=change.facts.integration_id, state=change.after, changed_at=now
                )
        except IntegrityError:
            return False
        return True
    return bool(
        AlertState.objects.filter(pk=change.facts.integration_id, state=change.before).update(
            state=change.after, changed_at=now
        )
    )


def _unclaim(change: Change) -> None:
    state = AlertState.objects.filter(pk=change.facts.integration_id, state=change.after)
    if change.before is None:
        state.delete()
    else:
        state.update(state=change.before)


def managers_addresses(*, account_ids: list[int]) -> dict[int, list[str]]:
    """The e-mail addresses of each account's managers who may log in to the portal (active and
    staff: a user the admin would turn away is not sent there). Superusers are not managers by
    being superusers: they see every account, and are told of those they manage."""
    if not account_ids:
        return {}
    rows = (
        Account.managers.through.objects.filter(account_id__in=account_ids, user__is_active=True, user__is_staff=True)
        .exclude(user__email="")
        .order_by("account_id", "user__email")
        .values_list("account_id", "user__email")
    )
    found: dict[int, list[str]] = defaultdict(list)
    for account_id, address in rows:
        found[account_id].append(address)
    return dict(found)


def _integration_link(facts: Facts) -> str:
    """The integration's page: absolute with PUBLIC_BASE_URL, else the path on the portal."""
    path = reverse("admin:mindbox_integration_mindboxintegration_change", args=[facts.integration_id])
    return f"{settings.PUBLIC_BASE_URL.rstrip('/')}{path}"


def _change_mail(change: Change, limits: Limits, to: str) -> mail.EmailMessage:
    with translation.override(settings.LANGUAGE_CODE):
        account = f"{change.facts.account_name} ({change.facts.uis_app_id})"
        if change.after == OK:
            subject = gettext("%(account)s: sending to Mindbox is back to normal") % {"account": account}
            lines = [
                gettext("The integration of %(account)s is back to normal (it was: %(before)s).")
                % {"account": account, "before": KIND_LABELS[Kind(str(change.before))]}
            ]
        else:
            subject = f"{account}: {KIND_LABELS[Kind(change.after)]}"
            lines = [describe(trouble, limits) for trouble in change.found]
        body = "\n\n".join(
            [
                *lines,
                gettext("The integration's page: %(url)s") % {"url": _integration_link(change.facts)},
                gettext("You get this because you manage the account in the UIS → Mindbox portal."),
            ]
        )
        return mail.EmailMessage(subject=f"[UIS → Mindbox] {subject}", body=body, to=[to])


def send_digest(*, now: datetime) -> int:
    """From ALERT_DIGEST_HOUR (local time) on, once a day: one mail to each manager whose
    accounts are in trouble, listing them all (every kind, not only the mailed ones)."""
    if settings.ALERT_DIGEST_HOUR is None:
        return 0
    local = timezone.localtime(now)
    if local.hour < settings.ALERT_DIGEST_HOUR or DigestSent.objects.filter(day=local.date()).exists():
        return 0
    try:
        with transaction.atomic():
            DigestSent.objects.create(day=local.date(), sent_at=now)
    except IntegrityError:
        return 0  # another run sends it
    day = local.date()
    try:
        limits = attention.limits()
        rows = [
            (facts, found)
            for facts in attention.integration_facts(
                integrations=MindboxIntegration.objects.all(), now=now, limits=limits
            )
            if (found := troubles(facts, limits, now))
        ]
        addresses = managers_addresses(account_ids=[facts.account_id for facts, _ in rows])
        per_manager: dict[str, list[tuple[Facts, list[Trouble]]]] = defaultdict(list)
        for facts, found in rows:
            for address in addresses.get(facts.account_id, []):
                per_manager[address].append((facts, found))
        messages = [_digest_mail(address, listed, limits) for address, listed in sorted(per_manager.items())]
        sent = send_each(messages, about=f"the digest of {day}")
    except Exception:
        sent = Sent(failed=1)
        log.exception("could not send the daily digest")
    if sent.try_again:
        # The day's claim is given back: the next check sends the digest.
        DigestSent.objects.filter(day=day).delete()
        log.warning("the daily digest did not go out; the next check tries again")
    return sent.sent


def _digest_mail(to: str, listed: list[tuple[Facts, list[Trouble]]], limits: Limits) -> mail.EmailMessage:
    with translation.override(settings.LANGUAGE_CODE):
        parts = [
            "\n".join(
                [
                    f"{facts.account_name} ({facts.uis_app_id}): {_integration_link(facts)}",
                    *(f"- {describe(trouble, limits)}" for trouble in found),
                ]
            )
            for facts, found in listed
        ]
        subject = gettext("Needs attention: %(count)d integrations") % {"count": len(listed)}
        footer = gettext("You get this because you manage these accounts in the UIS → Mindbox portal.")
        return mail.EmailMessage(subject=f"[UIS → Mindbox] {subject}", body="\n\n".join([*parts, footer]), to=[to])
