"""Typed values: parsing query text by field type, rendering stored values as JSON.

Query values are strict: an integer is ``[+-]digits`` within 64 bits, a number is a
finite decimal, a boolean is ``true/false/1/0``, a date is ``YYYY-MM-DD`` and a
datetime is ISO 8601 (with an offset or ``Z``; naive means UTC), returned UTC-naive,
as the tables store it. Anything else is a :class:`~cityshare.errors.BadRequest`
naming the parameter, the value and the expected form.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import math
import re
from collections.abc import Callable
from datetime import UTC, date, datetime
from typing import Any

import orjson

from cityshare.errors import BadRequest
from cityshare.tables.model import Field, VersionTable

INT64_MIN = -(2**63)
INT64_MAX = 2**63 - 1
SHOWN_CHARS = 80

_INTEGER = re.compile(r"[+-]?[0-9]{1,19}")
_NUMBER = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]{1,4})?")
_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_DATETIME = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}(?:[T ][0-9:.,+\-Z]{2,40})?")
_BOOLEANS = {"true": True, "false": False, "1": True, "0": False}

EXPECTED = {
    "integer": "a whole number such as 42 (64-bit)",
    "number": "a finite number such as 3.5 or -1e3",
    "boolean": "true, false, 1 or 0",
    "date": "a date YYYY-MM-DD",
    "datetime": "an ISO 8601 datetime such as 2024-05-01T12:00:00Z",
    "string": "any text",
}


def shown(raw: str) -> str:
    """``raw`` shortened for an error message."""
    return raw if len(raw) <= SHOWN_CHARS else raw[:SHOWN_CHARS] + "…"


def field_list(version: VersionTable, shown_at_most: int = 50) -> str:
    """The field names of ``version`` for an error message (the first ``shown_at_most``)."""
    names = [shown(field.name) for field in version.fields[:shown_at_most]]
    more = len(version.fields) - len(names)
    return ", ".join(names) + (f" and {more} more" if more > 0 else "")


def parse_integer(raw: str) -> int:
    """A 64-bit integer from strict decimal text (ValueError otherwise)."""
    if not _INTEGER.fullmatch(raw):
        raise ValueError(raw)
    value = int(raw)
    if not INT64_MIN <= value <= INT64_MAX:
        raise ValueError(raw)
    return value


def parse_number(raw: str) -> float:
    """A finite float from strict decimal text (ValueError otherwise)."""
    if not _NUMBER.fullmatch(raw):
        raise ValueError(raw)
    value = float(raw)
    if not math.isfinite(value):
        raise ValueError(raw)
    return value


def parse_boolean(raw: str) -> bool:
    """``true``/``1`` or ``false``/``0`` (ValueError otherwise)."""
    try:
        return _BOOLEANS[raw.lower()]
    except KeyError:
        raise ValueError(raw) from None


def parse_date(raw: str) -> date:
    """A calendar date from ``YYYY-MM-DD``."""
    if not _DATE.fullmatch(raw):
        raise ValueError(raw)
    return date.fromisoformat(raw)


def parse_datetime(raw: str) -> datetime:
    """A UTC-naive datetime from ISO 8601 text; naive input is taken as UTC."""
    if not _DATETIME.fullmatch(raw):
        raise ValueError(raw)
    value = datetime.fromisoformat(raw)
    if value.tzinfo is not None:
        value = value.astimezone(UTC).replace(tzinfo=None)
    return value


def _parse_string(raw: str) -> str:
    return raw


_PARSERS: dict[str, Callable[[str], Any]] = {
    "integer": parse_integer,
    "number": parse_number,
    "boolean": parse_boolean,
    "date": parse_date,
    "datetime": parse_datetime,
    "string": _parse_string,
}


def parse_value(field: Field, raw: str, parameter: str) -> Any:
    """``raw`` parsed as a value of ``field``'s type, or BadRequest naming the parameter."""
    parser = _PARSERS.get(field.type)
    if parser is None:
        raise BadRequest(
            f"Parameter '{parameter}': field '{field.name}' of type {field.type} "
            "cannot be compared with a value; use __isnull or bbox.",
            parameter=parameter,
            value=shown(raw),
        )
    try:
        return parser(raw)
    except (ValueError, OverflowError):
        raise BadRequest(
            f"Parameter '{parameter}': '{shown(raw)}' is not a valid {field.type} for field "
            f"'{field.name}'; expected {EXPECTED[field.type]}.",
            parameter=parameter,
            value=shown(raw),
            field=field.name,
            expected=EXPECTED[field.type],
        ) from None


