"""Fixtures: load a file written into tmp_path, on each engine, and read the rows back."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, inspect, select

from cityshare.config import Limits
from cityshare.storage.engine import writer
from cityshare.tables import LoadedTable, load_into_table
from cityshare.tables.model import ROW_ID, version_table


@dataclass(frozen=True)
class Loaded:
    """A finished load: what load_into_table returned and the rows as stored."""

    result: LoadedTable
    table_name: str
    rows: list[dict[str, Any]]

    @property
    def types(self) -> dict[str, str]:
        """Field name → type of the schema used."""
        return {field["name"]: field["type"] for field in self.result.schema["fields"]}

    def column(self, name: str) -> list[Any]:
        """The values of one field, in file order."""
        return [row[name] for row in self.rows]


def read_rows(engine: Engine, table_name: str, schema: dict[str, Any]) -> list[dict[str, Any]]:
    """The rows of a version table by field name (geojson fields also give ``name.bbox``)."""
    version = version_table(table_name, schema)
    table = version.table
    with engine.connect() as connection:
        result = connection.execute(select(table).order_by(table.c[ROW_ID])).mappings().all()
    rows = []
    for stored in result:
        row: dict[str, Any] = {}
        for field in version.fields:
            row[field.name] = stored[field.column]
            if field.type == "geojson":
                row[field.name + ".bbox"] = tuple(stored[c] for c in field.bbox_columns())
        rows.append(row)
    return rows


Load = Callable[..., Loaded]


@pytest.fixture
def load(engine: Engine, tmp_path: Path) -> Load:
    """Write ``content`` to a file and load it in a write transaction."""
    counter = itertools.count(1)

    def run(
        content: bytes | str,
        media_type: str = "text/csv",
        *,
        schema: dict[str, Any] | None = None,
        limits: Limits | None = None,
        progress: Callable[[int], None] | None = None,
        suffix: str = ".csv",
    ) -> Loaded:
        number = next(counter)
        path = tmp_path / f"upload{number}{suffix}"
        path.write_bytes(content.encode() if isinstance(content, str) else content)
        table_name = f"dsv_test_{number}"
        with writer(engine).begin() as connection:
            result = load_into_table(
                connection,
                source=path,
                media_type=media_type,
                table_name=table_name,
                schema=schema,
                limits=limits or Limits(),
                progress=progress,
            )
        return Loaded(result, table_name, read_rows(engine, table_name, result.schema))

    return run


@pytest.fixture
def table_names(engine: Engine) -> Callable[[], set[str]]:
    """The version tables currently in the store."""

    def names() -> set[str]:
        return {name for name in inspect(engine).get_table_names() if name.startswith("dsv_")}

    return names
