"""Column classification: ``public``, ``personal`` or ``sensitive``.

A dataset keeps one map of column name to class, so a classification outlives the
version it was made on: a new upload cannot quietly turn a personal column public. An
uploaded Table Schema may classify fields (``"classification": "personal"``); such a
classification only ever makes a column stricter. Personal and sensitive columns never
leave the owner organisation unless a grant names them.

Classes are kept by column name and never dropped when a column disappears, so an older
version read with ``_version=`` keeps the classes of its columns. A new version that lacks
a classified column is published only with the publisher's decision on it (renamed: the
new column takes the class; or dropped), see :func:`carried_classes`.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from cityshare.errors import BadRequest, Conflict

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


def carried_classes(
    current: Mapping[str, str] | None,
    before: Sequence[str],
    after: Sequence[str],
    carry: Mapping[str, str | None] | None,
) -> dict[str, str] | None:
    """The dataset's classes once a version with columns ``after`` replaces one with
    ``before``, or None when nothing changes.

    A classified column that the new version lacks needs a decision in ``carry``: the
    new column that takes its class (a rename), or None (dropped). Without one the
    upload is refused (Conflict, naming the columns), so a renamed personal column
    never becomes public by accident. Classes stay kept by name: a dropped or renamed
    column keeps its class for the older versions that hold it.
    """
    decided = dict(carry or {})
    missing = [name for name in before if class_of(current, name) != PUBLIC and name not in after]
    _check_decisions(decided, missing, set(after))
    undecided = [name for name in missing if name not in decided]
    if undecided:
        raise Conflict(_undecided_detail(undecided, current, before, after))
    merged = dict(current or {})
    for old, new in decided.items():
        if (
            new is not None
            and _STRICTNESS[class_of(current, old)] > _STRICTNESS[class_of(merged, new)]
        ):
            merged[new] = class_of(current, old)
    return merged if merged != dict(current or {}) else None


def checked_carry(value: Any) -> dict[str, str | None] | None:
    """A ``carry_classes`` decision as sent (a JSON object, or its text), checked."""
    if value is None or value == "":
        return None
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            value = None
    if not isinstance(value, dict) or len(value) > 10_000:
        raise BadRequest(
            "'carry_classes' is a JSON object: each classified column the new file lacks, "
            'to the column that takes its class or to null, e.g. {"plate": "registration"}.',
            parameter="carry_classes",
        )
    for old, new in value.items():
        if not isinstance(old, str) or not (new is None or isinstance(new, str)):
            raise BadRequest(
                "'carry_classes' maps column names to column names or null.",
                parameter="carry_classes",
            )
    return dict(value)


def _check_decisions(
    decided: Mapping[str, str | None], missing: list[str], after: set[str]
) -> None:
    for old, new in decided.items():
        if old not in missing:
            raise BadRequest(
                f"'carry_classes': {old[:80]!r} is not a classified column that the new "
                "file lacks; only those need a decision.",
                parameter="carry_classes",
            )
        if new is not None and new not in after:
            raise BadRequest(
                f"'carry_classes': {new[:80]!r} is not a column of the new file.",
                parameter="carry_classes",
            )


def _undecided_detail(
    undecided: list[str],
    current: Mapping[str, str] | None,
    before: Sequence[str],
    after: Sequence[str],
) -> str:
    named = ", ".join(f"{name[:80]!r} ({class_of(current, name)})" for name in undecided)
    # A guess by position, to help: the new column where the old one was.
    guess = {
        name: after[before.index(name)]
        for name in undecided
        if before.index(name) < len(after) and after[before.index(name)] not in before
    }
    example = json.dumps(guess or dict.fromkeys(undecided[:1]))
    return (
        f"The new file lacks classified columns: {named}. Say what became of them with "
        f"'carry_classes': the column that takes each one's class if renamed, or null if "
        f"dropped, e.g. carry_classes={example}. Nothing was published."
    )


def annotated_schema(
    schema: Mapping[str, Any], classes: Mapping[str, str] | None
) -> dict[str, Any]:
    """``schema`` with each field's class as its ``classification`` property."""
    fields = [
        {**spec, SCHEMA_PROPERTY: class_of(classes, str(spec.get("name")))}
        for spec in schema.get("fields", [])
    ]
    return {**schema, "fields": fields}
