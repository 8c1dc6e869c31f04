"""Delivery errors as a manager reads them. The worker stores each error twice: in English (for
logs and search, as the Mindbox client, the outbound guard and the delivery step write it) and as
a code with parameters (mindbox_integration.mindbox.error_codes). The admin says it in its own
language by the code alone, so rewording the English text changes nothing a manager reads.

Rows stored before errors had codes carry none: they are shown as stored, in English, until
retention removes them. No text is parsed back into a message."""

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop

from mindbox_integration.mindbox.error_codes import (
    GAVE_UP_AFTER,
    LATE,
    SAID_PROTOCOL_ERROR,
    SAID_STATUS,
    ErrorCode,
)


@dataclass(frozen=True)
class StoredError:
    """An error as a delivery or an attempt stores it."""

    text: str = ""  # English
    code: str = ""  # "" on rows stored before codes
    params: Mapping[str, Any] = field(default_factory=dict)

    def __bool__(self) -> bool:
        return bool(self.text or self.code)

    def __str__(self) -> str:
        return for_people(self)


# Each code's message parts, joined by "; ": the cause first, then what to fix. Placeholders are
# the code's parameters (error_codes.py).
MESSAGES: dict[ErrorCode, tuple[str, ...]] = {
    ErrorCode.ALREADY_PROCESSED: (
        gettext_noop("delivered: Mindbox already had this transaction (HTTP %(status)s), a repeat after a lost answer"),
    ),
    ErrorCode.HTTP_STATUS: (gettext_noop("Mindbox answered HTTP %(status)s"),),
    ErrorCode.RATE_LIMITED: (gettext_noop("Mindbox answered HTTP %(status)s: too many requests, will retry later"),),
    ErrorCode.VALIDATION_ERROR: (gettext_noop("Mindbox refused the data: %(details)s"),),
    ErrorCode.PROTOCOL_ERROR: (gettext_noop("Mindbox refused the request (ProtocolError): %(message)s"),),
    ErrorCode.MINDBOX_STATUS: (gettext_noop("Mindbox answered an unknown status %(mindbox_status)s"),),
    ErrorCode.NOT_MINDBOX_JSON: (
        gettext_noop("the answer is not Mindbox's (HTTP %(status)s, %(content_type)s): a proxy's page? will retry"),
    ),
    ErrorCode.UNTYPED_ANSWER: (
        gettext_noop("the answer is not Mindbox's (HTTP %(status)s, no Content-Type): a proxy's page? will retry"),
    ),
    ErrorCode.EMPTY_ANSWER: (gettext_noop("the answer is empty (HTTP %(status)s), not Mindbox's: will retry"),),
    ErrorCode.REDIRECT: (
        gettext_noop("Mindbox answered with a redirect (HTTP %(status)s)"),
        gettext_noop("check the URL"),
    ),
    ErrorCode.KEY_REFUSED: (gettext_noop("Mindbox answered HTTP %(status)s: the secret key is wrong or missing"),),
    ErrorCode.ENDPOINT_NOT_ALLOWED: (
        gettext_noop("Mindbox answered HTTP %(status)s: the integration point is not allowed"),
    ),
    ErrorCode.NOT_FOUND: (gettext_noop("Mindbox answered HTTP %(status)s: wrong path or endpointId"),),
    ErrorCode.REQUEST_REFUSED: (gettext_noop("Mindbox answered HTTP %(status)s: the request is refused"),),
    ErrorCode.UNREADABLE_URL: (
        gettext_noop("not sent: the URL cannot be read (%(detail)s)"),
        gettext_noop("paste the operation's URL from Mindbox again"),
    ),
    ErrorCode.SCHEME_REFUSED: (
        gettext_noop("not sent: the URL must start with https://"),
        gettext_noop("plain http is allowed only when MINDBOX_REQUIRE_HTTPS is off"),
    ),
    ErrorCode.NO_HOST: (gettext_noop("not sent: the URL has no host; paste the whole URL, starting with https://"),),
    ErrorCode.REFUSED_HOST: (
        gettext_noop("not sent: %(host)s is not among the Mindbox hosts the portal allows"),
        gettext_noop("the portal's administrator sets them (MINDBOX_ALLOWED_HOSTS)"),
    ),
    ErrorCode.PRIVATE_ADDRESS: (
        gettext_noop("not sent: %(host)s resolves to %(address)s, which is not a public address"),
        gettext_noop("the portal's administrator may allow it (MINDBOX_ALLOW_PRIVATE_NETWORKS)"),
    ),
    ErrorCode.NETWORK_SETTING: (
        gettext_noop("not sent: %(setting)s lists %(entry)s, which is not an address or network"),
        gettext_noop("the portal's administrator corrects the setting"),
    ),
    ErrorCode.UNRESOLVED: (gettext_noop("no connection: the address of %(host)s cannot be found"),),
    ErrorCode.TIMEOUT: (gettext_noop("Mindbox did not answer in time"),),
    ErrorCode.CONNECTION_BROKE: (gettext_noop("the connection broke while the answer was read (%(exception)s)"),),
    ErrorCode.CONNECTION_FAILED: (gettext_noop("no connection to Mindbox: %(detail)s"),),
    ErrorCode.UNSENDABLE: (gettext_noop("the request could not be sent (%(exception)s)"),),
    ErrorCode.UNEXPECTED: (gettext_noop("unexpected error (%(exception)s)"),),
    ErrorCode.INTERRUPTED: (gettext_noop("the worker stopped before Mindbox's answer was recorded"),),
    ErrorCode.WORKER_STOPPED: (gettext_noop("no more attempts: the worker stopped %(count)s times while sending it"),),
    ErrorCode.NOTIFICATION_DELETED: (gettext_noop("its notification was deleted before it could be sent"),),
    ErrorCode.RENDER_FAILED: (gettext_noop("the request cannot be made from the event: %(detail)s"),),
    ErrorCode.KEY_UNAVAILABLE: (
        gettext_noop(
            "the secret key cannot be decrypted: FIELD_ENCRYPTION_KEY does not list the key it was encrypted with"
        ),
    ),
    ErrorCode.ANSWERED_LATE: (gettext_noop("the answer came too late to be applied (the delivery was taken over)"),),
}

