"""Who used a dataset and under which grant: the access log for the owner's admins, and
the audit export for site administrators, whose lines re-link into the hash chain."""

from __future__ import annotations

from typing import Any

import orjson
from starlette.testclient import TestClient

from cityshare.accounts import organisations
from cityshare.accounts.console import console_actor
from cityshare.audit.chain import GENESIS, content_hash, link
from tests.sharing_support import (
    COLUMNS,
    add_user,
    assert_problem,
    grant_url,
    in_future,
    make_grant,
    rows_url,
)
from tests.world import OTHER, World


def log_url(dataset: str) -> str:
    return f"/api/v1/datasets/{dataset}/access-log"


def whole_log(client: TestClient, dataset: str, headers: dict[str, str]) -> list[dict[str, Any]]:
    response = client.get(log_url(dataset), params={"limit": 1000}, headers=headers)
    assert response.status_code == 200, response.text
    assert response.json()["next_after"] is None
    entries: list[dict[str, Any]] = response.json()["entries"]
    return entries


def test_access_log_names_reader_action_and_grant(world: World, client: TestClient) -> None:
    private = world.datasets["private"]
    admin = world.headers("admin")
    grantee = add_user(world, "auditee")
    grant = make_grant(client, world, private, user="auditee", columns=["junction", "cars"])
    assert (
        client.get(rows_url(private), params={"junction": "J1"}, headers=grantee).status_code == 200
    )
    assert (
        client.get(rows_url(private), params={"_format": "csv"}, headers=grantee).status_code == 200
    )
    assert client.get(rows_url(private), headers=world.headers("member")).status_code == 200
    world.runtime.finish_background_work()  # reads are recorded in the background
    changed = client.patch(
        grant_url(private, grant["id"]), json={"purpose": "Changed"}, headers=admin
    )
    assert changed.status_code == 200
    client.delete(grant_url(private, grant["id"]), headers=admin)
    world.runtime.finish_background_work()

    entries = whole_log(client, private, admin)
    mine = [entry for entry in entries if entry["grant"] == grant["id"]]
    summary = [(entry["action"], entry["who"], entry["grant"]) for entry in mine]
    assert summary == [
        ("grant.create", "admin-user", grant["id"]),
        ("dataset.read", "auditee", grant["id"]),
        ("dataset.read", "auditee", grant["id"]),
        ("grant.update", "admin-user", grant["id"]),
        ("grant.revoke", "admin-user", grant["id"]),
    ]
    reads = [entry for entry in mine if entry["action"] == "dataset.read"]
    assert reads[0]["detail"]["grant"] == grant["id"]
    assert reads[0]["detail"]["query"] == "junction=J1" and reads[0]["detail"]["rows"] == 2
    assert reads[1]["detail"]["format"] == "csv"
    assert all(entry["outcome"] == "allow" and entry["token_id"] for entry in reads)
    owner_reads = [
        entry
        for entry in entries
        if entry["action"] == "dataset.read" and entry["who"] == "member-user"
    ]
    assert len(owner_reads) == 1 and owner_reads[0]["grant"] is None
    # Only this dataset's entries.
    assert all((entry["resource"] or {}).get("dataset", private) == private for entry in entries), (
        entries
    )
    sequence = [entry["seq"] for entry in entries]
    assert sequence == sorted(sequence)

    # Paged with after / next_after: the pages add up to the whole log.
    paged: list[dict[str, Any]] = []
    after = 0
    for _ in range(len(entries) + 1):
        page = client.get(log_url(private), params={"after": after, "limit": 2}, headers=admin)
        assert page.status_code == 200, page.text
        paged.extend(page.json()["entries"])
        following = page.json()["next_after"]
        if following is None:
            break
        assert following == page.json()["entries"][-1]["seq"]
        after = following
    assert paged == entries
    for params in ({"limit": 0}, {"limit": 100_000}, {"after": -1}):
        assert_problem(client.get(log_url(private), params=params, headers=admin), 400)


def test_request_decisions_are_in_the_log(world: World, client: TestClient) -> None:
    shared = world.datasets["shared"]
    admin = world.headers("admin")
    outsider = world.headers("outsider")
    base = f"/api/v1/datasets/{shared}/access-requests"
    asked = client.post(base, json={"purpose": "Planning", "organisation": OTHER}, headers=outsider)
    assert asked.status_code == 201, asked.text
    approved = client.post(
        f"{base}/{asked.json()['id']}/approve", json={"expires_at": in_future()}, headers=admin
    )
    grant_id = approved.json()["grant_id"]
    client.get(rows_url(shared), headers=outsider)
    world.runtime.finish_background_work()  # reads are recorded in the background
    requester = add_user(world, "declinee")
    second = client.post(base, json={"purpose": "Resale"}, headers=requester).json()
    client.post(f"{base}/{second['id']}/decline", json={"reason": "No resale"}, headers=admin)
    world.runtime.finish_background_work()
    entries = whole_log(client, shared, admin)
    assert [entry["action"] for entry in entries[:2]] == ["dataset.create", "dataset.upload"]
    entries = entries[2:]  # before: the world's making of the dataset
    summary = [(entry["action"], entry["who"], entry["grant"]) for entry in entries]
    assert summary == [
        ("access.request", "outsider-user", None),
        ("grant.create", "admin-user", grant_id),
        ("access.request.approved", "admin-user", grant_id),
        ("dataset.read", "outsider-user", grant_id),
        ("access.request", "declinee", None),
        ("access.request.declined", "admin-user", None),
    ]
    assert entries[-1]["detail"]["reason"] == "No resale"
    assert entries[0]["detail"]["purpose"] == "Planning"


