"""CKAN's DataStore actions over cityshare's typed tables.

A dataset of tables is its own datastore table: ``resource_id`` is any of its resource
ids (``traffic-counts.csv``) or its name. Reads go through the query layer over the
reader's view (:func:`cityshare.bounds.view.read_view`), exactly as the rows API: a
grantee never gets a column or a row the rows API would refuse them. Writes make new
immutable versions (:mod:`cityshare.catalogue.records`).

- ``datastore_search``: ``filters`` (equality; a list is any of its values), ``q``
  (text, or ``{field: text}``; case-insensitive containment in the text fields),
  ``fields``, ``sort`` ("a desc, b"), ``limit`` (default 100, at most the rows API's
  largest page), ``offset`` (at most :data:`~cityshare.query.offset.MAX_OFFSET`: an
  offset page reads every row before it; page further with the rows API's cursors),
  ``include_total`` (default true), ``records_format`` (objects or lists);
- ``datastore_search_sql``: the read-only SQL endpoint's rules and limits; tables are
  named by resource id or dataset name (``SELECT * FROM "traffic-counts.csv"``);
- ``datastore_create``: ``fields`` and ``records`` as a new version (``primary_key``
  kept in its Table Schema);
- ``datastore_upsert``: ``method`` upsert, insert or update by that primary key;
- ``datastore_delete``: without the rows matching ``filters``; without filters, a new
  version with no rows (earlier versions keep the data).
"""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

import sqlglot
from sqlalchemy.exc import OperationalError
from sqlglot import exp
from sqlglot.errors import ParseError, TokenError

from cityshare.api.ckan.params import CkanCall
from cityshare.audit.events import data_read
from cityshare.bounds.classes import checked_carry
from cityshare.catalogue.records import change_records, delete_records, publish_records
from cityshare.catalogue.versions import OpenVersion, open_version
from cityshare.errors import BadRequest, QueryTimeout
from cityshare.http.ckan_envelope import invalid
from cityshare.interop import ckan_mapping as mapping
from cityshare.query import QueryPlan, plan_query
from cityshare.query.offset import (
    MAX_OFFSET,
    MAX_TEXT_CHARS,
    Narrowing,
    count_matching,
    equality_filters,
    offset_page,
)
from cityshare.sql import run_sql
from cityshare.storage.engine import is_time_limit_error
from cityshare.tables.model import Field, VersionTable

AUDIT_FORMAT = "ckan"
# Table Schema field types as CKAN DataStore column types, and back.
DATASTORE_TYPES = {
    "integer": "int",
    "number": "numeric",
    "boolean": "bool",
    "date": "date",
    "datetime": "timestamp",
    "string": "text",
    "geojson": "json",
    "pseudonym": "text",
}
SCHEMA_TYPES = {
    "text": "string",
    "varchar": "string",
    "int": "integer",
    "int4": "integer",
    "int8": "integer",
    "integer": "integer",
    "bigint": "integer",
    "smallint": "integer",
    "numeric": "number",
    "float": "number",
    "float4": "number",
    "float8": "number",
    "double precision": "number",
    "real": "number",
    "bool": "boolean",
    "boolean": "boolean",
    "date": "date",
    "timestamp": "datetime",
    "timestamptz": "datetime",
}
RECORDS_FORMATS = ("objects", "lists")


# --- reading ---------------------------------------------------------------------------


def datastore_search(call: CkanCall) -> dict[str, Any]:
    """Records of a table, filtered, searched, sorted and paged by offset."""
    identifier = call.required("resource_id", "id")
    name = mapping.datastore_dataset(call.site, call.actor, identifier)
    opened = open_version(call.site, call.actor, name, None, tables=call.reader.tables)
    view = opened.view.table
    limits = call.site.settings.limits
    limit = call.integer("limit", limits.default_page_rows, 0, limits.max_page_rows)
    offset = call.integer("offset", 0, 0, MAX_OFFSET)
    records_format = call.text("records_format") or "objects"
    if records_format not in RECORDS_FORMATS:
        raise invalid("records_format", f"Use {' or '.join(RECORDS_FORMATS)}.")
    if call.flag("distinct"):
        raise invalid("distinct", "distinct is not supported: use the rows API's _group.")
    plan = _plan(call, opened, max(limit, 1))
    narrowing = Narrowing(
        filters=equality_filters(view, call.mapping("filters") or {}, "filters"),
        **_text_search(call, view),
    )
    records, total = _run(call, plan, narrowing, offset, limit)
    _audit(call, opened, len(records))
    answer: dict[str, Any] = {
        "resource_id": identifier,
        "fields": [
            {"id": field.name, "type": DATASTORE_TYPES[field.type]} for field in plan.fields
        ],
        "records": _formatted(records, plan.fields, records_format),
        "records_format": records_format,
        "limit": limit,
        "offset": offset,
        "_links": _links(call, offset, limit),
    }
    if total is not None:
        answer["total"] = total
        answer["total_was_estimated"] = False
    return answer


def _field_info(field: Field) -> dict[str, str]:
    return {"id": field.name, "type": DATASTORE_TYPES[field.type]}


