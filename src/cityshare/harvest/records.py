"""Harvest records: which local dataset each remote dataset of a source became.

One row per harvested dataset, unique per (source, remote id): that is how a second run
finds the dataset the first one made and updates it instead of making another. Deleting
the dataset deletes its record (the foreign key cascades), so a later run makes it again.
These rows are the harvest's own bookkeeping; every change to a dataset itself goes
through the catalogue services and their access checks.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, select, update

from cityshare.clock import utcnow
from cityshare.site import Site
from cityshare.storage.schema import datasets, harvest_records


@dataclass(frozen=True)
class Record:
    """Where a local dataset came from."""

    id: int
    remote_id: str
    dataset_id: int
    dataset_name: str
    data_sha256: str | None


def find_record(site: Site, source: str, remote_id: str) -> Record | None:
    """The record of ``remote_id`` from ``source``, if it was harvested before."""
    statement = _records().where(
        harvest_records.c.source_url == source, harvest_records.c.remote_id == remote_id
    )
    with site.engine.connect() as connection:
        row = connection.execute(statement).first()
    return None if row is None else Record(*row)


def records_of(site: Site, source: str) -> list[Record]:
    """Every record of ``source``, by local name."""
    statement = _records().where(harvest_records.c.source_url == source).order_by(datasets.c.name)
    with site.engine.connect() as connection:
        return [Record(*row) for row in connection.execute(statement)]


def add_record(site: Site, source: str, remote_id: str, dataset_name: str) -> Record:
    """Record that the local dataset ``dataset_name`` is ``remote_id`` of ``source``."""
    with site.writer.begin() as connection:
        dataset_id = connection.execute(
            select(datasets.c.id).where(datasets.c.name == dataset_name)
        ).scalar_one()
        record_id = connection.execute(
            harvest_records.insert()
            .values(
                source_url=source,
                remote_id=remote_id,
                dataset_id=dataset_id,
                harvested_at=utcnow(),
            )
            .returning(harvest_records.c.id)
        ).scalar_one()
    return Record(int(record_id), remote_id, int(dataset_id), dataset_name, None)


def touch_record(
    site: Site,
    record: Record,
    *,
    remote_name: str,
    remote_modified: str | None,
    data_sha256: str | None,
) -> None:
    """Note what the source said this time, and when it was harvested."""
    values: dict[str, Any] = {
        "remote_name": remote_name[:300] or None,
        "remote_modified": (remote_modified or "")[:40] or None,
        "harvested_at": utcnow(),
    }
    if data_sha256 is not None:
        values["data_sha256"] = data_sha256
    with site.writer.begin() as connection:
        connection.execute(
            update(harvest_records).where(harvest_records.c.id == record.id).values(values)
        )


def _records() -> Select[Any]:
    return select(
        harvest_records.c.id,
        harvest_records.c.remote_id,
        harvest_records.c.dataset_id,
        datasets.c.name,
        harvest_records.c.data_sha256,
    ).join(datasets, datasets.c.id == harvest_records.c.dataset_id)
