"""A dataset as a Frictionless Data Package: its metadata, Table Schema and CSV resource.

The package describes the data as the asker would read it: the schema is the one the
query API would give them (unreachable columns left out, pseudonymised ones as text),
and the resource is the CSV export of the rows route, so ``frictionless validate`` checks
exactly what a client downloads.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from cityshare.access import Actor
from cityshare.catalogue.datasets import get_dataset
from cityshare.catalogue.versions import get_version
from cityshare.errors import Conflict
from cityshare.site import Site

PROFILE = "tabular-data-package"
RESOURCE_PROFILE = "tabular-data-resource"


def data_package(site: Site, actor: Actor, name: str, base_url: str) -> dict[str, Any]:
    """The Data Package of dataset ``name``; resource URLs start with ``base_url``."""
    dataset = get_dataset(site, actor, name)
    if dataset["kind"] != "table":
        raise Conflict(
            f"Dataset {name!r} holds live sensor streams; Data Packages describe datasets of "
            f"tables. Its streams are listed at /api/v1/datasets/{name}/streams."
        )
    version = get_version(site, actor, name, None)
    rows_url = f"{base_url.rstrip('/')}/api/v1/datasets/{quote(name)}/rows"
    package: dict[str, Any] = {
        "profile": PROFILE,
        "name": name,
        "title": dataset["title"],
        "description": dataset["description"],
        "keywords": dataset["tags"],
        "version": str(version["number"]),
        "created": version["created_at"],
        "homepage": f"{base_url.rstrip('/')}/api/v1/datasets/{quote(name)}",
        "contributors": [{"title": dataset["organisation"], "role": "publisher"}],
        "resources": [
            {
                "profile": RESOURCE_PROFILE,
                "name": name,
                "path": f"{rows_url}?_format=csv",
                "format": "csv",
                "mediatype": "text/csv",
                "encoding": "utf-8",
                "schema": version["schema"],
            }
        ],
    }
    if dataset["licence"]:
        package["licenses"] = [_licence(dataset["licence"])]
    return package


def _licence(spdx: str) -> dict[str, str]:
    return {"name": spdx, "path": f"https://spdx.org/licenses/{quote(spdx)}.html"}
