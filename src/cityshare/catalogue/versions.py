"""Dataset versions: publish a file as a new immutable version; open one for querying.

:func:`list_versions` and :func:`get_version` return the resources the API shows.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Select, bindparam, func, select, update

from cityshare.access import Actor, DatasetResource, ensure_allowed, reads_whole_dataset
from cityshare.audit.log import audit
from cityshare.bounds.classes import carried_classes, stricter_from_schema
from cityshare.bounds.view import ReadView, read_view, visible_schema
from cityshare.catalogue.datasets import (
    dataset_resource,
    dataset_row,
    no_dataset,
    table_dataset_row,
)
from cityshare.catalogue.models import Version, VersionDetail
from cityshare.catalogue.reader import VersionTableCache
from cityshare.catalogue.version_figures import rows_are_bounded, shown_figures, within_bounds
from cityshare.clock import utcnow
from cityshare.errors import Conflict, NotFound
from cityshare.search.index import reindex_dataset
from cityshare.site import Site
from cityshare.storage.rows import as_dict
from cityshare.storage.schema import dataset_versions, datasets, organisations
from cityshare.tables import load_into_table
from cityshare.tables.model import VersionTable, version_table

_SUMMARY = ("number", "row_count", "media_type", "source_name", "byte_size", "sha256")


@dataclass(frozen=True)
class OpenVersion:
    """A version ready to query: which dataset, which number, which table."""

    dataset: DatasetResource
    dataset_name: str
    number: int
    table: VersionTable  # the whole stored table
    view: ReadView  # what this reader may query of it

    @property
    def grant_id(self) -> int | None:
        """The grant the read runs under, if any."""
        return self.view.grant_id


def publish_version(
    site: Site,
    actor: Actor,
    name: str,
    *,
    source: Path,
    media_type: str,
    schema: dict[str, Any] | None = None,
    source_name: str | None = None,
    progress: Callable[[int], None] | None = None,
    based_on: int | None = None,
    carry_classes: Mapping[str, str | None] | None = None,
) -> Version:
    """Load ``source`` as the dataset's new current version, all or nothing.

    Rows go into a new typed table inside one transaction, so a failure of any kind
    leaves the previous version current and intact. ``based_on`` is the version the
    file was computed from, if any: when another version became current meanwhile, the
    upload is refused (Conflict) instead of silently dropping that version's changes.
    ``carry_classes`` is the publisher's decision on classified columns the new file
    lacks (see :func:`~cityshare.bounds.classes.carried_classes`); without one for each,
    the upload is refused.
    """
    byte_size, digest = _file_digest(source)
    with site.writer.begin() as connection:
        row = table_dataset_row(connection, actor, name)
        _lock_dataset(connection, row.id)
        if based_on is not None:
            _check_still_current(connection, row.id, based_on)
        number = _next_number(connection, row.id)
        table_name = f"dsv_{row.id}_{number}"
        loaded = load_into_table(
            connection,
            source=source,
            media_type=media_type,
            table_name=table_name,
            schema=schema,
            limits=site.settings.limits,
            progress=progress,
        )
        now = utcnow()
        connection.execute(
            dataset_versions.insert().values(
                dataset_id=row.id,
                number=number,
                table_name=table_name,
                schema=loaded.schema,
                row_count=loaded.row_count,
                media_type=media_type.split(";")[0].strip(),
                source_name=(source_name or "")[:300] or None,
                byte_size=byte_size,
                sha256=digest,
                created_by=actor.user_id,
                created_at=now,
            )
        )
        changes: dict[str, Any] = {"current_version": number, "modified_at": now}
        classes = _classes_after(connection, row, loaded.schema, schema, carry_classes)
        if classes is not None:
            changes["column_classes"] = classes
        connection.execute(update(datasets).where(datasets.c.id == row.id).values(changes))
        reindex_dataset(connection, row.id)
        audit(
            connection,
            actor,
            "dataset.upload",
            dataset_id=row.id,
            dataset=name,
            detail={
                "version": number,
                "rows": loaded.row_count,
                "sha256": digest,
                **({"carry_classes": dict(carry_classes)} if carry_classes else {}),
            },
        )
        return Version.model_validate(_version_summary(connection, row.id, number))


def list_versions(site: Site, actor: Actor, name: str) -> list[Version]:
    """All versions of a dataset, newest first (without schemas), each with the
    whole-table figures the reader's bounds allow (see :mod:`.version_figures`; a figure
    not shown is unset)."""
    with site.engine.connect() as connection:
        row = dataset_row(connection, actor, name, "dataset.view")
        dataset = dataset_resource(row)
        columns = [*(dataset_versions.c[key] for key in _SUMMARY), dataset_versions.c.created_at]
        if not reads_whole_dataset(actor, dataset) and not rows_are_bounded(actor, dataset):
            columns.append(dataset_versions.c.schema)  # which columns each version had
        rows = connection.execute(
            select(*columns)
            .where(dataset_versions.c.dataset_id == row.id)
            .order_by(dataset_versions.c.number.desc())
        ).all()
    listed = []
    for version in rows:
        summary = as_dict(version)
        schema = summary.pop("schema", None)
        shown = shown_figures(actor, dataset, schema, row.column_classes)
        listed.append(Version.model_validate(within_bounds(summary, shown)))
    return listed


def get_version(site: Site, actor: Actor, name: str, number: int | None) -> VersionDetail:
    """One version with its Table Schema (default: the current version), both as far as
    the reader's bounds allow."""
    with site.engine.connect() as connection:
        row = dataset_row(connection, actor, name, "dataset.view")
        wanted = _wanted_number(row, number)
        summary = _version_summary(connection, row.id, wanted, with_schema=True)
    dataset, schema, classes = dataset_resource(row), summary["schema"], row.column_classes
    summary = within_bounds(summary, shown_figures(actor, dataset, schema, classes))
    summary["schema"] = visible_schema(actor, dataset, schema, classes)
    return VersionDetail.model_validate(summary)


