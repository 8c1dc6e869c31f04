"""Which UIS event a notification in UIS should be subscribed to, per communication type, and
why. One call brings several UIS events (call started, talk started, finished, lost...), and a
UIS notification subscribed to several of them posts the same customer several times; the
portal keeps each as its own event (their identities differ), so each would reach Mindbox.
Pure: no models (docs/uis-notifications.md)."""

from dataclasses import dataclass

from django.utils.translation import gettext_noop


@dataclass(frozen=True)
class Advice:
    event: str  # a msgid: the event's name in UIS's notification settings
    why: str  # a msgid


ADVICE: dict[str, Advice] = {
    "calls": Advice(
        gettext_noop("Call finished"),
        gettext_noop(
            "Choose this one event only. One call brings several UIS events (incoming call, talk "
            "started, talk finished, lost call...), and a notification subscribed to several posts "
            "the same customer to Mindbox once for each. The call's end comes once per call, for "
            "answered and lost calls alike, and carries the most: durations, the employee, the "
            "recording; filter lost calls by «Статус звонка»."
        ),
    ),
    "offline_requests": Advice(
        gettext_noop("Offline request"),
        gettext_noop("One event per request left on the site while no operator was online."),
    ),
    "taxi_requests": Advice(
        gettext_noop("Taxi request"),
        gettext_noop("One event per request from UIS's taxi order form."),
    ),
}
