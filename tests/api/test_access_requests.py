"""Access requests: asked with a purpose, approved into a grant (on the admin's terms) or
declined with a reason, followed by the requester, withdrawn while pending."""

from __future__ import annotations

from typing import Any

from starlette.testclient import TestClient

from cityshare.access.actions import Scope
from cityshare.accounts import tokens
from cityshare.accounts.console import console_actor
from cityshare.site import Site
from tests.sharing_support import (
    add_user,
    assert_problem,
    count_grants,
    count_requests,
    grant_url,
    in_future,
    row_keys,
    rows_url,
)
from tests.world import OTHER, World


def requests_url(dataset: str, request_id: int | None = None, action: str = "") -> str:
    base = f"/api/v1/datasets/{dataset}/access-requests"
    if request_id is not None:
        base = f"{base}/{request_id}"
    return f"{base}/{action}" if action else base


def ask(client: TestClient, dataset: str, headers: dict[str, str], **body: Any) -> dict[str, Any]:
    response = client.post(
        requests_url(dataset),
        json={"purpose": "Modelling school-run traffic", **body},
        headers=headers,
    )
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


def test_request_approved_with_columns_gives_exactly_those(
    world: World, client: TestClient
) -> None:
    shared = world.datasets["shared"]
    admin = world.headers("admin")
    requester = add_user(world, "researcher")
    assert_problem(client.get(rows_url(shared), headers=requester), 403)

    asked = ask(client, shared, requester)
    assert asked["status"] == "pending" and asked["requester"] == "researcher"
    assert asked["purpose"] == "Modelling school-run traffic"
    assert asked["organisation"] is None and asked["grant_id"] is None
    other = ask(client, shared, world.headers("outsider"), purpose="Something else")

    pending = client.get(requests_url(shared), params={"status": "pending"}, headers=admin)
    assert [item["id"] for item in pending.json()] == [asked["id"], other["id"]]
    assert (
        client.get(requests_url(shared), params={"status": "approved"}, headers=admin).json() == []
    )
    # A requester lists only their own.
    assert [item["id"] for item in client.get(requests_url(shared), headers=requester).json()] == [
        asked["id"]
    ]

    approved = client.post(
        requests_url(shared, asked["id"], "approve"),
        json={"expires_at": in_future(), "columns": ["junction", "cars"], "terms": "Licence v3"},
        headers=admin,
    )
    assert approved.status_code == 200, approved.text
    decision = approved.json()
    assert decision["status"] == "approved" and decision["grant_id"] is not None
    assert decision["decided_at"] is not None

    grant = client.get(grant_url(shared, decision["grant_id"]), headers=admin).json()
    assert grant["grantee"] == {"user": "researcher"}
    assert grant["columns"] == ["junction", "cars"]
    assert grant["purpose"] == "Modelling school-run traffic"  # the requester's, by default
    assert grant["terms"] == "Licence v3" and grant["request_id"] == asked["id"]

    # The requester follows the outcome, and reads exactly the granted columns.
    seen = client.get(requests_url(shared, asked["id"]), headers=requester).json()
    assert seen["status"] == "approved" and seen["grant_id"] == decision["grant_id"]
    mine = client.get("/api/v1/me/access-requests", headers=requester).json()
    assert [(item["id"], item["status"], item["dataset"]) for item in mine] == [
        (asked["id"], "approved", shared)
    ]
    assert row_keys(client.get(rows_url(shared), headers=requester)) == {"junction", "cars"}
    # The request is no longer pending, and cannot be decided again.
    assert [
        item["id"]
        for item in client.get(
            requests_url(shared), params={"status": "pending"}, headers=admin
        ).json()
    ] == [other["id"]]
    again = client.post(
        requests_url(shared, asked["id"], "approve"),
        json={"expires_at": in_future()},
        headers=admin,
    )
    assert_problem(again, 409)
    assert_problem(
        client.post(
            requests_url(shared, asked["id"], "decline"), json={"reason": "x"}, headers=admin
        ),
        409,
    )
    assert_problem(client.delete(requests_url(shared, asked["id"]), headers=requester), 409)


