"""Reading a stream's history (cityshare.streams.observations) as the observations route
does, without HTTP: a query checked by ``parse_query``, the stream opened for an Actor by
``open_stream``, a cursor opened by ``with_cursor``, and one page by ``page``; and the
newest reading of every stream of a dataset by ``latest``. The readings are stored first
through the signed ingestion service."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from cityshare import keys
from cityshare.errors import BadRequest, Forbidden, NotFound
from cityshare.streams.client import Reading
from cityshare.streams.models import BucketPage, Latest, LatestReading, ObservationPage
from cityshare.streams.observations import latest, open_stream, page, parse_query, with_cursor
from cityshare.streams.timefmt import format_micros
from tests.sensors import Device
from tests.streams.support import actor, send, station
from tests.world import VISIBILITIES, World

BASE = datetime(2025, 6, 1, 8, 0, tzinfo=UTC)
READINGS = 12  # no2 readings, every 10 minutes from BASE, valued 0.0, 1.0, ...


def at(minutes: int) -> datetime:
    return BASE + timedelta(minutes=minutes)


def text(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


@dataclass(frozen=True)
class Recorded:
    """A station's readings as stored: in which dataset, and the batch that brought them."""

    device: Device
    dataset: str
    batch: int
    received_at: str

    def stream(self, name: str) -> int:
        return self.device.streams[name]


@pytest.fixture(scope="module")
def recorded(shared: World) -> Recorded:
    """A station of an open dataset whose streams hold readings of every value type (and
    ``quiet`` none), and a reading of 7.0 at BASE in each of the world's own streams."""
    device, dataset = station(
        shared,
        {
            "no2": ("no2", "number"),
            "door": ("door_open", "boolean"),
            "status": ("status", "string"),
            "diag": ("diagnostics", "object"),
            "quiet": ("no2", "number"),
        },
    )
    readings: list[Reading] = [("no2", at(10 * n), float(n)) for n in range(READINGS)]
    readings += [("door", at(0), True), ("door", at(1), False), ("status", at(0), "ok")]
    readings += [("diag", at(0), {"battery": 0.93, "rssi": -71})]
    ack = send(shared, device, readings)
    assert shared.station is not None
    send(shared, shared.station, [(f"no2-{v}", at(0), 7.0) for v in VISIBILITIES])
    return Recorded(device, dataset, ack.batch_id, ack.received_at)


def read(
    world: World,
    stream_id: int,
    params: dict[str, str] | None = None,
    *,
    kind: str = "anonymous",
    cursor: str | None = None,
) -> dict[str, Any]:
    """One page of a stream, as the route reads it for ``kind``."""
    reader = world.runtime.reader
    query = parse_query(world.site, params or {})
    stream = open_stream(world.site, actor(world, kind), stream_id)
    return page(reader, stream, with_cursor(reader, stream, query, cursor))


def values(body: dict[str, Any]) -> list[Any]:
    return [reading.value for reading in ObservationPage.model_validate(body).observations]


def every_page(world: World, stream_id: int, params: dict[str, str]) -> list[dict[str, Any]]:
    """Every page of a query, following ``next``."""
    pages = [read(world, stream_id, params)]
    while pages[-1]["next"] is not None:
        pages.append(read(world, stream_id, params, cursor=pages[-1]["next"]))
        assert len(pages) < 20
    return pages


# Pages of readings


def test_a_page_holds_the_readings_in_time_order_with_their_provenance(
    shared: World, recorded: Recorded
) -> None:
    body = read(shared, recorded.stream("no2"))
    result = ObservationPage.model_validate(body)
    assert result.stream == recorded.stream("no2") and result.next is None
    assert [o.time for o in result.observations] == [text(at(10 * n)) for n in range(READINGS)]
    assert [o.value for o in result.observations] == [float(n) for n in range(READINGS)]
    key_id = keys.key_id(keys.public_key_text(recorded.device.key))
    assert {
        (o.device, o.key_id, o.batch, o.received_at, o.verified) for o in result.observations
    } == {(recorded.device.uid, key_id, recorded.batch, recorded.received_at, True)}


def test_newest_first_on_asking(shared: World, recorded: Recorded) -> None:
    body = read(shared, recorded.stream("no2"), {"_sort": "-time"})
    assert values(body) == [float(n) for n in reversed(range(READINGS))]


