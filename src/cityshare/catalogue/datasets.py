"""Datasets: metadata create, read, update, delete and listing.

:func:`get_dataset`, :func:`create_dataset` and :func:`update_dataset` return the
dataset as the API shows it, a :class:`~cityshare.catalogue.models.Dataset`.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, Row, Select, delete, select, update
from sqlalchemy.exc import IntegrityError

from cityshare.access import (
    Actor,
    DatasetResource,
    OrganisationResource,
    ensure_allowed,
    reads_whole_dataset,
)
from cityshare.accounts.organisations import organisation_id
from cityshare.audit.log import audit
from cityshare.bounds.classes import checked_classes
from cityshare.catalogue.metadata import check_visibility, clean_metadata
from cityshare.catalogue.models import Dataset
from cityshare.clock import utcnow
from cityshare.errors import BadRequest, Conflict, NotFound
from cityshare.names import check_slug
from cityshare.search.index import reindex_dataset, remove_dataset
from cityshare.site import Site
from cityshare.storage.rows import iso
from cityshare.storage.schema import dataset_versions, datasets, organisations
from cityshare.tables.drop import drop_version_tables

EDITABLE = frozenset(
    {"title", "description", "tags", "licence", "update_frequency", "spatial", "temporal"}
)
# Who sees what: the visibility, and which columns are personal or sensitive.
ADMIN_EDITABLE = frozenset({"visibility", "column_classes"})
KINDS = ("table", "sensor")


def dataset_resource(row: Any) -> DatasetResource:
    """The access-policy view of a dataset row; its owner named when the row has the
    organisation's name as ``organisation`` (as :func:`with_organisation` rows do)."""
    return DatasetResource(
        id=row.id,
        organisation_id=row.organisation_id,
        visibility=row.visibility,
        organisation_name=getattr(row, "organisation", None),
    )


def with_organisation() -> Select[Any]:
    """Datasets with their organisation's name as ``organisation``."""
    return select(datasets, organisations.c.name.label("organisation")).join(
        organisations, organisations.c.id == datasets.c.organisation_id
    )


def no_dataset(name: str) -> str:
    """What a missing dataset, or one the asker may not see, is answered with."""
    return f"No dataset named {name[:100]!r}, or you may not see it."


def dataset_row(connection: Connection, actor: Actor, name: str, action: str) -> Row[Any]:
    """The dataset called ``name`` after checking ``action``; NotFound if invisible."""
    row = connection.execute(with_organisation().where(datasets.c.name == name)).first()
    missing = no_dataset(name)
    if row is None:
        raise NotFound(missing)
    ensure_allowed(actor, action, dataset_resource(row), missing=missing)
    return row


def table_dataset_row(connection: Connection, actor: Actor, name: str) -> Row[Any]:
    """The dataset ``name`` for an upload: editors only, and only a dataset of tables."""
    row = dataset_row(connection, actor, name, "dataset.upload")
    if row.kind != "table":
        raise Conflict(
            f"Dataset {name!r} holds live sensor streams; files are uploaded to datasets "
            'of kind "table".'
        )
    return row


def describe(row: Row[Any], actor: Actor) -> Dataset:
    """The description of a dataset; with its column classes for ``actor`` if an owner
    (the classes name personal columns, which others do not see)."""
    described = metadata_of(row)
    if reads_whole_dataset(actor, dataset_resource(row)):
        described["column_classes"] = dict(row.column_classes or {})
    return Dataset.model_validate(described)


def metadata_of(row: Row[Any]) -> dict[str, Any]:
    """A dataset's metadata as everyone who may see it sees it (no column classes)."""
    return {
        "name": row.name,
        "title": row.title,
        "description": row.description,
        "tags": list(row.tags or []),
        "licence": row.licence,
        "organisation": row.organisation,
        "visibility": row.visibility,
        "kind": row.kind,
        "update_frequency": row.update_frequency,
        "spatial": row.spatial,
        "temporal": {"start": row.temporal_start, "end": row.temporal_end},
        "current_version": row.current_version,
        "created_at": iso(row.created_at),
        "modified_at": iso(row.modified_at),
    }


def check_new_dataset(
    site: Site, actor: Actor, *, organisation: str, name: str, visibility: str
) -> None:
    """Refuse now what :func:`create_dataset` would refuse later: a bad name or
    visibility, an organisation the actor may not publish in (or open data for), a
    name that is taken. For forms that receive a file before they create the dataset."""
    check_slug(name, "dataset")
    check_visibility(visibility)
    with site.engine.connect() as connection:
        owner = organisation_id(connection, organisation)
        _check_may_publish(actor, owner, organisation, visibility)
        taken = connection.execute(select(datasets.c.id).where(datasets.c.name == name)).first()
    if taken is not None:
        raise Conflict(f"The dataset name {name!r} is taken.")