def test_request_declined_with_a_reason(world: World, client: TestClient) -> None:
    shared = world.datasets["shared"]
    admin = world.headers("admin")
    requester = add_user(world, "marketer")
    asked = ask(client, shared, requester, purpose="Targeted advertising")
    declined = client.post(
        requests_url(shared, asked["id"], "decline"),
        json={"reason": "Not for <marketing> purposes"},
        headers=admin,
    )
    assert declined.status_code == 200, declined.text
    assert declined.json()["status"] == "declined" and declined.json()["grant_id"] is None
    seen = client.get(requests_url(shared, asked["id"]), headers=requester).json()
    assert seen["status"] == "declined" and seen["reason"] == "Not for <marketing> purposes"
    mine = client.get("/api/v1/me/access-requests", headers=requester).json()
    assert [(item["status"], item["reason"]) for item in mine] == [
        ("declined", "Not for <marketing> purposes")
    ]
    assert_problem(client.get(rows_url(shared), headers=requester), 403)
    assert count_grants(world.site) == 0
    assert_problem(
        client.post(
            requests_url(shared, asked["id"], "approve"),
            json={"expires_at": in_future()},
            headers=admin,
        ),
        409,
    )
    # A decline needs a reason; a new request may follow a declined one.
    second = ask(client, shared, requester, purpose="Road safety research")
    for body in ({}, {"reason": ""}, {"reason": "   "}):
        response = client.post(
            requests_url(shared, second["id"], "decline"), json=body, headers=admin
        )
        assert_problem(response, 400)
    assert (
        client.get(requests_url(shared, second["id"]), headers=admin).json()["status"] == "pending"
    )


def test_request_withdrawn_while_pending(world: World, client: TestClient) -> None:
    shared = world.datasets["shared"]
    admin = world.headers("admin")
    requester = add_user(world, "hesitant")
    asked = ask(client, shared, requester)
    withdrawn = client.delete(requests_url(shared, asked["id"]), headers=requester)
    assert withdrawn.status_code == 200, withdrawn.text
    assert withdrawn.json()["status"] == "withdrawn"
    assert (
        client.get(requests_url(shared, asked["id"]), headers=admin).json()["status"] == "withdrawn"
    )
    assert (
        client.get(requests_url(shared), params={"status": "pending"}, headers=admin).json() == []
    )
    assert_problem(client.delete(requests_url(shared, asked["id"]), headers=requester), 409)
    approve = client.post(
        requests_url(shared, asked["id"], "approve"),
        json={"expires_at": in_future()},
        headers=admin,
    )
    assert_problem(approve, 409)
    assert count_grants(world.site) == 0
    # Withdrawn, it no longer blocks a new request.
    ask(client, shared, requester)
    # An admin of the owner does not withdraw someone else's request.
    pending = client.get(requests_url(shared), params={"status": "pending"}, headers=admin).json()
    assert client.delete(requests_url(shared, pending[0]["id"]), headers=admin).status_code in (
        403,
        404,
    )


def test_requests_on_behalf_of_an_organisation(world: World, client: TestClient) -> None:
    shared = world.datasets["shared"]
    admin = world.headers("admin")
    colleague = add_user(world, "partner-analyst", organisation=OTHER, role="member")
    refused = client.post(
        requests_url(shared), json={"purpose": "p", "organisation": OTHER}, headers=colleague
    )
    assert_problem(refused, 403)  # only an admin of the organisation asks on its behalf
    unknown = client.post(
        requests_url(shared), json={"purpose": "p", "organisation": "no-such-org"}, headers=admin
    )
    assert unknown.status_code in (404, 409)
    assert_problem(
        client.post(
            requests_url(shared),
            json={"purpose": "p", "organisation": "no-such-org"},
            headers=world.headers("outsider"),
        ),
        404,
    )
    asked = ask(client, shared, world.headers("outsider"), organisation=OTHER)
    assert asked["organisation"] == OTHER and asked["requester"] == "outsider-user"
    approved = client.post(
        requests_url(shared, asked["id"], "approve"),
        json={
            "expires_at": in_future(),
            "purpose": "Bus network planning",
            "row_filter": {"junction": "J1"},
        },
        headers=admin,
    )
    assert approved.status_code == 200, approved.text
    grant = client.get(grant_url(shared, approved.json()["grant_id"]), headers=admin).json()
    assert grant["grantee"] == {"organisation": OTHER}
    assert grant["purpose"] == "Bus network planning"
    assert grant["row_filter"] == {"junction": "J1"}
    # Every member of the organisation reads under it.
    rows = client.get(rows_url(shared), headers=colleague).json()["rows"]
    assert [row["junction"] for row in rows] == ["J1", "J1"]
    # The colleague did not ask, so the request is not theirs to see.
    assert_problem(client.get(requests_url(shared, asked["id"]), headers=colleague), 404)