# Parts a parameter adds after the cause's (error_codes.FOLLOW_UPS), with the placeholder it fills.
FOLLOW_UPS: tuple[tuple[str, str, str], ...] = (
    (SAID_PROTOCOL_ERROR, gettext_noop("Mindbox refused the request (ProtocolError): %(message)s"), "message"),
    (SAID_STATUS, gettext_noop("Mindbox answered an unknown status %(mindbox_status)s"), "mindbox_status"),
    (GAVE_UP_AFTER, gettext_noop("no more attempts after %(count)s"), "count"),
    (LATE, gettext_noop("the answer came too late to be applied (the delivery was taken over)"), ""),
)


def by_code(code: str, params: Mapping[str, Any]) -> str | None:
    """The message of a code in the active language; None for a code this version does not know
    or parameters that do not fit it."""
    try:
        messages = MESSAGES[ErrorCode(code)]
        parts = [_(message) % params for message in messages]
        for key, message, placeholder in FOLLOW_UPS:
            if key in params:
                parts.append(_(message) % ({placeholder: params[key]} if placeholder else {}))
    except (ValueError, KeyError, TypeError):
        return None
    return "; ".join(parts)


def for_people(error: StoredError | str) -> str:
    """A stored error in the admin's language: by its code; a row without one (stored before
    errors had codes) as it was stored."""
    if isinstance(error, str):
        return error
    if error.code:
        said = by_code(error.code, error.params)
        if said is not None:
            return said
    return error.text