@pytest.mark.parametrize("sort", ["time", "-time"])
def test_limited_pages_follow_each_other_covering_every_reading_once(
    shared: World, recorded: Recorded, sort: str
) -> None:
    pages = every_page(shared, recorded.stream("no2"), {"_limit": "5", "_sort": sort})
    assert [len(values(body)) for body in pages] == [5, 5, 2]
    expected = [float(n) for n in range(READINGS)]
    assert [value for body in pages for value in values(body)] == (
        expected if sort == "time" else expected[::-1]
    )


def test_from_is_inclusive_and_to_exclusive(shared: World, recorded: Recorded) -> None:
    body = read(shared, recorded.stream("no2"), {"from": text(at(20)), "to": text(at(60))})
    assert values(body) == [2.0, 3.0, 4.0, 5.0]
    assert values(read(shared, recorded.stream("no2"), {"to": text(at(10))})) == [0.0]
    assert values(read(shared, recorded.stream("no2"), {"from": text(at(105))})) == [11.0]


@pytest.mark.parametrize(
    "moment",
    [
        "2025-06-01T08:50:00Z",
        "2025-06-01T08:50:00",
        "2025-06-01 08:50:00",
        "2025-06-01T09:50+01:00",
    ],
    ids=["utc", "no-offset", "space-no-offset", "plus-one-hour"],
)
def test_a_time_without_an_offset_is_taken_as_utc(
    shared: World, recorded: Recorded, moment: str
) -> None:
    stream = recorded.stream("no2")
    assert values(read(shared, stream, {"from": moment})) == [5.0, 6.0, 7.0, 8.0, 9.0, 10.0, 11.0]
    assert values(read(shared, stream, {"to": moment})) == [0.0, 1.0, 2.0, 3.0, 4.0]


@pytest.mark.parametrize(
    ("params", "parameter"),
    [
        ({"from": "yesterday"}, "from"),
        ({"to": "2025-13-01T00:00:00Z"}, "to"),
        ({"from": "2025-06-01T09:00:00Z", "to": "2025-06-01T09:00:00Z"}, "from"),
        ({"_limit": "0"}, "_limit"),
        ({"_limit": "ten"}, "_limit"),
        ({"_sort": "value"}, "_sort"),
        ({"_bucket": "5 minutes"}, "_bucket"),
        ({"_bucket": "400d"}, "_bucket"),
        ({"_agg": "avg"}, "_agg"),
        ({"_bucket": "1h", "_agg": "median"}, "_agg"),
        ({"_format": "xml"}, "_format"),
        ({"limit": "5"}, "limit"),
    ],
)
def test_bad_parameters_are_refused_naming_them(
    shared: World, params: dict[str, str], parameter: str
) -> None:
    with pytest.raises(BadRequest) as refused:
        parse_query(shared.site, params)
    assert refused.value.extra["parameter"] == parameter


def test_a_cursor_serves_only_its_own_stream_and_range(shared: World, recorded: Recorded) -> None:
    stream = recorded.stream("no2")
    cursor = read(shared, stream, {"_limit": "2"})["next"]
    assert cursor is not None
    for other_stream, params in [
        (stream, {"_limit": "2", "from": text(at(0))}),
        (stream, {"_limit": "2", "_sort": "-time"}),
        (recorded.stream("quiet"), {"_limit": "2"}),
    ]:
        with pytest.raises(BadRequest) as refused:
            read(shared, other_stream, params, cursor=cursor)
        assert refused.value.extra["parameter"] == "_next"
    with pytest.raises(BadRequest):
        read(shared, stream, {"_limit": "2"}, cursor=cursor[:-3] + "xyz")


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("door", [True, False]),
        ("status", ["ok"]),
        ("diag", [{"battery": 0.93, "rssi": -71}]),
        ("quiet", []),
    ],
)
def test_values_come_back_in_their_streams_type(
    shared: World, recorded: Recorded, name: str, expected: list[Any]
) -> None:
    assert values(read(shared, recorded.stream(name))) == expected


# Time buckets