def iso_datetime(value: datetime) -> str:
    """ISO 8601 text of a UTC datetime with a trailing ``Z``."""
    if value.tzinfo is not None:
        value = value.astimezone(UTC).replace(tzinfo=None)
    return value.isoformat() + "Z"


def json_value(field_type: str, value: Any) -> Any:
    """A stored value as a JSON-native value (ISO dates, parsed GeoJSON)."""
    if value is None:
        return None
    if field_type == "datetime" and isinstance(value, datetime):
        return iso_datetime(value)
    if field_type == "date" and isinstance(value, date):
        return value.isoformat()
    if field_type == "geojson" and isinstance(value, str):
        return parse_geojson(value)
    if field_type == "integer":
        return int(value)
    if field_type == "number":
        return float(value)
    if field_type == "boolean":
        return bool(value)
    return value


def pseudonym(key: bytes, value: Any) -> str:
    """A keyed hash (HMAC-SHA256, 128 bits in hex) of a stored value: equal values give
    equal pseudonyms under one key, and nothing links them across keys."""
    text = value.isoformat() if isinstance(value, date) else str(value)
    return hmac.new(key, text.encode(), hashlib.sha256).hexdigest()[:32]


def field_converter(field: Field) -> Callable[[Any], Any] | None:
    """Like :func:`value_converter`, for one field: a pseudonym field's values are hashed."""
    if field.key is not None:
        return functools.partial(pseudonym, field.key)
    return value_converter(field.type)


def field_value(field: Field, value: Any) -> Any:
    """A stored value of ``field`` as a JSON-native value (a pseudonym field's hashed)."""
    if field.key is not None and value is not None:
        return pseudonym(field.key, value)
    return json_value(field.type, value)


def value_converter(field_type: str) -> Callable[[Any], Any] | None:
    """The function turning a stored non-null value of ``field_type`` into a JSON-native
    one, or None when the driver already returns one (text, numbers, booleans)."""
    return _CONVERTERS.get(field_type)


def _date_text(value: Any) -> Any:
    return value.isoformat() if isinstance(value, date) else value


def _datetime_text(value: Any) -> Any:
    return iso_datetime(value) if isinstance(value, datetime) else value


def _geojson_object(value: Any) -> Any:
    return parse_geojson(value) if isinstance(value, str) else value


_CONVERTERS: dict[str, Callable[[Any], Any]] = {
    "date": _date_text,
    "datetime": _datetime_text,
    "geojson": _geojson_object,
}


def parse_geojson(text: str) -> Any:
    """Stored GeoJSON text as an object; None when the text is not JSON."""
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        return None


def cursor_value(field_type: str, value: Any) -> Any:
    """A sort key value as JSON for a cursor (dates and datetimes as ISO text)."""
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    return json_value(field_type, value)


def from_cursor_value(field_type: str, value: Any) -> Any:
    """A sort key value read back from a cursor; ValueError when it does not fit the type."""
    if value is None:
        return None
    expected: dict[str, Callable[[Any], Any]] = {
        "integer": _cursor_integer,
        "number": _cursor_number,
        "boolean": _cursor_boolean,
        "date": lambda item: date.fromisoformat(_cursor_text(item)),
        "datetime": lambda item: datetime.fromisoformat(_cursor_text(item)),
        "string": _cursor_text,
    }
    return expected[field_type](value)


def _cursor_integer(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError("integer")
    return value


def _cursor_number(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError("number")
    return float(value)


def _cursor_boolean(value: Any) -> bool:
    if not isinstance(value, bool):
        raise ValueError("boolean")
    return value


def _cursor_text(value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError("text")
    return value
