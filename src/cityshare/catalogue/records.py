"""Versions made from records (JSON objects), for clients that send rows instead of files.

- :func:`publish_records`: a new version from records, with a Table Schema or inferred;
- :func:`change_records`: the current version with records inserted, updated or
  upserted by the schema's ``primaryKey``;
- :func:`delete_records`: the current version without the rows matching some filters
  (without any filter, without any row).

Versions stay immutable: every change is a whole new version, computed from the current
one by streaming its rows, and published only if that one is still current (else
Conflict, see :func:`~cityshare.catalogue.versions.publish_version`). Changing rows in
place needs the whole table, so only those who read all of the dataset (its
organisation's members with the upload right, site administrators) may; a grantee with
the ``write`` permission publishes whole files or records instead.
"""

from __future__ import annotations

import csv
import secrets
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from cityshare.access import Actor, reads_whole_dataset
from cityshare.catalogue.datasets import table_dataset_row
from cityshare.catalogue.models import RecordsChanged, RecordsDeleted, Version
from cityshare.catalogue.versions import OpenVersion, get_version, open_version, publish_version
from cityshare.errors import BadRequest, Forbidden
from cityshare.query import plan_query
from cityshare.query.cursor import CursorSigner
from cityshare.query.offset import equality_filters, iter_records, value_text
from cityshare.query.plan import QueryPlan
from cityshare.query.values import parse_value, shown
from cityshare.site import Site
from cityshare.tables.model import Field

NDJSON = "application/x-ndjson"
CSV = "text/csv"
METHODS = ("upsert", "insert", "update")
SOURCE_NAME = "records"

Key = tuple[Any, ...]


@dataclass
class _Spool:
    """A file of records being written: NDJSON, or a CSV header alone when empty."""

    path: Path
    names: list[str] | None
    written: int = 0

    def write(self, handle: Any, record: Mapping[str, Any]) -> None:
        if self.names is not None:
            record = {name: record.get(name) for name in self.names}
        handle.write(orjson.dumps(record) + b"\n")
        self.written += 1

    def media_type(self) -> str:
        if self.written:
            return NDJSON
        if not self.names:
            raise BadRequest("Give records, or fields to make an empty table.", parameter="records")
        with self.path.open("w", encoding="utf-8", newline="") as handle:
            csv.writer(handle).writerow(self.names)
        return CSV


@contextmanager
def _spool(site: Site, names: list[str] | None) -> Iterator[_Spool]:
    folder = site.settings.data_dir / "uploads"
    folder.mkdir(parents=True, exist_ok=True)
    spool = _Spool(path=folder / f"records-{secrets.token_hex(16)}", names=names)
    try:
        yield spool
    finally:
        with suppress(FileNotFoundError):
            spool.path.unlink()


def publish_records(
    site: Site,
    actor: Actor,
    name: str,
    *,
    records: Sequence[Any],
    schema: dict[str, Any] | None,
    carry_classes: Mapping[str, str | None] | None = None,
) -> Version:
    """Publish ``records`` as the dataset's new version: typed by ``schema``, or with a
    schema inferred from them when it is None (editors, admins and write grantees);
    ``carry_classes`` as for :func:`~cityshare.catalogue.versions.publish_version`."""
    names = _schema_names(schema)
    known = set(names) if names is not None else None
    with _spool(site, names) as spool:
        with spool.path.open("wb") as handle:
            for position, record in enumerate(records, 1):
                spool.write(handle, _checked(record, position, known))
        return _publish(site, actor, name, spool, schema, None, carry_classes)


def change_records(
    site: Site, actor: Actor, name: str, *, records: Sequence[Any], method: str = "upsert"
) -> RecordsChanged:
    """A new version: the current rows with ``records`` applied by primary key.

    ``insert`` adds them (refusing a key already there), ``update`` changes existing rows
    (refusing an unknown key; fields not given keep their values), ``upsert`` does
    either. Without a primary key only ``insert`` is possible.
    """
    if method not in METHODS:
        raise BadRequest(f"method must be one of {', '.join(METHODS)}.", parameter="method")
    opened, schema = _whole_current(site, actor, name)
    fields = {field.name: field for field in opened.table.fields}
    key = _primary_key(schema, fields)
    if not key and method != "insert":
        raise BadRequest(
            f"This table has no primary key, so {method} cannot find rows: give one when "
            "creating the table, or insert.",
            parameter="primary_key",
        )
    incoming = _keyed(records, key, fields, method)
    updated = 0
    with _spool(site, list(fields)) as spool:
        with spool.path.open("wb") as handle:
            for record in _current_records(site, opened):
                change = incoming.pop(_key_of(record, key, fields), None) if key else None
                if change is not None:
                    if method == "insert":
                        raise _duplicate(key, change)
                    record = {**record, **change}
                    updated += 1
                spool.write(handle, record)
            if method == "update" and incoming:
                missing = next(iter(incoming.values()))
                raise BadRequest(
                    f"No row has the key {_shown_key(key, missing)}: update changes existing "
                    "rows only (upsert adds them).",
                    parameter="records",
                )
            for record in incoming.values():
                spool.write(handle, record)
        summary = _publish(site, actor, name, spool, schema, opened.number)
    return RecordsChanged(**summary.model_dump(), updated=updated, inserted=len(incoming))


