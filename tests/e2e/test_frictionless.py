"""``frictionless validate`` accepts a dataset's Data Package, data included, over HTTP."""

from __future__ import annotations

from pathlib import Path

import frictionless
import httpx

from tests.e2e.conftest import Server, run_cli_here

CSV = (
    "station,measured_at,no2,open,site_date\n"
    "A1,2024-03-04T08:00:00Z,41.5,true,2024-03-04\n"
    "B2,2024-03-04T09:00:00Z,38,false,2024-03-05\n"
    "C3,2024-03-04T10:00:00Z,,true,2024-03-06\n"
)


def test_frictionless_validates_the_package_and_its_rows(server: Server, tmp_path: Path) -> None:
    source = tmp_path / "air.csv"
    source.write_text(CSV)
    assert run_cli_here(server.env, "init").returncode == 0
    assert run_cli_here(server.env, "org", "create", "city", "--title", "City").returncode == 0
    published = run_cli_here(
        server.env,
        "publish",
        str(source),
        "--dataset",
        "air",
        "--org",
        "city",
        "--visibility",
        "open",
    )
    assert published.returncode == 0, published.stdout + published.stderr
    url = f"{server.url}/api/v1/datasets/air/datapackage.json"
    assert httpx.get(url).status_code == 200
    report = frictionless.validate(url)
    assert report.valid, report.flatten(["type", "note"])
    assert report.stats["tasks"] == 1
    assert report.tasks[0].stats["rows"] == 3
    # A package whose data breaks its schema is reported: the check can fail.
    broken = httpx.get(url).json()
    broken["resources"][0]["schema"]["fields"][2]["type"] = "integer"
    assert not frictionless.validate(broken).valid
