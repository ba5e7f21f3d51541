"""Grants over HTTP: made, listed, changed and revoked by the owner's admins; in force at
once, over by expiry or revocation with nobody acting; bad terms refused, nothing stored."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import update
from starlette.testclient import TestClient

from cityshare.site import Site
from cityshare.storage.schema import grants
from tests.sharing_support import (
    COLUMNS,
    add_user,
    assert_problem,
    count_grants,
    grant_url,
    in_future,
    make_grant,
    row_keys,
    rows_url,
)
from tests.world import OTHER, SAMPLE_CSV, World


def listed_names(client: TestClient, headers: dict[str, str]) -> set[str]:
    response = client.get("/api/v1/datasets", headers=headers)
    assert response.status_code == 200, response.text
    return {item["name"] for item in response.json()["datasets"]}


def test_grant_is_made_listed_changed_and_revoked(world: World, client: TestClient) -> None:
    admin = world.headers("admin")
    grantee = add_user(world, "analyst")
    private = world.datasets["private"]
    # Before any grant the private dataset does not exist for the user.
    assert client.get(f"/api/v1/datasets/{private}", headers=grantee).status_code == 404
    assert client.get(rows_url(private), headers=grantee).status_code == 404
    assert private not in listed_names(client, grantee)

    expires = in_future(90 * 86_400)
    mine = make_grant(client, world, private, user="analyst", terms="CC-BY-4.0", expires_at=expires)
    assert mine["grantee"] == {"user": "analyst"}
    assert mine["status"] == "active" and mine["revoked_at"] is None
    assert mine["permissions"] == ["read"]
    assert mine["terms"] == "CC-BY-4.0" and mine["purpose"] == "Testing the sharing feature"
    assert mine["created_by"] == "admin-user"
    assert mine["expires_at"] == expires
    theirs = make_grant(client, world, private, organisation=OTHER, purpose="Partner work")
    assert theirs["grantee"] == {"organisation": OTHER}

    # In force at once: metadata, lists and rows of the private dataset.
    assert client.get(f"/api/v1/datasets/{private}", headers=grantee).status_code == 200
    assert private in listed_names(client, grantee)
    assert row_keys(client.get(rows_url(private), headers=grantee)) == set(COLUMNS)
    assert len(client.get(rows_url(private), headers=grantee).json()["rows"]) == 3

    # Admins list every grant; a grantee sees only its own, and 404 for another's.
    listed = client.get(grant_url(private), headers=admin)
    assert [item["id"] for item in listed.json()] == [mine["id"], theirs["id"]]
    own = client.get(grant_url(private), headers=grantee).json()
    assert [item["id"] for item in own] == [mine["id"]]
    assert client.get(grant_url(private, mine["id"]), headers=grantee).json() == mine
    assert_problem(client.get(grant_url(private, theirs["id"]), headers=grantee), 404)
    outsider = world.headers("outsider")
    assert [item["id"] for item in client.get(grant_url(private), headers=outsider).json()] == [
        theirs["id"]
    ]
    assert_problem(client.get(grant_url(private, mine["id"]), headers=outsider), 404)
    assert_problem(client.get(grant_url(private, 9999), headers=admin), 404)

    # A change applies to the grantee's next request.
    patched = client.patch(
        grant_url(private, mine["id"]),
        json={"columns": ["junction", "cars"], "purpose": "Narrower"},
        headers=admin,
    )
    assert patched.status_code == 200, patched.text
    assert patched.json()["columns"] == ["junction", "cars"]
    assert patched.json()["purpose"] == "Narrower"
    assert patched.json()["expires_at"] == mine["expires_at"]  # untouched terms stay
    assert row_keys(client.get(rows_url(private), headers=grantee)) == {"junction", "cars"}

    # Revoked: the response says so, and the very next request is refused.
    revoked = client.delete(grant_url(private, mine["id"]), headers=admin)
    assert revoked.status_code == 200, revoked.text
    assert revoked.json()["status"] == "revoked" and revoked.json()["revoked_at"] is not None
    assert_problem(client.get(rows_url(private), headers=grantee), 404)
    assert_problem(client.get(f"/api/v1/datasets/{private}", headers=grantee), 404)
    assert private not in listed_names(client, grantee)
    assert client.get(grant_url(private, mine["id"]), headers=admin).json()["status"] == "revoked"
    # A revoked grant cannot be revived by a change; revoking again changes nothing.
    assert_problem(
        client.patch(grant_url(private, mine["id"]), json={"purpose": "again"}, headers=admin),
        409,
    )
    again = client.delete(grant_url(private, mine["id"]), headers=admin)
    assert again.json()["revoked_at"] == revoked.json()["revoked_at"]
    # The organisation's grant is untouched.
    assert client.get(rows_url(private), headers=outsider).status_code == 200


def test_an_organisation_grant_covers_its_members(world: World, client: TestClient) -> None:
    shared = world.datasets["shared"]
    colleague = add_user(world, "partner-member", organisation=OTHER, role="member")
    assert_problem(client.get(rows_url(shared), headers=colleague), 403)
    grant = make_grant(client, world, shared, organisation=OTHER, columns=["junction"])
    for headers in (colleague, world.headers("outsider")):
        assert row_keys(client.get(rows_url(shared), headers=headers)) == {"junction"}
    # A member of the owner reads everything, whatever grants exist.
    assert row_keys(client.get(rows_url(shared), headers=world.headers("member"))) == set(COLUMNS)
    client.delete(grant_url(shared, grant["id"]), headers=world.headers("admin"))
    assert_problem(client.get(rows_url(shared), headers=colleague), 403)


def test_a_grant_ends_at_its_expiry_and_on_revocation(world: World, client: TestClient) -> None:
    grantee = add_user(world, "short-lived")
    shared, private = world.datasets["shared"], world.datasets["private"]
    ends = datetime.now(UTC) + timedelta(seconds=2)
    expiring = {
        name: make_grant(client, world, name, user="short-lived", expires_at=ends.isoformat())
        for name in (shared, private)
    }
    revocable = make_grant(client, world, world.datasets["open"], user="short-lived")
    for name in (shared, private):
        assert len(client.get(rows_url(name), headers=grantee).json()["rows"]) == 3
        assert expiring[name]["status"] == "active"
    # Revocation ends a grant at once (the open dataset stays readable as open data,
    # but no longer under the grant: the grantee is back to the public view).
    open_name = world.datasets["open"]
    narrow = client.patch(
        grant_url(open_name, revocable["id"]),
        json={"row_filter": {"junction": "J2"}},
        headers=world.headers("admin"),
    )
    assert narrow.status_code == 200, narrow.text
    assert len(client.get(rows_url(open_name), headers=grantee).json()["rows"]) == 1
    client.delete(grant_url(open_name, revocable["id"]), headers=world.headers("admin"))
    assert len(client.get(rows_url(open_name), headers=grantee).json()["rows"]) == 3

    time.sleep(max(0.0, (ends - datetime.now(UTC)).total_seconds()) + 0.3)
    assert_problem(client.get(rows_url(shared), headers=grantee), 403)
    assert_problem(client.get(rows_url(private), headers=grantee), 404)
    assert_problem(client.get(f"/api/v1/datasets/{private}", headers=grantee), 404)
    status = client.get(grant_url(shared, expiring[shared]["id"]), headers=world.headers("admin"))
    assert status.json()["status"] == "expired"
    # The grantee of an expired grant on a shared dataset still sees its own grant.
    own = client.get(grant_url(shared), headers=grantee).json()
    assert [(item["id"], item["status"]) for item in own] == [(expiring[shared]["id"], "expired")]


def test_only_the_owners_admins_manage_grants(world: World, client: TestClient) -> None:
    shared, open_name = world.datasets["shared"], world.datasets["open"]
    body = {"organisation": OTHER, "purpose": "p", "expires_at": in_future()}
    for kind in ("member", "editor", "outsider", "readonly"):
        assert_problem(client.post(grant_url(shared), json=body, headers=world.headers(kind)), 403)
    assert_problem(client.post(grant_url(open_name), json=body), 401)
    assert_problem(client.post(grant_url(world.datasets["private"]), json=body), 404)
    assert count_grants(world.site) == 0
    grant = make_grant(client, world, shared, organisation=OTHER)
    url = grant_url(shared, grant["id"])
    for kind in ("member", "editor", "outsider", "readonly"):
        headers = world.headers(kind)
        assert_problem(client.patch(url, json={"purpose": "x"}, headers=headers), 403)
        assert_problem(client.delete(url, headers=headers), 403)
    assert client.get(url, headers=world.headers("admin")).json() == grant
    # The list of every grant is for the owner's admins: a member sees none of them.
    assert client.get(grant_url(shared), headers=world.headers("member")).json() == []
    # Site administrators may grant too.
    by_site_admin = client.post(grant_url(shared), json=body, headers=world.headers("siteadmin"))
    assert by_site_admin.status_code == 201, by_site_admin.text
    assert by_site_admin.json()["created_by"] == "admin"


def test_bad_grants_are_refused_and_nothing_is_stored(
    world: World, client: TestClient, site: Site
) -> None:
    add_user(world, "someone")
    admin = world.headers("admin")
    url = grant_url(world.datasets["shared"])
    good: dict[str, Any] = {"user": "someone", "purpose": "Research", "expires_at": in_future()}
    past = (datetime.now(UTC) - timedelta(minutes=1)).isoformat()
    eleven_years = (datetime.now(UTC) + timedelta(days=366 * 11)).isoformat()
    cases: list[tuple[str, dict[str, Any], tuple[int, ...]]] = [
        ("expiry in the past", {**good, "expires_at": past}, (400, 422)),
        ("expiry over ten years", {**good, "expires_at": eleven_years}, (400, 422)),
        ("expiry not a time", {**good, "expires_at": "next tuesday"}, (400, 422)),
        ("no expiry", {k: v for k, v in good.items() if k != "expires_at"}, (400, 422)),
        ("no purpose", {k: v for k, v in good.items() if k != "purpose"}, (400, 422)),
        ("blank purpose", {**good, "purpose": "   "}, (400, 422)),
        ("huge purpose", {**good, "purpose": "x" * 100_000}, (400, 422)),
        ("two grantees", {**good, "organisation": OTHER}, (400, 422)),
        ("no grantee", {k: v for k, v in good.items() if k != "user"}, (400, 422)),
        ("unknown organisation", {**good, "user": None, "organisation": "nope"}, (404,)),
        ("unknown user", {**good, "user": "nobody-here"}, (404,)),
        ("owner organisation", {**good, "user": None, "organisation": "city"}, (409,)),
        ("member of the owner", {**good, "user": "member-user"}, (409,)),
        ("unknown column", {**good, "columns": ["junction", "plate"]}, (400, 422)),
        (
            "pseudonymised outside columns",
            {**good, "columns": ["junction"], "pseudonymised": ["note"]},
            (400, 422),
        ),
        ("pseudonymised without columns", {**good, "pseudonymised": ["note"]}, (400, 422)),
        ("filter on unknown column", {**good, "row_filter": {"plate": "x"}}, (400, 422)),
        ("filter with bad operator", {**good, "row_filter": {"cars__like": "9"}}, (400, 422)),
        ("filter with bad value", {**good, "row_filter": {"cars__gte": "many"}}, (400, 422)),
        ("reserved _limit in filter", {**good, "row_filter": {"_limit": "1"}}, (400, 422)),
        ("reserved _sort in filter", {**good, "row_filter": {"_sort": "cars"}}, (400, 422)),
        ("bbox in filter", {**good, "row_filter": {"bbox": "0,0,1,1"}}, (400, 422)),
        ("filter not an object", {**good, "row_filter": ["junction", "J1"]}, (400, 422)),
        ("min group size 1", {**good, "min_group_size": 1}, (400, 422)),
        ("min group size 0", {**good, "min_group_size": 0}, (400, 422)),
        ("min group size true", {**good, "min_group_size": True}, (400, 422)),
        ("min group size 2.5", {**good, "min_group_size": 2.5}, (400, 422)),
        ("delete permission", {**good, "permissions": ["delete"]}, (400, 422)),
        ("no permissions", {**good, "permissions": []}, (400, 422)),
        ("unknown field", {**good, "status": "active"}, (400, 422)),
        ("mass assignment", {**good, "created_by": 1}, (400, 422)),
        ("revoked_at preset", {**good, "revoked_at": past}, (400, 422)),
    ]
    for label, body, statuses in cases:
        response = client.post(url, json=body, headers=admin)
        assert response.status_code in statuses, (label, response.status_code, response.text)
        assert_problem(response, response.status_code)
    assert client.get(url, headers=admin).json() == []
    assert count_grants(site) == 0
    someone = world.headers("someone")
    assert_problem(client.get(rows_url(world.datasets["shared"]), headers=someone), 403)

    # Markup in a purpose is plain text: stored and returned exactly, as JSON.
    purpose = '<script>alert("x")</script> & <b>bold</b> \u00e9\u4e2d'
    grant = make_grant(client, world, world.datasets["shared"], user="someone", purpose=purpose)
    assert grant["purpose"] == purpose
    fetched = client.get(grant_url(world.datasets["shared"], grant["id"]), headers=admin)
    assert fetched.headers["content-type"].startswith("application/json")
    assert fetched.json()["purpose"] == purpose
    assert client.get(url, headers=someone).json()[0]["purpose"] == purpose


def test_bad_changes_are_refused_and_the_grant_stays(world: World, client: TestClient) -> None:
    admin = world.headers("admin")
    shared = world.datasets["shared"]
    grant = make_grant(client, world, shared, organisation=OTHER, columns=["junction", "cars"])
    url = grant_url(shared, grant["id"])
    past = (datetime.now(UTC) - timedelta(minutes=1)).isoformat()
    for label, body in (
        ("expiry in the past", {"expires_at": past}),
        ("expiry removed", {"expires_at": None}),
        ("unknown column", {"columns": ["plate"]}),
        ("pseudonymised outside columns", {"pseudonymised": ["note"]}),
        ("bad filter", {"row_filter": {"_limit": "1"}}),
        ("min group size 1", {"min_group_size": 1}),
        ("bad permission", {"permissions": ["delete"]}),
        ("grantee change", {"organisation": "city"}),
        ("unknown field", {"status": "active"}),
    ):
        response = client.patch(url, json=body, headers=admin)
        assert response.status_code in (400, 409, 422), (label, response.text)
        assert_problem(response, response.status_code)
    assert client.get(url, headers=admin).json() == grant
    # A grant belongs to one dataset: through another, it does not exist.
    elsewhere = grant_url(world.datasets["open"], grant["id"])
    assert_problem(client.get(elsewhere, headers=admin), 404)
    assert_problem(client.patch(elsewhere, json={"purpose": "x"}, headers=admin), 404)
    assert_problem(client.delete(elsewhere, headers=admin), 404)
    assert client.get(url, headers=admin).json() == grant
    outsider = world.headers("outsider")
    assert row_keys(client.get(rows_url(shared), headers=outsider)) == {"junction", "cars"}


def test_a_write_grant_lets_the_grantee_upload(world: World, client: TestClient) -> None:
    private = world.datasets["private"]
    writer = add_user(world, "provider")
    reader = add_user(world, "reader")
    make_grant(client, world, private, user="provider", permissions=["read", "write"])
    make_grant(client, world, private, user="reader")
    upload = SAMPLE_CSV + "J3,2024-03-04T11:00:00Z,60,40.0,later\n"
    headers = {"Content-Type": "text/csv"}
    refused = client.put(
        f"/api/v1/datasets/{private}/data", content=upload.encode(), headers={**reader, **headers}
    )
    assert_problem(refused, 403)
    assert client.get(f"/api/v1/datasets/{private}", headers=reader).json()["current_version"] == 1
    accepted = client.put(
        f"/api/v1/datasets/{private}/data", content=upload.encode(), headers={**writer, **headers}
    )
    assert accepted.status_code == 201, accepted.text
    assert accepted.json()["number"] == 2 and accepted.json()["row_count"] == 4
    rows = client.get(rows_url(private), headers=world.headers("member")).json()
    assert rows["version"] == 2 and len(rows["rows"]) == 4

    # A write-only grant publishes but does not read.
    drop_box = add_user(world, "drop-box")
    grant = make_grant(client, world, private, user="drop-box", permissions=["write"])
    assert grant["permissions"] == ["write"]
    assert_problem(client.get(rows_url(private), headers=drop_box), 403)
    response = client.put(
        f"/api/v1/datasets/{private}/data", content=upload.encode(), headers={**drop_box, **headers}
    )
    assert response.status_code == 201, response.text


def test_an_empty_column_list_does_not_widen_a_grant(world: World, client: TestClient) -> None:
    """``columns: []`` must not mean "every public column" (that is ``columns`` absent):
    it is refused, or it gives no column at all."""
    shared = world.datasets["shared"]
    grantee = add_user(world, "empty-handed")
    response = client.post(
        grant_url(shared),
        json={
            "user": "empty-handed",
            "purpose": "p",
            "expires_at": in_future(),
            "columns": [],
        },
        headers=world.headers("admin"),
    )
    if response.status_code == 201:
        rows = client.get(rows_url(shared), headers=grantee)
        assert rows.status_code in (200, 403)
        if rows.status_code == 200:
            assert row_keys(rows) == set(), rows.json()["rows"][0]
    else:
        assert_problem(response, 400)


def test_anonymous_visitors_do_not_see_grants(world: World, client: TestClient) -> None:
    """The list of a dataset's grants shows a non-admin only the grants they hold; an
    anonymous visitor holds none (an open dataset's grants are not public)."""
    open_name = world.datasets["open"]
    make_grant(client, world, open_name, organisation=OTHER, purpose="Confidential partnership")
    make_grant(client, world, open_name, user="outsider-user")
    listed = client.get(grant_url(open_name))
    assert listed.status_code in (200, 401), listed.text
    if listed.status_code == 200:
        assert listed.json() == [], listed.json()
    assert "Confidential partnership" not in listed.text
    # Nor does a signed-in user who holds none of them.
    stranger = add_user(world, "stranger")
    assert client.get(grant_url(open_name), headers=stranger).json() == []


def test_no_grantee_both_writes_and_reads_pseudonyms(world: World, client: TestClient) -> None:
    """Write and pseudonymised never meet for one grantee: not in one grant, not across a
    grantee's grants, not by an approved request, not by a user's and their organisation's."""
    shared, admin = world.datasets["shared"], world.headers("admin")
    pseudonyms = {"columns": ["junction", "cars"], "pseudonymised": ["junction"]}
    body = {"purpose": "Timetables", "expires_at": in_future(), "user": "both-ways"}
    grantee = add_user(world, "both-ways", OTHER)
    before = count_grants(world.site)
    both = {**body, **pseudonyms, "permissions": ["read", "write"]}
    assert_problem(client.post(grant_url(shared), json=both, headers=admin), 409)
    reader = make_grant(client, world, shared, user="both-ways", **pseudonyms)
    url = grant_url(shared, reader["id"])
    assert_problem(client.patch(url, json={"permissions": ["write"]}, headers=admin), 409)
    writer = {**body, "permissions": ["write"]}
    assert_problem(client.post(grant_url(shared), json=writer, headers=admin), 409)
    asked = client.post(
        f"/api/v1/datasets/{shared}/access-requests",
        json={"purpose": "Uploads", "organisation": OTHER},
        headers=world.headers("outsider"),
    )
    assert asked.status_code == 201, asked.text
    approve = f"/api/v1/datasets/{shared}/access-requests/{asked.json()['id']}/approve"
    terms = {"expires_at": in_future(), "permissions": ["write"], **pseudonyms}
    assert_problem(client.post(approve, json=terms, headers=admin), 409)
    assert count_grants(world.site) == before + 1

    # A write grant to their organisation does not let them write while they read pseudonyms.
    make_grant(client, world, shared, organisation=OTHER, permissions=["write"])
    upload = {"Content-Type": "text/csv", **grantee}
    refused = client.put(f"/api/v1/datasets/{shared}/data", content=SAMPLE_CSV, headers=upload)
    assert "pseudonym" in assert_problem(refused, 403)["detail"]
    assert row_keys(client.get(rows_url(shared), headers=grantee)) == {"junction", "cars"}
    # Ending the pseudonymised grant gives the organisation's write back.
    assert client.delete(url, headers=admin).status_code == 200
    accepted = client.put(f"/api/v1/datasets/{shared}/data", content=SAMPLE_CSV, headers=upload)
    assert accepted.status_code == 201, accepted.text


def test_a_stored_grant_with_both_is_repaired_by_dropping_one(
    world: World, client: TestClient
) -> None:
    shared, admin = world.datasets["shared"], world.headers("admin")
    grantee = add_user(world, "old-grant")
    grant = make_grant(
        client, world, shared, user="old-grant", columns=["junction"], pseudonymised=["junction"]
    )
    with world.site.writer.begin() as connection:  # as a store made before the rule may hold
        connection.execute(
            update(grants).where(grants.c.id == grant["id"]).values(permissions="read,write")
        )
    upload = {"Content-Type": "text/csv", **grantee}
    refused = client.put(f"/api/v1/datasets/{shared}/data", content=SAMPLE_CSV, headers=upload)
    assert_problem(refused, 403)
    assert row_keys(client.get(rows_url(shared), headers=grantee)) == {"junction"}
    url = grant_url(shared, grant["id"])
    assert_problem(client.patch(url, json={"terms": "v2"}, headers=admin), 409)
    repaired = client.patch(url, json={"terms": "v2", "permissions": ["read"]}, headers=admin)
    assert repaired.status_code == 200, repaired.text
    assert repaired.json()["permissions"] == ["read"] and repaired.json()["terms"] == "v2"