def delete_records(
    site: Site, actor: Actor, name: str, *, filters: Mapping[str, Any] | None
) -> RecordsDeleted:
    """A new version without the rows matching all ``filters`` (``{field: value}``, a
    list meaning any of its values); None or ``{}`` leaves no row."""
    opened, schema = _whole_current(site, actor, name)
    skip = equality_filters(opened.table, filters, "filters") if filters else ()
    names = [field.name for field in opened.table.fields]
    with _spool(site, names) as spool:
        with spool.path.open("wb") as handle:
            if skip:
                plan = _whole_plan(site, opened)
                with site.export_reader.connect() as connection:
                    for record in iter_records(connection, plan, skip=skip):
                        spool.write(handle, record)
        kept = spool.written
        summary = _publish(site, actor, name, spool, schema, opened.number)
    # Whoever changes rows reads the whole table, so the version shows its row count.
    before = get_version(site, actor, name, opened.number).row_count or 0
    return RecordsDeleted(**summary.model_dump(), deleted=before - kept)


def _whole_current(site: Site, actor: Actor, name: str) -> tuple[OpenVersion, dict[str, Any]]:
    """The current version and its schema, for a change of its rows."""
    with site.engine.connect() as connection:
        table_dataset_row(connection, actor, name)  # the upload right, before any read
    opened = open_version(site, actor, name, None)
    if not reads_whole_dataset(actor, opened.dataset):
        raise Forbidden(
            "Changing rows rewrites the whole table, and you may not read all of it: "
            "publish a whole file or new records instead."
        )
    schema = get_version(site, actor, name, opened.number).schema_.document()
    return opened, schema


def _whole_plan(site: Site, opened: OpenVersion) -> QueryPlan:
    return plan_query(
        [],
        opened.view.table,
        limits=site.settings.limits,
        signer=CursorSigner(site.secret_key),  # a whole read: no cursor is signed
        scope=opened.table.table.name,
        bounds=opened.view.bounds,
    )


def _current_records(site: Site, opened: OpenVersion) -> Iterator[dict[str, Any]]:
    plan = _whole_plan(site, opened)
    with site.export_reader.connect() as connection:
        yield from iter_records(connection, plan)


def _publish(
    site: Site,
    actor: Actor,
    name: str,
    spool: _Spool,
    schema: dict[str, Any] | None,
    based_on: int | None,
    carry_classes: Mapping[str, str | None] | None = None,
) -> Version:
    """Publish the spooled records as the new version (``based_on``: the version they were
    read from, which must still be current)."""
    media_type = spool.media_type()
    return publish_version(
        site,
        actor,
        name,
        source=spool.path,
        media_type=media_type,
        schema=schema,
        source_name=SOURCE_NAME,
        based_on=based_on,
        carry_classes=carry_classes,
    )


def _schema_names(schema: dict[str, Any] | None) -> list[str] | None:
    if schema is None:
        return None
    fields = schema.get("fields")
    if not isinstance(fields, list):
        raise BadRequest("The schema needs a list of fields.", parameter="fields")
    return [str(field.get("name")) for field in fields if isinstance(field, dict)]


def _checked(record: Any, position: int, known: set[str] | None) -> Mapping[str, Any]:
    if not isinstance(record, dict) or not all(isinstance(key, str) for key in record):
        raise BadRequest(f"Record {position} is not an object.", parameter="records")
    if known is not None:
        unknown = [key for key in record if key not in known]
        if unknown:
            raise BadRequest(
                f"Record {position} has '{shown(unknown[0])}', which is not a field of the "
                f"table (fields: {', '.join(sorted(known))[:300]}).",
                parameter="records",
            )
    return record


def _primary_key(schema: Mapping[str, Any], fields: Mapping[str, Field]) -> list[str]:
    raw = schema.get("primaryKey") or []
    key = [raw] if isinstance(raw, str) else [str(name) for name in raw]
    missing = [name for name in key if name not in fields]
    if missing:
        raise BadRequest(
            f"The primary key names '{shown(missing[0])}', which is not a field.",
            parameter="primary_key",
        )
    return key


def _keyed(
    records: Sequence[Any], key: list[str], fields: Mapping[str, Field], method: str
) -> dict[Any, dict[str, Any]]:
    """Incoming records by key (by position without a key); later ones override."""
    keyed: dict[Any, dict[str, Any]] = {}
    for position, record in enumerate(records, 1):
        checked = dict(_checked(record, position, set(fields)))
        if not key:
            keyed[position] = checked
            continue
        if any(checked.get(name) is None for name in key):
            raise BadRequest(
                f"Record {position} lacks a value of the primary key ({', '.join(key)}).",
                parameter="records",
            )
        identity = _key_of(checked, key, fields)
        if identity in keyed and method == "insert":
            raise _duplicate(key, checked)
        keyed[identity] = {**keyed.get(identity, {}), **checked}
    return keyed


def _key_of(record: Mapping[str, Any], key: list[str], fields: Mapping[str, Field]) -> Key:
    """The primary key of ``record``, typed so that ``"1"`` and ``1`` are one key."""
    values: list[Any] = []
    for name in key:
        value = record.get(name)
        if value is None:
            values.append(None)
            continue
        try:
            values.append(parse_value(fields[name], value_text(value), "records"))
        except TypeError:
            raise BadRequest(
                f"The key field '{shown(name)}' needs a plain value.", parameter="records"
            ) from None
    return tuple(values)


def _shown_key(key: list[str], record: Mapping[str, Any]) -> str:
    return ", ".join(f"{name}={shown(str(record.get(name)))}" for name in key)


def _duplicate(key: list[str], record: Mapping[str, Any]) -> BadRequest:
    return BadRequest(
        f"A row with the key {_shown_key(key, record)} is already there: insert adds new "
        "rows only (upsert changes them).",
        parameter="records",
    )
