"""The codes a delivery error is stored under, beside its English text: the admin says an error
in its own language by its code and parameters (notifications.error_text), so rewording the
English text changes nothing it shows. A code is stored: never rename one, add new ones.

Parameters are what the message needs (an HTTP status, a host, an exception's type name,
Mindbox's own words); never a secret key, token or header. Follow-ups the worker adds to a
cause are parameters too (FOLLOW_UPS)."""

import enum


class ErrorCode(enum.StrEnum):
    # Mindbox's answers (outcome.classify)
    ALREADY_PROCESSED = "already_processed"  # status: delivered, a repeat after a lost answer
    HTTP_STATUS = "http_status"  # status: a temporary HTTP code (408, 5xx)
    RATE_LIMITED = "rate_limited"  # status: 429
    VALIDATION_ERROR = "validation_error"  # details: Mindbox's messages
    PROTOCOL_ERROR = "protocol_error"  # message: Mindbox's errorMessage
    MINDBOX_STATUS = "mindbox_status"  # mindbox_status: a status Mindbox's documentation does not list
    NOT_MINDBOX_JSON = "not_mindbox_json"  # status, content_type
    UNTYPED_ANSWER = "untyped_answer"  # status: not JSON and no Content-Type
    EMPTY_ANSWER = "empty_answer"  # status
    REDIRECT = "redirect"  # status
    KEY_REFUSED = "key_refused"  # status: 401
    ENDPOINT_NOT_ALLOWED = "endpoint_not_allowed"  # status: 403
    NOT_FOUND = "not_found"  # status: 404
    REQUEST_REFUSED = "request_refused"  # status: another 4xx
    # The outbound guard (guard.Refused, guard.Unresolved): no request was made
    UNREADABLE_URL = "unreadable_url"  # detail
    SCHEME_REFUSED = "scheme_refused"  # scheme ("" when the URL has none)
    NO_HOST = "no_host"
    REFUSED_HOST = "refused_host"  # host
    PRIVATE_ADDRESS = "private_address"  # host, address, kind
    NETWORK_SETTING = "network_setting"  # setting, entry: the setting lists something that is no network
    UNRESOLVED = "unresolved"  # host
    # The transport
    TIMEOUT = "timeout"
    CONNECTION_BROKE = "connection_broke"  # exception: its type's name
    CONNECTION_FAILED = "connection_failed"  # detail: the OS's words
    UNSENDABLE = "unsendable"  # exception
    UNEXPECTED = "unexpected"  # exception
    # The delivery step
    INTERRUPTED = "interrupted"
    WORKER_STOPPED = "worker_stopped"  # count
    NOTIFICATION_DELETED = "notification_deleted"
    RENDER_FAILED = "render_failed"  # detail: what to fix in the template
    KEY_UNAVAILABLE = "key_unavailable"
    ANSWERED_LATE = "answered_late"  # an answer with no error came after the claim expired


# Parameters that add a part after the cause's message, in this order.
SAID_PROTOCOL_ERROR = "said_protocol_error"  # Mindbox's errorMessage beside a temporary HTTP code
SAID_STATUS = "said_status"  # an unlisted Mindbox status beside a temporary HTTP code
GAVE_UP_AFTER = "gave_up_after"  # attempts made: no more will be
LATE = "late"  # the answer came after the claim expired: history only
FOLLOW_UPS = (SAID_PROTOCOL_ERROR, SAID_STATUS, GAVE_UP_AFTER, LATE)
