"""A new user's first session against a real ``cityshare serve`` process."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import httpx
import pytest

from tests.e2e.conftest import Server, run_cli

pytestmark = pytest.mark.e2e

COUNTS = (
    "station,measured_at,no2,longitude,latitude\n"
    "S1,2024-04-01T00:00:00Z,21.5,-1.55,53.80\n"
    "S1,2024-04-01T01:00:00Z,19.0,-1.55,53.80\n"
    "S2,2024-04-01T00:00:00Z,33.25,-1.50,53.82\n"
    "S2,2024-04-01T01:00:00Z,=cmd|' /C calc'!A0,-1.50,53.82\n"
)


def test_first_session_over_http(server: Server) -> None:
    init = run_cli(server.env, "init", "--json")
    assert init.returncode == 0, init.stderr
    admin = {"Authorization": f"Bearer {json.loads(init.stdout)['admin_token']}"}
    with httpx.Client(base_url=server.url, headers=admin, timeout=30) as http:
        assert (
            http.post(
                "/api/v1/organisations", json={"name": "env-agency", "title": "Env Agency"}
            ).status_code
            == 201
        )
        assert http.post("/api/v1/users", json={"username": "erin"}).status_code == 201
        assert (
            http.put(
                "/api/v1/organisations/env-agency/members/erin", json={"role": "editor"}
            ).status_code
            == 200
        )
        token = http.post("/api/v1/tokens", json={"username": "erin", "scopes": ["write"]}).json()[
            "token"
        ]
    erin = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=server.url, headers=erin, timeout=30) as http:
        created = http.post(
            "/api/v1/datasets",
            json={"name": "no2", "organisation": "env-agency", "title": "NO2"},
        )
        assert created.status_code == 201, created.text
        bad = http.put(
            "/api/v1/datasets/no2/data",
            content=COUNTS.encode(),
            headers={"Content-Type": "text/csv"},
        )
        assert bad.status_code == 201, bad.text  # the formula cell makes no2 a string column
        rows = http.get("/api/v1/datasets/no2/rows", params={"station": "S2"}).json()["rows"]
        assert [row["station"] for row in rows] == ["S2", "S2"]
        exported = http.get("/api/v1/datasets/no2/rows", params={"_format": "csv"}).text
        cells = [row[2] for row in csv.reader(io.StringIO(exported))]
        assert "'=cmd|' /C calc'!A0" in cells
        geo = http.get(
            "/api/v1/datasets/no2/rows",
            params={"_format": "geojson", "bbox": "-1.6,53.79,-1.54,53.81"},
        ).json()
        assert geo["type"] == "FeatureCollection" and len(geo["features"]) == 2
    # Private by default: anonymous visitors cannot tell it exists.
    assert httpx.get(f"{server.url}/api/v1/datasets/no2").status_code == 404


def test_cli_publish_then_query_over_http(server: Server, tmp_path: Path) -> None:
    assert run_cli(server.env, "init").returncode == 0
    assert run_cli(server.env, "org", "create", "transport", "--title", "Transport").returncode == 0
    source = tmp_path / "counts.csv"
    source.write_text("junction,cars\nJ1,10\nJ2,20\n")
    published = run_cli(
        server.env,
        "publish",
        str(source),
        "--dataset",
        "counts",
        "--org",
        "transport",
        "--visibility",
        "open",
    )
    assert published.returncode == 0, published.stdout + published.stderr
    assert "2 rows" in published.stdout
    rows = httpx.get(f"{server.url}/api/v1/datasets/counts/rows?cars__gt=15").json()["rows"]
    assert rows == [{"junction": "J2", "cars": 20}]
    failed = run_cli(server.env, "publish", str(source), "--dataset", "missing")
    assert failed.returncode == 1 and "--org" in failed.stdout
    assert "Traceback" not in failed.stdout + failed.stderr
