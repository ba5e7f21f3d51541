"""Excel workbooks: typed cells, the first sheet, and decompression bombs."""

from __future__ import annotations

import io
import zipfile
from datetime import date, datetime
from typing import Any

import openpyxl
import pytest

from cityshare.config import Limits
from cityshare.errors import InvalidData, PayloadTooLarge
from tests.tables.conftest import Load

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def workbook(*sheets: list[list[Any]]) -> bytes:
    book = openpyxl.Workbook()
    first = book.active
    assert first is not None
    for index, rows in enumerate(sheets):
        sheet = first if index == 0 else book.create_sheet(f"Sheet{index + 1}")
        for row in rows:
            sheet.append(row)
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def test_typed_cells_of_the_first_sheet(load: Load) -> None:
    data = workbook(
        [
            ["id", "name", "price", "ok", "day", "at", "code"],
            [1, "Zoë", 1.5, True, date(2024, 2, 29), datetime(2024, 2, 29, 10, 30), "007"],
            [2, None, 2, False, datetime(2024, 3, 1), datetime(2024, 3, 1, 0, 0, 1), "=1+2"],
            [None, None, None, None, None, None, None],
            [3, "x", 3.25, None, None, datetime(2024, 3, 2, 23, 59), "8"],
        ],
        [["other"], ["ignored"]],
    )
    loaded = load(data, XLSX, suffix=".xlsx")
    assert loaded.types == {
        "id": "integer",
        "name": "string",
        "price": "number",
        "ok": "boolean",
        "day": "date",
        "at": "datetime",
        "code": "string",
    }
    assert loaded.rows[0] == {
        "id": 1,
        "name": "Zoë",
        "price": 1.5,
        "ok": True,
        "day": date(2024, 2, 29),
        "at": datetime(2024, 2, 29, 10, 30),
        "code": "007",
    }
    assert loaded.result.row_count == 3
    assert loaded.column("day") == [date(2024, 2, 29), date(2024, 3, 1), None]


def test_header_problems(load: Load) -> None:
    with pytest.raises(InvalidData, match="Column 2 has no name"):
        load(workbook([["a", None, "c"], [1, 2, 3]]), XLSX)
    with pytest.raises(InvalidData, match="Duplicate column names: 'a'"):
        load(workbook([["a", "a"], [1, 2]]), XLSX)
    with pytest.raises(InvalidData, match="empty"):
        load(workbook([]), XLSX)


def test_values_beyond_the_header_are_refused(load: Load) -> None:
    with pytest.raises(InvalidData, match="Row 2 has 3 cells but the header has 2 columns"):
        load(workbook([["a", "b"], [1, 2], [3, 4, 5]]), XLSX)


def test_given_schema(load: Load) -> None:
    schema = {"fields": [{"name": "a", "type": "string"}, {"name": "b", "type": "number"}]}
    loaded = load(workbook([["a", "b"], [1, 2]]), XLSX, schema=schema)
    assert loaded.rows == [{"a": "1", "b": 2.0}]


def test_not_a_workbook(load: Load) -> None:
    with pytest.raises(InvalidData, match=r"not a valid \.xlsx"):
        load(b"id,name\n1,x\n", XLSX)
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as zipped:
        zipped.writestr("hello.txt", "not a workbook")
    with pytest.raises(InvalidData, match=r"not a valid \.xlsx"):
        load(archive.getvalue(), XLSX)


def bomb(size: int) -> bytes:
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w", compression=zipfile.ZIP_DEFLATED) as zipped:
        zipped.writestr("[Content_Types].xml", "<Types/>")
        zipped.writestr("xl/worksheets/sheet1.xml", b"\0" * size)
    return archive.getvalue()


def test_zip_bomb_by_ratio_is_refused(load: Load) -> None:
    data = bomb(20 * 1024 * 1024)
    assert len(data) < 100_000
    with pytest.raises(PayloadTooLarge, match="decompression bomb") as caught:
        load(data, XLSX)
    assert caught.value.status == 413


def test_zip_bomb_by_size_is_refused(load: Load) -> None:
    with pytest.raises(PayloadTooLarge, match="inflate"):
        load(bomb(3 * 1024 * 1024), XLSX, limits=Limits(max_upload_bytes=2 * 1024 * 1024))
