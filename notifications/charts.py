"""Charts of hourly series as inline SVG, drawn on the server: no script, no style attribute
(the admin's Content-Security-Policy allows neither inline), colours by class from the page's
stylesheet. Each chart names itself (title) and sums itself up in words (desc) for screen
readers; every hour's bars carry a tooltip with its numbers. Pure: no models, no database.

Two charts: traffic (deliveries per hour stacked: delivered, retried, failed; events received
as a line over them, on the same scale) and latency (mean and 95th percentile per hour)."""

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, tzinfo
from html import escape

from django.utils import dateformat
from django.utils.translation import gettext as _

from notifications.hourly import HOUR, Hour

WIDTH, HEIGHT = 720, 200
LEFT, RIGHT, TOP, BOTTOM = 52, 10, 10, 30  # margins: the value axis left, the hours below
PLOT_W, PLOT_H = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
BAR_SHARE = 0.8  # of an hour's slot; the rest is the gap between bars
TICKS = 4
DAY_HOURS = 24


@dataclass(frozen=True)
class Scale:
    top: float  # the value at the top of the plot
    step: float  # between gridlines

    def y(self, value: float) -> float:
        """The plot's y of a value (SVG's y grows downwards)."""
        return TOP + PLOT_H - (value / self.top) * PLOT_H


def nice_scale(largest: float, ticks: int = TICKS) -> Scale:
    """A scale from 0 with about `ticks` gridlines at round steps (1, 2 or 5 times a power of
    ten, at least 1) whose top holds `largest`."""
    raw = max(largest, 1) / ticks
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 5, 10) if m * magnitude >= raw)
    step = max(step, 1)
    return Scale(top=step * max(1, math.ceil(largest / step)), step=step)


def slot_x(index: int, count: int) -> float:
    """The left edge of an hour's slot."""
    return LEFT + index * PLOT_W / count


def _n(value: float) -> str:
    """A coordinate, short: 12, 12.5."""
    return f"{value:.2f}".rstrip("0").rstrip(".")


def _count(value: float) -> str:
    """A number as the Russian admin writes it: thousands apart by a narrow space."""
    return f"{round(value):,}".replace(",", "\u202f")


def hour_label(start: datetime, zone: tzinfo) -> str:
    """An hour as the admin's time zone reads it: "4 декабря, 14:00" to "15:00"."""
    end = (start + HOUR).astimezone(zone)  # added in UTC: a clock change makes no odd hour
    return f"{dateformat.format(start.astimezone(zone), 'j E, H:i')}–{dateformat.format(end, 'H:i')}"


def _frame(scale: Scale, hours: Sequence[Hour], zone: tzinfo, fmt: Callable[[float], str]) -> list[str]:
    """Gridlines with their values, and the hours' axis with its labels: every three hours over
    a day, each day's midnight over a week (local time)."""
    parts = ['<g class="chart-grid">']
    value = 0.0
    while value <= scale.top + 1e-9:
        y = _n(scale.y(value))
        parts.append(f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y}" y2="{y}"/>')
        parts.append(f'<text class="chart-value" x="{LEFT - 6}" y="{y}" dy="0.32em">{escape(fmt(value))}</text>')
        value += scale.step
    parts.append("</g>")
    parts.append('<g class="chart-hours">')
    count = len(hours)
    bottom = TOP + PLOT_H
    for index, hour in enumerate(hours):
        local = hour.start.astimezone(zone)
        if count <= DAY_HOURS:
            if local.hour % 3:
                continue
            label = dateformat.format(local, "H:i")
        else:
            if local.hour:
                continue
            label = dateformat.format(local, "D j.m")
        x = _n(slot_x(index, count))
        parts.append(f'<line x1="{x}" x2="{x}" y1="{bottom}" y2="{bottom + 4}"/>')
        parts.append(f'<text class="chart-hour" x="{x}" y="{bottom + 16}">{escape(label)}</text>')
    parts.append(f'<line class="chart-axis" x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{bottom}" y2="{bottom}"/>')
    parts.append("</g>")
    return parts


def _svg(chart: str, title: str, desc: str, body: list[str], ident: str) -> str:
    return (
        f'<svg class="hourly-chart {chart}" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
        f'aria-labelledby="{ident}-title {ident}-desc" xmlns="http://www.w3.org/2000/svg">'
        f'<title id="{ident}-title">{escape(title)}</title><desc id="{ident}-desc">{escape(desc)}</desc>'
        + "".join(body)
        + "</svg>"
    )


