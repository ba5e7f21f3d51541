"""What a dataset's chart and map show, read through the same checked, audited reads as
the query API (:mod:`cityshare.catalogue.table_reads`) and the observations API.

- A table with a datetime column and a number column: the number's average over time,
  in about a hundred buckets. Otherwise, with a text column: the rows per value (the 20
  most frequent) as bars.
- A sensor stream of numbers: its average over the last day, in 15-minute buckets.
- A map of the points of a table with geometry (or longitude and latitude), or of the
  sensors' locations.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from cityshare.access import Actor
from cityshare.catalogue.reader import Reader
from cityshare.catalogue.table_reads import audit_read, read_json, view_key
from cityshare.catalogue.versions import open_version
from cityshare.errors import NotFound
from cityshare.lru import LruCache
from cityshare.streams import observations
from cityshare.tables.model import POINT_PROPERTY
from cityshare.web.charts import Chart, bar_chart, line_chart
from cityshare.web.maps import MAX_POINTS, PointMap, point_map

NUMBER_TYPES = frozenset({"integer", "number"})
GEOMETRY_TYPES = frozenset({"geojson", "geometry"})
TARGET_BUCKETS = 120
_KINDS = ("datetime", "string")
# Bucket sizes a line chart picks from: the smallest giving at most TARGET_BUCKETS points.
_BUCKETS = (
    ("1m", 60), ("5m", 300), ("15m", 900), ("1h", 3600), ("6h", 21600), ("1d", 86400),
    ("7d", 604800), ("30d", 2592000), ("366d", 31622400),
)  # fmt: skip


class FigureCache(LruCache[tuple[object, ...], object]):
    """Charts drawn from published versions, by the reader's whole view; one per app."""

    def __init__(self, capacity: int = 256) -> None:
        super().__init__(capacity)


@dataclass(frozen=True)
class ChartPlan:
    """Which columns a table's chart draws."""

    kind: str  # "line" or "bars"
    column: str  # the datetime column (line) or the text column (bars)
    value: str | None  # the number column of a line
    title: str


def chart_plan(
    fields: list[dict[str, Any]], schema: dict[str, Any] | None = None
) -> ChartPlan | None:
    """The chart a table with these fields gets, if any: the first number column that is
    not a coordinate, over the first datetime column; else rows per text value."""
    point = (schema or {}).get(POINT_PROPERTY) or {}
    coordinates = {str(point.get("longitude")), str(point.get("latitude"))}
    names = {kind: [str(f["name"]) for f in fields if f.get("type") == kind] for kind in _KINDS}
    times = names["datetime"]
    numbers = [
        str(f["name"])
        for f in fields
        if f.get("type") in NUMBER_TYPES and str(f["name"]) not in coordinates
    ]
    if times and numbers:
        return ChartPlan("line", times[0], numbers[0], f"Average {numbers[0]} by {times[0]}")
    if names["string"]:
        column = names["string"][0]
        return ChartPlan("bars", column, None, f"Rows per {column} (the 20 most frequent)")
    return None


def table_chart(
    reader: Reader, figures: FigureCache, actor: Actor, name: str, schema: dict[str, Any]
) -> Chart:
    """The chart of a table's current version (NotFound when it has none).

    A version never changes, so its chart is drawn once per reader's view and kept in
    ``figures``, keyed by :func:`~cityshare.catalogue.table_reads.view_key`: the
    version, the fields with their types and pseudonym keys, the row bounds and the
    grant — never another reader's. Drawing it reads the whole table (a second on a
    million rows); reading it from there is still a read of the data, recorded in the
    access log like the first.
    """
    plan = chart_plan(schema.get("fields") or [], schema)
    if plan is None:
        raise NotFound(f"Dataset {name!r} has nothing to chart.")
    # May this actor read the data at all?
    opened = open_version(reader.site, actor, name, None, tables=reader.tables)
    key = ("chart", plan, view_key(opened.view))
    drawn = figures.get(key)
    if isinstance(drawn, Chart):
        audit_read(reader, actor, opened, "chart", None, "svg")
        return drawn
    # Drawn from the very version the key names, even if another is published meanwhile.
    chart = _draw_table_chart(reader, actor, name, plan, ("_version", str(opened.number)))
    figures.put(key, chart)
    return chart


def _draw_table_chart(
    reader: Reader, actor: Actor, name: str, plan: ChartPlan, version: tuple[str, str]
) -> Chart:
    if plan.kind == "bars":
        body = read_json(
            reader,
            actor,
            name,
            [
                ("_group", plan.column),
                ("_agg", "count"),
                ("_sort", "-count"),
                ("_limit", "20"),
                version,
            ],
        )
        counts = [(str(group[plan.column]), float(group["count"])) for group in body["groups"]]
        return bar_chart(plan.title, counts)
    assert plan.value is not None
    series = _time_series(reader, actor, name, plan.column, plan.value, version)
    return line_chart(plan.title, series)