def test_buckets_hold_the_aggregates_asked_for(shared: World, recorded: Recorded) -> None:
    body = read(shared, recorded.stream("no2"), {"_bucket": "30m", "_agg": "avg,min,max,count,sum"})
    result = BucketPage.model_validate(body)
    assert result.stream == recorded.stream("no2") and result.next is None
    assert [b.bucket for b in result.buckets] == [text(at(30 * n)) for n in range(4)]
    assert [(b.avg, b.min, b.max, b.count, b.sum) for b in result.buckets] == [
        (1.0, 0.0, 2.0, 3, 3.0),
        (4.0, 3.0, 5.0, 3, 12.0),
        (7.0, 6.0, 8.0, 3, 21.0),
        (10.0, 9.0, 11.0, 3, 30.0),
    ]


def test_buckets_default_to_avg_min_max_and_count(shared: World, recorded: Recorded) -> None:
    body = read(shared, recorded.stream("no2"), {"_bucket": "1h", "_sort": "-time"})
    assert [set(bucket) for bucket in body["buckets"]] == [
        {"bucket", "avg", "min", "max", "count"}
    ] * 2
    assert [(b["bucket"], b["count"], b["max"]) for b in body["buckets"]] == [
        (text(at(60)), 6, 11.0),
        (text(at(0)), 6, 5.0),
    ]


def test_bucket_pages_continue_after_the_last_bucket_within_the_range(
    shared: World, recorded: Recorded
) -> None:
    params = {"_bucket": "20m", "_agg": "count", "_limit": "2", "from": text(at(20))}
    pages = every_page(shared, recorded.stream("no2"), params)
    buckets = [(b["bucket"], b["count"]) for body in pages for b in body["buckets"]]
    assert [len(body["buckets"]) for body in pages] == [2, 2, 1]
    assert buckets == [(text(at(20 * n)), 2) for n in range(1, 6)]


# The newest readings


def test_latest_has_the_newest_reading_of_every_stream(shared: World, recorded: Recorded) -> None:
    result = latest(shared.runtime.reader, actor(shared, "anonymous"), recorded.dataset)
    assert type(result) is Latest and result.dataset == recorded.dataset
    assert all(type(item) is LatestReading for item in result.streams)
    by_name = {item.name: item for item in result.streams}
    assert [item.stream for item in result.streams] == sorted(recorded.device.streams.values())
    no2 = by_name["no2"]
    assert (no2.time, no2.value, no2.unit, no2.observed_property) == (
        text(at(110)),
        11.0,
        "µg/m³",
        "no2",
    )
    assert no2.received_at == recorded.received_at
    assert no2.device.uid == recorded.device.uid
    assert (by_name["door"].time, by_name["door"].value) == (text(at(1)), False)
    assert by_name["diag"].value == {"battery": 0.93, "rssi": -71}
    quiet = by_name["quiet"]
    assert (quiet.time, quiet.value, quiet.received_at) == (None, None, None)


def test_latest_is_only_for_sensor_datasets_one_may_see(shared: World) -> None:
    with pytest.raises(NotFound):
        latest(shared.runtime.reader, actor(shared, "anonymous"), "no-such-dataset")


# Who may read


REFUSED = [
    ("anonymous", "shared", NotFound),
    ("anonymous", "private", NotFound),
    ("outsider", "private", NotFound),
    ("outsider", "shared", Forbidden),
]


@pytest.mark.parametrize(("kind", "visibility", "error"), REFUSED)
def test_readers_who_may_not_read_the_data_get_no_readings(
    shared: World, recorded: Recorded, kind: str, visibility: str, error: type[Exception]
) -> None:
    with pytest.raises(error):
        read(shared, shared.streams[visibility], kind=kind)
    with pytest.raises(error):
        latest(shared.runtime.reader, actor(shared, kind), shared.sensor_datasets[visibility])


@pytest.mark.parametrize(
    ("kind", "visibility"),
    [("anonymous", "open"), ("outsider", "open"), ("member", "private"), ("readonly", "shared")],
)
def test_readers_who_may_read_the_data_get_the_readings(
    shared: World, recorded: Recorded, kind: str, visibility: str
) -> None:
    body = read(shared, shared.streams[visibility], kind=kind)
    assert values(body) == [7.0]
    assert ObservationPage.model_validate(body).observations[0].time == format_micros(
        int(BASE.timestamp()) * 1_000_000
    )
    found = latest(shared.runtime.reader, actor(shared, kind), shared.sensor_datasets[visibility])
    assert [(item.stream, item.value) for item in found.streams] == [
        (shared.streams[visibility], 7.0)
    ]
