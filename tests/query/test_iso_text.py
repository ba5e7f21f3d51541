"""Stored datetimes become the same ISO 8601 text on both engines' driver values."""

from __future__ import annotations

from datetime import datetime

import pytest
from sqlalchemy.dialects import postgresql, sqlite

from cityshare.query.values import ISO_DATETIME_TEXT, iso_datetime


@pytest.mark.parametrize(
    "moment",
    [datetime(2024, 3, 4, 8, 0, 0), datetime(2024, 3, 4, 8, 0, 0, 120), datetime(1969, 12, 31, 23)],
)
def test_sqlite_text_and_driver_datetimes_read_the_same(moment: datetime) -> None:
    stored = moment.strftime("%Y-%m-%d %H:%M:%S.%f")  # how SQLAlchemy keeps it in SQLite
    from_text = ISO_DATETIME_TEXT.process_result_value(stored, sqlite.dialect())
    from_driver = ISO_DATETIME_TEXT.process_result_value(moment, postgresql.dialect())
    assert from_text == from_driver == iso_datetime(moment)


def test_null_stays_null() -> None:
    assert ISO_DATETIME_TEXT.process_result_value(None, sqlite.dialect()) is None
