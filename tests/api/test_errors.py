"""Errors are RFC 9457 problems that help, and never leak internals."""

from __future__ import annotations

import pytest
from starlette.testclient import TestClient

from cityshare.catalogue import datasets
from tests.world import World


def test_unknown_route_is_a_problem(client: TestClient) -> None:
    response = client.get("/api/v1/nothing-here")
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["status"] == 404 and problem["title"] and "openapi" in problem["detail"]


def test_wrong_method_is_a_problem(client: TestClient) -> None:
    response = client.delete("/api/v1/organisations")
    assert response.status_code == 405
    assert response.json()["status"] == 405


def test_security_headers_on_every_response(world: World, client: TestClient) -> None:
    for response in (
        client.get("/api/v1"),
        client.get("/api/v1/nothing"),
        client.get("/api/v1/me", headers=world.headers("member")),
    ):
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.headers["x-frame-options"] == "DENY"
        assert "default-src 'none'" in response.headers["content-security-policy"]
    private = client.get("/api/v1/me", headers=world.headers("member"))
    assert private.headers["cache-control"] == "no-store"
    assert "access-control-allow-origin" not in private.headers


def test_oversized_json_body_is_refused_before_reading(world: World, client: TestClient) -> None:
    limit = world.site.settings.limits.max_json_body_bytes
    response = client.post(
        "/api/v1/datasets",
        content=b"{" + b" " * (limit + 10) + b"}",
        headers={**world.headers("editor"), "Content-Type": "application/json"},
    )
    assert response.status_code == 413
    assert response.json()["status"] == 413


def test_deeply_nested_json_is_a_400(world: World, client: TestClient) -> None:
    nested = b"[" * 100_000 + b"]" * 100_000
    response = client.post(
        "/api/v1/datasets",
        content=nested,
        headers={**world.headers("editor"), "Content-Type": "application/json"},
    )
    assert response.status_code == 400
    assert response.headers["content-type"] == "application/problem+json"


def test_malformed_json_is_a_400(world: World, client: TestClient) -> None:
    response = client.post(
        "/api/v1/datasets",
        content=b'{"name": ',
        headers={**world.headers("editor"), "Content-Type": "application/json"},
    )
    assert response.status_code == 400


def test_unexpected_errors_hide_their_internals(
    world: World, client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    def explode(*_args: object, **_kwargs: object) -> None:
        raise RuntimeError("SELECT password_hash FROM users /srv/cityshare/secret.key")

    monkeypatch.setattr(datasets, "describe", explode)
    response = client.get("/api/v1/datasets/open-counts")
    assert response.status_code == 500
    assert response.headers["content-type"] == "application/problem+json"
    text = response.text
    assert "SELECT" not in text and "secret.key" not in text and "Traceback" not in text
    assert response.json()["reference"]


def test_openapi_documents_every_route(client: TestClient) -> None:
    document = client.get("/api/v1/openapi.json").json()
    paths = document["paths"]
    assert "/api/v1/datasets/{name}/rows" in paths
    parameters = {p["name"] for p in paths["/api/v1/datasets/{name}/rows"]["get"]["parameters"]}
    assert {"_limit", "_sort", "_next", "_format", "_group", "_agg", "bbox"} <= parameters
    assert "text/csv" in paths["/api/v1/datasets/{name}/data"]["put"]["requestBody"]["content"]
