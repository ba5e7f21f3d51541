"""Column classification: ``public``, ``personal`` or ``sensitive``.

A dataset keeps one map of column name to class, so a classification outlives the
version it was made on: a new upload cannot quietly turn a personal column public. An
uploaded Table Schema may classify fields (``"classification": "personal"``); such a
classification only ever makes a column stricter. Personal and sensitive columns never
leave the owner organisation unless a grant names them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from cityshare.errors import BadRequest

CLASSES = ("public", "personal", "sensitive")
PUBLIC = "public"
SCHEMA_PROPERTY = "classification"
_STRICTNESS = {name: rank for rank, name in enumerate(CLASSES)}


def class_of(classes: Mapping[str, str] | None, column: str) -> str:
    """A column's class; unclassified columns are public."""
    return (classes or {}).get(column, PUBLIC)


def public_columns(names: Iterable[str], classes: Mapping[str, str] | None) -> list[str]:
    """The columns of ``names`` that anyone who may read the data gets."""
    return [name for name in names if class_of(classes, name) == PUBLIC]


def checked_classes(changes: Mapping[str, Any]) -> dict[str, str]:
    """``changes`` (column -> class) validated; BadRequest names the first bad entry."""
    if len(changes) > 10_000:
        raise BadRequest("Too many column classes in one request.", parameter="column_classes")
    checked: dict[str, str] = {}
    for column, value in changes.items():
        if not isinstance(column, str) or not 0 < len(column) <= 300:
            raise BadRequest("Column names are 1-300 characters.", parameter="column_classes")
        if value not in CLASSES:
            raise BadRequest(
                f"Column {column[:80]!r}: class {str(value)[:40]!r} is not one of "
                f"{', '.join(CLASSES)}.",
                parameter="column_classes",
            )
        checked[column] = str(value)
    return checked


def stricter_from_schema(
    current: Mapping[str, str] | None, schema: Mapping[str, Any]
) -> dict[str, str] | None:
    """The dataset's classes after an upload whose schema classifies some fields, or
    None when nothing changes. A schema can raise a column's class, never lower it."""
    merged = dict(current or {})
    for spec in schema.get("fields", []):
        wanted = spec.get(SCHEMA_PROPERTY) if isinstance(spec, dict) else None
        if wanted is None:
            continue
        name = str(spec.get("name"))
        if wanted not in CLASSES:
            raise BadRequest(
                f"Field {name[:80]!r}: classification {str(wanted)[:40]!r} is not one of "
                f"{', '.join(CLASSES)}.",
                parameter="schema",
            )
        if _STRICTNESS[wanted] > _STRICTNESS[class_of(merged, name)]:
            merged[name] = wanted
    return merged if merged != dict(current or {}) else None


def annotated_schema(
    schema: Mapping[str, Any], classes: Mapping[str, str] | None
) -> dict[str, Any]:
    """``schema`` with each field's class as its ``classification`` property."""
    fields = [
        {**spec, SCHEMA_PROPERTY: class_of(classes, str(spec.get("name")))}
        for spec in schema.get("fields", [])
    ]
    return {**schema, "fields": fields}
