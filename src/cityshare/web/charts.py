"""Charts as SVG geometry: a line over time and bars per category.

Pure functions from values to coordinates, axis ticks and labels; the template
``chart.svg`` draws them. A chart is an image, so it works without JavaScript.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

WIDTH = 720
HEIGHT = 300
MARGIN_LEFT = 64
MARGIN_RIGHT = 16
MARGIN_TOP = 16
MARGIN_BOTTOM = 56
MAX_BARS = 20


@dataclass(frozen=True)
class Tick:
    """An axis label at a position along its axis."""

    at: float
    label: str


@dataclass(frozen=True)
class Bar:
    """One bar: its box and what it stands for."""

    x: float
    y: float
    width: float
    height: float
    label: str
    value: float


@dataclass(frozen=True)
class Chart:
    """Everything the template draws."""

    kind: str  # "line" or "bars"
    title: str
    width: int
    height: int
    plot_left: float
    plot_right: float
    plot_top: float
    plot_bottom: float
    points: str  # an SVG polyline's points, for a line
    bars: tuple[Bar, ...]
    x_ticks: tuple[Tick, ...]
    y_ticks: tuple[Tick, ...]


def line_chart(title: str, series: list[tuple[datetime, float]]) -> Chart:
    """A line of ``series`` (time, value), in time order."""
    ordered = sorted(series)
    times = [_utc(time).timestamp() for time, _ in ordered]
    values = [value for _, value in ordered]
    x_low, x_high = _span(times)
    y_low, y_high = _nice_span(values)
    left, right, top, bottom = _plot_box()
    points = " ".join(
        f"{_scale(t, x_low, x_high, left, right):.1f},{_scale(v, y_low, y_high, bottom, top):.1f}"
        for t, v in zip(times, values, strict=True)
    )
    x_ticks = tuple(
        Tick(_scale(t, x_low, x_high, left, right), _time_label(t, x_high - x_low))
        for t in _even(x_low, x_high, 5)
    )
    return Chart(
        kind="line",
        title=title,
        width=WIDTH,
        height=HEIGHT,
        plot_left=left,
        plot_right=right,
        plot_top=top,
        plot_bottom=bottom,
        points=points,
        bars=(),
        x_ticks=x_ticks,
        y_ticks=_value_ticks(y_low, y_high, top, bottom),
    )


def bar_chart(title: str, counts: list[tuple[str, float]]) -> Chart:
    """Bars of ``counts`` (label, value), at most MAX_BARS, in the given order."""
    shown = counts[:MAX_BARS]
    y_low, y_high = _nice_span([0.0, *(value for _, value in shown)])
    left, right, top, bottom = _plot_box()
    slot = (right - left) / max(len(shown), 1)
    bars = tuple(
        Bar(
            x=left + index * slot + slot * 0.1,
            y=_scale(value, y_low, y_high, bottom, top),
            width=slot * 0.8,
            height=bottom - _scale(value, y_low, y_high, bottom, top),
            label=label,
            value=value,
        )
        for index, (label, value) in enumerate(shown)
    )
    x_ticks = tuple(Tick(bar.x + bar.width / 2, _short(bar.label)) for bar in bars)
    return Chart(
        kind="bars",
        title=title,
        width=WIDTH,
        height=HEIGHT,
        plot_left=left,
        plot_right=right,
        plot_top=top,
        plot_bottom=bottom,
        points="",
        bars=bars,
        x_ticks=x_ticks,
        y_ticks=_value_ticks(y_low, y_high, top, bottom),
    )


def _plot_box() -> tuple[float, float, float, float]:
    return MARGIN_LEFT, WIDTH - MARGIN_RIGHT, MARGIN_TOP, HEIGHT - MARGIN_BOTTOM


def _scale(value: float, low: float, high: float, start: float, end: float) -> float:
    if high == low:
        return (start + end) / 2
    return start + (value - low) / (high - low) * (end - start)


def _span(values: list[float]) -> tuple[float, float]:
    return (min(values), max(values)) if values else (0.0, 1.0)


def _nice_span(values: list[float]) -> tuple[float, float]:
    """The values' range widened to round numbers, including zero when near it."""
    low, high = _span(values)
    if low == high:
        return (low - 1, high + 1) if low else (0.0, 1.0)
    step = _nice_step((high - low) / 4)
    return (low // step) * step, -((-high) // step) * step


def _nice_step(raw: float) -> float:
    magnitude = 10 ** len(str(int(raw))) / 10 if raw >= 1 else _small_magnitude(raw)
    for factor in (1, 2, 2.5, 5, 10):
        if raw <= factor * magnitude:
            return factor * magnitude
    return 10 * magnitude


def _small_magnitude(raw: float) -> float:
    magnitude = 1.0
    while magnitude / 10 >= raw and magnitude > 1e-9:
        magnitude /= 10
    return magnitude


def _even(low: float, high: float, count: int) -> list[float]:
    if high == low:
        return [low]
    return [low + (high - low) * index / (count - 1) for index in range(count)]


def _value_ticks(low: float, high: float, top: float, bottom: float) -> tuple[Tick, ...]:
    return tuple(Tick(_scale(v, low, high, bottom, top), _number(v)) for v in _even(low, high, 5))


def _number(value: float) -> str:
    if abs(value) >= 1000 or value == int(value):
        return f"{value:,.0f}"
    return f"{value:.3g}"


def _time_label(timestamp: float, span_seconds: float) -> str:
    moment = datetime.fromtimestamp(timestamp, tz=UTC)
    if span_seconds <= 2 * 86400:
        return moment.strftime("%d %b %H:%M")
    return moment.strftime("%d %b %Y")


def _utc(moment: datetime) -> datetime:
    """Stored times without a zone are UTC."""
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _short(label: str) -> str:
    return label if len(label) <= 12 else label[:11] + "…"
