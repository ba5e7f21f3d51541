"""The answers of the grant, access-request and access-log routes are the ones the OpenAPI
document describes (issue 18, part 3): every field its schema names, and no other."""

from __future__ import annotations

from typing import Any

from schemathesis.schemas import BaseSchema
from starlette.testclient import TestClient

from tests.api.openapi_support import assert_conforms, openapi_schema
from tests.sharing_support import add_user
from tests.world import OTHER, World

EXPIRES = "2030-01-01T00:00:00Z"
GRANTS = "/api/v1/datasets/{name}/grants"
GRANT = "/api/v1/datasets/{name}/grants/{grant_id}"
REQUESTS = "/api/v1/datasets/{name}/access-requests"
REQUEST = "/api/v1/datasets/{name}/access-requests/{request_id}"


def exactly_as_named(schema: BaseSchema, name: str, answer: dict[str, Any]) -> None:
    """``answer`` has every field schema ``name`` names (and requires), and no other."""
    described = schema.raw_schema["components"]["schemas"][name]
    assert set(answer) == set(described["properties"]), name
    assert set(described.get("required", ())) <= set(answer), name


def test_grant_answers_conform_and_hold_exactly_their_fields(
    client: TestClient, world: World
) -> None:
    schema = openapi_schema(client)
    admin = world.headers("admin")
    private = world.datasets["private"]
    add_user(world, "analyst")
    grants = f"/api/v1/datasets/{private}/grants"
    bounded = {"columns": ["junction", "cars"], "row_filter": {"cars__gte": 5}}
    body = {"organisation": OTHER, "purpose": "Planning", "expires_at": EXPIRES, **bounded}
    created = client.post(grants, json=body, headers=admin)
    to_user = {"user": "analyst", "purpose": "Study", "expires_at": EXPIRES}
    created_for_user = client.post(grants, json=to_user, headers=admin)
    one = f"{grants}/{created.json()['id']}"
    answers = [
        ("POST", GRANTS, created),
        ("POST", GRANTS, created_for_user),
        ("GET", GRANTS, client.get(grants, headers=admin)),
        ("GET", GRANT, client.get(one, headers=admin)),
        ("PATCH", GRANT, client.patch(one, json={"terms": "No resale."}, headers=admin)),
        ("DELETE", GRANT, client.delete(one, headers=admin)),
    ]
    for method, path, response in answers:
        assert response.status_code in (200, 201), response.text
        assert_conforms(schema, method, path, response)
        for grant in response.json() if isinstance(response.json(), list) else [response.json()]:
            exactly_as_named(schema, "Grant", grant)
    exactly_as_named(schema, "GranteeOrganisation", created.json()["grantee"])
    exactly_as_named(schema, "GranteeUser", created_for_user.json()["grantee"])


def test_request_and_log_answers_conform_and_hold_exactly_their_fields(
    client: TestClient, world: World
) -> None:
    schema = openapi_schema(client)
    admin, outsider = world.headers("admin"), world.headers("outsider")
    shared = world.datasets["shared"]
    requests = f"/api/v1/datasets/{shared}/access-requests"

    def ask(purpose: str) -> Any:
        return client.post(requests, json={"purpose": purpose}, headers=outsider)

    first = ask("Planning")
    approved = client.post(
        f"{requests}/{first.json()['id']}/approve", json={"expires_at": EXPIRES}, headers=admin
    )
    second = ask("Again")
    declined = client.post(
        f"{requests}/{second.json()['id']}/decline", json={"reason": "No."}, headers=admin
    )
    withdrawn = client.delete(f"{requests}/{ask('Third').json()['id']}", headers=outsider)
    answers = [
        ("POST", REQUESTS, first),
        ("POST", f"{REQUEST}/approve", approved),
        ("POST", f"{REQUEST}/decline", declined),
        ("DELETE", REQUEST, withdrawn),
        ("GET", REQUESTS, client.get(requests, headers=admin)),
        ("GET", REQUEST, client.get(f"{requests}/{first.json()['id']}", headers=outsider)),
        (
            "GET",
            "/api/v1/me/access-requests",
            client.get("/api/v1/me/access-requests", headers=outsider),
        ),
    ]
    for method, path, response in answers:
        assert response.status_code in (200, 201), response.text
        assert_conforms(schema, method, path, response)
        shown = response.json()
        for request in shown if isinstance(shown, list) else [shown]:
            exactly_as_named(schema, "AccessRequest", request)
    log = client.get(f"/api/v1/datasets/{shared}/access-log?limit=2", headers=admin)
    assert_conforms(schema, "GET", "/api/v1/datasets/{name}/access-log", log)
    exactly_as_named(schema, "AccessLog", log.json())
    assert log.json()["next_after"] is not None
    for entry in log.json()["entries"]:
        exactly_as_named(schema, "AccessLogEntry", entry)