def open_version(
    site: Site,
    actor: Actor,
    name: str,
    number: int | None,
    connection: Connection | None = None,
    *,
    tables: VersionTableCache | None = None,
) -> OpenVersion:
    """The version to read rows from, after checking the actor may read the data;
    looked up on ``connection`` when given (the one the rows are then read on).

    This is the query API's hot path: one indexed query finds the dataset and the
    wanted version together; the version's table comes from ``tables`` when cached there.
    """
    if connection is None:
        with site.engine.connect() as own:
            return open_version(site, actor, name, number, own, tables=tables)
    statement = _OPEN_CURRENT if number is None else _OPEN_NUMBERED
    row = connection.execute(statement, {"name": name, "number": number}).first()
    if row is None:
        raise NotFound(no_dataset(name))
    ensure_allowed(actor, "dataset.read", dataset_resource(row), missing=no_dataset(name))
    if row.table_name is None:
        _wanted_number(row, number)  # explains a dataset without data
        raise NotFound(f"Dataset {name!r} has no version {number}.")
    cached = tables.get((row.table_name, row.created_at)) if tables is not None else None
    table = cached or _load_table(connection, row.table_name, row.created_at, tables)
    resource = dataset_resource(row)
    view = read_view(actor, resource, table, row.column_classes, site.secret_key)
    return OpenVersion(
        dataset=resource, dataset_name=name, number=row.number, table=table, view=view
    )


def _open_statement(wanted_number: Any) -> Select[Any]:
    """The dataset called :name joined to one version, with its organisation's name for
    refusals (built once: the query API's hot path)."""
    return (
        select(
            datasets.c.id,
            datasets.c.name,
            datasets.c.organisation_id,
            datasets.c.visibility,
            datasets.c.current_version,
            datasets.c.column_classes,
            datasets.c.kind,
            organisations.c.name.label("organisation"),
            dataset_versions.c.number,
            dataset_versions.c.table_name,
            dataset_versions.c.created_at,
        )
        .join(organisations, organisations.c.id == datasets.c.organisation_id)
        .outerjoin(
            dataset_versions,
            (dataset_versions.c.dataset_id == datasets.c.id)
            & (dataset_versions.c.number == wanted_number),
        )
        .where(datasets.c.name == bindparam("name"))
    )


