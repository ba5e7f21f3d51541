"""What of a dataset version one reader gets: the one place read bounds are made.

Owners (members of the owner organisation) and site administrators read everything.
Anyone else reads under a grant when they hold one (its columns, row filter, minimum
group size and pseudonymised columns), or else — an open dataset — its public columns.
The bounded :class:`~cityshare.tables.model.VersionTable` simply has no field for a
column the reader may not reach, so filters, sorting, aggregates, exports and cursors
cannot name it; the grant's row filter is added to every query as a bound.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from cityshare.access import Actor, DatasetResource, reads_whole_dataset
from cityshare.access.grants import GrantTerms
from cityshare.bounds.classes import SCHEMA_PROPERTY, annotated_schema, public_columns
from cityshare.errors import BadRequest, Forbidden
from cityshare.query.filters import parse_filter
from cityshare.query.spec import UNBOUNDED, Filter, RowBounds
from cityshare.tables.model import POINT_PROPERTY, PSEUDONYM_TYPE, Field, PointColumns, VersionTable

PSEUDONYM_PROPERTY = "x-cityshare-pseudonymised"


@dataclass(frozen=True)
class ReadView:
    """A version as one reader may query it, and the grant that allows it (if any)."""

    table: VersionTable
    bounds: RowBounds
    grant_id: int | None = None


def read_view(
    actor: Actor,
    dataset: DatasetResource,
    table: VersionTable,
    classes: Mapping[str, str] | None,
    secret: bytes,
) -> ReadView:
    """The view of ``table`` ``actor`` reads (after the policy allowed ``dataset.read``)."""
    if reads_whole_dataset(actor, dataset):
        return ReadView(table=table, bounds=UNBOUNDED)
    grant = actor.grant_for(dataset.id)
    names = [field.name for field in table.fields]
    if grant is None:
        return ReadView(table=restricted(table, public_columns(names, classes)), bounds=UNBOUNDED)
    visible = _granted_columns(grant, names, classes)
    key = pseudonym_key(secret, grant.id)
    bounds = RowBounds(filters=_row_filter(grant, table), min_group_size=grant.min_group_size)
    view = restricted(table, visible, frozenset(grant.pseudonymised), key)
    return ReadView(table=view, bounds=bounds, grant_id=grant.id)


def visible_schema(
    actor: Actor,
    dataset: DatasetResource,
    schema: Mapping[str, Any],
    classes: Mapping[str, str] | None,
) -> dict[str, Any]:
    """The Table Schema as ``actor`` would read the data: unreachable fields left out,
    pseudonymised ones marked, every field with its classification."""
    annotated = annotated_schema(schema, classes)
    if reads_whole_dataset(actor, dataset):
        return annotated
    grant = actor.grant_for(dataset.id)
    names = [str(spec.get("name")) for spec in annotated["fields"]]
    if grant is None:
        visible = set(public_columns(names, classes))
        pseudonymised: frozenset[str] = frozenset()
    else:
        visible = set(_granted_columns(grant, names, classes))
        pseudonymised = frozenset(grant.pseudonymised)
    fields = []
    for spec in annotated["fields"]:
        name = str(spec.get("name"))
        if name not in visible:
            continue
        if name in pseudonymised:
            spec = {
                "name": name,
                "type": "string",
                SCHEMA_PROPERTY: spec[SCHEMA_PROPERTY],
                PSEUDONYM_PROPERTY: True,
            }
        fields.append(spec)
    kept = {str(spec["name"]) for spec in fields if not spec.get(PSEUDONYM_PROPERTY)}
    result = {**annotated, "fields": fields}
    point = result.get(POINT_PROPERTY)
    if isinstance(point, dict) and not set(map(str, point.values())) <= kept:
        del result[POINT_PROPERTY]  # the point needs both coordinates, in the clear
    _drop_keys_naming_hidden(result, {str(spec["name"]) for spec in fields})
    return result


def _drop_keys_naming_hidden(schema: dict[str, Any], shown: set[str]) -> None:
    """For a reader within bounds: leave out a primary key that names a field they do
    not see (it would tell them the field exists), and foreign keys (which name fields
    of this table and of others)."""
    key = schema.get("primaryKey")
    names = [key] if isinstance(key, str) else key if isinstance(key, list) else []
    if key is not None and not {str(name) for name in names} <= shown:
        del schema["primaryKey"]
    schema.pop("foreignKeys", None)


def restricted(
    table: VersionTable,
    visible: list[str],
    pseudonymised: frozenset[str] = frozenset(),
    key: bytes | None = None,
) -> VersionTable:
    """``table`` with only the ``visible`` fields; ``pseudonymised`` ones hashed with ``key``."""
    wanted = set(visible)
    if wanted == {field.name for field in table.fields} and not pseudonymised:
        return table
    fields = tuple(
        _pseudonym_field(field, key) if field.name in pseudonymised else field
        for field in table.fields
        if field.name in wanted
    )
    plain = {field.name for field in fields if field.type != PSEUDONYM_TYPE}
    geometry = table.geometry if table.geometry and table.geometry.name in plain else None
    return VersionTable(
        table=table.table, fields=fields, geometry=geometry, point=_point(table.point, plain)
    )


def pseudonym_key(secret: bytes, grant_id: int) -> bytes:
    """The key a grant's pseudonyms are made with: one per grant, from the site secret."""
    return hmac.new(
        secret, f"cityshare/pseudonym/grant/{grant_id}".encode(), hashlib.sha256
    ).digest()


def reading_grant(actor: Actor, dataset: DatasetResource) -> int | None:
    """The grant a read of ``dataset`` by ``actor`` runs under (None: as an owner, or as a
    reader of open data), for the audit log. The same choice as :func:`read_view`."""
    if reads_whole_dataset(actor, dataset):
        return None
    grant = actor.grant_for(dataset.id)
    return None if grant is None else grant.id


def _row_filter(grant: GrantTerms, table: VersionTable) -> tuple[Filter, ...]:
    try:
        return tuple(parse_filter(table, name, value) for name, value in grant.row_filter)
    except BadRequest:
        # Fail closed: a bound that no longer fits the data must not be dropped.
        raise Forbidden(
            f"The row filter of grant {grant.id} no longer fits this version's columns; "
            "ask the dataset's owner to update the grant."
        ) from None


def _granted_columns(
    grant: GrantTerms, names: list[str], classes: Mapping[str, str] | None
) -> list[str]:
    if grant.columns is None:
        return public_columns(names, classes)
    named = set(grant.columns)
    return [name for name in names if name in named]


def _pseudonym_field(field: Field, key: bytes | None) -> Field:
    return Field(name=field.name, type=PSEUDONYM_TYPE, position=field.position, key=key)


def _point(point: PointColumns | None, plain: set[str]) -> PointColumns | None:
    if point is None or point.longitude.name not in plain or point.latitude.name not in plain:
        return None
    return point
