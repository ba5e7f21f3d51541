"""CSV and TSV uploads: dialects, encodings, header problems, ragged rows, hostile input."""

from __future__ import annotations

import csv
import io
import random
import time
from datetime import datetime

import pytest

from cityshare.config import Limits
from cityshare.errors import BadRequest, InvalidData
from cityshare.tables import csvsource
from tests.tables.conftest import Load


@pytest.mark.parametrize("delimiter", [",", ";", "\t", "|"])
def test_delimiters_are_sniffed(load: Load, delimiter: str) -> None:
    text = delimiter.join(["name", "count", "price"]) + "\n"
    text += delimiter.join(["bread", "3", "1.5"]) + "\n"
    text += delimiter.join(['"milk, whole"', "12", "0.99"]) + "\n"
    loaded = load(text)
    assert loaded.types == {"name": "string", "count": "integer", "price": "number"}
    assert loaded.rows == [
        {"name": "bread", "count": 3, "price": 1.5},
        {"name": "milk, whole", "count": 12, "price": 0.99},
    ]


def test_semicolons_with_decimal_commas_stay_text(load: Load) -> None:
    loaded = load("product;price\nbread;1,20\nmilk;0,99\n")
    assert loaded.types == {"product": "string", "price": "string"}
    assert loaded.column("price") == ["1,20", "0,99"]


def test_tsv_media_type_uses_tabs(load: Load) -> None:
    loaded = load("a\tb, c\n1\tx, y\n", "text/tab-separated-values")
    assert loaded.rows == [{"a": 1, "b, c": "x, y"}]


def test_utf8_bom_is_not_part_of_the_first_name(load: Load) -> None:
    loaded = load(b"\xef\xbb\xbfid,name\n1,Zo\xc3\xab\n")
    assert loaded.rows == [{"id": 1, "name": "Zoë"}]


@pytest.mark.parametrize("codec", ["utf-16", "utf-16-be", "utf-32"])
def test_utf16_and_utf32_with_bom(load: Load, codec: str) -> None:
    text = "id,straße\n1,Köln\n2,Łódź\n"
    data = text.encode(codec)
    if codec == "utf-16-be":
        data = b"\xfe\xff" + data
    loaded = load(data)
    assert loaded.rows == [{"id": 1, "straße": "Köln"}, {"id": 2, "straße": "Łódź"}]


def test_windows_1252_fallback(load: Load) -> None:
    loaded = load("id,name,price\n1,Café,5 €\n".encode("cp1252"))
    assert loaded.rows == [{"id": 1, "name": "Café", "price": "5 €"}]


def test_latin1_when_bytes_are_undefined_in_windows_1252(load: Load) -> None:
    loaded = load(b"id,name\n1,caf\xe9\x81\n")
    assert loaded.rows == [{"id": 1, "name": "café\x81"}]


def test_declared_charset_is_honoured(load: Load) -> None:
    data = "id,név\n1,Győr\n".encode("iso8859-2")
    loaded = load(data, "text/csv; charset=ISO-8859-2")
    assert loaded.rows == [{"id": 1, "név": "Győr"}]


def test_wrong_declared_charset_names_the_offset(load: Load) -> None:
    with pytest.raises(InvalidData) as caught:
        load(b"id,name\n1,caf\xe9\n", "text/csv; charset=utf-8")
    assert caught.value.extra["offset"] == 13
    assert "line 2" in caught.value.detail


def test_mixed_encodings_are_refused_with_offset_and_line(load: Load) -> None:
    data = "id,name\n1,Zoë\n".encode() + "2,café\n".encode("latin-1")
    with pytest.raises(InvalidData) as caught:
        load(data)
    assert "mixes text encodings" in caught.value.detail
    assert caught.value.extra == {"offset": 20, "line": 3}


def test_nul_bytes_are_refused(load: Load) -> None:
    with pytest.raises(InvalidData, match=r"NUL character \(line 3\)"):
        load(b"a,b\n1,2\n3,\x004\n")


def test_quoted_newlines_quotes_and_crlf(load: Load) -> None:
    text = 'id,comment\r\n1,"two\r\nlines"\r\n2,"say ""hi"""\r\n3,"a,b"\r\n'
    loaded = load(text)
    assert loaded.column("comment") == ["two\r\nlines", 'say "hi"', "a,b"]


def test_blank_lines_are_skipped(load: Load) -> None:
    loaded = load("a,b\n\n1,2\n\n\n3,4\n\n")
    assert loaded.rows == [{"a": 1, "b": 2}, {"a": 3, "b": 4}]


def test_empty_cells_are_null(load: Load) -> None:
    loaded = load('a,b,c\n1,,x\n,2,""\n')
    assert loaded.rows == [{"a": 1, "b": None, "c": "x"}, {"a": None, "b": 2, "c": None}]


def test_keyword_and_quote_names_round_trip(load: Load) -> None:
    names = ["select", "order", 'quote"d', "semi;colon", "drop table x; --", "'"]
    header = ",".join('"' + name.replace('"', '""') + '"' for name in names)
    loaded = load(header + "\n1,2,3,4,5,6\n")
    assert [field["name"] for field in loaded.result.schema["fields"]] == names
    assert loaded.rows == [dict(zip(names, [1, 2, 3, 4, 5, 6], strict=True))]


def test_formula_cells_are_stored_verbatim(load: Load) -> None:
    loaded = load('link,sum\n"=HYPERLINK(""http://x"")",=1+2\n@cmd,+3\n')
    assert loaded.column("link") == ['=HYPERLINK("http://x")', "@cmd"]
    assert loaded.column("sum") == ["=1+2", "+3"]


