"""A dataset as a Frictionless Data Package: its metadata, Table Schema and CSV resource.

The package describes the data as the asker would read it: the schema is the one the
query API would give them (unreachable columns left out, pseudonymised ones as text),
and the resource is the CSV export of the rows route, so ``frictionless validate`` checks
exactly what a client downloads. A sensor dataset has one resource per stream: the CSV
export of its observations, with their provenance.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from cityshare.access import Actor
from cityshare.catalogue.datasets import get_dataset
from cityshare.catalogue.versions import get_version
from cityshare.errors import NotFound
from cityshare.site import Site
from cityshare.streams.datastreams import list_streams
from cityshare.streams.models import Stream

PROFILE = "tabular-data-package"
# A stream's value type as a Table Schema field type.
VALUE_TYPES = {"number": "number", "string": "string", "boolean": "boolean", "object": "object"}
RESOURCE_PROFILE = "tabular-data-resource"


def data_package(site: Site, actor: Actor, name: str, base_url: str) -> dict[str, Any]:
    """The Data Package of dataset ``name``; resource URLs start with ``base_url``."""
    base = base_url.rstrip("/")
    dataset = get_dataset(site, actor, name)
    package: dict[str, Any] = {
        "profile": PROFILE,
        "name": name,
        "title": dataset.title,
        "description": dataset.description,
        "keywords": dataset.tags,
        "homepage": f"{base}/api/v1/datasets/{quote(name)}",
        "contributors": [{"title": dataset.organisation, "role": "publisher"}],
    }
    if dataset.kind == "table":
        version = get_version(site, actor, name, None)
        package["version"] = str(version.number)
        package["created"] = version.created_at
        rows_url = f"{base}/api/v1/datasets/{quote(name)}/rows?_format=csv"
        package["resources"] = [_resource(name, name, rows_url, version.schema_.document())]
    else:
        package["resources"] = _stream_resources(site, actor, name, base)
    if dataset.licence:
        package["licenses"] = [_licence(dataset.licence)]
    return package


def _resource(name: str, title: str, path: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {
        "profile": RESOURCE_PROFILE,
        "name": name,
        "title": title,
        "path": path,
        "format": "csv",
        "mediatype": "text/csv",
        "encoding": "utf-8",
        "schema": schema,
    }


def _stream_resources(site: Site, actor: Actor, name: str, base: str) -> list[dict[str, Any]]:
    """One resource per stream: the CSV export of its observations."""
    streams = list_streams(site, actor, name)
    if not streams:
        raise NotFound(f"Dataset {name!r} has no streams yet: add one first.")
    return [
        _resource(
            f"stream-{stream.id}",
            f"{stream.name} ({stream.device.uid})",
            f"{base}/api/v1/streams/{stream.id}/observations?_format=csv",
            _observation_schema(stream),
        )
        for stream in streams
    ]


def _observation_schema(stream: Stream) -> dict[str, Any]:
    value = {
        "name": "value",
        "type": VALUE_TYPES[stream.value_type],
        "description": f"{stream.observed_property} ({stream.unit})",
    }
    return {
        "fields": [
            {"name": "time", "type": "datetime", "description": "When it was measured."},
            value,
            {"name": "received_at", "type": "datetime", "description": "When it arrived."},
            {"name": "device", "type": "string", "description": "The device that signed it."},
            {"name": "key_id", "type": "string", "description": "The key it was signed with."},
            {"name": "batch", "type": "integer", "description": "The signed batch it came in."},
            {"name": "verified", "type": "boolean", "description": "Its signature checked."},
        ],
        "missingValues": [""],
        "primaryKey": ["time"],
    }


def _licence(spdx: str) -> dict[str, str]:
    return {"name": spdx, "path": f"https://spdx.org/licenses/{quote(spdx)}.html"}
