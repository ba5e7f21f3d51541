"""The formats a dataset's data can be read in: one list for search facets, DCAT
distributions and CKAN resources, so the three faces of the catalogue always agree."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from cityshare.tables.model import POINT_PROPERTY


@dataclass(frozen=True)
class DataFormat:
    """One way to read a dataset's data from the query API."""

    label: str  # as people and CKAN name it: "CSV"
    param: str  # the value of the query API's ``_format`` parameter
    media_type: str  # IANA media type


CSV = DataFormat("CSV", "csv", "text/csv")
JSON = DataFormat("JSON", "json", "application/json")
NDJSON = DataFormat("NDJSON", "ndjson", "application/x-ndjson")
GEOJSON = DataFormat("GeoJSON", "geojson", "application/geo+json")
ALL_FORMATS = (CSV, JSON, NDJSON, GEOJSON)
BY_LABEL = {data_format.label.lower(): data_format for data_format in ALL_FORMATS}
TABLE_FORMATS = (CSV, JSON, NDJSON)
SENSOR_FORMATS = (CSV, JSON, NDJSON)
GEOMETRY_TYPES = frozenset({"geojson", "geometry"})


def has_geometry(schema: Mapping[str, Any] | None) -> bool:
    """Whether a Table Schema has a geometry: a column of Frictionless type ``geojson``, or
    longitude and latitude columns named as a point (see :mod:`cityshare.tables.model`)."""
    if (schema or {}).get(POINT_PROPERTY):
        return True
    fields = (schema or {}).get("fields") or []
    return any(field.get("type") in GEOMETRY_TYPES for field in fields)


def dataset_formats(kind: str, schema: Mapping[str, Any] | None) -> tuple[DataFormat, ...]:
    """The formats of a dataset of ``kind`` whose current Table Schema is ``schema``.

    A dataset of tables with no data yet has none; one with a geometry column adds GeoJSON.
    A sensor dataset's streams read as CSV, JSON and NDJSON.
    """
    if kind == "sensor":
        return SENSOR_FORMATS
    if schema is None:
        return ()
    return TABLE_FORMATS + ((GEOJSON,) if has_geometry(schema) else ())