def test_only_the_owners_admins_read_the_access_log(world: World, client: TestClient) -> None:
    private, shared = world.datasets["private"], world.datasets["shared"]
    grantee = add_user(world, "curious")
    make_grant(client, world, private, user="curious")
    make_grant(client, world, shared, organisation=OTHER)
    for kind in ("member", "editor", "outsider"):
        assert_problem(client.get(log_url(shared), headers=world.headers(kind)), 403)
    assert_problem(client.get(log_url(private), headers=grantee), 403)  # a grantee: no
    assert_problem(client.get(log_url(private), headers=world.headers("outsider")), 404)
    assert_problem(client.get(log_url(world.datasets["open"])), 401)
    assert_problem(client.get(log_url(shared)), 404)
    for kind in ("admin", "readonly", "siteadmin"):
        assert client.get(log_url(shared), headers=world.headers(kind)).status_code == 200, kind


def test_audit_export_relinks_into_the_chain(world: World, client: TestClient) -> None:
    private = world.datasets["private"]
    grantee = add_user(world, "exported")
    grant = make_grant(client, world, private, user="exported")
    client.get(rows_url(private), headers=grantee)
    world.runtime.finish_background_work()
    for kind in ("admin", "member", "outsider", "readonly"):
        assert_problem(client.get("/api/v1/audit/export", headers=world.headers(kind)), 403)
    assert_problem(client.get("/api/v1/audit/export"), 401)
    world.runtime.finish_background_work()  # the refusals above are recorded in the background

    response = client.get("/api/v1/audit/export", headers=world.headers("siteadmin"))
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/x-ndjson")
    lines = [orjson.loads(line) for line in response.content.splitlines()]
    assert len(lines) > 10
    previous = GENESIS
    for expected_seq, line in enumerate(lines, start=1):
        assert set(line) == {"seq", "at", "content", "prev_hash", "content_hash", "hash"}
        assert line["seq"] == expected_seq
        assert line["prev_hash"] == previous, expected_seq
        assert line["content_hash"] == content_hash(line["content"])
        assert line["hash"] == link(line["prev_hash"], line["content_hash"])
        content = orjson.loads(line["content"])
        assert content["seq"] == line["seq"]
        previous = line["hash"]
    contents = [orjson.loads(line["content"]) for line in lines]
    reads = [
        content
        for content in contents
        if content["action"] == "dataset.read" and content["actor"].get("username") == "exported"
    ]
    assert len(reads) == 1 and reads[0]["detail"]["grant"] == grant["id"]
    assert any(
        content["action"] == "grant.create" and content["resource"].get("grant") == grant["id"]
        for content in contents
    )
    # Continuing after a sequence number gives the rest, still linked.
    tail = client.get(
        "/api/v1/audit/export", params={"after": 5}, headers=world.headers("siteadmin")
    )
    rest = [orjson.loads(line) for line in tail.content.splitlines()]
    assert rest[0]["seq"] == 6 and rest[0]["prev_hash"] == lines[4]["hash"]
    assert rest[: len(lines) - 5] == lines[5:]


def test_a_read_as_owner_is_not_logged_under_a_grant(world: World, client: TestClient) -> None:
    """Someone in both the owner organisation and a grantee organisation reads as an owner
    (every column, every row): the log must not say the read ran under the grant."""
    shared = world.datasets["shared"]
    dual = add_user(world, "dual-member", organisation="city", role="member")
    admin_actor = console_actor(world.site, "admin")
    organisations.set_member(world.site, admin_actor, OTHER, "dual-member", "member")
    grant = make_grant(client, world, shared, organisation=OTHER, columns=["junction"])
    answer = client.get(rows_url(shared), headers=dual)
    assert answer.status_code == 200, answer.text
    assert set(answer.json()["rows"][0]) == set(COLUMNS)  # not bounded by the grant
    partner = client.get(rows_url(shared), headers=world.headers("outsider"))
    assert set(partner.json()["rows"][0]) == {"junction"}  # bounded by it
    world.runtime.finish_background_work()
    reads = {
        entry["who"]: entry
        for entry in whole_log(client, shared, world.headers("admin"))
        if entry["action"] == "dataset.read"
    }
    assert reads["outsider-user"]["grant"] == grant["id"]
    assert reads["dual-member"]["grant"] is None, reads["dual-member"]
    assert reads["dual-member"]["detail"]["grant"] is None
