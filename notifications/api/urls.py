from django.urls import re_path

from notifications.api.views import InboundEventView

# The trailing slash is optional: UIS users paste URLs either way, and a redirect would lose a POST.
urlpatterns = [
    re_path(r"^events/(?P<communication_type>[^/]+)/?$", InboundEventView.as_view(), name="uis-events"),
]
