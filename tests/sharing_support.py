"""Helpers for the sharing tests: grantee users, grants made over HTTP, problem checks."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
from httpx2 import Response
from sqlalchemy import func, select
from starlette.testclient import TestClient

from cityshare.access.actor import ALL_SCOPES
from cityshare.accounts import organisations, tokens, users
from cityshare.accounts.console import console_actor
from cityshare.site import Site
from cityshare.storage.schema import access_requests, grants
from tests.world import World

PROBLEM = "application/problem+json"
COLUMNS = ["junction", "counted_at", "cars", "speed", "note"]
DAY = 86_400.0


def rfc3339(moment: datetime) -> str:
    """``moment`` (aware) as RFC 3339 in UTC with a ``Z``, to the second."""
    return moment.astimezone(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def in_future(seconds: float = 30 * DAY) -> str:
    """An RFC 3339 time ``seconds`` from now."""
    return rfc3339(datetime.now(UTC) + timedelta(seconds=seconds))


def add_user(
    world: World, username: str, organisation: str | None = None, role: str = "member"
) -> dict[str, str]:
    """A new user (a member of ``organisation`` when given) and its all-scopes token headers."""
    admin = console_actor(world.site, "admin")
    users.create_user(world.site, admin, username=username)
    if organisation is not None:
        organisations.set_member(world.site, admin, organisation, username, role)
    token = tokens.create_token(world.site, admin, username=username, scopes=ALL_SCOPES).token
    world.tokens[username] = token
    return {"Authorization": f"Bearer {token}"}


def grant_url(dataset: str, grant_id: int | None = None) -> str:
    """The grants collection of ``dataset``, or one grant."""
    base = f"/api/v1/datasets/{dataset}/grants"
    return base if grant_id is None else f"{base}/{grant_id}"


def rows_url(dataset: str) -> str:
    """The rows (query) route of ``dataset``."""
    return f"/api/v1/datasets/{dataset}/rows"


def make_grant(client: TestClient, world: World, dataset: str, **spec: Any) -> dict[str, Any]:
    """Grant ``dataset`` as the owner's admin (defaults: a purpose and 30 days); the grant."""
    body = {"purpose": "Testing the sharing feature", "expires_at": in_future(), **spec}
    response = client.post(grant_url(dataset), json=body, headers=world.headers("admin"))
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


def assert_problem(response: Response, status: int) -> dict[str, Any]:
    """Check ``response`` is a problem+json of ``status``; its body."""
    assert response.status_code == status, (status, response.status_code, response.text[:500])
    assert response.headers["content-type"].startswith(PROBLEM), response.headers
    body: dict[str, Any] = response.json()
    assert body["status"] == status and body["detail"]
    return body


def row_keys(response: Response) -> set[str]:
    """Every key of every row of a JSON rows answer (which must be a 200)."""
    assert response.status_code == 200, response.text
    return {key for row in response.json()["rows"] for key in row}


def csv_records(response: Response) -> list[list[str]]:
    """A CSV export as rows of cells, the header first."""
    assert response.status_code == 200, response.text
    return list(csv.reader(io.StringIO(response.text)))


def ndjson_records(response: Response) -> list[dict[str, Any]]:
    """An NDJSON export as objects."""
    assert response.status_code == 200, response.text
    return [orjson.loads(line) for line in response.text.splitlines() if line]


def count_grants(site: Site) -> int:
    """How many grants the store holds."""
    with site.engine.connect() as connection:
        return int(connection.execute(select(func.count()).select_from(grants)).scalar_one())


def count_requests(site: Site) -> int:
    """How many access requests the store holds."""
    with site.engine.connect() as connection:
        return int(
            connection.execute(select(func.count()).select_from(access_requests)).scalar_one()
        )
