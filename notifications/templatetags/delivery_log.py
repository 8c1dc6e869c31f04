"""Template filters of the delivery pages."""

from datetime import timedelta

from django import template
from django.utils.formats import number_format
from django.utils.translation import gettext

from notifications.error_text import StoredError, for_people

register = template.Library()


@register.filter
def error_text(value: StoredError | str | None) -> str:
    """A stored delivery error in the admin's language (notifications.error_text)."""
    return for_people(value or "")


SECOND_MS, MINUTE, HOUR, DAY = 1000, 60, 3600, 86400


@register.filter
def span(value: timedelta | None) -> str:
    """A wait or a duration, as short as reads well: "350 ms", "4.2 s", "3 min 5 s", "2 h 10 min",
    "1 d 3 h". The two largest units are enough to compare attempts by eye."""
    if value is None:
        return ""
    ms = max(round(value.total_seconds() * 1000), 0)
    if ms < SECOND_MS:
        return gettext("%(ms)d ms") % {"ms": ms}
    seconds = ms / 1000
    if seconds < 10:
        return gettext("%(s)s s") % {"s": number_format(seconds, 1)}
    whole = int(seconds)
    if whole < MINUTE:
        return gettext("%(s)s s") % {"s": whole}
    if whole < HOUR:
        return gettext("%(m)d min %(s)d s") % {"m": whole // MINUTE, "s": whole % MINUTE}
    if whole < DAY:
        return gettext("%(h)d h %(m)d min") % {"h": whole // HOUR, "m": whole % HOUR // MINUTE}
    return gettext("%(d)d d %(h)d h") % {"d": whole // DAY, "h": whole % DAY // HOUR}
