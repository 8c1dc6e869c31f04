"""Admin forms for the delivery pages."""

from datetime import datetime, timedelta
from typing import Any

from django import forms
from django.db.models import QuerySet
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from mindbox_integration.models import MindboxIntegration

DEFAULT_LOOKBACK = timedelta(hours=24)


def _a_day_ago() -> datetime:
    return timezone.now() - DEFAULT_LOOKBACK


class ResendFailedForm(forms.Form):
    """Which integration's failed deliveries to send again, and from when."""

    integration = forms.ModelChoiceField(queryset=MindboxIntegration.objects.none(), label=_("integration"))
    since = forms.DateTimeField(
        label=_("failed since"),
        initial=_a_day_ago,
        # The browser's own picker; Django reads the ISO value it sends back.
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
        help_text=_("Deliveries that failed from this moment on (the portal's time zone)."),
    )

    def __init__(self, *args: Any, integrations: "QuerySet[MindboxIntegration]", **kwargs: Any) -> None:
        # The caller's choice of integrations (the admin: those of the user's accounts), so that
        # a posted id of any other is refused as an invalid choice.
        super().__init__(*args, **kwargs)
        self.fields["integration"].queryset = integrations  # type: ignore[attr-defined]
