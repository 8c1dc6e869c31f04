"""The hourly charts' pure parts (notifications.hourly, notifications.charts): series, sums,
percentiles and the SVG's geometry for known numbers. No database."""

import re
import xml.etree.ElementTree as ET
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest
from django.utils import translation

from notifications import charts, hourly
from notifications.hourly import LATENCY_BOUNDS_MS, Hour

SVG = "{http://www.w3.org/2000/svg}"
MOSCOW = ZoneInfo("Europe/Moscow")
NOW = datetime(2026, 12, 4, 10, 30, tzinfo=UTC)  # 13:30 in Moscow


@pytest.fixture(autouse=True)
def russian():
    with translation.override("ru"):
        yield


def parse(svg: str) -> ET.Element:
    return ET.fromstring(svg)


def buckets(**counts: int) -> tuple[int, ...]:
    """Bucket counts by upper bound: buckets(le_100=3, over=1)."""
    names = [f"le_{bound}" for bound in LATENCY_BOUNDS_MS] + ["over"]
    return tuple(counts.get(name, 0) for name in names)


def test_the_window_ends_with_the_current_hour_and_fills_empty_hours_with_zero():
    hours = hourly.window(now=NOW, hours=24)
    assert hours[-1] == datetime(2026, 12, 4, 10, tzinfo=UTC)
    assert hours[0] == datetime(2026, 12, 3, 11, tzinfo=UTC)
    rows = [
        Hour(start=datetime(2026, 12, 4, 9, tzinfo=UTC), events=3, delivered=2),
        Hour(start=datetime(2026, 12, 4, 9, tzinfo=UTC), events=1, failed=1),  # another integration's
        Hour(start=datetime(2026, 12, 3, 10, tzinfo=UTC), events=99),  # before the window
    ]
    series = hourly.series(rows, now=NOW, hours=24)
    assert len(series) == 24 and [h.start for h in series] == hours
    assert (series[-2].events, series[-2].delivered, series[-2].failed) == (4, 2, 1)
    assert sum(h.events for h in series) == 4


def test_latency_sums_and_percentiles_from_buckets():
    a = Hour(start=NOW, latency_count=10, latency_sum_ms=1000, latency_max_ms=300, latency_buckets=buckets(le_100=10))
    b = Hour(start=NOW, latency_count=10, latency_sum_ms=3000, latency_max_ms=400, latency_buckets=buckets(le_250=10))
    both = a + b
    assert both.mean_ms == 200
    assert both.latency_max_ms == 400
    # 20 requests: the 19th (95 %) lies in (100, 250], the 9th of its 10: 100 + 150 * 9/10.
    assert both.quantile_ms(0.95) == pytest.approx(235)
    assert both.quantile_ms(0.5) == pytest.approx(100)  # the 10th: the top of (50, 100]
    # Over the last bound: up to the longest request seen.
    slow = Hour(
        start=NOW, latency_count=2, latency_sum_ms=60_000, latency_max_ms=40_000, latency_buckets=buckets(over=2)
    )
    assert slow.quantile_ms(0.5) == pytest.approx(30_000)
    assert Hour(start=NOW).quantile_ms(0.95) is None
    assert Hour(start=NOW, latency_count=1, latency_buckets=(1, 2)).quantile_ms(0.95) is None  # other bounds
    assert hourly.buckets_from_cumulative([1, 3, 3], 5) == (1, 2, 0, 2)


def test_round_scales():
    assert charts.nice_scale(10) == charts.Scale(top=10, step=5)
    assert charts.nice_scale(7) == charts.Scale(top=8, step=2)
    assert charts.nice_scale(0) == charts.Scale(top=1, step=1)
    assert charts.nice_scale(1234) == charts.Scale(top=1500, step=500)


