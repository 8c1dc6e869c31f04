from django.urls import path

from notifications.api.views import InboundEventView

view = InboundEventView.as_view()

urlpatterns = [
    path("events/<str:communication_type>/", view, name="uis-events"),
    # Without the slash too: UIS users paste URLs either way, and a redirect would lose a POST.
    path("events/<str:communication_type>", InboundEventView.as_view(schema=None)),  # documented once, above
]
