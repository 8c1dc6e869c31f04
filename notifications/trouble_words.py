"""How the overview and the e-mails name a trouble (notifications.trouble) and where it is acted on."""

from django.utils import formats, timezone
from django.utils.functional import Promise
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from notifications.trouble import Kind, Limits, Target, Trouble

KIND_LABELS: dict[Kind, Promise] = {
    Kind.PAUSED: _("Paused"),
    Kind.BACKING_OFF: _("Backing off"),
    Kind.FAILING: _("Failing"),
    Kind.BACKLOG: _("Backlog"),
    Kind.SILENT: _("Silent"),
}

TARGET_LABELS: dict[Target, Promise] = {
    Target.SENDING: _("Sending: resume, what is held"),
    Target.FAILED_DELIVERIES: _("Failed deliveries"),
    Target.PENDING_DELIVERIES: _("Waiting deliveries"),
    Target.EVENTS: _("Inbound events"),
    Target.UIS_SETUP: _("Set-up in UIS"),
}


def _at(value: object) -> str:
    return formats.date_format(timezone.localtime(value), "DATETIME_FORMAT") if value else ""  # type: ignore[arg-type]


def describe(trouble: Trouble, limits: Limits) -> str:
    """One line saying what is wrong; never a key or a token (a pause's reason is our own text)."""
    if trouble.kind == Kind.PAUSED:
        text = gettext("Since %(at)s.") % {"at": _at(trouble.since)}
        return f"{text} {trouble.detail}".strip()
    if trouble.kind == Kind.BACKING_OFF:
        return gettext("Mindbox does not answer well: sending backs off until %(at)s.") % {"at": _at(trouble.until)}
    if trouble.kind == Kind.FAILING:
        return gettext("%(count)d unsuccessful requests to Mindbox in 24 h (from %(limit)d it is failing).") % {
            "count": trouble.count,
            "limit": limits.failures,
        }
    if trouble.kind == Kind.BACKLOG:
        return gettext("Deliveries wait: the oldest has been due since %(at)s.") % {"at": _at(trouble.since)}
    if trouble.kind == Kind.SILENT:
        return gettext(
            "No event from UIS in the last %(minutes)d minutes; %(count)d came in the same minutes a week ago."
        ) % {"minutes": int(limits.silent_window.total_seconds() // 60), "count": trouble.count}
    return str(KIND_LABELS.get(trouble.kind, trouble.kind))