def test_the_traffic_chart_stacks_deliveries_and_draws_events_on_one_scale():
    series = hourly.series(
        [Hour(start=datetime(2026, 12, 4, 10, tzinfo=UTC), events=10, delivered=6, retried=2, failed=2)],
        now=NOW,
        hours=24,
    )
    svg = charts.traffic_chart(series, zone=MOSCOW, title="Заголовок <b>", ident="t")
    root = parse(svg)
    assert root.get("role") == "img" and root.get("aria-labelledby") == "t-title t-desc"
    assert root.find(f"{SVG}title").text == "Заголовок <b>"  # escaped in the markup, whole in the text
    assert "доставлено 6" in root.find(f"{SVG}desc").text and "событий получено: 10" in root.find(f"{SVG}desc").text
    # Scale 0..10 over a plot 160 high from y=10: 6 delivered are 96 high on the axis (y 170),
    # 2 retried 32 above, 2 failed 32 above those, up to the top.
    rects = {r.get("class"): r for r in root.iter(f"{SVG}rect")}
    assert set(rects) == {"chart-delivered", "chart-retried", "chart-failed"}
    geometry = {k: (float(r.get("y")), float(r.get("height"))) for k, r in rects.items()}
    assert geometry == {"chart-delivered": (74, 96), "chart-retried": (42, 32), "chart-failed": (10, 32)}
    slot = charts.PLOT_W / 24
    assert float(rects["chart-delivered"].get("x")) == pytest.approx(charts.LEFT + 23 * slot + slot * 0.1, abs=0.01)
    assert float(rects["chart-delivered"].get("width")) == pytest.approx(slot * 0.8, abs=0.01)
    # The events' line: 0 in every hour but the last, 10 (the top) there.
    points = [tuple(map(float, p.split(","))) for p in root.find(f"{SVG}polyline").get("points").split()]
    assert len(points) == 24
    assert points[-1] == pytest.approx((charts.LEFT + 23.5 * slot, 10), abs=0.01)
    assert {y for _, y in points[:-1]} == {170}
    # The bar's tooltip names its hour in Moscow time and its numbers.
    tip = root.find(f"{SVG}g[@class='chart-bars']/{SVG}g/{SVG}title").text
    assert tip.startswith("4 декабря, 13:00–14:00") and tip.endswith("не доставлено 2")
    # Value axis 0, 5, 10; hours every three, in Moscow time.
    values = [t.text for t in root.iter(f"{SVG}text") if t.get("class") == "chart-value"]
    assert values == ["0", "5", "10"]
    labels = [t.text for t in root.iter(f"{SVG}text") if t.get("class") == "chart-hour"]
    assert labels == ["15:00", "18:00", "21:00", "00:00", "03:00", "06:00", "09:00", "12:00"]


def test_nothing_inline_that_the_pages_policy_would_refuse():
    series = hourly.series([Hour(start=NOW, events=1, delivered=1)], now=NOW, hours=24)
    for svg in (
        charts.traffic_chart(series, zone=MOSCOW, title="x", ident="a"),
        charts.latency_chart(series, zone=MOSCOW, title="x", ident="b"),
    ):
        assert not re.search(r"\sstyle=|<style|<script|\son\w+=", svg)


def test_the_week_is_labelled_by_day():
    series = hourly.series([], now=NOW, hours=168)
    root = parse(charts.traffic_chart(series, zone=MOSCOW, title="x", ident="w"))
    labels = [t.text for t in root.iter(f"{SVG}text") if t.get("class") == "chart-hour"]
    assert labels == ["Сб 28.11", "Вс 29.11", "Пн 30.11", "Вт 1.12", "Ср 2.12", "Чт 3.12", "Пт 4.12"]
    assert not list(root.iter(f"{SVG}rect")) and root.find(f"{SVG}polyline") is None


def test_the_latency_chart_draws_mean_and_p95_broken_where_no_request_was_made():
    start = hourly.window(now=NOW, hours=24)
    rows = [
        Hour(
            start=start[20],
            latency_count=4,
            latency_sum_ms=400,
            latency_max_ms=150,
            latency_buckets=buckets(le_100=2, le_250=2),
        ),
        Hour(
            start=start[22], latency_count=2, latency_sum_ms=200, latency_max_ms=100, latency_buckets=buckets(le_100=2)
        ),
        Hour(
            start=start[23], latency_count=2, latency_sum_ms=600, latency_max_ms=400, latency_buckets=buckets(le_500=2)
        ),
    ]
    root = parse(charts.latency_chart(hourly.series(rows, now=NOW, hours=24), zone=MOSCOW, title="x", ident="l"))
    groups = {g.get("class"): g for g in root.iter(f"{SVG}g") if g.get("class") in ("chart-mean", "chart-p95")}
    mean_dots = [float(c.get(a)) for c in groups["chart-mean"].iter(f"{SVG}circle") for a in ("cx", "cy")]
    # Means 100, 100, 300; the 95th percentiles 242.5, 97.5 and 490: 490 / 4 ticks rounds to
    # steps of 200, up to 600.
    scale = charts.nice_scale(490)
    assert scale == charts.Scale(top=600, step=200)
    slot = charts.PLOT_W / 24
    expected = [c for i, v in ((20, 100), (22, 100), (23, 300)) for c in (charts.LEFT + (i + 0.5) * slot, scale.y(v))]
    assert mean_dots == pytest.approx(expected, abs=0.01)
    # Hour 21 had no request: the line starts anew at hour 22.
    d = groups["chart-mean"].find(f"{SVG}path").get("d")
    assert [step[0] for step in d.split(" ") if step[0] in "ML"] == ["M", "M", "L"]
    assert root.find(f"{SVG}desc").text.startswith("Запросов к Mindbox: 8; в среднем 150 мс")


def test_no_request_says_so():
    root = parse(charts.latency_chart(hourly.series([], now=NOW, hours=24), zone=MOSCOW, title="x", ident="n"))
    assert root.find(f"{SVG}desc").text == "Запросов к Mindbox за это время не было."
    assert root.find(f"{SVG}path") is None
