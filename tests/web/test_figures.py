"""Chart and map geometry: scales, ticks, projection and the scale bar's distance."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import pytest

from cityshare.web.charts import MAX_BARS, bar_chart, line_chart
from cityshare.web.figures import chart_plan
from cityshare.web.maps import EARTH_RADIUS_M, point_map


def haversine_m(a: tuple[float, float], b: tuple[float, float]) -> float:
    lon1, lat1, lon2, lat2 = map(math.radians, (*a, *b))
    h = (
        math.sin((lat2 - lat1) / 2) ** 2
        + math.cos(lat1) * math.cos(lat2) * math.sin((lon2 - lon1) / 2) ** 2
    )
    return 2 * EARTH_RADIUS_M * math.asin(math.sqrt(h))


def test_a_line_spans_the_plot_and_puts_larger_values_higher() -> None:
    start = datetime(2024, 3, 4, tzinfo=UTC)
    chart = line_chart(
        "t", [(start + timedelta(hours=h), float(v)) for h, v in enumerate([5, 9, 1])]
    )
    points = [tuple(map(float, p.split(","))) for p in chart.points.split()]
    assert [x for x, _ in points] == [
        chart.plot_left,
        (chart.plot_left + chart.plot_right) / 2,
        chart.plot_right,
    ]
    ys = [y for _, y in points]
    assert ys[1] < ys[0] < ys[2]  # SVG's y grows downwards
    assert all(chart.plot_top <= y <= chart.plot_bottom for y in ys)
    labels = [tick.label for tick in chart.y_ticks]
    assert labels[0] == "0" and float(labels[-1]) >= 9  # a round span that holds every value


def test_a_line_of_one_value_or_none_is_still_drawable() -> None:
    moment = datetime(2024, 3, 4)
    assert len(line_chart("t", [(moment, 3.0)]).points.split()) == 1
    assert line_chart("t", []).points == ""


def test_bars_are_as_tall_as_their_counts_and_at_most_twenty() -> None:
    chart = bar_chart("t", [(f"v{i}", float(40 - i)) for i in range(30)])
    assert len(chart.bars) == MAX_BARS
    first, last = chart.bars[0], chart.bars[-1]
    assert first.height / last.height == pytest.approx(40 / 21)  # bars start at zero
    assert all(bar.y + bar.height == chart.plot_bottom for bar in chart.bars)


def test_the_scale_bar_measures_real_distances() -> None:
    west, east = (-1.65, 54.97), (-1.55, 54.97)
    drawn = point_map("t", [(*west, "w"), (*east, "e")])
    w, e = drawn.points
    metres_per_pixel = float(drawn.scale_label.removesuffix(" km")) * 1000 / drawn.scale_length
    measured = (e.x - w.x) * metres_per_pixel
    assert abs(measured - haversine_m(west, east)) / haversine_m(west, east) < 0.01
    assert drawn.scale_length <= drawn.width / 5


def test_north_is_up_and_bad_coordinates_are_left_out() -> None:
    drawn = point_map("t", [(0.0, 51.0, "south"), (0.0, 52.0, "north"), (200.0, 95.0, "bad")])
    assert [point.label for point in drawn.points] == ["south", "north"]
    south, north = drawn.points
    assert north.y < south.y
    assert all(0 <= p.x <= drawn.width and 0 <= p.y <= drawn.height for p in drawn.points)


def test_the_chart_plan_skips_coordinates_and_falls_back_to_text() -> None:
    fields = [
        {"name": "at", "type": "datetime"},
        {"name": "lon", "type": "number"},
        {"name": "cars", "type": "integer"},
        {"name": "site", "type": "string"},
    ]
    schema = {"fields": fields, "x-cityshare-point": {"longitude": "lon", "latitude": "lat"}}
    plan = chart_plan(fields, schema)
    assert plan is not None and (plan.kind, plan.column, plan.value) == ("line", "at", "cars")
    texts = chart_plan([f for f in fields if f["name"] in ("lon", "site")], schema)
    assert texts is not None and (texts.kind, texts.column) == ("bars", "site")
    assert chart_plan([{"name": "ok", "type": "boolean"}]) is None
