"""The organisation page and API tokens in the browser."""

from __future__ import annotations

import re

from starlette.testclient import TestClient

from cityshare.accounts import organisations
from cityshare.accounts.console import console_actor
from tests.api.test_second_factor import add_user
from tests.web.test_account import csrf_of, sign_in
from tests.world import World


def test_everyone_sees_the_datasets_they_may_see(world: World, browser_client: TestClient) -> None:
    client = browser_client
    anonymous = client.get("/organisation/city").text
    assert "open-counts" in anonymous and "shared-counts" not in anonymous
    assert 'id="members"' not in anonymous and "Devices" not in anonymous
    member = client.get("/organisation/city", headers=world.headers("member")).text
    assert "private-counts" in member and 'id="members"' in member and "Devices" in member
    assert "/members/member-user/remove" not in member  # members see, admins change
    outsider = client.get("/organisation/city", headers=world.headers("outsider")).text
    assert "shared-counts" in outsider and 'id="members"' not in outsider
    assert client.get("/organisation/nowhere").status_code == 404


def test_admins_add_and_remove_members_but_never_the_last_admin(
    world: World, browser_client: TestClient
) -> None:
    client, admin = browser_client, world.headers("admin")
    token = csrf_of(client)
    added = client.post(
        "/organisation/city/members",
        data={"csrf": token, "username": "outsider-user", "role": "editor"},
        headers=admin,
        follow_redirects=False,
    )
    assert added.status_code == 303
    page = client.get("/organisation/city", headers=admin).text
    assert re.search(r"<th scope=\"row\">outsider-user</th><td>[^<]*</td><td>editor</td>", page)
    removed = client.post(
        "/organisation/city/members/outsider-user/remove", data={"csrf": token}, headers=admin
    )
    assert removed.status_code == 200 and "outsider-user" not in removed.text
    last = client.post(
        "/organisation/city/members/admin-user/remove", data={"csrf": token}, headers=admin
    )
    assert last.status_code == 409
    refused = client.post(
        "/organisation/city/members",
        data={"csrf": token, "username": "outsider-user", "role": "admin"},
        headers=world.headers("member"),
    )
    assert refused.status_code == 403


def test_an_organisations_title_is_text(world: World, browser_client: TestClient) -> None:
    admin = console_actor(world.site, "admin")
    organisations.update_organisation(
        world.site, admin, "city", {"title": "<script>alert(1)</script>"}
    )
    for path in ("/organisation/city", "/dataset/open-counts", "/"):
        page = browser_client.get(path).text
        assert "<script>alert" not in page and "&lt;script&gt;alert(1)" in page


def test_a_new_tokens_secret_is_shown_once_and_works(
    world: World, browser_client: TestClient
) -> None:
    client = browser_client
    add_user(world.site, "reader", role="member")
    sign_in(client, "reader")
    made = client.post(
        "/account/tokens",
        data={"csrf": csrf_of(client, "/account"), "name": "dashboard", "scopes": ["read"],
              "expires_in_days": "30"},
    )  # fmt: skip
    assert made.status_code == 200 and "only time it is shown" in made.text
    secret = re.search(r'class="secret" value="([^"]+)"', made.text)
    assert secret is not None
    bearer = {"Authorization": f"Bearer {secret.group(1)}"}
    assert client.get("/api/v1/me", headers=bearer).json()["username"] == "reader"
    account = client.get("/account").text
    assert secret.group(1) not in account and "dashboard" in account
    assert "web session" in account  # the browser's own session is a token too
    newest = max(int(found) for found in re.findall(r"/account/tokens/(\d+)/revoke", account))
    client.post(f"/account/tokens/{newest}/revoke", data={"csrf": csrf_of(client, "/account")})
    assert client.get("/api/v1/me", headers=bearer).status_code == 401
    assert "revoked" in client.get("/account").text  # still signed in: its own session lives


def test_bad_token_forms_are_refused_clearly(world: World, browser_client: TestClient) -> None:
    client = browser_client
    add_user(world.site, "reader", role="member")
    sign_in(client, "reader")
    bad = client.post(
        "/account/tokens",
        data={
            "csrf": csrf_of(client, "/account"),
            "name": "x",
            "scopes": "read",
            "expires_in_days": "soon",
        },
    )
    assert bad.status_code == 400 and "whole number of days" in bad.text
    anonymous = TestClient(client.app).post("/account/tokens", data={"name": "x"})
    assert anonymous.status_code == 403
