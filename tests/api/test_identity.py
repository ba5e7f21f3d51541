"""Users, sign-in and API tokens over HTTP."""

from __future__ import annotations

import time
from datetime import timedelta

from sqlalchemy import select, update
from starlette.testclient import TestClient

from cityshare.accounts import users
from cityshare.accounts.console import console_actor
from cityshare.clock import utcnow
from cityshare.storage.schema import tokens
from tests.world import World

PASSWORD = "correct horse battery staple"


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_sign_in_gives_a_scoped_token(world: World, client: TestClient) -> None:
    users.create_user(
        world.site, console_actor(world.site, "admin"), username="carol", password=PASSWORD
    )
    response = client.post(
        "/api/v1/auth/token",
        json={"username": "carol", "password": PASSWORD, "scopes": ["read"]},
    )
    assert response.status_code == 201, response.text
    created = response.json()
    assert created["scopes"] == ["read"]
    me = client.get("/api/v1/me", headers=bearer(created["token"])).json()
    assert me["username"] == "carol" and me["scopes"] == ["read"]


def test_wrong_password_and_unknown_user_look_the_same(world: World, client: TestClient) -> None:
    users.create_user(
        world.site, console_actor(world.site, "admin"), username="dave", password=PASSWORD
    )
    wrong = client.post("/api/v1/auth/token", json={"username": "dave", "password": "x" * 20})
    unknown = client.post("/api/v1/auth/token", json={"username": "nobody", "password": "x" * 20})
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.json()["detail"] == unknown.json()["detail"]


def test_token_is_256_bits_shown_once_and_stored_as_hash(world: World, client: TestClient) -> None:
    created = client.post(
        "/api/v1/tokens", json={"name": "ci", "scopes": ["read"]}, headers=world.headers("member")
    ).json()
    secret = created["token"]
    assert secret.startswith("cs_") and len(secret) >= 3 + 43  # 32 random bytes, base64url
    listed = client.get("/api/v1/tokens", headers=world.headers("member")).json()
    assert all("token" not in item for item in listed)
    assert any(item["prefix"] == created["prefix"] for item in listed)
    with world.site.engine.connect() as connection:
        stored = connection.execute(select(tokens.c.token_hash, tokens.c.prefix)).all()
    assert all(secret not in (row.token_hash, row.prefix) for row in stored)
    assert secret[:11] == created["prefix"]


def test_wrong_malformed_revoked_and_expired_tokens_are_401(
    world: World, client: TestClient
) -> None:
    member = world.headers("member")
    created = client.post("/api/v1/tokens", json={"scopes": ["read"]}, headers=member).json()
    good = bearer(created["token"])
    assert client.get("/api/v1/me", headers=good).status_code == 200
    for header in (
        {"Authorization": "Bearer cs_" + "A" * 43},  # well-formed, unknown
        {"Authorization": "Bearer not-a-token"},
        {"Authorization": "Basic dXNlcjpwYXNz"},
        {"Authorization": "Bearer "},
        {"Authorization": "Bearer " + created["token"] + "x"},
    ):
        response = client.get("/api/v1/datasets", headers=header)
        assert response.status_code == 401, header
        assert response.headers["content-type"] == "application/problem+json"
        assert response.headers["www-authenticate"].startswith("Bearer")
    with world.site.writer.begin() as connection:
        connection.execute(
            update(tokens)
            .where(tokens.c.id == created["id"])
            .values(expires_at=utcnow() - timedelta(seconds=1))
        )
    assert "expired" in client.get("/api/v1/me", headers=good).json()["detail"]
    fresh = client.post("/api/v1/tokens", json={"scopes": ["read"]}, headers=member).json()
    assert client.delete(f"/api/v1/tokens/{fresh['id']}", headers=member).status_code == 204
    revoked = client.get("/api/v1/me", headers=bearer(fresh["token"]))
    assert revoked.status_code == 401 and "revoked" in revoked.json()["detail"]


def test_tokens_in_the_query_string_are_refused(world: World, client: TestClient) -> None:
    secret = world.tokens["member"]
    for name in ("access_token", "token", "api_key"):
        response = client.get(f"/api/v1/datasets?{name}={secret}")
        assert response.status_code == 400
        assert "Authorization" in response.json()["detail"]
        assert secret not in response.text


def test_last_used_time_is_recorded(world: World, client: TestClient) -> None:
    client.get("/api/v1/me", headers=world.headers("editor"))
    listed = client.get("/api/v1/tokens", headers=world.headers("editor")).json()
    assert listed[0]["last_used_at"] is not None


def test_a_token_cannot_mint_wider_scopes(world: World, client: TestClient) -> None:
    reader = client.post(
        "/api/v1/tokens", json={"scopes": ["read"]}, headers=world.headers("admin")
    ).json()
    response = client.post(
        "/api/v1/tokens", json={"scopes": ["write"]}, headers=bearer(reader["token"])
    )
    assert response.status_code == 403


def test_members_cannot_make_themselves_site_admins(world: World, client: TestClient) -> None:
    response = client.post(
        "/api/v1/users",
        json={"username": "mallory", "is_site_admin": True},
        headers=world.headers("admin"),
    )
    assert response.status_code == 403
    me = client.get("/api/v1/me", headers=world.headers("admin")).json()
    assert me["is_site_admin"] is False


def test_unknown_fields_are_refused_not_ignored(world: World, client: TestClient) -> None:
    response = client.post(
        "/api/v1/tokens",
        json={"scopes": ["read"], "user_id": 1},
        headers=world.headers("member"),
    )
    assert response.status_code == 400
    assert "user_id" in response.text


def test_members_see_their_memberships(world: World, client: TestClient) -> None:
    me = client.get("/api/v1/me", headers=world.headers("editor")).json()
    assert me["memberships"] == [{"organisation": "city", "role": "editor"}]


def test_a_held_write_lock_does_not_break_authentication(world: World, client: TestClient) -> None:
    with world.site.writer.begin() as connection:
        connection.execute(update(tokens).values(last_used_at=None))
    started = time.monotonic()
    with world.site.writer.begin():  # another writer holds SQLite's write lock
        response = client.get("/api/v1/me", headers=world.headers("member"))
    assert response.status_code == 200
    assert time.monotonic() - started < 5
