"""Every answer the OpenAPI document describes names its fields (issue 18, part 3).

Every 2xx answer of every operation carries a schema that names its fields (or is text,
for Turtle, CSV and the like): a route whose answer the document does not describe fails
here. That the answers sent keep to those schemas is checked by schemathesis in
``test_openapi_conformance.py`` and in the access matrix.
"""

from __future__ import annotations

from typing import Any

from starlette.testclient import TestClient

from tests.world import OWNER, World


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


def test_every_answer_is_described(client: TestClient) -> None:
    document = client.get("/api/v1/openapi.json").json()
    assert len(document["paths"]) > 50
    assert undescribed(document) == set()


def test_the_document_says_how_to_authenticate(client: TestClient) -> None:
    """Generated clients learn of bearer tokens, and that every call may go without one."""
    document = client.get("/api/v1/openapi.json").json()
    scheme = document["components"]["securitySchemes"]["bearerToken"]
    assert (scheme["type"], scheme["scheme"]) == ("http", "bearer")
    assert document["security"] == [{}, {"bearerToken": []}]
    assert "HTTPValidationError" not in document["components"]["schemas"]


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
