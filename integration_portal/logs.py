"""Log lines: a request id that follows an event into its deliveries and attempts, phone
numbers and e-mails masked, as JSON lines (production) or plain text (development)."""

import contextvars
import logging
import re
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from django.http import HttpRequest, HttpResponse
from pythonjsonlogger.json import JsonFormatter as _JsonFormatter

request_id: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="")

_INCOMING_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
_META_KEY = "portal.request_id"  # Django logs 4xx/5xx after the middleware has unbound the id
_EMAIL = re.compile(r"\b([A-Za-z0-9._%+-])[A-Za-z0-9._%+-]*@([A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+)")
# A phone: 10 to 15 digits, maybe with +, spaces, dashes, dots or brackets between them.
_PHONE_LIKE = re.compile(r"(?<![\w-])\+?\d[\d ().-]{8,22}\d(?![\w-])")
# `token=` however its name is spelled in a URL: each letter itself or percent-encoded (%74oken=).
_TOKEN_NAME = "".join(f"(?:{c}|%{ord(c):02x}|%{ord(c.upper()):02x})" for c in "token")
_TOKEN_QUERY = re.compile(rf"({_TOKEN_NAME}=)[^&\s\"'>]+", re.IGNORECASE)


def _phone(match: re.Match[str]) -> str:
    digits = re.sub(r"\D", "", match.group(0))
    return f"***{digits[-2:]}" if 10 <= len(digits) <= 15 else match.group(0)


def mask(text: str) -> str:
    """Personal data and tokens out of a log line: `anna@example.com` -> `a***@example.com`,
    `+7 916 123-45-67` -> `***67`, `?token=abc` -> `?token=***`."""
    text = _TOKEN_QUERY.sub(r"\1***", text)
    return _PHONE_LIKE.sub(_phone, _EMAIL.sub(r"\1***@\2", text))


@contextmanager
def bound(value: str) -> Iterator[None]:
    """Log lines written inside carry this request id."""
    token = request_id.set(value)
    try:
        yield
    finally:
        request_id.reset(token)


class ContextFilter(logging.Filter):
    """Adds the request id, and masks the message and any traceback before a formatter sees
    them (masking the formatted JSON would miss escaped text and could break the JSON)."""

    def filter(self, record: logging.LogRecord) -> bool:
        request = getattr(record, "request", None)
        if request is not None:
            # Django's request logger attaches the request, whose repr holds the query string
            # (the inbound token): keep its id and drop the rest.
            if not getattr(record, "request_id", None):
                record.request_id = getattr(request, "META", {}).get(_META_KEY, "")
            del record.request  # type: ignore[attr-defined]  # set by Django's request logger
        if not getattr(record, "request_id", None):
            record.request_id = request_id.get() or "-"
        record.msg = mask(record.getMessage())
        record.args = None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = mask(record.exc_text)
        return True


class JsonFormatter(_JsonFormatter):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("fmt", "%(asctime)s %(levelname)s %(name)s %(request_id)s %(message)s")
        kwargs.setdefault("rename_fields", {"asctime": "time", "levelname": "level", "name": "logger"})
        super().__init__(*args, **kwargs)


class RequestIdMiddleware:
    """Takes the caller's X-Request-ID (when it is a sane token) or makes one, binds it for the
    request's log lines and answers it back."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        # From META: request.headers would build a mapping of every header first, on every request.
        incoming = request.META.get("HTTP_X_REQUEST_ID", "")
        value = incoming if _INCOMING_ID.match(incoming) else uuid.uuid4().hex
        request.META[_META_KEY] = value
        with bound(value):
            response = self.get_response(request)
        response["X-Request-ID"] = value
        return response
