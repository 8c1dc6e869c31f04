"""{% hourly_charts source %}: the hourly charts (events, deliveries, latency; the last 24 hours
and 7 days, switched without a script) of one integration, the sum of several, or hours
already read. Reads the roll-up's rows only (one query), never the raw ones.

    {% load hourly_charts %}
    {% hourly_charts integration %}            one integration
    {% hourly_charts integrations key="all" %}  a queryset of integrations, summed
    {% hourly_charts hours key="x" %}           a list of notifications.hourly.Hour: for a page
                                                of many integrations, each one's from one read
                                                (selectors.hourly_rows_by_integration)

Whoever passes integrations has scoped them by tenancy (mindbox_integration.tenancy.scope).
`key` tells several charts of one page apart (ids, radio groups); an integration's pk by default."""

from collections.abc import Sequence
from typing import Any

from django import template
from django.conf import settings
from django.db.models import QuerySet
from django.utils import timezone
from django.utils.safestring import mark_safe
from django.utils.translation import gettext as _

from mindbox_integration.models import MindboxIntegration
from notifications import charts, hourly, selectors

register = template.Library()

# (name, hours, label): the spans a chart shows, the first one at first.
SPANS = (("day", 24), ("week", 7 * 24))


def _rows(source: Any, since: Any) -> tuple[list[hourly.Hour], str]:
    if isinstance(source, MindboxIntegration):
        return selectors.hourly_rows(integration_ids=[source.pk], since=since), f"integration-{source.pk}"
    if isinstance(source, QuerySet):
        ids = list(source.values_list("pk", flat=True))
        return selectors.hourly_rows(integration_ids=ids, since=since), "summed"
    if isinstance(source, Sequence) and all(isinstance(row, hourly.Hour) for row in source):
        return list(source), "hours"
    raise template.TemplateSyntaxError("hourly_charts takes an integration, a queryset of them or a list of hours")


def _span(rows: list[hourly.Hour], *, name: str, hours: int, key: str, now: Any) -> dict[str, Any]:
    zone = timezone.get_current_timezone()
    series = hourly.series(rows, now=now, hours=hours)
    words = _("the last 24 hours") if name == "day" else _("the last 7 days")
    return {
        "name": name,
        "label": _("24 hours") if name == "day" else _("7 days"),
        "traffic": mark_safe(  # noqa: S308 - drawn by charts, every text escaped there
            charts.traffic_chart(
                series,
                zone=zone,
                title=_("Events and deliveries per hour, %(span)s") % {"span": words},
                ident=f"chart-{key}-{name}-traffic",
            )
        ),
        "latency": mark_safe(  # noqa: S308 - as above
            charts.latency_chart(
                series,
                zone=zone,
                title=_("Time of the requests to Mindbox per hour, %(span)s") % {"span": words},
                ident=f"chart-{key}-{name}-latency",
            )
        ),
        "table": [
            {
                "hour": charts.hour_label(hour.start, zone),
                "row": hour,
                "mean": hour.mean_ms,
                "p95": hour.quantile_ms(0.95),
            }
            for hour in series
            if hour.events or hour.deliveries or hour.latency_count
        ],
    }


@register.inclusion_tag("admin/notifications/hourly_charts.html")
def hourly_charts(source: Any, key: str = "") -> dict[str, Any]:
    now = timezone.now()
    longest = max(hours for _name, hours in SPANS)
    rows, default_key = _rows(source, since=hourly.window(now=now, hours=longest)[0])
    key = key or default_key
    spans = [_span(rows, name=name, hours=hours, key=key, now=now) for name, hours in SPANS]
    return {
        "key": key,
        "spans": spans,
        "has_data": any(span["table"] for span in spans),
        "every_minutes": max(1, round(settings.STATS_ROLLUP_INTERVAL / 60)),
    }
