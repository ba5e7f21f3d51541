"""Which answers the OpenAPI document describes (issue 18, part 3, in progress).

Every 2xx answer is to carry a schema naming its fields. Until all do, the operations that
still answer with no schema or an open object are listed here: a new route must describe
its answer (or the test fails), and a route given a typed answer must leave the list (or
the test fails), so the list only shrinks.
"""

from __future__ import annotations

from typing import Any

from starlette.testclient import TestClient

from tests.world import OWNER, World

# Operations whose 2xx answer has no schema, or an object schema without properties.
UNDESCRIBED: frozenset[str] = frozenset(
    {
        "DELETE /api/v1/datasets/{name}/access-requests/{request_id}",
        "DELETE /api/v1/datasets/{name}/grants/{grant_id}",
        "DELETE /api/v1/devices/{uid}/keys/{key_id}",
        "GET /api/3/action/{action}",
        "GET /api/action/{action}",
        "GET /api/v1",
        "GET /api/v1/audit/export",
        "GET /api/v1/datasets",
        "GET /api/v1/datasets/{name}",
        "GET /api/v1/datasets/{name}/access-log",
        "GET /api/v1/datasets/{name}/access-requests",
        "GET /api/v1/datasets/{name}/access-requests/{request_id}",
        "GET /api/v1/datasets/{name}/datapackage.json",
        "GET /api/v1/datasets/{name}/grants",
        "GET /api/v1/datasets/{name}/grants/{grant_id}",
        "GET /api/v1/datasets/{name}/latest",
        "GET /api/v1/datasets/{name}/rows",
        "GET /api/v1/datasets/{name}/schema",
        "GET /api/v1/datasets/{name}/streams",
        "GET /api/v1/datasets/{name}/versions",
        "GET /api/v1/datasets/{name}/versions/{number}",
        "GET /api/v1/devices/{uid}",
        "GET /api/v1/me/access-requests",
        "GET /api/v1/organisations/{name}/devices",
        "GET /api/v1/sql",
        "GET /api/v1/streams/{stream_id}",
        "GET /api/v1/streams/{stream_id}/observations",
        "GET /catalog",
        "GET /catalog.jsonld",
        "GET /catalog.rdf",
        "GET /catalog.ttl",
        "GET /datasets/{name}",
        "GET /datasets/{name}.jsonld",
        "GET /datasets/{name}.rdf",
        "GET /datasets/{name}.ttl",
        "PATCH /api/v1/datasets/{name}",
        "PATCH /api/v1/datasets/{name}/grants/{grant_id}",
        "PATCH /api/v1/devices/{uid}",
        "POST /api/3/action/{action}",
        "POST /api/action/{action}",
        "POST /api/v1/datasets",
        "POST /api/v1/datasets/{name}/access-requests",
        "POST /api/v1/datasets/{name}/access-requests/{request_id}/approve",
        "POST /api/v1/datasets/{name}/access-requests/{request_id}/decline",
        "POST /api/v1/datasets/{name}/grants",
        "POST /api/v1/datasets/{name}/streams",
        "POST /api/v1/devices/{uid}/keys",
        "POST /api/v1/devices/{uid}/mqtt-password",
        "POST /api/v1/devices/{uid}/revoke",
        "POST /api/v1/ingest",
        "POST /api/v1/organisations/{name}/devices",
        "PUT /api/v1/datasets/{name}/data",
    }
)


def _described(schema: dict[str, Any] | None, components: dict[str, Any]) -> bool:
    """Whether ``schema`` names fields (following ``$ref``), or is a list of such."""
    if not schema:
        return False
    if "$ref" in schema:
        return _described(components[schema["$ref"].rsplit("/", 1)[-1]], components)
    if schema.get("type") == "array":
        return _described(schema.get("items"), components)
    if "anyOf" in schema or "oneOf" in schema:
        options = schema.get("anyOf") or schema.get("oneOf") or []
        return all(_described(o, components) or o.get("type") == "null" for o in options)
    return bool(schema.get("properties")) or schema.get("type") in {"string", "integer"}


def undescribed(document: dict[str, Any]) -> set[str]:
    """The operations of ``document`` with a 2xx answer that names no fields."""
    components = document.get("components", {}).get("schemas", {})
    found = set()
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            for status, answer in operation.get("responses", {}).items():
                if not status.startswith("2") or status == "204":
                    continue
                contents = answer.get("content") or {"": {}}
                if not all(_described(c.get("schema"), components) for c in contents.values()):
                    found.add(f"{method.upper()} {path}")
    return found


def test_the_list_of_undescribed_answers_only_shrinks(client: TestClient) -> None:
    document = client.get("/api/v1/openapi.json").json()
    assert undescribed(document) == UNDESCRIBED


def test_an_answer_without_fields_is_found() -> None:
    document = {
        "paths": {
            "/a": {"get": {"responses": {"200": {"content": {"application/json": {}}}}}},
            "/b": {
                "get": {
                    "responses": {
                        "200": {
                            "content": {"application/json": {"schema": {"$ref": "#/c/schemas/B"}}}
                        }
                    }
                }
            },
            "/c": {"delete": {"responses": {"204": {}}}},
        },
        "components": {"schemas": {"B": {"type": "object", "properties": {"x": {}}}}},
    }
    assert undescribed(document) == {"GET /a"}


def test_a_typed_answer_holds_exactly_the_fields_its_schema_names(
    client: TestClient, world: World
) -> None:
    """What the document says is what is sent: no field more (a service's extra field is
    not exposed), none less."""
    document = client.get("/api/v1/openapi.json").json()
    schemas = document["components"]["schemas"]
    admin = world.headers("admin")
    answers = {
        "Organisation": client.get(f"/api/v1/organisations/{OWNER}").json(),
        "Member": client.get(f"/api/v1/organisations/{OWNER}/members", headers=admin).json()[0],
        "Me": client.get("/api/v1/me", headers=admin).json(),
        "Token": client.get("/api/v1/tokens", headers=admin).json()[0],
        "User": client.get("/api/v1/users", headers=world.headers("siteadmin")).json()[0],
    }
    for name, answer in answers.items():
        assert set(answer) == set(schemas[name]["properties"]), name
        assert set(schemas[name]["required"]) <= set(answer), name
