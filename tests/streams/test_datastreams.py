"""Datastreams (cityshare.streams.datastreams), called as functions with an Actor: made by
the editors of the dataset's owner for one of its own live devices, and seen exactly as
their dataset is."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import func, select

from cityshare.errors import BadRequest, Conflict, Forbidden, NotFound, Unauthorized
from cityshare.storage.schema import datastreams
from cityshare.streams import devices
from cityshare.streams.datastreams import create_stream, get_stream, list_streams
from cityshare.streams.models import Stream, StreamDevice
from tests.streams.support import LOCATION, actor, audit_seq, register, sensor_dataset
from tests.world import World, audit_entries


def stream_count(world: World) -> int:
    with world.site.engine.connect() as connection:
        return int(connection.execute(select(func.count()).select_from(datastreams)).scalar_one())


def make(world: World, dataset: str, device: str, kind: str = "editor", **fields: Any) -> Stream:
    """A stream of ``device`` in ``dataset`` made by ``kind``: no2 in µg/m³ unless
    ``fields`` say otherwise."""
    values: dict[str, Any] = {
        "name": "no2",
        "observed_property": "no2",
        "unit": "µg/m³",
        **fields,
    }
    return create_stream(world.site, actor(world, kind), dataset, device=device, **values)


def test_an_editor_adds_a_stream_fed_by_a_device_of_the_organisation(shared: World) -> None:
    dataset = sensor_dataset(shared)
    device, _ = register(shared)
    before = audit_seq(shared)
    made = make(shared, dataset, device.uid, description="Roadside, 3 m up")
    assert type(made) is Stream
    assert (made.name, made.dataset, made.observed_property, made.unit) == (
        "no2",
        dataset,
        "no2",
        "µg/m³",
    )
    assert made.value_type == "number" and made.description == "Roadside, 3 m up"
    assert made.device == StreamDevice(uid=device.uid, name=device.name, location=LOCATION)
    assert made.observations == f"/api/v1/streams/{made.id}/observations"
    assert made.created_at.endswith("Z")
    fed = devices.get_device(shared.site, actor(shared, "member"), device.uid)
    assert [(stream.id, stream.name) for stream in fed.streams] == [(made.id, "no2")]
    [entry] = audit_entries(shared.site, before)
    assert entry["action"] == "stream.create"
    assert entry["detail"] == {"name": "no2", "value_type": "number"}


@pytest.mark.parametrize("value_type", ["number", "string", "boolean", "object"])
def test_every_value_type_is_accepted(shared: World, value_type: str) -> None:
    device, _ = register(shared)
    made = make(shared, sensor_dataset(shared), device.uid, value_type=value_type)
    assert made.value_type == value_type
    assert get_stream(shared.site, actor(shared, "member"), made.id).value_type == value_type


@pytest.mark.parametrize(
    ("fields", "parameter"),
    [
        ({"value_type": "float"}, "value_type"),
        ({"name": ""}, "name"),
        ({"name": "n" * 101}, "name"),
        ({"name": "no2\x00"}, "name"),
        ({"observed_property": "  "}, "observed_property"),
        ({"unit": "u" * 51}, "unit"),
    ],
    ids=["unknown-type", "empty-name", "overlong-name", "nul-in-name", "no-property", "long-unit"],
)
def test_bad_fields_are_refused_naming_them(
    shared: World, fields: dict[str, Any], parameter: str
) -> None:
    device, _ = register(shared)
    dataset = sensor_dataset(shared)
    count = stream_count(shared)
    with pytest.raises(BadRequest) as refused:
        make(shared, dataset, device.uid, **fields)
    assert refused.value.extra["parameter"] == parameter
    assert stream_count(shared) == count


def test_a_device_has_one_stream_of_a_name(shared: World) -> None:
    device, _ = register(shared)
    other, _ = register(shared)
    dataset = sensor_dataset(shared)
    make(shared, dataset, device.uid)
    count = stream_count(shared)
    with pytest.raises(Conflict):
        make(shared, dataset, device.uid, observed_property="pm10")
    assert stream_count(shared) == count
    # Another device's stream may have the name.
    assert make(shared, dataset, other.uid).device.uid == other.uid


@pytest.mark.parametrize(
    ("kind", "visibility", "error"),
    [
        ("member", "open", Forbidden),
        ("readonly", "open", Forbidden),
        ("outsider", "open", Forbidden),
        ("outsider", "private", NotFound),
        ("anonymous", "open", Unauthorized),
        ("anonymous", "shared", NotFound),
    ],
)
def test_only_the_owners_editors_add_streams(
    shared: World, kind: str, visibility: str, error: type[Exception]
) -> None:
    device, _ = register(shared)
    dataset = sensor_dataset(shared, visibility)
    count = stream_count(shared)
    with pytest.raises(error):
        make(shared, dataset, device.uid, kind)
    assert stream_count(shared) == count


def test_a_device_of_another_organisation_is_refused(shared: World) -> None:
    theirs, _ = register(shared, "outsider", organisation="partner")
    dataset = sensor_dataset(shared)
    count = stream_count(shared)
    # City's editor does not even see partner's device...
    with pytest.raises(NotFound):
        make(shared, dataset, theirs.uid)
    # ...and a site administrator, who sees both, may not join them.
    with pytest.raises(BadRequest) as refused:
        make(shared, dataset, theirs.uid, "siteadmin")
    assert refused.value.extra["parameter"] == "device"
    assert stream_count(shared) == count


def test_a_revoked_device_feeds_no_new_stream(shared: World) -> None:
    device, _ = register(shared)
    devices.revoke_device(shared.site, actor(shared, "editor"), device.uid)
    with pytest.raises(BadRequest) as refused:
        make(shared, sensor_dataset(shared), device.uid)
    assert refused.value.extra["parameter"] == "device"


def test_a_dataset_of_tables_takes_no_streams(shared: World) -> None:
    device, _ = register(shared)
    count = stream_count(shared)
    with pytest.raises(Conflict):
        make(shared, shared.datasets["open"], device.uid)
    assert stream_count(shared) == count


# Seeing streams


@pytest.mark.parametrize(
    ("kind", "visible"),
    [
        ("anonymous", {"open"}),
        ("outsider", {"open", "shared"}),
        ("member", {"open", "shared", "private"}),
        ("readonly", {"open", "shared", "private"}),
    ],
)
def test_a_stream_is_seen_exactly_as_its_dataset(
    shared: World, kind: str, visible: set[str]
) -> None:
    who = actor(shared, kind)
    for visibility, stream_id in shared.streams.items():
        dataset = shared.sensor_datasets[visibility]
        if visibility in visible:
            seen = get_stream(shared.site, who, stream_id)
            assert (seen.id, seen.name, seen.dataset) == (stream_id, f"no2-{visibility}", dataset)
            assert [s.id for s in list_streams(shared.site, who, dataset)] == [stream_id]
        else:
            with pytest.raises(NotFound):
                get_stream(shared.site, who, stream_id)
            with pytest.raises(NotFound):
                list_streams(shared.site, who, dataset)


def test_a_datasets_streams_are_listed_in_the_order_they_were_made(shared: World) -> None:
    device, _ = register(shared)
    dataset = sensor_dataset(shared)
    made = [make(shared, dataset, device.uid, name=name) for name in ("z", "a", "m")]
    listed = list_streams(shared.site, actor(shared, "anonymous"), dataset)
    assert all(type(stream) is Stream for stream in listed)
    assert listed == made


@pytest.mark.parametrize("stream_id", [0, -1, 2**63, 10**6])
def test_a_stream_that_is_not_there_is_not_found(shared: World, stream_id: int) -> None:
    with pytest.raises(NotFound):
        get_stream(shared.site, actor(shared, "siteadmin"), stream_id)