def test_header_only_loads_zero_rows_of_strings(load: Load) -> None:
    loaded = load("a,b\n")
    assert loaded.result.row_count == 0
    assert loaded.types == {"a": "string", "b": "string"}


@pytest.mark.parametrize("content", [b"", b"\xef\xbb\xbf", b"\n\n"])
def test_empty_file(load: Load, content: bytes) -> None:
    with pytest.raises(InvalidData, match="empty"):
        load(content)


def test_duplicate_names_are_named(load: Load) -> None:
    with pytest.raises(InvalidData, match="Duplicate column names: 'a', 'b'") as caught:
        load("a,b,a,b,c\n1,2,3,4,5\n")
    assert caught.value.extra["duplicates"] == ["a", "b"]


def test_empty_name_names_the_position(load: Load) -> None:
    with pytest.raises(InvalidData, match="Column 2 has no name") as caught:
        load("a, ,c\n1,2,3\n")
    assert caught.value.extra["column_position"] == 2


@pytest.mark.parametrize(
    ("text", "row", "line", "cells"),
    [
        ("a,b\n1,2\n3\n", 2, 3, 1),
        ("a,b\n1,2\n3,4,5\n", 2, 3, 3),
        ('a,b\n"x\ny",2\n\n3,4,5\n', 2, 5, 3),
    ],
)
def test_ragged_rows_name_row_line_and_counts(
    load: Load, text: str, row: int, line: int, cells: int
) -> None:
    with pytest.raises(InvalidData) as caught:
        load(text)
    assert caught.value.extra == {"row": row, "line": line, "cells": cells, "columns": 2}
    assert f"Row {row} (line {line}) has {cells} cells" in caught.value.detail


def test_ragged_row_far_into_a_large_file(load: Load) -> None:
    text = "a,b\n" + "1,2\n" * 30_000 + "1,2,3\n"
    with pytest.raises(InvalidData) as caught:
        load(text)
    assert caught.value.extra["row"] == 30_001
    assert caught.value.extra["line"] == 30_002


def test_unterminated_quote_is_refused(load: Load) -> None:
    with pytest.raises(InvalidData, match="quoted value that never ends"):
        load('a,b\n1,"open\n2,3\n')


def test_stray_quote_after_a_quoted_value_is_refused(load: Load) -> None:
    with pytest.raises(InvalidData, match="not valid CSV"):
        load('a,b\n"x"y,2\n')


def test_cell_longer_than_the_limit(load: Load) -> None:
    limits = Limits(max_cell_chars=100)
    loaded = load("a,b\n" + "x" * 100 + ",1\n", limits=limits)
    assert loaded.column("a") == ["x" * 100]
    with pytest.raises(InvalidData, match="longer than 100 characters") as caught:
        load("a,b\n1,2\n" + "x" * 101 + ",1\n", limits=limits)
    assert caught.value.extra["row"] == 2


def test_hundred_thousand_columns_refused_early(load: Load) -> None:
    header = ",".join(f"c{i}" for i in range(100_000))
    started = time.perf_counter()
    with pytest.raises(BadRequest) as caught:
        load(header + "\n" + ",".join("1" * 100_000) + "\n")
    assert time.perf_counter() - started < 2
    assert not isinstance(caught.value, InvalidData)
    assert caught.value.status == 400
    assert "at least" in caught.value.detail
    assert caught.value.extra["columns"] > 1000


def test_wide_header_without_newline_in_the_sample(load: Load) -> None:
    header = ",".join(f"column_{i:06d}" for i in range(30_000))
    with pytest.raises(BadRequest, match=r"at least \d+ columns"):
        load(header)
    with pytest.raises(BadRequest, match="The file has 1001 columns"):
        load(",".join(f"c{i}" for i in range(1001)) + "\n")


def test_a_big_file_keeps_values_exact(load: Load) -> None:
    rows = [(i, f"{i * 0.001:.3f}", f"2024-01-01T{i % 24:02d}:00:00") for i in range(40_000)]
    text = "n,x,t\n" + "".join(f"{n},{x},{t}\n" for n, x, t in rows)
    loaded = load(text)
    assert loaded.types == {"n": "integer", "x": "number", "t": "datetime"}
    assert loaded.result.row_count == 40_000
    assert loaded.column("n") == [n for n, _, _ in rows]
    assert loaded.column("x") == [float(x) for _, x, _ in rows]
    assert loaded.rows[-1]["t"] == datetime(2024, 1, 1, 15, 0)


@pytest.mark.parametrize("chunk_chars", [5, 16, 61])
def test_records_across_chunk_boundaries(
    load: Load, monkeypatch: pytest.MonkeyPatch, chunk_chars: int
) -> None:
    monkeypatch.setattr(csvsource, "CHUNK_CHARS", chunk_chars)
    rng = random.Random(chunk_chars)
    pieces = ["a", "b c", "", "x,y", 'say "hi"', "two\nlines", "crlf\r\nhere", "é€", "=1+2"]
    rows = [[rng.choice(pieces) for _ in range(3)] for _ in range(300)]
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator=rng.choice(["\n", "\r\n"])).writerows(
        [["p", "q", "r"], *rows]
    )
    loaded = load(buffer.getvalue())
    assert loaded.types == {"p": "string", "q": "string", "r": "string"}
    assert [[row[name] for name in "pqr"] for row in loaded.rows] == [
        [cell or None for cell in row] for row in rows
    ]


def test_utf16_without_bom_needs_a_declared_charset(load: Load) -> None:
    data = "id,name\n1,Zoë\n".encode("utf-16-le")
    with pytest.raises(InvalidData, match="without a byte order mark"):
        load(data)
    loaded = load(data, "text/csv; charset=utf-16-le")
    assert loaded.rows == [{"id": 1, "name": "Zoë"}]
