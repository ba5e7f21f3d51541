"""Stored datetimes are read as the same ISO 8601 text on both engines."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    Column,
    DateTime,
    Engine,
    Integer,
    MetaData,
    Table,
    create_engine,
    insert,
    select,
)

from cityshare.query.datetime_text import iso_datetime_text
from cityshare.query.values import iso_datetime

MOMENTS = [
    datetime(2024, 3, 4, 8, 0, 0),
    datetime(2024, 3, 4, 8, 0, 0, 120),
    datetime(2024, 3, 4, 8, 0, 0, 500000),
    datetime(1969, 12, 31, 23),
]


def test_stored_datetimes_read_as_iso_text_with_z(engine: Engine) -> None:
    table = Table(
        "iso_text_moments",
        MetaData(),
        Column("id", Integer, primary_key=True),
        Column("moment", DateTime),
    )
    table.create(engine)
    with engine.begin() as connection:
        connection.execute(insert(table), [{"id": i, "moment": m} for i, m in enumerate(MOMENTS)])
        connection.execute(insert(table), [{"id": 99, "moment": None}])
        read = connection.execute(
            select(iso_datetime_text(table.c.moment)).order_by(table.c.id)
        ).scalars()
        assert list(read) == [*(iso_datetime(moment) for moment in MOMENTS), None]
    assert iso_datetime(MOMENTS[0]) == "2024-03-04T08:00:00Z"
    assert iso_datetime(MOMENTS[1]) == "2024-03-04T08:00:00.000120Z"


def test_sqlite_text_stored_without_a_fraction_reads_the_same() -> None:
    # Only SQLite keeps datetimes as text, which a bulk loader may write without a fraction.
    engine = create_engine("sqlite://")
    table = Table("iso_text_raw", MetaData(), Column("moment", DateTime))
    table.create(engine)
    with engine.begin() as connection:
        connection.exec_driver_sql(
            "INSERT INTO iso_text_raw (moment) VALUES ('2024-03-04 08:00:00')"
        )
        assert connection.execute(select(iso_datetime_text(table.c.moment))).scalar_one() == (
            "2024-03-04T08:00:00Z"
        )