def traffic_chart(hours: Sequence[Hour], *, zone: tzinfo, title: str, ident: str) -> str:
    """Deliveries per hour as stacked bars (delivered at the bottom, then retried, then failed)
    and events received as a line through the slots' middles, on one scale."""
    count = len(hours)
    scale = nice_scale(max([max(h.deliveries, h.events) for h in hours], default=0))
    slot = PLOT_W / count if count else PLOT_W
    width = slot * BAR_SHARE
    body = _frame(scale, hours, zone, _count)
    body.append('<g class="chart-bars">')
    for index, hour in enumerate(hours):
        if not hour.deliveries:
            continue
        x = _n(slot_x(index, count) + (slot - width) / 2)
        tip = _("%(hour)s: events %(events)s, delivered %(delivered)s, retried %(retried)s, failed %(failed)s") % {
            "hour": hour_label(hour.start, zone),
            "events": _count(hour.events),
            "delivered": _count(hour.delivered),
            "retried": _count(hour.retried),
            "failed": _count(hour.failed),
        }
        body.append(f"<g><title>{escape(tip)}</title>")
        below = 0
        for kind, value in (("delivered", hour.delivered), ("retried", hour.retried), ("failed", hour.failed)):
            if value:
                y, height = scale.y(below + value), (value / scale.top) * PLOT_H
                body.append(
                    f'<rect class="chart-{kind}" x="{x}" y="{_n(y)}" width="{_n(width)}" height="{_n(height)}"/>'
                )
                below += value
        body.append("</g>")
    body.append("</g>")
    if any(h.events for h in hours):
        points = " ".join(f"{_n(slot_x(i, count) + slot / 2)},{_n(scale.y(h.events))}" for i, h in enumerate(hours))
        body.append(f'<polyline class="chart-events" points="{points}"/>')
    desc = _(
        "In all: %(events)s events received; deliveries: %(delivered)s delivered, %(retried)s retried, %(failed)s failed."
    ) % {
        "events": _count(sum(h.events for h in hours)),
        "delivered": _count(sum(h.delivered for h in hours)),
        "retried": _count(sum(h.retried for h in hours)),
        "failed": _count(sum(h.failed for h in hours)),
    }
    return _svg("chart-traffic", title, desc, body, ident)


def _ms(value: float) -> str:
    return _("%(ms)s ms") % {"ms": _count(value)}


def latency_chart(hours: Sequence[Hour], *, zone: tzinfo, title: str, ident: str) -> str:
    """The mean and the 95th percentile of the requests' time per hour, as lines through the
    slots' middles (broken where an hour had no request), each hour also a dot."""
    count = len(hours)
    slot = PLOT_W / count if count else PLOT_W
    means = [h.mean_ms for h in hours]
    p95s = [h.quantile_ms(0.95) for h in hours]
    scale = nice_scale(max([v for v in (*means, *p95s) if v is not None], default=0))
    body = _frame(scale, hours, zone, _count)
    for kind, values in (("p95", p95s), ("mean", means)):
        path: list[str] = []
        dots: list[str] = []
        joined = False
        for index, value in enumerate(values):
            if value is None:
                joined = False
                continue
            x, y = _n(slot_x(index, count) + slot / 2), _n(scale.y(value))
            path.append(f"{'L' if joined else 'M'}{x} {y}")
            dots.append(f'<circle cx="{x}" cy="{y}" r="2"/>')
            joined = True
        if path:
            body.append(f'<g class="chart-{kind}"><path d="{" ".join(path)}"/>{"".join(dots)}</g>')
    timed = [h for h in hours if h.latency_count]
    requests = sum(h.latency_count for h in timed)
    if requests:
        overall = sum(h.latency_sum_ms for h in timed) / requests
        desc = _(
            "%(requests)s requests to Mindbox; on average %(mean)s, the slowest hour's 95th percentile %(p95)s."
        ) % {
            "requests": _count(requests),
            "mean": _ms(overall),
            "p95": _ms(max((v for v in p95s if v is not None), default=overall)),
        }
    else:
        desc = _("No request to Mindbox in this time.")
    return _svg("chart-latency", title, desc, body, ident)
