"""The dataset page: description, schema, a preview with sort and filter, downloads,
API examples, versions; for a sensor dataset, its streams and their latest values.

Everything is read through the same services as the API, with the same Actor: a dataset
the asker may see but not read shows its description and says how to get access.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlencode

from cityshare.access import Actor
from cityshare.accounts.organisations import get_organisation
from cityshare.catalogue.datasets import get_dataset
from cityshare.catalogue.reader import Reader
from cityshare.catalogue.table_reads import read_json
from cityshare.catalogue.versions import get_version, list_versions
from cityshare.errors import BadRequest, Forbidden
from cityshare.streams import observations
from cityshare.streams.datastreams import list_streams
from cityshare.tables.data_formats import dataset_formats, has_geometry
from cityshare.web.figures import chart_plan
from cityshare.web.sharing_view import access_part

PREVIEW_ROWS = 20
OPERATORS = (
    ("eq", "is"),
    ("ne", "is not"),
    ("contains", "contains"),
    ("startswith", "starts with"),
    ("gt", "greater than"),
    ("gte", "at least"),
    ("lt", "less than"),
    ("lte", "at most"),
)
_OPERATOR_NAMES = {name for name, _ in OPERATORS}


@dataclass(frozen=True)
class Preview:
    """The first rows as asked (sorted, filtered), or why there are none."""

    columns: list[str]
    rows: list[dict[str, Any]]
    sort: str
    column: str
    operator: str
    value: str
    error: str | None


def dataset_page(
    reader: Reader, actor: Actor, name: str, params: list[tuple[str, str]], base_url: str
) -> dict[str, Any]:
    """What the page of dataset ``name`` shows ``actor`` (NotFound when invisible)."""
    site = reader.site
    dataset = get_dataset(site, actor, name)
    has_data = dataset.current_version is not None
    schema = get_version(site, actor, name, None).schema_.document() if has_data else None
    fields: list[dict[str, Any]] = (schema or {}).get("fields") or []
    page: dict[str, Any] = {
        "dataset": dataset,
        "organisation": get_organisation(site, actor, dataset.organisation),
        "fields": fields,
        "classes": dataset.column_classes or {},
        "versions": list_versions(site, actor, name) if has_data else [],
        "operators": OPERATORS,
        "preview": None,
        "streams": [],
        "latest": [],
        "readable": False,
        "chart": None,
        "map": False,
        "downloads": _downloads(name, dataset.kind, schema),
        "stream_links": [],
        "examples": _examples(base_url, name, needs_token=dataset.visibility != "open"),
    }
    if dataset.kind == "sensor":
        page.update(_sensor_parts(reader, actor, name))
    elif has_data:
        page.update(_table_parts(reader, actor, name, params, fields, schema))
    page.update(access_part(site, actor, name, page["readable"]))
    return page


def _table_parts(
    reader: Reader,
    actor: Actor,
    name: str,
    params: list[tuple[str, str]],
    fields: list[dict[str, Any]],
    schema: dict[str, Any] | None,
) -> dict[str, Any]:
    try:
        preview = _preview(reader, actor, name, params, fields)
    except Forbidden:
        return {"readable": False}
    plan = chart_plan(fields, schema)
    return {
        "readable": True,
        "preview": preview,
        "chart": plan.title if plan else None,
        "map": has_geometry(schema),
    }


def _sensor_parts(reader: Reader, actor: Actor, name: str) -> dict[str, Any]:
    streams = list_streams(reader.site, actor, name)
    try:
        latest = observations.latest(reader, actor, name).streams
    except Forbidden:
        return {"streams": streams, "readable": False}
    located = any(stream.device.location for stream in latest)
    links = [(f"{stream.name} (CSV)", _stream_csv(stream.id)) for stream in streams]
    return {
        "streams": streams,
        "latest": latest,
        "readable": True,
        "map": located,
        "chart": "Each stream over the last day" if streams else None,
        "stream_links": [
            ("Latest values (JSON)", f"/api/v1/datasets/{quote(name, safe='')}/latest"),
            *links,
        ],
    }


def _stream_csv(stream_id: int) -> str:
    return f"/api/v1/streams/{stream_id}/observations?_format=csv"


def _preview(
    reader: Reader,
    actor: Actor,
    name: str,
    params: list[tuple[str, str]],
    fields: list[dict[str, Any]],
) -> Preview:
    """The first rows, sorted and filtered as the page's ``sort``, ``column``,
    ``op`` and ``value`` ask; an unusable request is explained and the plain first
    rows are shown instead."""
    asked = dict(params)
    sort, column = asked.get("sort", ""), asked.get("column", "")
    operator, value = asked.get("op", "eq"), asked.get("value", "")
    query: list[tuple[str, str]] = [("_limit", str(PREVIEW_ROWS))]
    if sort:
        query.append(("_sort", sort))
    if column and value:
        if operator not in _OPERATOR_NAMES:
            operator = "eq"
        query.append((column if operator == "eq" else f"{column}__{operator}", value))
    error = None
    try:
        body = read_json(reader, actor, name, query)
    except BadRequest as refused:
        error = refused.detail
        body = read_json(reader, actor, name, [("_limit", str(PREVIEW_ROWS))])
    columns = [str(field["name"]) for field in fields]
    rows = body.get("rows") or []
    if rows:
        columns = list(rows[0])
    return Preview(columns, rows, sort, column, operator, value, error)


def _downloads(name: str, kind: str, schema: dict[str, Any] | None) -> list[tuple[str, str]]:
    quoted = quote(name, safe="")
    links = [
        (f"{data_format.label}", f"/api/v1/datasets/{quoted}/rows?_format={data_format.param}")
        for data_format in dataset_formats(kind, schema)
        if kind == "table"
    ]
    if kind == "table" and schema is not None:
        links.append(("Data Package", f"/api/v1/datasets/{quoted}/datapackage.json"))
    links.extend(
        (label, f"/datasets/{quoted}.{suffix}")
        for label, suffix in (("DCAT (Turtle)", "ttl"), ("DCAT (JSON-LD)", "jsonld"))
    )
    return links


def _examples(base_url: str, name: str, *, needs_token: bool) -> dict[str, str]:
    """Copy-paste examples of reading the dataset through the API (with a token from
    ``$CITYSHARE_TOKEN`` unless the dataset is open)."""
    url = f"{base_url.rstrip('/')}/api/v1/datasets/{quote(name, safe='')}/rows"
    query = urlencode({"_limit": 100})
    header = '-H "Authorization: Bearer $CITYSHARE_TOKEN" ' if needs_token else ""
    python_header = (
        '    headers={"Authorization": f"Bearer {os.environ[\'CITYSHARE_TOKEN\']}"},\n'
        if needs_token
        else ""
    )
    return {
        "curl": f'curl {header}"{url}?{query}"',
        "python": (
            ("import os\n\n" if needs_token else "")
            + "import httpx\n\n"
            + f'response = httpx.get(\n    "{url}",\n    params={{"_limit": 100}},\n'
            + python_header
            + ")\n"
            + 'for row in response.json()["rows"]:\n    print(row)'
        ),
    }