def stream_chart(reader: Reader, actor: Actor, name: str, stream_id: int) -> Chart:
    """A stream's average over the last day (NotFound unless it is one of ``name``'s)."""
    stream = observations.open_stream(reader.site, actor, stream_id)
    if stream.dataset != name:
        raise NotFound(f"No stream {stream_id} in dataset {name!r}.")
    now = datetime.now(UTC).replace(microsecond=0)
    params = {
        "from": (now - timedelta(days=1)).isoformat().replace("+00:00", "Z"),
        "to": now.isoformat().replace("+00:00", "Z"),
        "_bucket": "15m",
        "_agg": "avg",
        "_limit": "200",
    }
    query = observations.parse_query(reader.site, params)
    body = observations.page(reader, stream, query)
    observations.audit_stream_read(reader, actor, stream, "chart", len(body["buckets"]))
    series = [
        (_moment(bucket["bucket"]), float(bucket["avg"]))
        for bucket in body["buckets"]
        if isinstance(bucket.get("avg"), int | float)
    ]
    return line_chart(f"Stream {stream_id}, average per 15 minutes, last day", series)


def table_map(reader: Reader, actor: Actor, name: str, schema: dict[str, Any]) -> PointMap:
    """The points of a table's current version, at most MAX_POINTS of them."""
    fields = schema.get("fields") or []
    label = next((str(f["name"]) for f in fields if f.get("type") == "string"), None)
    point = schema.get(POINT_PROPERTY)
    geometries = [str(f["name"]) for f in fields if f.get("type") in GEOMETRY_TYPES]
    if isinstance(point, dict):
        columns = [str(point["longitude"]), str(point["latitude"])]
    elif geometries:
        columns = geometries[:1]
    else:
        raise NotFound(f"Dataset {name!r} has no geometry to map.")
    wanted = [*columns, *([label] if label and label not in columns else [])]
    body = read_json(
        reader, actor, name, [("_fields", ",".join(wanted)), ("_limit", str(MAX_POINTS))]
    )
    located: dict[tuple[float, float], str] = {}  # one point per place: rows repeat places
    for number, row in enumerate(body["rows"], start=1):
        spot = _spot(row, columns)
        if spot is not None and spot not in located:
            located[spot] = str(row.get(label, number)) if label else str(number)
    places = [(lon, lat, text) for (lon, lat), text in located.items()]
    return point_map(f"Where the rows of {name} are", places)


def sensor_map(reader: Reader, actor: Actor, name: str) -> PointMap:
    """Where the devices of a sensor dataset's streams are."""
    streams = observations.latest(reader, actor, name).streams
    located = []
    for stream in streams:
        spot = _coordinates(stream.device.location)
        if spot is not None:
            located.append((*spot, stream.device.name))
    return point_map(f"Where the sensors of {name} are", located)


def _time_series(
    reader: Reader, actor: Actor, name: str, time: str, value: str, version: tuple[str, str]
) -> list[tuple[datetime, float]]:
    # One aggregate each: SQLite answers a lone min() or max() from an index in one step,
    # but scans the whole index for both together.
    low, high = (
        _single(read_json(reader, actor, name, [("_agg", key), ("_limit", "1"), version]), key)
        for key in (f"min:{time}", f"max:{time}")
    )
    if low is None or high is None:
        return []
    seconds = (_moment(high) - _moment(low)).total_seconds()
    size = next((label for label, length in _BUCKETS if seconds / length <= TARGET_BUCKETS), "366d")
    body = read_json(
        reader,
        actor,
        name,
        [("_bucket", f"{time}:{size}"), ("_agg", f"avg:{value}"), ("_limit", "1000"), version],
    )
    return [
        (_moment(group[time]), float(group[f"avg:{value}"]))
        for group in body["groups"]
        if group.get(time) is not None and group.get(f"avg:{value}") is not None
    ]


def _single(body: dict[str, Any], key: str) -> Any:
    """The one aggregate ``key`` of an ungrouped answer (None when there is none)."""
    return (body["groups"] or [{}])[0].get(key)


def _spot(row: dict[str, Any], columns: list[str]) -> tuple[float, float] | None:
    if len(columns) == 2:
        lon, lat = row.get(columns[0]), row.get(columns[1])
        if isinstance(lon, int | float) and isinstance(lat, int | float):
            return float(lon), float(lat)
        return None
    return _coordinates(row.get(columns[0]))


def _coordinates(geometry: Any) -> tuple[float, float] | None:
    """A point for a GeoJSON geometry: a point's own, or the middle of the others'."""
    if not isinstance(geometry, dict):
        return None
    pairs = list(_pairs(geometry.get("coordinates")))
    if not pairs:
        return None
    lons, lats = [lon for lon, _ in pairs], [lat for _, lat in pairs]
    return (min(lons) + max(lons)) / 2, (min(lats) + max(lats)) / 2


def _pairs(coordinates: Any) -> list[tuple[float, float]]:
    if (
        isinstance(coordinates, list)
        and len(coordinates) >= 2
        and all(isinstance(c, int | float) for c in coordinates[:2])
    ):
        return [(float(coordinates[0]), float(coordinates[1]))]
    if isinstance(coordinates, list):
        return [pair for part in coordinates for pair in _pairs(part)]
    return []


def _moment(text: str) -> datetime:
    return datetime.fromisoformat(str(text).replace("Z", "+00:00"))