def test_bad_approvals_create_no_grant(world: World, client: TestClient) -> None:
    shared = world.datasets["shared"]
    admin = world.headers("admin")
    asked = ask(client, shared, add_user(world, "patient"))
    url = requests_url(shared, asked["id"], "approve")
    for body in (
        {},
        {"expires_at": "2001-01-01T00:00:00Z"},
        {"expires_at": in_future(), "columns": ["plate"]},
        {"expires_at": in_future(), "min_group_size": 1},
        {"expires_at": in_future(), "user": "member-user"},
        {"expires_at": in_future(), "organisation": "city"},
        {"expires_at": in_future(), "status": "approved"},
    ):
        response = client.post(url, json=body, headers=admin)
        assert response.status_code in (400, 409, 422), (body, response.text)
        assert_problem(response, response.status_code)
    assert count_grants(world.site) == 0
    assert (
        client.get(requests_url(shared, asked["id"]), headers=admin).json()["status"] == "pending"
    )
    for kind in ("editor", "member", "outsider", "readonly"):
        response = client.post(url, json={"expires_at": in_future()}, headers=world.headers(kind))
        assert response.status_code in (403, 404), kind
        decline = client.post(
            requests_url(shared, asked["id"], "decline"),
            json={"reason": "no"},
            headers=world.headers(kind),
        )
        assert decline.status_code in (403, 404), kind
    assert count_grants(world.site) == 0


def test_requests_refused(world: World, client: TestClient, site: Site) -> None:
    shared, open_name = world.datasets["shared"], world.datasets["open"]
    private = world.datasets["private"]
    body = {"purpose": "Research"}
    asker = add_user(world, "asker")
    first = ask(client, shared, asker)
    assert_problem(client.post(requests_url(shared), json=body, headers=asker), 409)
    for kind in ("member", "editor", "admin"):  # the owner's members have access already
        assert_problem(
            client.post(requests_url(shared), json=body, headers=world.headers(kind)), 409
        )
    assert_problem(client.post(requests_url(open_name), json=body), 401)
    assert_problem(
        client.post(requests_url(shared), json=body, headers=world.headers("readonly")), 403
    )
    assert_problem(
        client.post(requests_url(private), json=body, headers=world.headers("outsider")), 404
    )
    for bad in (
        {},
        {"purpose": ""},
        {"purpose": "  "},
        {"purpose": "x" * 100_000},
        {"purpose": "p", "grant": 1},
    ):
        response = client.post(requests_url(open_name), json=bad, headers=asker)
        assert_problem(response, 400)
    assert count_requests(site) == 1

    # Someone else's request does not exist for you.
    nosy = add_user(world, "nosy")
    for headers in (nosy, world.headers("outsider"), world.headers("editor")):
        assert_problem(client.get(requests_url(shared, first["id"]), headers=headers), 404)
    assert_problem(client.delete(requests_url(shared, first["id"]), headers=nosy), 404)
    assert client.get(requests_url(shared), headers=nosy).json() == []
    assert client.get("/api/v1/me/access-requests", headers=nosy).json() == []
    assert_problem(client.get(requests_url(shared, 9999), headers=world.headers("admin")), 404)
    assert_problem(
        client.get(
            requests_url(shared), params={"status": "maybe"}, headers=world.headers("admin")
        ),
        400,
    )
    # A request id belongs to one dataset.
    assert_problem(client.get(requests_url(open_name, first["id"]), headers=asker), 404)
    assert (
        client.get(requests_url(shared, first["id"]), headers=asker).json()["status"] == "pending"
    )


def test_a_read_only_token_cannot_withdraw_its_users_request(
    world: World, client: TestClient
) -> None:
    """Withdrawing takes the right to ask (the write scope), not the right to look."""
    shared = world.datasets["shared"]
    requester = add_user(world, "cautious")
    asked = ask(client, shared, requester)
    admin = console_actor(world.site, "admin")
    read_only = tokens.create_token(
        world.site, admin, username="cautious", scopes=frozenset({Scope.READ})
    ).token
    refused = client.delete(
        requests_url(shared, asked["id"]), headers={"Authorization": f"Bearer {read_only}"}
    )
    assert_problem(refused, 403)
    seen = client.get(requests_url(shared, asked["id"]), headers=requester).json()
    assert seen["status"] == "pending"
