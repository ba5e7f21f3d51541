"""Values no store can hold, sent over HTTP: each is a clear 4xx, never a 500, on both
engines (a NUL in a name, ids past the columns' range, digits that are not ASCII, a
change with nothing in it)."""

from __future__ import annotations

import pytest
from starlette.testclient import TestClient

from tests.sharing_support import assert_problem, make_grant
from tests.world import OTHER, World


def test_a_nul_in_a_username_signing_in_is_a_bad_request(client: TestClient) -> None:
    sent = client.post(
        "/api/v1/auth/token", json={"username": "member-user\x00", "password": "x" * 12}
    )
    assert "NUL" in str(assert_problem(sent, 400)["detail"])


def test_a_nul_in_an_organisation_title_is_refused_and_nothing_changes(
    client: TestClient, world: World
) -> None:
    headers = world.headers("admin")
    before = client.get("/api/v1/organisations/city").json()
    sent = client.patch("/api/v1/organisations/city", json={"title": "A\x00B"}, headers=headers)
    assert_problem(sent, 400)
    assert client.get("/api/v1/organisations/city").json() == before


@pytest.mark.parametrize("token_id", [2**31, 2**63, 2**80])
def test_a_token_id_past_the_range_is_not_found(
    client: TestClient, world: World, token_id: int
) -> None:
    sent = client.delete(f"/api/v1/tokens/{token_id}", headers=world.headers("admin"))
    assert_problem(sent, 404)


@pytest.mark.parametrize("version", ["³", "²5", "٣"])
def test_a_version_of_other_digits_is_a_bad_request(
    client: TestClient, world: World, version: str
) -> None:
    sent = client.get(
        f"/api/v1/datasets/{world.datasets['open']}/rows", params={"_version": version}
    )
    assert "_version" in str(assert_problem(sent, 400)["detail"])


def test_an_empty_change_of_a_grant_changes_nothing(client: TestClient, world: World) -> None:
    dataset = world.datasets["shared"]
    made = make_grant(client, world, dataset, organisation=OTHER)
    url = f"/api/v1/datasets/{dataset}/grants/{made['id']}"
    sent = client.patch(url, json={}, headers=world.headers("admin"))
    assert sent.status_code == 200, sent.text
    assert sent.json() == client.get(url, headers=world.headers("admin")).json()
