"""The fast CSV splitter agrees with csv.reader, or steps aside (differential test)."""

from __future__ import annotations

import csv
import io
import random

import pytest

from cityshare.tables.csvfast import split_chunk

ALPHABET = ["a", "b", " ", "x1", '"', "\n", "\r", ";", ",", "\t", "é", "\x1f"]


def random_chunk(rng: random.Random, delimiter: str, width: int) -> str:
    lines = []
    for _ in range(rng.randint(1, 5)):
        cells = []
        for _ in range(width):
            value = "".join(rng.choice(ALPHABET) for _ in range(rng.randint(0, 4)))
            mode = rng.random()
            if mode < 0.3:
                cells.append('"' + value.replace('"', '""') + '"')
            elif mode < 0.9:
                for special in ('"', delimiter, "\n", "\r"):
                    value = value.replace(special, "")
                cells.append(value)
            else:
                cells.append(value)
        lines.append(delimiter.join(cells))
    newline = rng.choice(["\n", "\r\n"])
    return newline.join(lines) + (newline if rng.random() < 0.8 else "")


@pytest.mark.parametrize("delimiter", [",", ";", "\t", "|"])
def test_fast_split_agrees_with_csv_reader(delimiter: str) -> None:
    rng = random.Random(delimiter)
    agreed = 0
    for _ in range(20_000):
        width = rng.randint(1, 4)
        text = random_chunk(rng, delimiter, width)
        columns = split_chunk(text, delimiter, width)
        if columns is None:
            continue
        reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
        records = [record for record in reader if record]
        assert all(len(record) == width for record in records), text
        expected = [list(column) for column in zip(*records, strict=True)] or [[]] * width
        assert columns == expected, text
        agreed += 1
    assert agreed > 2_000  # the fast path is taken often


def test_fast_split_simple_cases() -> None:
    assert split_chunk("a,b\n1,2\n", ",", 2) == [["a", "1"], ["b", "2"]]
    assert split_chunk('"x, y","say ""hi"""\r\n', ",", 2) == [["x, y"], ['say "hi"']]
    assert split_chunk("a\n\nb\n", ",", 1) is None  # a blank line: exact path
    assert split_chunk('"a\nb",c\n', ",", 2) is None  # a quoted line break: exact path
    assert split_chunk('5" x 7",c\n', ",", 2) is None  # a quote inside a value
    assert split_chunk("a,b\n1\n", ",", 2) is None  # ragged
