"""``cityshare harvest`` in process: its table, its JSON, its errors and exit statuses."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cityshare.accounts import organisations
from cityshare.accounts.console import console_actor, initialise
from cityshare.cli.app import app
from cityshare.errors import CityshareError
from cityshare.site import Site
from tests.harvest.fake_sources import FakeCkan, fake_ckan
from tests.world import make_site

ENV = {"CITYSHARE_SECRET_KEY": "test-secret-key"}


@pytest.fixture
def site(database_url: str, tmp_path: Path) -> Iterator[Site]:
    opened = make_site(database_url, tmp_path)
    initialise(opened, "admin")
    organisations.create_organisation(
        opened, console_actor(opened, "admin"), name="mirror", title="Mirror"
    )
    yield opened
    opened.close()


@pytest.fixture
def source() -> Iterator[FakeCkan]:
    with fake_ckan() as ckan:
        ckan.add("roads", csv="segment,lanes\nA1,2\n")
        ckan.add("[bold]markup", csv="a\n1\n")  # becomes the name bold-markup
        ckan.add("unreachable", csv="a\n1\n")
        ckan.packages["unreachable"]["resources"][0]["url"] = "http://169.254.169.254/data.csv"
        yield ckan


def harvest(site: Site, *args: str) -> tuple[int, str]:
    """Run ``cityshare harvest ARGS`` on ``site``: the exit status and the output."""
    options = ["--data-dir", str(site.settings.data_dir)]
    options += ["--database-url", site.settings.resolved_database_url()]
    done = CliRunner().invoke(app, [*options, "harvest", *args, "--org", "mirror"], env=ENV)
    return done.exit_code, done.output


def test_the_table_and_the_exit_status(site: Site, source: FakeCkan) -> None:
    status, output = harvest(site, source.url, "--allow-private-addresses")
    assert status == 3, output  # one dataset failed; the others were harvested
    assert "roads" in output and "bold-markup" in output and "created" in output
    assert "Refused" in output and "link-local" in output
    assert f"Harvested {source.url} (ckan) into mirror: 2 created" in output
    assert "1 failed" in output
    status, output = harvest(site, source.url, "--allow-private-addresses", "--json")
    summary = json.loads(output)
    assert status == 3 and summary["counts"]["unchanged"] == 2 and summary["complete"]


def test_errors_before_the_run(site: Site, source: FakeCkan) -> None:
    status, output = harvest(site, source.url)
    assert status == 1 and "127.0.0.1 is a loopback address" in output
    assert "pass --allow-private-addresses" in output
    status, output = harvest(site, source.url, "--type", "wfs", "--allow-private-addresses")
    assert status == 1 and "Unknown source type 'wfs'" in output
    status, output = harvest(site, "gopher://example.org/", "--allow-private-addresses")
    assert status == 1 and "the scheme 'gopher' is not allowed" in output
    assert source.seen.requests == []


def test_publishing_a_file_of_unknown_extension_lists_the_extensions(
    site: Site, tmp_path: Path
) -> None:
    notes = tmp_path / "counts.txt"
    notes.write_text("junction,cars\nJ1,1\n")
    options = ["--data-dir", str(site.settings.data_dir)]
    options += ["--database-url", site.settings.resolved_database_url()]
    args = [*options, "publish", str(notes), "--dataset", "notes", "--org", "mirror"]
    done = CliRunner().invoke(app, args, env=ENV)
    # run_cli (the console script) prints a CityshareError's detail as one line.
    assert isinstance(done.exception, CityshareError) and done.exit_code != 0
    detail = done.exception.detail
    assert "counts.txt" in detail and ".csv, .tsv" in detail
    assert "Rename the file." in detail and "text/csv" not in detail