def _plan(call: CkanCall, opened: OpenVersion, limit: int) -> QueryPlan:
    """The query plan over the reader's view: its bounds, the sort, the fields."""
    params = [("_limit", str(limit))]
    sort = _sort(call)
    if sort:
        params.append(("_sort", sort))
    plan = plan_query(
        params,
        opened.view.table,
        limits=call.site.settings.limits,
        signer=call.reader.cursor_signer,
        scope=opened.table.table.name,
        bounds=opened.view.bounds,
    )
    names = call.strings("fields", split=True)
    if names is None:
        return plan
    chosen = []
    for name in names:
        field = opened.view.table.field(name)
        if field is None:
            raise invalid("fields", f"{name[:80]!r} is not a field of this table.")
        chosen.append(field)
    return replace(plan, fields=tuple(chosen))


def _sort(call: CkanCall) -> str:
    """CKAN's ``sort`` ("a desc, b asc" or a list of them) as the rows API's ``_sort``."""
    keys = call.strings("sort", split=True) or []
    converted = []
    for key in keys:
        name, _space, direction = key.strip().rpartition(" ")
        if direction.lower() not in ("asc", "desc") or not name:
            name, direction = key.strip(), "asc"
        name = name.strip().strip('"')
        converted.append(("-" if direction.lower() == "desc" else "") + name)
    return ",".join(converted)


def _text_search(call: CkanCall, view: VersionTable) -> dict[str, Any]:
    value = call.decoded("q")
    if value is None or value == "":
        return {}
    if isinstance(value, str):
        if len(value) > MAX_TEXT_CHARS:
            raise invalid("q", f"At most {MAX_TEXT_CHARS} characters.")
        return {"text": value}
    if not isinstance(value, dict):
        raise invalid("q", "Give text, or {field: text}.")
    pairs = []
    for name, text in value.items():
        field = view.field(name)
        if field is None or field.type != "string":
            raise invalid("q", f"{name[:80]!r} is not a text field of this table.")
        if not isinstance(text, str) or len(text) > MAX_TEXT_CHARS:
            raise invalid("q", f"The text for {name[:80]!r} must be a string.")
        pairs.append((field, text))
    return {"field_text": tuple(pairs)}


def _run(
    call: CkanCall, plan: QueryPlan, narrowing: Narrowing, offset: int, limit: int
) -> tuple[list[dict[str, Any]], int | None]:
    try:
        with call.site.query_reader.connect() as connection:
            records = offset_page(connection, plan, offset=offset, narrowing=narrowing)
            records = records if limit else []
            total = (
                count_matching(connection, plan, narrowing)
                if call.flag("include_total", True)
                else None
            )
    except OperationalError as error:
        if is_time_limit_error(error):
            raise QueryTimeout(
                "The search ran past its time limit: add filters, ask for fewer rows, or "
                "set include_total to false."
            ) from None
        raise
    return records, total


def _formatted(
    records: list[dict[str, Any]], fields: tuple[Field, ...], records_format: str
) -> list[Any]:
    if records_format == "objects":
        return records
    return [[record.get(field.name) for field in fields] for record in records]


def _links(call: CkanCall, offset: int, limit: int) -> dict[str, str]:
    from urllib.parse import urlencode

    kept = {
        key: value if isinstance(value, str) else json.dumps(value)
        for key, value in call.data.items()
        if key != "offset"
    }
    start = f"{call.path}?{urlencode(kept)}"
    return {"start": start, "next": f"{start}&{urlencode({'offset': offset + limit})}"}


def _audit(call: CkanCall, opened: OpenVersion, rows: int) -> None:
    asked = {key: call.decoded(key) for key in call.data}  # JSON text as what it says
    query = json.dumps(asked, default=str, sort_keys=True)
    call.reader.audit.submit_read(
        data_read(
            call.actor,
            opened.dataset.id,
            opened.dataset_name,
            version=opened.number,
            query=f"datastore_search {query}",
            rows=rows,
            output=AUDIT_FORMAT,
            grant=opened.grant_id,
        )
    )


def datastore_search_sql(call: CkanCall) -> dict[str, Any]:
    """One read-only SELECT, under the rules of ``GET /api/v1/sql``."""
    text = call.required("sql")
    try:
        body = run_sql(call.reader, call.actor, _dataset_names(text), output=AUDIT_FORMAT)
    except BadRequest as error:
        raise invalid("sql", error.detail) from None
    columns: list[str] = body["columns"]
    rows: list[list[Any]] = body["rows"]
    return {
        "sql": text,
        "records": [dict(zip(columns, row, strict=True)) for row in rows],
        "fields": [
            {"id": name, "type": _value_type(rows, index)} for index, name in enumerate(columns)
        ],
        "records_truncated": body["truncated"],
    }


