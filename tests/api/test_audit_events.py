"""Writes, sign-ins and admin actions land in the audit chain, atomically with the change."""

from __future__ import annotations

from starlette.testclient import TestClient

from cityshare import keys
from cityshare.accounts import users
from cityshare.accounts.console import console_actor
from cityshare.app import create_app
from cityshare.audit.verify import verify_chain
from cityshare.runtime import Runtime
from cityshare.site import Site
from tests.world import OWNER, SAMPLE_CSV, World, audit_entries


def head(site: Site) -> int:
    with site.engine.connect() as connection:
        return verify_chain(connection).head_seq


def test_writes_and_sign_ins_are_recorded(client: TestClient, world: World, site: Site) -> None:
    users.create_user(
        site, console_actor(site, "admin"), username="carol", password="correct horse battery"
    )
    start = head(site)
    editor = world.headers("admin")
    failed = client.post("/api/v1/auth/token", json={"username": "carol", "password": "x" * 12})
    assert failed.status_code == 401
    signed = client.post(
        "/api/v1/auth/token", json={"username": "carol", "password": "correct horse battery"}
    )
    assert signed.status_code == 201
    client.post("/api/v1/datasets", json={"name": "bins", "organisation": OWNER}, headers=editor)
    client.patch("/api/v1/datasets/bins", json={"visibility": "open"}, headers=editor)
    client.put(
        "/api/v1/datasets/bins/data",
        content=SAMPLE_CSV.encode(),
        headers={**editor, "Content-Type": "text/csv"},
    )
    device = {"name": "bin-sensor", "public_key": keys.public_key_text(keys.generate_private_key())}
    client.post(f"/api/v1/organisations/{OWNER}/devices", json=device, headers=editor)
    entries = audit_entries(site, start)
    assert [(e["action"], e["outcome"]) for e in entries] == [
        ("auth.sign-in", "deny"),
        ("auth.sign-in", "allow"),
        ("token.create", "allow"),
        ("dataset.create", "allow"),
        ("dataset.visibility", "allow"),
        ("dataset.upload", "allow"),
        ("device.register", "allow"),
    ]
    assert entries[0]["actor"] == {"kind": "system"}
    assert entries[1]["actor"]["username"] == "carol"
    assert entries[5]["detail"]["rows"] == 3 and entries[5]["dataset_id"] is not None
    assert "password" not in str(entries)
    with site.engine.connect() as connection:
        assert verify_chain(connection).ok


def test_a_refused_or_failed_write_leaves_no_entry(
    client: TestClient, world: World, site: Site
) -> None:
    start = head(site)
    taken = client.post(
        "/api/v1/datasets",
        json={"name": world.datasets["open"], "organisation": OWNER},
        headers=world.headers("admin"),
    )
    assert taken.status_code == 409
    refused = client.patch(
        f"/api/v1/datasets/{world.datasets['open']}",
        json={"title": "x"},
        headers=world.headers("member"),
    )
    assert refused.status_code == 403
    world.runtime.finish_background_work()
    entries = audit_entries(site, start)
    assert [(e["action"], e["outcome"]) for e in entries] == [("access.refused", "deny")]
    assert entries[0]["resource"]["method"] == "PATCH"
    assert entries[0]["actor"]["username"] == "member-user"


def test_reads_and_refusals_are_recorded(client: TestClient, world: World, site: Site) -> None:
    start = head(site)
    member = world.headers("member")
    private = world.datasets["private"]
    client.get(f"/api/v1/datasets/{private}/rows?junction=J1", headers=member)
    client.get(f"/api/v1/datasets/{private}/rows?_format=csv", headers=member)
    client.get(f"/api/v1/streams/{world.streams['open']}/observations?_limit=5")
    client.get(f"/api/v1/datasets/{private}/rows", headers=world.headers("outsider"))
    client.get("/api/v1/me", headers={"Authorization": "Bearer cs_wrong"})
    world.runtime.finish_background_work()
    entries = audit_entries(site, start)
    reads = [e for e in entries if e["action"] == "dataset.read"]
    summary = [
        (read["resource"]["dataset"], read["detail"]["rows"], read["detail"]["format"])
        for read in reads
    ]
    assert summary == [
        (private, 2, "json"),
        (private, None, "csv"),
        (world.sensor_datasets["open"], 0, "json"),
    ]
    assert reads[0]["detail"]["query"] == "junction=J1"
    assert reads[0]["resource"]["version"] == 1
    assert reads[2]["actor"] == {"kind": "anonymous"}
    refusals = [e for e in entries if e["action"] == "access.refused"]
    outcomes = [(r["outcome"], r["detail"]["status"]) for r in refusals]
    assert outcomes == [("hidden", 404), ("deny", 401)]
    with site.engine.connect() as connection:
        assert verify_chain(connection).ok


def test_reads_go_unrecorded_only_when_switched_off(world: World) -> None:
    settings = world.site.settings.model_copy(update={"audit_reads": False})
    quiet = Site.open(settings)
    try:
        start = head(quiet)
        with TestClient(create_app(Runtime(quiet))) as client:
            client.get(f"/api/v1/datasets/{world.datasets['open']}/rows")
            client.get(f"/api/v1/datasets/{world.datasets['private']}/rows")  # refused: 404
        entries = audit_entries(quiet, start)
        assert [e["action"] for e in entries] == ["access.refused"]
    finally:
        quiet.close()
