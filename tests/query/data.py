"""Test tables for the query module, their rows, and Python reference results."""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import orjson
from sqlalchemy import Engine

from cityshare.config import Limits
from cityshare.query import CursorSigner, QueryPlan, plan_query
from cityshare.tables.model import VersionTable, version_table

SECRET = b"test-secret-for-cursors"
SCOPE = "dsv_1"
ROWS = 250

PEOPLE_SCHEMA: dict[str, Any] = {
    "fields": [
        {"name": "id", "type": "integer"},
        {"name": "speed", "type": "number"},
        {"name": "name", "type": "string"},
        {"name": "active", "type": "boolean"},
        {"name": "day", "type": "date"},
        {"name": "ts", "type": "datetime"},
        {"name": "lon", "type": "number"},
        {"name": "lat", "type": "number"},
        {"name": "select", "type": "string"},
        {"name": "it's", "type": "integer"},
    ],
    "x-cityshare-point": {"longitude": "lon", "latitude": "lat"},
}
GEO_SCHEMA: dict[str, Any] = {
    "fields": [
        {"name": "id", "type": "integer"},
        {"name": "shape", "type": "geojson"},
        {"name": "label", "type": "string"},
    ]
}
NAMES = [
    "alpha", "Alpha", "beta", "gamma", "=SUM(A1)", "+1", "-2", "@cmd", "\tTab", "\rCR",
    "100%", "a_b", "it's", "Élan", "zeta", "ünïcode", "50% off", "x'); DROP TABLE t; --",
    "", "ab", "abc", "b", "Zulu", "ä",
]  # fmt: skip


@dataclass
class Dataset:
    """A created version table with its rows (Python values, by field name, plus _id)."""

    version: VersionTable
    rows: list[dict[str, Any]]
    engine: Engine

    def plan(self, params: list[tuple[str, str]], **kwargs: Any) -> QueryPlan:
        """plan_query with the test secret, scope and default limits."""
        options: dict[str, Any] = {
            "limits": Limits(),
            "signer": CursorSigner(SECRET),
            "scope": SCOPE,
        }
        options.update(kwargs)
        return plan_query(params, self.version, **options)


def people_rows() -> list[dict[str, Any]]:
    """250 rows with NULLs, duplicates, tricky text, dyadic numbers."""
    rng = random.Random(42)
    base = datetime(2024, 3, 1, 0, 0, 0)
    rows = []
    for i in range(1, ROWS + 1):
        ts: datetime | None = base + timedelta(seconds=rng.randrange(0, 3 * 86400))
        if i % 9 == 0:
            ts = None
        elif i % 25 == 0:
            ts = ts.replace(microsecond=rng.randrange(1, 999_999)) if ts else None
        rows.append(
            {
                "_id": i,
                "id": rng.randrange(-50, 50) if i % 13 else None,
                "speed": None if i % 11 == 0 else rng.randrange(-40, 160) * 0.25,
                "name": None if i % 7 == 0 else rng.choice(NAMES),
                "active": None if i % 10 == 0 else rng.random() < 0.5,
                "day": None
                if i % 12 == 0
                else date(2024, 1, 1) + timedelta(days=rng.randrange(60)),
                "ts": ts,
                "lon": None if i % 17 == 0 else rng.randrange(-3600, 3600) / 20,
                "lat": None if i % 17 == 0 else rng.randrange(-1800, 1800) / 20,
                "select": rng.choice(["1; DROP TABLE x", "' OR 1=1 --", "c0", "_id", "plain"]),
                "it's": rng.randrange(0, 5),
            }
        )
    rows[0]["ts"] = datetime(1969, 12, 31, 23, 59, 59, 500000)  # before the epoch
    return rows


def geo_rows() -> list[dict[str, Any]]:
    """Points and polygons with their bounding boxes; a NULL geometry."""
    rows = []
    for i in range(1, 41):
        x, y = (i % 10) * 10 - 50, (i // 10) * 10 - 20
        if i % 2:
            shape: dict[str, Any] | None = {"type": "Point", "coordinates": [x, y]}
            box = (x, y, x, y)
        else:
            ring = [[x, y], [x + 5, y], [x + 5, y + 5], [x, y + 5], [x, y]]
            shape, box = {"type": "Polygon", "coordinates": [ring]}, (x, y, x + 5, y + 5)
        if i == 40:
            shape = None
        rows.append({"_id": i, "id": i, "shape": shape, "label": f"=geo{i}", "box": box})
    return rows


def create(
    engine: Engine, name: str, schema: dict[str, Any], rows: list[dict[str, Any]]
) -> Dataset:
    """Create the version table and insert ``rows``."""
    version = version_table(name, schema)
    records = []
    for row in rows:
        record: dict[str, Any] = {"_id": row["_id"]}
        for field in version.fields:
            value = row[field.name]
            if field.type == "geojson":
                record[field.column] = None if value is None else orjson.dumps(value).decode()
                box = row["box"] if value is not None else (None,) * 4
                record.update(zip(field.bbox_columns(), box, strict=True))
            else:
                record[field.column] = value
        records.append(record)
    with engine.begin() as connection:
        version.table.create(connection)
        connection.execute(version.table.insert(), records)
    return Dataset(version=version, rows=rows, engine=engine)


def json_native(field_type: str, value: Any) -> Any:
    """What the API should answer for a Python value."""
    if value is None:
        return None
    if field_type == "datetime":
        return value.isoformat() + "Z"
    if field_type == "date":
        return value.isoformat()
    if field_type == "number":
        return float(value)
    return value


def expected(
    dataset: Dataset, rows: list[dict[str, Any]], names: list[str] | None = None
) -> list[dict[str, Any]]:
    """Rows as the API renders them."""
    fields = [dataset.version.field(n) for n in names] if names else list(dataset.version.fields)
    return [{f.name: json_native(f.type, row[f.name]) for f in fields if f} for row in rows]


def python_sort(
    rows: list[dict[str, Any]], keys: list[tuple[str, bool]], tie: str | None = "_id"
) -> list[dict[str, Any]]:
    """Rows ordered by ``keys`` (name, descending), NULLs last, then ``tie``."""
    ordered = sorted(rows, key=lambda row: row[tie]) if tie else list(rows)
    for name, descending in reversed(keys):
        present = [row for row in ordered if row[name] is not None]
        absent = [row for row in ordered if row[name] is None]
        present.sort(key=lambda row: row[name], reverse=descending)
        ordered = present + absent
    return ordered


def utc(value: datetime) -> datetime:
    """A naive datetime read as UTC."""
    return value.replace(tzinfo=UTC)
