"""Delivery errors as a manager reads them. The worker stores and logs them in English, as the
Mindbox client, the outbound guard and the delivery step write them (one language for logs and
search); the admin shows them in its own language. An error is parts joined by "; " (the
cause, what to fix, what the worker did); each part the table knows is said again, the rest
(Mindbox's own messages, exception names) is kept as it is."""

import re

from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop

# Checked in order: the first pattern that matches a whole part says it.
_PARTS: list[tuple[re.Pattern[str], str]] = [
    (re.compile(p), m)
    for p, m in [
        (r"Mindbox ValidationError: (?P<rest>.*)", gettext_noop("Mindbox refused the data: %(rest)s")),
        (r"Mindbox ProtocolError: (?P<rest>.*)", gettext_noop("Mindbox refused the request (ProtocolError): %(rest)s")),
        (r"Mindbox answered HTTP (?P<status>\d+)", gettext_noop("Mindbox answered HTTP %(status)s")),
        (
            r"Mindbox answered HTTP (?P<status>\d+): the secret key is wrong or missing",
            gettext_noop("Mindbox answered HTTP %(status)s: the secret key is wrong or missing"),
        ),
        (
            r"Mindbox answered HTTP (?P<status>\d+): the endpoint is not allowed",
            gettext_noop("Mindbox answered HTTP %(status)s: the integration point is not allowed"),
        ),
        (
            r"Mindbox answered HTTP (?P<status>\d+): wrong path or endpoint id",
            gettext_noop("Mindbox answered HTTP %(status)s: wrong path or endpointId"),
        ),
        (
            r"Mindbox answered HTTP (?P<status>\d+): request refused",
            gettext_noop("Mindbox answered HTTP %(status)s: the request is refused"),
        ),
        (
            r"Mindbox answered a redirect \(HTTP (?P<status>\d+)\)",
            gettext_noop("Mindbox answered with a redirect (HTTP %(status)s)"),
        ),
        (
            r"Mindbox already had this transaction \(HTTP (?P<status>\d+)\)",
            gettext_noop(
                "delivered: Mindbox already had this transaction (HTTP %(status)s), a repeat after a lost answer"
            ),
        ),
        (
            r"the answer is not Mindbox's JSON \(HTTP (?P<status>\d+), (?P<kind>.*)\)",
            gettext_noop("the answer is not Mindbox's (HTTP %(status)s, %(kind)s): a proxy's page? will retry"),
        ),
        (r"check the URL", gettext_noop("check the URL")),
        (r"unexpected Mindbox status (?P<rest>.*)", gettext_noop("Mindbox answered an unknown status %(rest)s")),
        (
            r"refused: host (?P<host>\S+) is not an allowed Mindbox host",
            gettext_noop("not sent: %(host)s is not among the Mindbox hosts the portal allows"),
        ),
        (
            r"allowed hosts are set by MINDBOX_ALLOWED_HOSTS.*",
            gettext_noop("the portal's administrator sets them (MINDBOX_ALLOWED_HOSTS)"),
        ),
        (r"refused: (?P<rest>.*)", gettext_noop("not sent: %(rest)s")),
        (
            r"connection error: cannot resolve host (?P<host>\S+): .*",
            gettext_noop("no connection: the address of %(host)s cannot be found"),
        ),
        (r"connection error: (?P<rest>.*)", gettext_noop("no connection to Mindbox: %(rest)s")),
        (r"timed out waiting for Mindbox", gettext_noop("Mindbox did not answer in time")),
        (
            r"connection broke while reading the answer: (?P<rest>.*)",
            gettext_noop("the connection broke while the answer was read (%(rest)s)"),
        ),
        (r"the request could not be sent: (?P<rest>.*)", gettext_noop("the request could not be sent (%(rest)s)")),
        (r"unexpected error: (?P<rest>.*)", gettext_noop("unexpected error (%(rest)s)")),
        (
            r"the worker stopped before Mindbox's answer was recorded",
            gettext_noop("the worker stopped before Mindbox's answer was recorded"),
        ),
        (r"gave up after (?P<count>\d+) attempts", gettext_noop("no more attempts after %(count)s")),
        (
            r"answered after the claim expired, not applied",
            gettext_noop("the answer came too late to be applied (the delivery was taken over)"),
        ),
        (
            r"its notification was deleted before it could be sent",
            gettext_noop("its notification was deleted before it could be sent"),
        ),
        (r"cannot render: (?P<rest>.*)", gettext_noop("the request cannot be made from the event: %(rest)s")),
    ]
]


def _part(text: str) -> str:
    for pattern, message in _PARTS:
        match = pattern.fullmatch(text)
        if match:
            return _(message) % match.groupdict()
    return text


def for_people(error: str) -> str:
    """The stored error in the admin's language, as far as the table knows it."""
    return "; ".join(_part(part) for part in error.split("; ")) if error else ""
