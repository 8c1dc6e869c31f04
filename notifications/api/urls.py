from typing import Any

from django.http import HttpRequest, HttpResponse
from django.urls import path

from notifications.api.schema import InboundEventDoc
from notifications.api.views import inbound_event


class DescribedView:
    """views.inbound_event as the URLconf's view, carrying `cls` and `initkwargs` as DRF's
    as_view() does: drf-spectacular documents the endpoint from them. Requests take the same
    view, mostly through notifications.api.middleware, ahead of the URLconf."""

    csrf_exempt = True

    def __init__(self, **initkwargs: Any) -> None:
        self.cls = InboundEventDoc
        self.initkwargs = initkwargs

    def __call__(self, request: HttpRequest, communication_type: str) -> HttpResponse:
        return inbound_event(request, communication_type)


urlpatterns = [
    path("events/<str:communication_type>/", DescribedView(), name="uis-events"),
    # Without the slash too: UIS users paste URLs either way, and a redirect would lose a POST.
    path("events/<str:communication_type>", DescribedView(schema=None)),  # documented once, above
]
