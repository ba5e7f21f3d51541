"""Datastreams: one device's readings of one observed property, in a sensor dataset.

A stream belongs to a dataset of kind ``sensor``; it is visible and readable exactly
as its dataset is. Readings name their stream by its name, unique per device.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, Row, select
from sqlalchemy.exc import IntegrityError

from cityshare.access import Actor, DatasetResource, ensure_allowed
from cityshare.audit.log import audit
from cityshare.catalogue.datasets import dataset_row
from cityshare.clock import utcnow
from cityshare.errors import BadRequest, Conflict, NotFound
from cityshare.search.index import reindex_dataset
from cityshare.site import Site
from cityshare.storage.rows import inserted_id, is_row_id, iso
from cityshare.storage.schema import datasets, datastreams, devices
from cityshare.streams.devices import device_row
from cityshare.streams.models import Stream

VALUE_TYPES = ("number", "string", "boolean", "object")
_TEXT_LIMITS = {"observed_property": 100, "unit": 50, "description": 10_000}


def create_stream(
    site: Site,
    actor: Actor,
    dataset: str,
    *,
    device: str,
    name: str,
    observed_property: str,
    unit: str,
    value_type: str = "number",
    description: str = "",
) -> Stream:
    """Add a datastream fed by ``device`` to a sensor dataset (editors of its organisation)."""
    _check_name(name)
    if value_type not in VALUE_TYPES:
        raise BadRequest(
            f"value_type {value_type[:20]!r} is unknown: use one of {', '.join(VALUE_TYPES)}.",
            parameter="value_type",
        )
    texts = {
        "observed_property": _text(observed_property, "observed_property", required=True),
        "unit": _text(unit, "unit", required=False),
        "description": _text(description, "description", required=False),
    }
    with site.writer.begin() as connection:
        owner = dataset_row(connection, actor, dataset, "stream.manage")
        if owner.kind != "sensor":
            raise Conflict(
                f"Dataset {dataset!r} holds tables, not sensor streams; create a dataset "
                'with "kind": "sensor" for streams.'
            )
        feeder = device_row(connection, actor, device, "device.view")
        if feeder.organisation_id != owner.organisation_id or feeder.revoked_at is not None:
            raise BadRequest(
                f"Device {device[:60]!r} is revoked or belongs to another organisation.",
                parameter="device",
            )
        row = {
            "dataset_id": owner.id,
            "device_id": feeder.id,
            "name": name,
            "value_type": value_type,
            "created_at": utcnow(),
            **texts,
        }
        try:
            with connection.begin_nested():
                inserted = connection.execute(datastreams.insert().values(row))
                stream_id = inserted_id(inserted)
        except IntegrityError:
            raise Conflict(f"Device {device} already has a stream named {name!r}.") from None
        audit(
            connection,
            actor,
            "stream.create",
            dataset_id=owner.id,
            stream_id=stream_id,
            device=device,
            detail={"name": name, "value_type": value_type},
        )
        reindex_dataset(connection, owner.id)
        return describe(_stream_row(connection, stream_id))


def list_streams(site: Site, actor: Actor, dataset: str) -> list[Stream]:
    """A sensor dataset's streams, to whoever may see the dataset."""
    with site.engine.connect() as connection:
        owner = dataset_row(connection, actor, dataset, "dataset.view")
        rows = connection.execute(
            _stream_select().where(datastreams.c.dataset_id == owner.id).order_by(datastreams.c.id)
        ).all()
    return [describe(row) for row in rows]


def get_stream(site: Site, actor: Actor, stream_id: int) -> Stream:
    """One stream's description, to whoever may see its dataset."""
    with site.engine.connect() as connection:
        return describe(stream_row(connection, actor, stream_id, "dataset.view"))


def stream_row(connection: Connection, actor: Actor, stream_id: int, action: str) -> Row[Any]:
    """The stream after checking ``action`` on its dataset; NotFound when invisible."""
    row: Row[Any] | None = _stream_row(connection, stream_id) if is_row_id(stream_id) else None
    missing = f"No stream {stream_id}, or you may not see it."
    if row is None:
        raise NotFound(missing)
    ensure_allowed(actor, action, dataset_resource_of(row), missing=missing)
    return row


def dataset_resource_of(row: Row[Any]) -> DatasetResource:
    """The access-policy view of a stream's dataset."""
    return DatasetResource(
        id=row.dataset_id, organisation_id=row.organisation_id, visibility=row.visibility
    )


def describe(row: Row[Any]) -> Stream:
    """A stream as the API shows it, with the device that feeds it."""
    described: dict[str, Any] = {
        "id": row.id,
        "name": row.name,
        "dataset": row.dataset,
        "observed_property": row.observed_property,
        "unit": row.unit,
        "value_type": row.value_type,
        "description": row.description,
        "device": {"uid": row.device_uid, "name": row.device_name, "location": row.device_location},
        "created_at": iso(row.created_at),
        "observations": f"/api/v1/streams/{row.id}/observations",
    }
    return Stream.model_validate(described)


def _stream_select() -> Any:
    return (
        select(
            datastreams,
            datasets.c.name.label("dataset"),
            datasets.c.organisation_id,
            datasets.c.visibility,
            devices.c.uid.label("device_uid"),
            devices.c.name.label("device_name"),
            devices.c.location.label("device_location"),
        )
        .join(datasets, datasets.c.id == datastreams.c.dataset_id)
        .join(devices, devices.c.id == datastreams.c.device_id)
    )


def _stream_row(connection: Connection, stream_id: int) -> Any:
    return connection.execute(_stream_select().where(datastreams.c.id == stream_id)).first()


def _check_name(name: str) -> None:
    if not isinstance(name, str) or not 1 <= len(name) <= 100 or not name.isprintable():
        raise BadRequest("A stream name is 1-100 printable characters.", parameter="name")


def _text(value: Any, field: str, *, required: bool) -> str:
    text = "" if value is None else str(value).strip()
    if (required and not text) or len(text) > _TEXT_LIMITS[field]:
        low = 1 if required else 0
        raise BadRequest(
            f"{field} must be {low}-{_TEXT_LIMITS[field]} characters.", parameter=field
        )
    return text
