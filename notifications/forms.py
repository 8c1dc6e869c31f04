"""Admin forms for the delivery pages."""

from datetime import datetime, timedelta

from django import forms
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from notifications import selectors

DEFAULT_LOOKBACK = timedelta(hours=24)


def _a_day_ago() -> datetime:
    return timezone.now() - DEFAULT_LOOKBACK


class ResendFailedForm(forms.Form):
    """Which integration's failed deliveries to send again, and from when."""

    integration = forms.ModelChoiceField(queryset=selectors.integrations_by_name(), label=_("integration"))
    since = forms.DateTimeField(
        label=_("failed since"),
        initial=_a_day_ago,
        # The browser's own picker; Django reads the ISO value it sends back.
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
        help_text=_("Deliveries created from this moment on (the portal's time zone)."),
    )
