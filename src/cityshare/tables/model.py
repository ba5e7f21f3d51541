"""The contract between stored tables and everything that reads them.

A dataset version is stored as one real SQL table named
``dsv_<dataset id>_<version number>``.
Its columns are never named after user text: field *i* (0-based) of the
Frictionless Table Schema is stored in column ``c<i>``, so header names that are
SQL keywords, contain quotes or are very long are harmless. The table also has
``_id``, a surrogate key in file order that keyset paging uses as a tie-breaker.

A ``geojson`` field (cityshare's geometry type) keeps the geometry as GeoJSON
text in ``c<i>`` plus its bounding box in ``c<i>_minx``, ``c<i>_miny``,
``c<i>_maxx`` and ``c<i>_maxy`` for ``bbox`` filters. A table with number
fields for longitude and latitude has a point geometry built from them; the
schema names them in the custom property ``"x-cityshare-point"``.
"""

from __future__ import annotations

from dataclasses import dataclass
from dataclasses import field as dataclass_field
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Date,
    DateTime,
    Double,
    Index,
    Integer,
    MetaData,
    Table,
    Text,
)
from sqlalchemy.types import TypeEngine

FIELD_TYPES = ("integer", "number", "boolean", "date", "datetime", "string", "geojson")
GEOMETRY_TYPE = "geojson"
# A field a grantee sees only as keyed hashes of its values (see cityshare.sharing).
PSEUDONYM_TYPE = "pseudonym"
POINT_PROPERTY = "x-cityshare-point"
ROW_ID = "_id"
BBOX_SUFFIXES = ("minx", "miny", "maxx", "maxy")

_SQL_TYPES: dict[str, TypeEngine[Any]] = {
    "integer": BigInteger(),
    "number": Double(),
    "boolean": Boolean(),
    "date": Date(),
    "datetime": DateTime(),
    # Code point order on PostgreSQL too (as SQLite's BINARY), so text sorts the same on
    # both engines and the query module's COLLATE "C" ordering can use the indexes.
    "string": Text().with_variant(Text(collation="C"), "postgresql"),
    "geojson": Text(),
}


@dataclass(frozen=True)
class Field:
    """One field of a stored table: its public name and type, its private column."""

    name: str
    type: str
    position: int
    # For a pseudonym field: the grant's key its values are hashed with.
    key: bytes | None = dataclass_field(default=None, repr=False)

    @property
    def column(self) -> str:
        """The SQL column holding this field."""
        return f"c{self.position}"

    def bbox_columns(self) -> tuple[str, str, str, str]:
        """Columns of this geometry field's bounding box (minx, miny, maxx, maxy)."""
        return tuple(f"{self.column}_{suffix}" for suffix in BBOX_SUFFIXES)  # type: ignore[return-value]


@dataclass(frozen=True)
class PointColumns:
    """Number fields that together form a point geometry."""

    longitude: Field
    latitude: Field


@dataclass(frozen=True)
class VersionTable:
    """A dataset version's SQL table with its fields."""

    table: Table
    fields: tuple[Field, ...]
    geometry: Field | None
    point: PointColumns | None

    def field(self, name: str) -> Field | None:
        """The field called ``name``, or None."""
        for candidate in self.fields:
            if candidate.name == name:
                return candidate
        return None

    @property
    def has_geometry(self) -> bool:
        """True when rows have a geometry (a geojson field or a longitude/latitude pair)."""
        return self.geometry is not None or self.point is not None


def sql_type(field_type: str) -> TypeEngine[Any]:
    """The SQL column type that stores a Table Schema field type."""
    return _SQL_TYPES[field_type]


def version_table(table_name: str, schema: dict[str, Any]) -> VersionTable:
    """Build the SQLAlchemy Table (not created) for a stored version and its schema."""
    fields = tuple(
        Field(name=str(spec["name"]), type=str(spec.get("type", "string")), position=position)
        for position, spec in enumerate(schema.get("fields", []))
    )
    columns: list[Column[Any]] = [
        Column(ROW_ID, BigInteger().with_variant(Integer(), "sqlite"), primary_key=True)
    ]
    geometry: Field | None = None
    for field in fields:
        columns.append(Column(field.column, sql_type(field.type), nullable=True))
        if field.type == GEOMETRY_TYPE:
            geometry = geometry or field
            columns.extend(Column(name, Double(), nullable=True) for name in field.bbox_columns())
    table = Table(table_name, MetaData(), *columns)
    return VersionTable(table=table, fields=fields, geometry=geometry, point=_point(schema, fields))


def _point(schema: dict[str, Any], fields: tuple[Field, ...]) -> PointColumns | None:
    names = schema.get(POINT_PROPERTY)
    if not isinstance(names, dict):
        return None
    by_name = {field.name: field for field in fields}
    longitude = by_name.get(str(names.get("longitude")))
    latitude = by_name.get(str(names.get("latitude")))
    if longitude is None or latitude is None:
        return None
    return PointColumns(longitude=longitude, latitude=latitude)


def index_definitions(
    version: VersionTable, max_indexed: int, dialect: str = "postgresql"
) -> list[Index]:
    """Indexes for a version's query patterns: each scalar field (up to ``max_indexed``),
    ending in ``_id`` for keyset paging, and the bounding box of its geometry."""
    table = version.table
    indexes: list[Index] = []
    scalar = [field for field in version.fields if field.type != GEOMETRY_TYPE]
    for field in scalar[:max_indexed]:
        # SQLite index entries end in the rowid, which _id is: naming it again would only
        # make the index bigger and slower to build.
        tail = () if dialect == "sqlite" else (table.c[ROW_ID],)
        indexes.append(Index(f"{table.name}_{field.column}", table.c[field.column], *tail))
    if version.geometry is not None:
        minx, miny, _maxx, _maxy = version.geometry.bbox_columns()
        indexes.append(Index(f"{table.name}_bbox", table.c[minx], table.c[miny]))
    return indexes
