"""The resources the catalogue answers with, as the API describes them (issue 18, part 3).

Some answers leave a field out rather than sending it empty: a dataset's
``column_classes`` (shown to its owners only), a version's whole-table figures (shown as
far as the reader's bounds allow), a Table Schema's optional properties. Such fields
default to None here and are built only from the keys the service gave, so routes that
send them declare ``response_model_exclude_unset=True``: a field left out stays out.

A Table Schema, and so a Data Package, is a Frictionless document that its publisher may
extend: the properties the platform reads or adds are named, others are kept as given.
"""

from __future__ import annotations

from typing import Any

from pydantic import ConfigDict, Field

from cityshare.resource import Resource

_OPEN = ConfigDict(frozen=True, extra="allow", populate_by_name=True)


class Temporal(Resource):
    """The period a dataset covers, as its publisher wrote it."""

    start: str | None
    end: str | None


class DatasetBase(Resource):
    """A dataset's metadata, as everyone who may see it sees it."""

    name: str = Field(description="Its slug, as in URLs and SQL.")
    title: str
    description: str
    tags: list[str]
    licence: str | None = Field(description="An SPDX identifier.")
    organisation: str = Field(description="The name of the organisation that publishes it.")
    visibility: str = Field(description="open, shared or private.")
    kind: str = Field(description="table (files of rows) or sensor (live streams).")
    update_frequency: str | None
    spatial: Any = Field(description="The area it covers, as its publisher gave it.")
    temporal: Temporal
    current_version: int | None = Field(description="The number of its current version.")
    created_at: str = Field(description="RFC 3339, UTC.")
    modified_at: str = Field(description="RFC 3339, UTC.")


class Dataset(DatasetBase):
    """A dataset's metadata; its column classes only for its owners."""

    column_classes: dict[str, str] | None = Field(
        None,
        description="Each classified column's class (personal or sensitive); only sent to "
        "those who read the whole dataset.",
    )


class ListedDataset(DatasetBase):
    """A dataset found by a search."""

    formats: list[str] = Field(description="The formats the asker can read it in.")


class FacetValue(Resource):
    """One value of a facet and how many of the matched datasets have it."""

    name: str
    count: int


class DatasetPage(Resource):
    """One page of a search of the catalogue."""

    count: int = Field(description="How many datasets match, on every page.")
    datasets: list[ListedDataset]
    facets: dict[str, list[FacetValue]] = Field(
        description="For each facet asked for, its values, largest count first."
    )
    next: str | None = Field(description="The next page's URL; null on the last page.")


class TableField(Resource):
    """A field of a Table Schema; other Frictionless properties are kept as given."""

    model_config = _OPEN

    name: str
    type: str = Field(description="A Frictionless field type (string, integer, datetime…).")
    format: Any = None
    title: Any = None
    description: Any = None
    constraints: Any = None
    classification: str | None = Field(
        None, description="The column's class: public, personal or sensitive."
    )
    pseudonymised: bool | None = Field(
        None,
        alias="x-cityshare-pseudonymised",
        description="Its values are pseudonyms, for this reader.",
    )


class TableSchema(Resource):
    """A Frictionless Table Schema, as the reader would read the data."""

    model_config = _OPEN

    fields: list[TableField]
    missingValues: list[str] | None = None
    point: dict[str, Any] | None = Field(
        None,
        alias="x-cityshare-point",
        description="The fields holding a point's longitude and latitude.",
    )
    primaryKey: Any = None
    foreignKeys: Any = None

    def document(self) -> dict[str, Any]:
        """The schema as a JSON document: the properties given, by their Frictionless
        names."""
        return self.model_dump(by_alias=True, exclude_unset=True)


class Version(Resource):
    """A version of a dataset's data; its whole-table figures only as far as the reader's
    bounds allow."""

    number: int
    row_count: int | None = None
    media_type: str = Field(description="The media type of the file it was made from.")
    source_name: str | None = Field(description="The name of the file it was made from.")
    byte_size: int | None = Field(None, description="The size of that file, in bytes.")
    sha256: str | None = Field(None, description="That file's SHA-256, hexadecimal.")
    created_at: str = Field(description="RFC 3339, UTC.")


class RecordsChanged(Version):
    """A version made by changing rows by primary key (CKAN's ``datastore_upsert``)."""

    inserted: int
    updated: int


class RecordsDeleted(Version):
    """A version made by deleting rows (CKAN's ``datastore_delete``)."""

    deleted: int


class VersionDetail(Version):
    """A version with its Table Schema."""

    schema_: TableSchema = Field(alias="schema")


class Contributor(Resource):
    """Who contributed to a Data Package."""

    title: str
    role: str


class PackageLicence(Resource):
    """A Data Package's licence."""

    name: str = Field(description="An SPDX identifier.")
    path: str


class PackageResource(Resource):
    """A resource of a Data Package: a CSV export with its Table Schema."""

    profile: str
    name: str
    title: str
    path: str = Field(description="Where to download it.")
    format: str
    mediatype: str
    encoding: str
    schema_: TableSchema = Field(alias="schema")


class DataPackage(Resource):
    """A dataset as a Frictionless (tabular) Data Package."""

    profile: str
    name: str
    title: str
    description: str
    keywords: list[str]
    homepage: str
    contributors: list[Contributor]
    version: str | None = Field(None, description="The current version's number (tables).")
    created: str | None = Field(None, description="When that version was published.")
    resources: list[PackageResource]
    licenses: list[PackageLicence] | None = None


class RowsPage(Resource):
    """A page of rows (documented only: the rows route writes its own bytes)."""

    rows: list[dict[str, Any]] = Field(description="Each row as {field: value}.")
    next: str | None = Field(description="The cursor of the next page; null on the last.")
    total: int | None = Field(None, description="How many rows match; with _count=true only.")
    version: int = Field(description="The version read.")


class GroupsPage(Resource):
    """Aggregates over groups of rows, with _group or _agg (documented only)."""

    groups: list[dict[str, Any]] = Field(
        description="Each group's keys and aggregates, e.g. {'junction': 'A', 'count': 3}."
    )
    truncated: bool = Field(description="Whether _limit cut groups off.")
    version: int = Field(description="The version read.")


class GeoJsonFeatures(Resource):
    """Rows as a GeoJSON FeatureCollection (documented only)."""

    type: str = Field(description="FeatureCollection.")
    features: list[dict[str, Any]]


class SqlDataset(Resource):
    """A dataset a SQL statement read."""

    name: str
    version: int
    grant: int | None = Field(description="The grant it was read under, if any.")


class SqlResult(Resource):
    """The result of a SQL statement (documented only: the route writes its own bytes)."""

    columns: list[str]
    rows: list[list[Any]]
    truncated: bool = Field(description="Whether the row or byte limit cut rows off.")
    truncated_by: str | None = Field(description="rows or bytes, when truncated.")
    datasets: list[SqlDataset]


class AuditExportLine(Resource):
    """One line of the audit export: an entry of the hash-chained log."""

    seq: int
    at: str = Field(description="RFC 3339, UTC.")
    content: str = Field(description="The entry as the canonical JSON that was hashed.")
    prev_hash: str
    content_hash: str
    hash: str