_OPEN_CURRENT = _open_statement(datasets.c.current_version)
_OPEN_NUMBERED = _open_statement(bindparam("number"))


def _load_table(
    connection: Connection,
    table_name: str,
    created_at: datetime,
    tables: VersionTableCache | None,
) -> VersionTable:
    schema = connection.execute(
        select(dataset_versions.c.schema).where(dataset_versions.c.table_name == table_name)
    ).scalar_one()
    loaded = version_table(table_name, schema)
    return tables.remember(created_at, loaded) if tables is not None else loaded


def _wanted_number(row: Any, number: int | None) -> int:
    if number is not None:
        return number
    if row.current_version is None and row.kind == "sensor":
        raise NotFound(
            f"Dataset {row.name!r} holds live sensor readings, not rows: read them at "
            f"/api/v1/datasets/{row.name}/latest, or per stream at "
            "/api/v1/streams/{id}/observations (its streams are listed at "
            f"/api/v1/datasets/{row.name}/streams)."
        )
    if row.current_version is None:
        raise NotFound(f"Dataset {row.name!r} has no data yet: upload a file first.")
    return int(row.current_version)


def _version_summary(
    connection: Connection, dataset_id: int, number: int, *, with_schema: bool = False
) -> dict[str, Any]:
    columns = [dataset_versions.c[key] for key in _SUMMARY]
    columns.append(dataset_versions.c.created_at)
    if with_schema:
        columns.append(dataset_versions.c.schema)
    row = connection.execute(
        select(*columns).where(
            dataset_versions.c.dataset_id == dataset_id, dataset_versions.c.number == number
        )
    ).first()
    if row is None:
        raise NotFound(f"No version {number} of this dataset.")
    return as_dict(row)


def _classes_after(
    connection: Connection,
    row: Any,
    loaded: Mapping[str, Any],
    declared: Mapping[str, Any] | None,
    carry: Mapping[str, str | None] | None,
) -> dict[str, str] | None:
    """The dataset's classes with the new version (None: unchanged): classified columns
    it lacks carried as the publisher decided, then raised by the uploaded schema."""
    before = _field_names(_current_schema(connection, row))
    carried = carried_classes(row.column_classes, before, _field_names(loaded), carry)
    current = row.column_classes if carried is None else carried
    raised = stricter_from_schema(current, declared or {})
    return raised if raised is not None else carried


def _current_schema(connection: Connection, row: Any) -> Mapping[str, Any]:
    if row.current_version is None:
        return {}
    schema = connection.execute(
        select(dataset_versions.c.schema).where(
            dataset_versions.c.dataset_id == row.id,
            dataset_versions.c.number == row.current_version,
        )
    ).scalar_one()
    return dict(schema or {})


def _field_names(schema: Mapping[str, Any]) -> list[str]:
    return [str(spec.get("name")) for spec in schema.get("fields", []) if isinstance(spec, dict)]


def _lock_dataset(connection: Connection, dataset_id: int) -> None:
    # PostgreSQL: serialise concurrent uploads to one dataset (SQLite already holds
    # the database write lock; SQLAlchemy omits FOR UPDATE there).
    connection.execute(select(datasets.c.id).where(datasets.c.id == dataset_id).with_for_update())


def _check_still_current(connection: Connection, dataset_id: int, number: int) -> None:
    current = connection.execute(
        select(datasets.c.current_version).where(datasets.c.id == dataset_id)
    ).scalar_one()
    if current != number:
        raise Conflict(
            f"Version {current} was published while this change was computed from version "
            f"{number}: repeat the change."
        )


def _next_number(connection: Connection, dataset_id: int) -> int:
    latest = connection.execute(
        select(func.max(dataset_versions.c.number)).where(
            dataset_versions.c.dataset_id == dataset_id
        )
    ).scalar_one()
    return int(latest or 0) + 1


def _file_digest(path: Path) -> tuple[int, str]:
    digest = hashlib.sha256()
    size = 0
    with path.open("rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
            size += len(chunk)
    return size, digest.hexdigest()
