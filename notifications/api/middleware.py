"""The inbound endpoint, answered ahead of the middleware it does not need.

Placed after the request id and SecurityMiddleware (its https redirect and headers still apply)
and before sessions, CSRF, authentication, messages and django-axes: UIS posts with a token, no
cookie, and each of those costs every event something for nothing. The path is matched as the
URLconf matches it (notifications.api.urls: with or without the trailing slash)."""

import re
from collections.abc import Callable

from django.http import HttpRequest, HttpResponse

from notifications.api.views import inbound_event

PATH = re.compile(r"^/api/uis/events/(?P<communication_type>[^/]+)/?$")


class InboundMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        match = PATH.match(request.path_info)
        if match is None:
            return self.get_response(request)
        return inbound_event(request, match["communication_type"])
