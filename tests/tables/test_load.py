"""load_into_table as a whole: media types, transactions, indexes, progress."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, inspect

from cityshare.config import Limits
from cityshare.errors import InvalidData, UnsupportedMediaType
from cityshare.storage.engine import writer
from cityshare.tables import (
    SUPPORTED_MEDIA_TYPES,
    csvsource,
    load_into_table,
    media_type_for_filename,
)
from cityshare.tables import load as load_module
from cityshare.tables.formats import parse_media_type
from cityshare.tables.model import VersionTable, version_table
from cityshare.tables.writers import copy_text
from tests.tables.conftest import Load


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("trees.csv", "text/csv"),
        ("TREES.CSV", "text/csv"),
        ("a.tsv", "text/tab-separated-values"),
        ("a.json", "application/json"),
        ("a.ndjson", "application/x-ndjson"),
        ("a.jsonl", "application/x-ndjson"),
        ("roads.geojson", "application/geo+json"),
        ("book.xlsx", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"),
        ("notes.txt", None),
        ("csv", None),
        ("archive.csv.zip", None),
        ("../../etc/passwd", None),
        ("a.b/c", None),
    ],
)
def test_media_type_for_filename(name: str, expected: str | None) -> None:
    assert media_type_for_filename(name) == expected
    assert expected is None or expected in SUPPORTED_MEDIA_TYPES


def test_media_type_parameters() -> None:
    assert parse_media_type('Text/CSV; charset="Windows-1252"').charset == "cp1252"
    assert parse_media_type("application/json; profile=x").charset is None
    for bad in ["text/plain", "application/vnd.ms-excel", "text/csv; charset=base64"]:
        with pytest.raises(UnsupportedMediaType) as caught:
            parse_media_type(bad)
        assert caught.value.status == 415
    with pytest.raises(UnsupportedMediaType) as caught:
        parse_media_type("text/html")
    assert "text/csv" in caught.value.detail and "application/geo+json" in caught.value.detail


def test_unsupported_media_type_before_anything_else(load: Load) -> None:
    with pytest.raises(UnsupportedMediaType, match="Supported types"):
        load("a,b\n1,2\n", "text/plain")


def test_failed_load_leaves_no_table(engine: Engine, tmp_path: Path) -> None:
    path = tmp_path / "bad.csv"
    path.write_text("a,b\n" + "1,2\n" * 30_000 + "1\n")
    with pytest.raises(InvalidData), writer(engine).begin() as connection:
        load_into_table(
            connection,
            source=path,
            media_type="text/csv",
            table_name="dsv_rolled_back",
            schema=None,
            limits=Limits(),
        )
    assert "dsv_rolled_back" not in inspect(engine).get_table_names()


def test_failed_reload_keeps_the_previous_version(load: Load, table_names: object) -> None:
    first = load("a\n1\n2\n")
    with pytest.raises(InvalidData):
        load("a\n1\nx\n", schema={"fields": [{"name": "a", "type": "integer"}]})
    assert table_names() == {first.table_name}  # type: ignore[operator]


def test_indexes_after_loading(engine: Engine, load: Load) -> None:
    loaded = load('id,name,shape\n1,a,"{""type"":""Point"",""coordinates"":[1,2]}"\n')
    indexes = {index["name"] for index in inspect(engine).get_indexes(loaded.table_name)}
    table = loaded.table_name
    assert indexes == {f"{table}_c0", f"{table}_c1", f"{table}_bbox"}


def test_index_count_follows_the_limit(engine: Engine, load: Load) -> None:
    loaded = load("a,b,c\n1,2,3\n", limits=Limits(max_indexed_columns=1))
    names = {index["name"] for index in inspect(engine).get_indexes(loaded.table_name)}
    assert names == {f"{loaded.table_name}_c0"}


def test_progress_reports_rows_written(load: Load) -> None:
    seen: list[int] = []
    loaded = load("a,b\n" + "1234567890,abcdefghijklmnop\n" * 25_000, progress=seen.append)
    assert loaded.result.row_count == 25_000
    assert seen[-1] == 25_000
    assert seen == sorted(seen) and len(seen) == len(set(seen)) >= 3


def test_progress_restarts_when_a_guess_fails(load: Load, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(load_module, "GUESS_ROWS", 10)
    seen: list[int] = []
    loaded = load(
        "a,b\n" + "1234567890,abcdefghijklmnop\n" * 30_000 + "x,y\n", progress=seen.append
    )
    assert loaded.types == {"a": "string", "b": "string"}
    assert seen[-1] == 30_001
    assert seen != sorted(seen)  # the first, wrongly typed load was dropped


def test_row_ids_follow_file_order(engine: Engine, load: Load) -> None:
    loaded = load("n\n" + "".join(f"{i}\n" for i in range(5000)))
    assert loaded.column("n") == list(range(5000))


def test_no_reload_when_the_guess_saw_the_widest_values(
    load: Load, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(csvsource, "CHUNK_CHARS", 4096)
    tables: list[str] = []

    def counted(name: str, schema: dict[str, Any]) -> VersionTable:
        tables.append(name)
        return version_table(name, schema)

    monkeypatch.setattr(load_module, "version_table", counted)
    text = "a,b\n" + "1,\n" * 5_000 + "2.5,x\n" + "3,\n" * 30_000
    loaded = load(text)
    assert loaded.types == {"a": "number", "b": "string"}
    assert len(tables) == 1  # loaded once: the first batches fit the guessed types
    assert loaded.column("a")[4_999:5_002] == [1.0, 2.5, 3.0]


NASTY = ["back\\slash", "\\N", "tab\there", "two\nlines", "cr\rhere", "\\.", "\\", "", "ok"]


def test_text_that_looks_like_copy_syntax_round_trips(load: Load) -> None:
    schema = {
        "fields": [{"name": "s", "type": "string"}, {"name": "n", "type": "integer"}],
        "missingValues": [],
    }
    rows = "".join(f'"{value}",{i}\n' for i, value in enumerate(NASTY))
    loaded = load("s,n\n" + rows, schema=schema)
    assert loaded.column("s") == NASTY
    assert loaded.column("n") == list(range(len(NASTY)))


def test_copy_text_format() -> None:
    assert copy_text(["a", "b"]) == ["a", "b"]
    assert copy_text(["a\tb", "c\\d", "e\nf\rg"]) == ["a\\tb", "c\\\\d", "e\\nf\\rg"]
    assert copy_text([None, True, False, 3, 2.5, "x\ty"]) == ["\\N", "t", "f", "3", "2.5", "x\\ty"]
