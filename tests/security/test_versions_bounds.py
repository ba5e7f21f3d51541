"""Issue 16, finding 9: whole-table figures only as far as the reader's bounds allow.

The assessors saw ``GET /api/v1/datasets/{name}/versions`` tell a row-filtered grantee
the whole table's ``row_count``, ``sha256`` and ``byte_size``.
"""

from __future__ import annotations

import re
from typing import Any

import httpx

from tests.security.conftest import Served, ServeFactory
from tests.sharing_support import COLUMNS, add_user, in_future

FIGURES = {"row_count", "byte_size", "sha256"}
SHARED = "shared-counts"


def grantee(served: Served, username: str, **spec: Any) -> httpx.Client:
    """A user holding a grant on the shared dataset with ``spec``, as an HTTP client."""
    headers = add_user(served.world, username)
    body = {"user": username, "purpose": "Testing figures", "expires_at": in_future(), **spec}
    with served.client("admin") as owner:
        made = owner.post(f"/api/v1/datasets/{SHARED}/grants", json=body)
        assert made.status_code == 201, made.text
    return httpx.Client(base_url=served.server.url, headers=headers, timeout=60)


def figures(client: httpx.Client, name: str) -> tuple[set[str], set[str]]:
    """The figures in the versions list and in version 1, as ``client`` gets them."""
    listed = client.get(f"/api/v1/datasets/{name}/versions")
    single = client.get(f"/api/v1/datasets/{name}/versions/1")
    assert listed.status_code == single.status_code == 200, (listed.text, single.text)
    return set(listed.json()[0]) & FIGURES, set(single.json()) & FIGURES


def everything_said(client: httpx.Client, name: str) -> str:
    """Every answer about the dataset a catalogue client reads, together."""
    paths = [
        f"/api/v1/datasets/{name}",
        f"/api/v1/datasets/{name}/versions",
        f"/api/v1/datasets/{name}/versions/1",
        f"/api/v1/datasets/{name}/datapackage.json",
        f"/datasets/{name}.ttl",
        f"/datasets/{name}.jsonld",
        f"/api/3/action/package_show?id={name}",
        f"/dataset/{name}",
    ]
    answers = [client.get(path) for path in paths]
    assert all(answer.status_code == 200 for answer in answers), [a.status_code for a in answers]
    return "\n".join(answer.text for answer in answers)


def versions_rows_cell(page: str) -> str:
    """The Rows cell of the first line of the dataset page's versions table."""
    found = re.search(
        r'<section aria-labelledby="versions-title">.*?<tbody>\s*<tr>(.*?)</tr>', page, re.S
    )
    assert found is not None
    return str(re.findall(r"<td>(.*?)</td>", found.group(1), re.S)[1])


def test_a_row_filtered_grantee_gets_no_whole_table_figures(serve: ServeFactory) -> None:
    served = serve()
    with served.client("admin") as owner:
        whole = owner.get(f"/api/v1/datasets/{SHARED}/versions").json()[0]
        assert whole["row_count"] == 3 and set(whole) >= FIGURES
        assert versions_rows_cell(owner.get(f"/dataset/{SHARED}").text) == "3"
    with grantee(served, "north-reader", row_filter={"junction": "J1"}) as north:
        assert figures(north, SHARED) == (set(), set())
        said = everything_said(north, SHARED)
        assert whole["sha256"] not in said and str(whole["byte_size"]) not in said
        assert versions_rows_cell(north.get(f"/dataset/{SHARED}").text) == ""
        counted = north.get(f"/api/v1/datasets/{SHARED}/rows", params={"_count": "true"})
        assert counted.json()["total"] == 2  # what they may know: their own rows
    # Columns bounded, rows not: the row count, but not the file's hash or size.
    with grantee(served, "hashed-reader", columns=COLUMNS, pseudonymised=["junction"]) as hashed:
        assert figures(hashed, SHARED) == ({"row_count"}, {"row_count"})
        assert whole["sha256"] not in everything_said(hashed, SHARED)
    with grantee(served, "plain-reader") as plain:
        assert figures(plain, SHARED) == (FIGURES, FIGURES)
    # Someone who may see the dataset but not read it: none of it.
    with served.client("outsider") as outsider:
        assert figures(outsider, SHARED) == (set(), set())


def test_readers_of_open_data_get_figures_of_what_they_read(serve: ServeFactory) -> None:
    served = serve()
    with served.client() as anonymous:
        assert figures(anonymous, "open-counts") == (FIGURES, FIGURES)
        with served.client("admin") as owner:
            classes = {"column_classes": {"note": "personal"}}
            assert owner.patch("/api/v1/datasets/open-counts", json=classes).status_code == 200
        assert figures(anonymous, "open-counts") == ({"row_count"}, {"row_count"})