def _dataset_names(text: str) -> str:
    """``text`` with tables named by resource id (``"traffic-counts.csv"``) renamed to
    their dataset; unchanged when it names none (or cannot be read: the SQL service
    explains why)."""
    try:
        statements = sqlglot.parse(text, read="postgres")
    except (ParseError, TokenError, RecursionError):
        return text
    if len(statements) != 1 or statements[0] is None:
        return text
    tree = statements[0]
    renamed = False
    for table in tree.find_all(exp.Table):
        name, suffix = mapping.split_resource_id(str(table.name))
        if suffix in mapping.BY_PARAM and isinstance(table.this, exp.Identifier):
            table.set("this", exp.to_identifier(name, quoted=True))
            renamed = True
    return tree.sql(dialect="postgres") if renamed else text


def _value_type(rows: list[list[Any]], index: int) -> str:
    for row in rows:
        value = row[index]
        if isinstance(value, bool):
            return "bool"
        if isinstance(value, int):
            return "int"
        if isinstance(value, float):
            return "numeric"
        if value is not None:
            return "text"
    return "text"


# --- writing ---------------------------------------------------------------------------


def _target(call: CkanCall) -> str:
    """The dataset a datastore write goes to: ``resource_id``, or ``resource.package_id``."""
    identifier = call.text("resource_id") or call.text("id")
    if not identifier:
        resource = call.mapping("resource") or {}
        package = resource.get("package_id")
        identifier = package if isinstance(package, str) else None
    if not identifier:
        raise invalid("resource_id", "Missing value")
    return mapping.datastore_dataset(call.site, call.actor, identifier)


def datastore_create(call: CkanCall) -> dict[str, Any]:
    """A new version from ``fields`` and ``records`` (``primary_key`` optional)."""
    name = _target(call)
    key = call.strings("primary_key", split=True) or []
    schema = _schema(call.decoded("fields"), key)
    records = call.records("records")
    if schema is None and not records:
        raise invalid("fields", "Give fields, records or both.")
    carry = checked_carry(call.mapping("carry_classes"))
    summary = publish_records(
        call.site, call.actor, name, records=records, schema=schema, carry_classes=carry
    )
    return {
        "resource_id": mapping.resource_id(name, "csv"),
        "fields": [
            {"id": spec["name"], "type": DATASTORE_TYPES.get(spec["type"], "text")}
            for spec in (schema or {"fields": []})["fields"]
        ],
        "primary_key": key,
        "version": summary.number,
        "records_loaded": summary.row_count,
    }


def _schema(fields: Any, key: list[str]) -> dict[str, Any] | None:
    """A Table Schema from CKAN's ``fields`` (``[{"id", "type", "info"}]``)."""
    if fields is None:
        if key:
            raise invalid("fields", "Give the fields along with a primary_key.")
        return None
    if not isinstance(fields, list) or not fields:
        raise invalid("fields", 'Must be a list of {"id": …, "type": …}.')
    specs = []
    for given in fields:
        if not isinstance(given, dict) or not isinstance(given.get("id"), str):
            raise invalid("fields", "Each field needs an id.")
        kind = str(given.get("type") or "text").lower()
        if kind not in SCHEMA_TYPES:
            raise invalid(
                "fields", f"Type {kind[:40]!r} is not supported; use {', '.join(SCHEMA_TYPES)}."
            )
        spec: dict[str, Any] = {"name": given["id"], "type": SCHEMA_TYPES[kind]}
        info = given.get("info")
        if isinstance(info, dict):
            spec.update(
                {
                    k: str(info[v])
                    for k, v in (("title", "label"), ("description", "notes"))
                    if info.get(v)
                }
            )
        specs.append(spec)
    names = {spec["name"] for spec in specs}
    if not set(key) <= names:
        raise invalid("primary_key", "The primary key must name fields.")
    schema: dict[str, Any] = {"fields": specs}
    if key:
        schema["primaryKey"] = key
    return schema


def _described(info: Any) -> dict[str, str]:
    """A field's title and description from CKAN's ``info`` (label, notes)."""
    if not isinstance(info, dict):
        return {}
    pairs = (("title", "label"), ("description", "notes"))
    return {key: str(info[source]) for key, source in pairs if info.get(source)}


def datastore_upsert(call: CkanCall) -> dict[str, Any]:
    """A new version with ``records`` inserted, updated or upserted by primary key."""
    name = _target(call)
    method = call.text("method") or "upsert"
    if call.flag("dry_run"):
        raise invalid("dry_run", "dry_run is not supported.")
    records = call.records("records")
    summary = change_records(call.site, call.actor, name, records=records, method=method)
    return {
        "resource_id": call.text("resource_id") or mapping.resource_id(name, "csv"),
        "method": method,
        "version": summary.number,
        "inserted": summary.inserted,
        "updated": summary.updated,
    }


def datastore_delete(call: CkanCall) -> dict[str, Any]:
    """A new version without the rows matching ``filters`` (no filters: no rows)."""
    name = _target(call)
    filters = call.mapping("filters")
    summary = delete_records(call.site, call.actor, name, filters=filters)
    return {
        "resource_id": call.text("resource_id") or mapping.resource_id(name, "csv"),
        "filters": filters or {},
        "version": summary.number,
        "deleted": summary.deleted,
    }
