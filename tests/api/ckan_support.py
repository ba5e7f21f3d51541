"""Helpers for the CKAN Action API tests: calling actions and reading CKAN's envelope."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
from httpx2 import Response
from starlette.testclient import TestClient

from cityshare.accounts.console import console_actor
from cityshare.catalogue import datasets
from tests.world import World, populated_client

CKAN_MEDIA_TYPE = "application/json;charset=utf-8"
PREFIXES = ("/api/3/action", "/api/action")


def ckan_headers(world: World, kind: str) -> dict[str, str]:
    """CKAN's own header, ``Authorization: <token>`` ("anonymous" sends none)."""
    return {} if kind == "anonymous" else {"Authorization": world.tokens[kind]}


def call(
    client: TestClient,
    action: str,
    params: dict[str, Any] | None = None,
    *,
    headers: dict[str, str] | None = None,
    method: str = "GET",
    prefix: str = "/api/3/action",
) -> Response:
    """Call ``action``: GET with the parameters in the query string (lists and objects
    JSON-encoded, as CKAN clients send them), or POST with a JSON body."""
    url = f"{prefix}/{action}"
    if method == "GET":
        query = {
            key: value if isinstance(value, str) else orjson.dumps(value).decode()
            for key, value in (params or {}).items()
        }
        return client.get(url, params=query, headers=headers or {})
    return client.post(url, json=params or {}, headers=headers or {})


def result(response: Response) -> Any:
    """The ``result`` of a successful answer (which must be one)."""
    assert response.status_code == 200, response.text[:800]
    assert response.headers["content-type"] == CKAN_MEDIA_TYPE
    body = response.json()
    assert body["success"] is True, body
    assert "help_show?name=" in body["help"]
    return body["result"]


def failure(response: Response, status: int, kind: str) -> dict[str, Any]:
    """The ``error`` of a failed answer with this status and ``__type``."""
    assert response.status_code == status, (status, response.status_code, response.text[:800])
    assert response.headers["content-type"] == CKAN_MEDIA_TYPE
    body = response.json()
    assert body["success"] is False and "result" not in body, body
    assert body["error"]["__type"] == kind, body
    error: dict[str, Any] = body["error"]
    return error


def describe_world(world: World) -> None:
    """Give the world's datasets metadata to search and show: tags, licences, text."""
    admin = console_actor(world.site, "admin")
    datasets.update_dataset(
        world.site,
        admin,
        "open-counts",
        {
            "description": "Cars counted at junctions every hour.",
            "tags": ["traffic", "roads"],
            "licence": "CC-BY-4.0",
            "update_frequency": "hourly",
            "temporal": {"start": "2024-03-04", "end": "2024-03-05"},
            "spatial": {"type": "Point", "coordinates": [4.35, 50.85]},
            "column_classes": {"note": "personal"},
        },
    )
    datasets.update_dataset(
        world.site, admin, "shared-counts", {"tags": ["traffic"], "licence": "CC0-1.0"}
    )
    datasets.update_dataset(
        world.site,
        admin,
        "private-counts",
        {"tags": ["traffic", "secret-tag"], "licence": "ODbL-1.0", "title": "Hidden Counts"},
    )


def described_client(
    engine_name: str, folder: Path, postgres_database: str | None
) -> Iterator[tuple[World, TestClient]]:
    """A populated site with :func:`describe_world` applied, for module fixtures."""
    with populated_client(engine_name, folder, postgres_database) as (world, client):
        describe_world(world)
        yield world, client
