"""Issue 16, finding 1: no cache returns what was computed for another reader's view.

The assessors saw a grantee whose ``plate`` column is pseudonymised get another grantee's
clear plates from ``GET /dataset/permits/chart.svg`` (the chart cache was keyed by field
names and row bounds, not by the grant and its pseudonym key), and, after a new version,
one grantee get the other's pseudonyms (linkable across grants).
"""

from __future__ import annotations

import re
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import select

from cityshare.accounts.console import console_actor
from cityshare.catalogue import datasets, versions
from cityshare.site import Site
from cityshare.storage.schema import dataset_versions
from cityshare.storage.schema import datasets as datasets_table
from tests.security.conftest import Served, ServeFactory
from tests.sharing_support import add_user, in_future

PLATES = ("AB-101", "CD-202", "EF-303", "GH-404")
HEADER = "plate,zone\n"


def permits_csv(rounds: int) -> str:
    """Permits: each plate ``rounds`` times or more, half of them in the north zone."""
    lines = [
        f"{plate},{'north' if index % 2 else 'south'}"
        for index, plate in enumerate(PLATES)
        for _ in range(rounds + index)
    ]
    return HEADER + "\n".join(lines) + "\n"


def publish(served: Served, folder: Path, text: str) -> None:
    source = folder / f"permits-{len(text)}.csv"
    source.write_text(text)
    admin = console_actor(served.world.site, "admin")
    versions.publish_version(
        served.world.site, admin, "permits", source=source, media_type="text/csv"
    )


def permits_world(served: Served, folder: Path, stack: ExitStack) -> dict[str, httpx.Client]:
    """The permits dataset with ``plate`` personal, and four grantees: ``clear`` reads
    plates in the clear, ``hashed`` and ``other`` as pseudonyms (each under their own
    grant), ``north`` in the clear but only the north zone's rows."""
    site = served.world.site
    admin = console_actor(site, "admin")
    datasets.create_dataset(
        site, admin, organisation="city", name="permits", title="Permits", visibility="shared"
    )
    publish(served, folder, permits_csv(2))
    with served.client("admin") as owner:
        patched = owner.patch(
            "/api/v1/datasets/permits", json={"column_classes": {"plate": "personal"}}
        )
        assert patched.status_code == 200, patched.text
        specs: dict[str, dict[str, Any]] = {
            "clear": {},
            "hashed": {"pseudonymised": ["plate"]},
            "other": {"pseudonymised": ["plate"]},
            "north": {"row_filter": {"zone": "north"}},
        }
        clients = {}
        for name, spec in specs.items():
            headers = add_user(served.world, f"{name}-reader")
            body = {
                "user": f"{name}-reader",
                "purpose": "Testing caches",
                "expires_at": in_future(),
                "columns": ["plate", "zone"],
                **spec,
            }
            made = owner.post("/api/v1/datasets/permits/grants", json=body)
            assert made.status_code == 201, made.text
            client = httpx.Client(base_url=served.server.url, headers=headers, timeout=60)
            clients[name] = stack.enter_context(client)
    return clients


def current_table(site: Site, name: str) -> str:
    """The SQL table of dataset ``name``'s current version."""
    with site.engine.connect() as connection:
        return str(
            connection.execute(
                select(dataset_versions.c.table_name)
                .join(datasets_table, datasets_table.c.id == dataset_versions.c.dataset_id)
                .where(
                    datasets_table.c.name == name,
                    dataset_versions.c.number == datasets_table.c.current_version,
                )
            ).scalar_one()
        )


def chart_labels(client: httpx.Client) -> set[str]:
    """The labels of the bars of the permits chart as ``client`` gets it."""
    response = client.get("/dataset/permits/chart.svg")
    assert response.status_code == 200, response.text
    return {
        re.sub(r": \d+$", "", title)
        for title in re.findall(r"<title>([^<]*)</title>", response.text)[1:]
    }


def own_groups(client: httpx.Client) -> set[str]:
    """The plates (or pseudonyms) the reader's own query API gives, with their counts."""
    response = client.get(
        "/api/v1/datasets/permits/rows", params={"_group": "plate", "_agg": "count"}
    )
    assert response.status_code == 200, response.text
    return {str(group["plate"]) for group in response.json()["groups"]}


def test_a_chart_is_never_another_readers(serve: ServeFactory, tmp_path: Path) -> None:
    served = serve()
    with ExitStack() as stack:
        check_charts(served, tmp_path, permits_world(served, tmp_path, stack))


def check_charts(served: Served, folder: Path, readers: dict[str, httpx.Client]) -> None:
    """Each reader's chart is drawn from its own view, whoever asked first."""
    clear = chart_labels(readers["clear"])
    assert clear == set(PLATES)
    # The pseudonymised grantee asks after the clear one: its own pseudonyms, no plate.
    hashed = chart_labels(readers["hashed"])
    assert hashed == own_groups(readers["hashed"]) and not hashed & set(PLATES)
    # Another grant's pseudonyms are unrelated, and never served from the first's chart.
    other = chart_labels(readers["other"])
    assert other == own_groups(readers["other"]) and not other & hashed
    # Row bounds shape the chart too.
    north = chart_labels(readers["north"])
    assert north == own_groups(readers["north"]) == {PLATES[1], PLATES[3]}

    # A new version: the other grantee draws it first, then the first asks.
    publish(served, folder, permits_csv(3))
    other_again = chart_labels(readers["other"])
    hashed_again = chart_labels(readers["hashed"])
    assert other_again == other  # pseudonyms stay stable within one grant
    assert hashed_again == hashed and not hashed_again & other_again
    assert chart_labels(readers["clear"]) == set(PLATES)


def test_a_new_dataset_is_never_read_through_a_deleted_ones_table(
    serve: ServeFactory, tmp_path: Path
) -> None:
    """SQLite hands a deleted dataset's id to the next one, and with it the name of its
    first version's table: a cached table must not stand for the new one."""
    served = serve()
    site = served.world.site
    admin = console_actor(site, "admin")
    gone = tmp_path / "gone.csv"
    gone.write_text("street,count\nHigh Street,3\n")
    datasets.create_dataset(
        site, admin, organisation="city", name="gone", title="Gone", visibility="open"
    )
    versions.publish_version(site, admin, "gone", source=gone, media_type="text/csv")
    old_table = current_table(site, "gone")
    with served.client() as anonymous:
        assert anonymous.get("/api/v1/datasets/gone/rows").json()["rows"] == [
            {"street": "High Street", "count": 3}
        ]
        assert anonymous.get("/dataset/gone/chart.svg").status_code == 200
        datasets.delete_dataset(site, admin, "gone")
        datasets.create_dataset(
            site, admin, organisation="city", name="fresh", title="Fresh", visibility="open"
        )
        with served.client("admin") as owner:
            classes = {"column_classes": {"plate": "personal"}}
            assert owner.patch("/api/v1/datasets/fresh", json=classes).status_code == 200
        fresh = tmp_path / "fresh.csv"
        fresh.write_text("plate,zone\nAB-101,north\n")
        versions.publish_version(site, admin, "fresh", source=fresh, media_type="text/csv")
        if site.engine.dialect.name == "sqlite":  # the case the test is about
            assert current_table(site, "fresh") == old_table
        rows = anonymous.get("/api/v1/datasets/fresh/rows")
        assert rows.json()["rows"] == [{"zone": "north"}]
        chart = anonymous.get("/dataset/fresh/chart.svg")
        assert chart.status_code == 200 and "AB-101" not in chart.text and "High" not in chart.text
