"""Maps as SVG geometry: points projected without any external tiles, with a scale bar.

Longitude and latitude are projected with Web Mercator (what people know from web
maps), fitted to the points' extent; the scale bar is a round distance measured at the
map's middle latitude.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

WIDTH = 720
HEIGHT = 420
PADDING = 24
EARTH_RADIUS_M = 6_371_008.8
MAX_POINTS = 5000
_ROUND_DISTANCES_M = (
    10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10_000, 20_000, 50_000, 100_000, 200_000,
    500_000, 1_000_000, 2_000_000, 5_000_000,
)  # fmt: skip


@dataclass(frozen=True)
class MapPoint:
    """A point on the drawing, with the label it is known by."""

    x: float
    y: float
    label: str


@dataclass(frozen=True)
class PointMap:
    """Everything the template draws."""

    title: str
    width: int
    height: int
    points: tuple[MapPoint, ...]
    scale_length: float  # pixels
    scale_label: str
    extent: str  # the points' bounding box, in words


def point_map(title: str, located: list[tuple[float, float, str]]) -> PointMap:
    """A map of ``located`` (longitude, latitude, label); invalid coordinates left out."""
    valid = [(lon, lat, label) for lon, lat, label in located if _valid(lon, lat)][:MAX_POINTS]
    projected = [(*_mercator(lon, lat), label) for lon, lat, label in valid]
    xs = [x for x, _, _ in projected] or [0.0]
    ys = [y for _, y, _ in projected] or [0.0]
    x_low, x_high, y_low, y_high = min(xs), max(xs), min(ys), max(ys)
    span = max(x_high - x_low, y_high - y_low, 1e-6)  # one scale on both axes
    pixels = min(WIDTH, HEIGHT) - 2 * PADDING
    per_unit = pixels / span
    x_offset = (WIDTH - (x_high - x_low) * per_unit) / 2
    y_offset = (HEIGHT - (y_high - y_low) * per_unit) / 2
    points = tuple(
        MapPoint(
            x=x_offset + (x - x_low) * per_unit,
            y=HEIGHT - (y_offset + (y - y_low) * per_unit),
            label=label,
        )
        for x, y, label in projected
    )
    middle_latitude = _latitude((y_low + y_high) / 2)
    metres_per_pixel = EARTH_RADIUS_M * math.cos(math.radians(middle_latitude)) / per_unit
    distance = _round_distance(metres_per_pixel * WIDTH / 5)
    lons = [lon for lon, _, _ in valid] or [0.0]
    lats = [lat for _, lat, _ in valid] or [0.0]
    return PointMap(
        title=title,
        width=WIDTH,
        height=HEIGHT,
        points=points,
        scale_length=distance / metres_per_pixel,
        scale_label=f"{distance / 1000:g} km" if distance >= 1000 else f"{distance:g} m",
        extent=(
            f"longitude {min(lons):.4f} to {max(lons):.4f}, "
            f"latitude {min(lats):.4f} to {max(lats):.4f}"
        ),
    )


def _valid(lon: float, lat: float) -> bool:
    return -180 <= lon <= 180 and -85 <= lat <= 85


def _mercator(lon: float, lat: float) -> tuple[float, float]:
    """Web Mercator in radians of the unit sphere."""
    return math.radians(lon), math.log(math.tan(math.pi / 4 + math.radians(lat) / 2))


def _latitude(y: float) -> float:
    return math.degrees(2 * math.atan(math.exp(y)) - math.pi / 2)


def _round_distance(metres: float) -> float:
    """The largest round distance not over ``metres`` (the smallest one at least)."""
    fitting = [distance for distance in _ROUND_DISTANCES_M if distance <= metres]
    return float(fitting[-1] if fitting else _ROUND_DISTANCES_M[0])
