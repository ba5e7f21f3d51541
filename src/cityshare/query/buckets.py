"""Time buckets: ``_bucket=field:<n><unit>`` on a datetime field.

Units are ``s``, ``m``, ``h`` and ``d`` (e.g. ``5m``, ``15m``, ``1h``, ``6h``, ``1d``,
``7d``). Buckets are aligned on the Unix epoch (so ``7d`` weeks start on Thursdays).
The database floors epoch seconds (computed per dialect, see
:func:`cityshare.query.dialect.epoch_seconds`) and Python turns the bucket start back
into ISO 8601, so both engines give identical buckets.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Table

from cityshare.errors import BadRequest
from cityshare.query.dialect import epoch_seconds, floor_to
from cityshare.query.spec import Bucket
from cityshare.query.values import iso_datetime, shown
from cityshare.tables.model import VersionTable

UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
MAX_BUCKET_SECONDS = 366 * 86400
_SIZE = re.compile(r"([1-9][0-9]{0,6})([smhd])")
_EPOCH = datetime(1970, 1, 1)  # stored datetimes are UTC-naive


def parse_bucket(version: VersionTable, raw: str) -> Bucket:
    """A validated bucket from ``field:size``."""
    name, separator, size = raw.rpartition(":")
    field = version.field(name) if separator else None
    if field is None or field.type != "datetime":
        raise BadRequest(
            f"Parameter '_bucket': '{shown(raw)}' must name a datetime field and a size, "
            "as in _bucket=time:15m.",
            parameter="_bucket",
            value=shown(raw),
        )
    match = _SIZE.fullmatch(size)
    seconds = int(match.group(1)) * UNITS[match.group(2)] if match else 0
    if not 0 < seconds <= MAX_BUCKET_SECONDS:
        raise BadRequest(
            f"Parameter '_bucket': '{shown(size)}' is not a bucket size; use a whole number "
            "with a unit s, m, h or d (e.g. 5m, 15m, 1h, 6h, 1d, 7d), at most 366d.",
            parameter="_bucket",
            value=shown(raw),
        )
    return Bucket(field=field, seconds=seconds, label=size)


def bucket_expression(table: Table, bucket: Bucket, dialect: str) -> ColumnElement[int]:
    """The bucket start in epoch seconds, computed in SQL."""
    return floor_to(epoch_seconds(table.c[bucket.field.column], dialect), bucket.seconds)


def bucket_start(value: Any) -> str | None:
    """A bucket start (epoch seconds from SQL) as ISO 8601 with ``Z``."""
    if value is None:
        return None
    return iso_datetime(_EPOCH + timedelta(seconds=int(value)))
