"""A given Frictionless Table Schema: checked, normalised, and matched to a file's columns.

Honoured: ``fields[].name``, ``fields[].type`` (the types of
:data:`~cityshare.tables.model.FIELD_TYPES`; ``geometry`` is taken as ``geojson``;
no type means ``string``), ``missingValues`` (default ``[""]``), ``format`` of
date and datetime fields (``default``/``any`` for ISO 8601, or a ``strptime``
pattern such as ``%d/%m/%Y``), ``trueValues``/``falseValues`` of booleans and
``decimalChar``/``groupChar`` of numbers and integers, and the point property.
Other properties (titles, descriptions, constraints) are kept but not enforced.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from cityshare.config import Limits
from cityshare.errors import BadRequest, InvalidData
from cityshare.tables.model import FIELD_TYPES, POINT_PROPERTY
from cityshare.tables.parsing import DEFAULT_FALSE_VALUES, DEFAULT_TRUE_VALUES
from cityshare.tables.source import check_column_count, shown

TYPE_ALIASES = {"geometry": "geojson"}
ISO_FORMATS = frozenset({None, "default", "any"})


@dataclass(frozen=True)
class FieldSpec:
    """How to read one field: its type and the options of that type."""

    name: str
    type: str
    pattern: str | None = None
    true_values: tuple[str, ...] = DEFAULT_TRUE_VALUES
    false_values: tuple[str, ...] = DEFAULT_FALSE_VALUES
    decimal_char: str = "."
    group_char: str = ""
    # Set only by inference, never from a given schema: every value of the file was
    # seen in canonical form (see :mod:`.infer`), so the loader may pass text through.
    canonical: bool = False


@dataclass(frozen=True)
class SchemaPlan:
    """The schema to store, the field specs to read with, and the missing values."""

    schema: dict[str, Any]
    fields: tuple[FieldSpec, ...]
    missing: frozenset[str]

    @property
    def names(self) -> list[str]:
        """The field names in order."""
        return [spec.name for spec in self.fields]


def plan_for(schema: dict[str, Any], limits: Limits) -> SchemaPlan:
    """Check a given schema (BadRequest naming the problem) and normalise it."""
    if not isinstance(schema, dict) or not isinstance(schema.get("fields"), list):
        raise BadRequest("The schema must be an object with a list of fields.")
    normalised = copy.deepcopy(schema)
    check_column_count(len(normalised["fields"]), limits)
    specs = tuple(_field(raw, position) for position, raw in enumerate(normalised["fields"], 1))
    _check_names([spec.name for spec in specs])
    missing = _missing_values(normalised.get("missingValues", [""]))
    normalised["missingValues"] = list(missing)
    for raw, spec in zip(normalised["fields"], specs, strict=True):
        raw["type"] = spec.type
    _check_point(normalised.get(POINT_PROPERTY), specs)
    return SchemaPlan(schema=normalised, fields=specs, missing=frozenset(missing))


def _field(raw: Any, position: int) -> FieldSpec:
    if not isinstance(raw, dict):
        raise BadRequest(f"Schema field {position} must be an object.")
    name = raw.get("name")
    if not isinstance(name, str) or not name.strip():
        raise BadRequest(f"Schema field {position} needs a non-empty name.")
    kind = raw.get("type", "string")
    kind = TYPE_ALIASES.get(kind, kind) if isinstance(kind, str) else kind
    if kind not in FIELD_TYPES:
        raise BadRequest(
            f"Schema field '{shown(name)}' has unsupported type {shown(str(kind))!r}; "
            f"supported types: {', '.join(FIELD_TYPES)} (and geometry).",
            field=name,
        )
    return FieldSpec(
        name=name,
        type=kind,
        pattern=_pattern(raw, name, kind),
        true_values=_strings(raw, "trueValues", DEFAULT_TRUE_VALUES, name),
        false_values=_strings(raw, "falseValues", DEFAULT_FALSE_VALUES, name),
        decimal_char=_char(raw, "decimalChar", ".", name),
        group_char=_char(raw, "groupChar", "", name),
    )


def _pattern(raw: dict[str, Any], name: str, kind: str) -> str | None:
    value = raw.get("format")
    if kind not in ("date", "datetime") or value in ISO_FORMATS:
        return None
    if isinstance(value, str) and value.startswith("fmt:"):
        value = value[4:]
    if not isinstance(value, str) or "%" not in value:
        raise BadRequest(
            f"Schema field '{shown(name)}': format must be 'default', 'any' or a strptime "
            "pattern such as '%d/%m/%Y'.",
            field=name,
        )
    return value


def _strings(raw: dict[str, Any], key: str, default: tuple[str, ...], name: str) -> tuple[str, ...]:
    value = raw.get(key)
    if value is None:
        return default
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise BadRequest(f"Schema field '{shown(name)}': {key} must be a list of strings.")
    return tuple(value)


def _char(raw: dict[str, Any], key: str, default: str, name: str) -> str:
    value = raw.get(key, default)
    if not isinstance(value, str) or len(value) > 1 or (key == "decimalChar" and not value):
        raise BadRequest(f"Schema field '{shown(name)}': {key} must be one character.")
    return value


def _check_names(names: list[str]) -> None:
    seen: set[str] = set()
    for name in names:
        if name in seen:
            raise BadRequest(f"The schema names field '{shown(name)}' twice.", field=name)
        seen.add(name)


def _missing_values(value: Any) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise BadRequest("The schema's missingValues must be a list of strings.")
    return list(dict.fromkeys(value))


def _check_point(value: Any, specs: Sequence[FieldSpec]) -> None:
    if value is None:
        return
    types: dict[Any, str] = {spec.name: spec.type for spec in specs}
    if not isinstance(value, dict) or any(
        types.get(value.get(axis)) != "number" for axis in ("longitude", "latitude")
    ):
        raise BadRequest(
            f"The schema's {POINT_PROPERTY} must name a number field as longitude and "
            "another as latitude."
        )


def match_columns(plan: SchemaPlan, header: Sequence[str], *, by_name: bool) -> None:
    """InvalidData when the schema's fields do not fit the file's columns.

    Positional formats (CSV, XLSX) need as many fields as columns; the header names
    do not have to match (a schema may rename), but the same names in another order
    are refused. Keyed formats (JSON) need the same set of names.
    """
    names = plan.names
    if by_name:
        known, present = set(names), set(header)
        extra = [name for name in header if name not in known]
        absent = [name for name in names if name not in present]
        if extra or absent:
            raise InvalidData(
                "The schema's fields do not match the file's keys: "
                f"not in the schema {[shown(n) for n in extra[:10]]}, "
                f"not in the file {[shown(n) for n in absent[:10]]}.",
                not_in_schema=extra[:100],
                not_in_file=absent[:100],
            )
        return
    if len(names) != len(header):
        raise InvalidData(
            f"The schema has {len(names)} fields but the file has {len(header)} columns.",
            fields=len(names),
            columns=len(header),
        )
    if list(names) != list(header) and sorted(names) == sorted(header):
        raise InvalidData(
            "The file has the schema's columns in another order; reorder the file or the schema."
        )