def _check_may_publish(actor: Actor, owner: int, organisation: str, visibility: str) -> None:
    """Refuse an actor who may not publish in the organisation, or open data up there:
    opening data up is an admin's decision, at creation as later."""
    ensure_allowed(actor, "dataset.create", OrganisationResource(owner, organisation))
    if visibility != "private":
        draft = DatasetResource(
            id=0, organisation_id=owner, visibility="private", organisation_name=organisation
        )
        ensure_allowed(actor, "dataset.visibility", draft)


def create_dataset(
    site: Site, actor: Actor, *, organisation: str, name: str, **metadata: Any
) -> Dataset:
    """Create a dataset (no data yet) owned by ``organisation``; editors and admins."""
    check_slug(name, "dataset")
    kind = metadata.pop("kind", "table")
    if kind not in KINDS:
        raise BadRequest(f"kind must be one of {', '.join(KINDS)}.", parameter="kind")
    classes = checked_classes(metadata.pop("column_classes", None) or {})
    values = clean_metadata({"visibility": "private", **metadata})
    if classes:
        values["column_classes"] = classes
    values.setdefault("title", name)
    with site.writer.begin() as connection:
        owner = organisation_id(connection, organisation)
        _check_may_publish(actor, owner, organisation, values["visibility"])
        now = utcnow()
        row = {
            "name": name,
            "description": "",
            "tags": [],
            **values,
            "kind": kind,
            "organisation_id": owner,
            "created_by": actor.user_id,
            "created_at": now,
            "modified_at": now,
        }
        try:
            with connection.begin_nested():
                connection.execute(datasets.insert().values(row))
        except IntegrityError:
            raise Conflict(f"The dataset name {name!r} is taken.") from None
        created = dataset_row(connection, actor, name, "dataset.view")
        reindex_dataset(connection, created.id)
        audit(
            connection,
            actor,
            "dataset.create",
            dataset_id=created.id,
            dataset=name,
            detail={"visibility": created.visibility, "kind": kind},
        )
        return describe(created, actor)


def get_dataset(site: Site, actor: Actor, name: str) -> Dataset:
    """A dataset's metadata, if the actor may see it."""
    with site.engine.connect() as connection:
        return describe(dataset_row(connection, actor, name, "dataset.view"), actor)


def update_dataset(site: Site, actor: Actor, name: str, changes: dict[str, Any]) -> Dataset:
    """Change a dataset's metadata (editors); its visibility too (admins)."""
    unknown = set(changes) - EDITABLE - ADMIN_EDITABLE
    if unknown:
        raise BadRequest(
            f"Cannot change {sorted(unknown)}: editable fields are "
            f"{sorted(EDITABLE | ADMIN_EDITABLE)}.",
            parameter=sorted(unknown)[0],
        )
    changes = dict(changes)
    classes = changes.pop("column_classes", None)
    values = clean_metadata(changes)
    with site.writer.begin() as connection:
        row = dataset_row(connection, actor, name, "dataset.update")
        if "visibility" in values:
            check_visibility(values["visibility"])
            ensure_allowed(actor, "dataset.visibility", dataset_resource(row))
        if classes is not None:
            ensure_allowed(actor, "dataset.visibility", dataset_resource(row))
            values["column_classes"] = {**(row.column_classes or {}), **checked_classes(classes)}
        if values:
            restricting = "visibility" in values or "column_classes" in values
            action = "dataset.visibility" if restricting else "dataset.update"
            audit(connection, actor, action, dataset_id=row.id, dataset=name, detail=values)
            values["modified_at"] = utcnow()
            connection.execute(update(datasets).where(datasets.c.id == row.id).values(values))
            reindex_dataset(connection, row.id)
        return describe(dataset_row(connection, actor, name, "dataset.view"), actor)


def delete_dataset(site: Site, actor: Actor, name: str) -> None:
    """Delete a dataset with all its versions and their tables (admins)."""
    with site.writer.begin() as connection:
        row = dataset_row(connection, actor, name, "dataset.delete")
        table_names = connection.execute(
            select(dataset_versions.c.table_name).where(dataset_versions.c.dataset_id == row.id)
        ).scalars()
        drop_version_tables(connection, list(table_names))
        remove_dataset(connection, row.id)
        connection.execute(delete(dataset_versions).where(dataset_versions.c.dataset_id == row.id))
        connection.execute(delete(datasets).where(datasets.c.id == row.id))
        audit(connection, actor, "dataset.delete", dataset_id=row.id, dataset=name)
