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
_EMAIL = re.compile(r"\b([A-Za-z0-9._%+-])[A-Za-z0-9._%+-]*@([A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+)")
# 10 to 15 digits, a leading + allowed; not part of a longer word, id or UUID.
_PHONE = re.compile(r"(?<![\w-])\+?\d{8,13}(\d{2})(?![\w-])")


def mask(text: str) -> str:
    """Personal data out of a log line: `anna@example.com` -> `a***@example.com`,
    `79161234567` -> `***67`."""
    return _PHONE.sub(r"***\1", _EMAIL.sub(r"\1***@\2", text))


@contextmanager
def bound(value: str) -> Iterator[None]:
    """Log lines written inside carry this request id."""
    token = request_id.set(value)
    try:
        yield
    finally:
        request_id.reset(token)


class ContextFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if not getattr(record, "request_id", None):
            record.request_id = request_id.get() or "-"
        return True


class ConsoleFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return mask(super().format(record))


class JsonFormatter(_JsonFormatter):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("fmt", "%(asctime)s %(levelname)s %(name)s %(request_id)s %(message)s")
        kwargs.setdefault("rename_fields", {"asctime": "time", "levelname": "level", "name": "logger"})
        super().__init__(*args, **kwargs)

    def format(self, record: logging.LogRecord) -> str:
        return mask(super().format(record))


class RequestIdMiddleware:
    """Takes the caller's X-Request-ID (when it is a sane token) or makes one, binds it for the
    request's log lines and answers it back."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        incoming = request.headers.get("X-Request-ID", "")
        value = incoming if _INCOMING_ID.match(incoming) else uuid.uuid4().hex
        with bound(value):
            response = self.get_response(request)
        response["X-Request-ID"] = value
        return response
