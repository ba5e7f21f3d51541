"""Issue 16, finding 10: column classes matched exact names only.

A new version that renamed the personal column ``plate`` to ``registration`` made the plates
public. A new version that lacks a classified column is now published only with the
publisher's decision on it (``carry_classes``: the column that takes its class, or null for
dropped), on every way to publish; classes are kept by name, so an older version read with
``_version=`` keeps the classes of its columns; and grant bounds naming a column that is
gone narrow or refuse, never widen.
"""

from __future__ import annotations

import json
from typing import Any

import httpx

from tests.e2e.conftest import cityshare_env, run_cli
from tests.security.conftest import Served, ServeFactory
from tests.sharing_support import add_user, in_future
from tests.world import OWNER

DATASET = "permits"
PLATES = ["AB12CDE", "XY34ZZZ", "QQ99QQQ", "MN56OPQ"]
ROWS = f"/api/v1/datasets/{DATASET}/rows"
DATA = f"/api/v1/datasets/{DATASET}/data"


def permits_csv(plate_column: str = "plate") -> bytes:
    """A permits file whose plate column is called ``plate_column``."""
    lines = [f"{plate_column},zone"] + [f"{plate},Z{index}" for index, plate in enumerate(PLATES)]
    return ("\n".join(lines) + "\n").encode()


def open_permits(served: Served) -> None:
    """An open permits dataset whose ``plate`` column is personal."""
    with served.client("admin") as admin:
        created = admin.post(
            "/api/v1/datasets",
            json={"organisation": OWNER, "name": DATASET, "title": "Permits", "visibility": "open"},
        )
        assert created.status_code == 201, created.text
        assert put(admin, permits_csv()).status_code == 201
        classified = admin.patch(
            f"/api/v1/datasets/{DATASET}", json={"column_classes": {"plate": "personal"}}
        )
        assert classified.status_code == 200, classified.text


def put(client: httpx.Client, body: bytes, **params: str) -> httpx.Response:
    return client.put(DATA, content=body, params=params, headers={"Content-Type": "text/csv"})


def leaks(served: Served, kind: str = "anonymous", **params: str) -> bool:
    """Whether a reader of ``kind`` gets any plate from the rows, or from a CSV export."""
    with served.client(kind) as client:
        answers = [
            client.get(ROWS, params=params),
            client.get(ROWS, params={**params, "_format": "csv"}),
        ]
    for answer in answers:
        assert answer.status_code == 200, answer.text
    return any(plate in answer.text for answer in answers for plate in PLATES)


def current_version(served: Served) -> int:
    with served.client("admin") as client:
        return int(client.get(f"/api/v1/datasets/{DATASET}").json()["current_version"])


def classes(served: Served) -> dict[str, Any]:
    with served.client("admin") as client:
        found: dict[str, Any] = client.get(f"/api/v1/datasets/{DATASET}").json()["column_classes"]
    return found


def test_a_renamed_classified_column_never_becomes_public(serve: ServeFactory) -> None:
    served = serve()
    open_permits(served)
    assert not leaks(served)
    with served.client("editor") as editor:
        # The native API: refused, naming the column and the likely new name.
        refused = put(editor, permits_csv("registration"))
        assert refused.status_code == 409, refused.text
        detail = refused.json()["detail"]
        assert "'plate' (personal)" in detail and '{"plate": "registration"}' in detail
        assert current_version(served) == 1 and not leaks(served)
        # A decision that does not fit the file is refused too.
        wrong = put(editor, permits_csv("registration"), carry_classes='{"plate": "nope"}')
        assert wrong.status_code == 400, wrong.text
        # CKAN's resource_create: the same refusal.
        ckan = editor.post(
            "/api/3/action/resource_create",
            data={"package_id": DATASET, "format": "CSV"},
            files={"upload": ("permits.csv", permits_csv("registration"), "text/csv")},
        )
        assert ckan.status_code == 409, ckan.text
        assert "plate" in json.dumps(ckan.json())
    # The command line: the same refusal.
    env = cityshare_env(
        served.world.site.settings.data_dir, served.world.site.settings.database_url
    )
    env["CITYSHARE_SECRET_KEY"] = "test-secret-key"
    renamed = served.world.site.settings.data_dir / "renamed.csv"
    renamed.write_bytes(permits_csv("registration"))
    cli = run_cli(env, "publish", str(renamed), "--dataset", DATASET, "--as", "editor-user")
    assert cli.returncode != 0 and "carry" in cli.stdout + cli.stderr, cli
    assert current_version(served) == 1 and not leaks(served)

    # Said as a rename: the new column takes the class.
    carried = run_cli(
        env,
        "publish",
        str(renamed),
        "--dataset",
        DATASET,
        "--as",
        "editor-user",
        "--carry-classes",
        '{"plate": "registration"}',
    )
    assert carried.returncode == 0, carried
    assert current_version(served) == 2
    assert classes(served) == {"plate": "personal", "registration": "personal"}
    assert not leaks(served) and not leaks(served, _version="1")
    # And over the API, dropped: version 1 keeps its classes.
    with served.client("editor") as editor:
        dropped = put(editor, b"zone\nZ1\n", carry_classes='{"registration": null}')
        assert dropped.status_code == 201, dropped.text
    for version in ("1", "2", "3"):
        assert not leaks(served, _version=version)
    with served.client("admin") as admin:
        log = admin.get(f"/api/v1/datasets/{DATASET}/access-log", params={"limit": "500"})
    decisions = [
        entry["detail"].get("carry_classes")
        for entry in log.json()["entries"]
        if entry["action"] == "dataset.upload"
    ]
    assert {"registration": None} in decisions


def test_grant_bounds_on_a_renamed_column_fail_closed(serve: ServeFactory) -> None:
    served = serve()
    open_permits(served)
    add_user(served.world, "analyst")
    add_user(served.world, "filtered")
    grants = f"/api/v1/datasets/{DATASET}/grants"
    base = {"purpose": "Permit statistics", "expires_at": in_future()}
    with served.client("admin") as admin:
        for body in (
            {**base, "user": "analyst", "columns": ["zone"]},
            {**base, "user": "filtered", "row_filter": {"plate": PLATES[0]}},
        ):
            assert admin.post(grants, json=body).status_code == 201
        carried = put(admin, permits_csv("registration"), carry_classes='{"plate": "registration"}')
        assert carried.status_code == 201, carried.text
    # Columns named by the grant: still only those; the renamed column is not granted.
    assert not leaks(served, "analyst") and not leaks(served, "analyst", _version="1")
    # A row filter on a column the version lacks: refused, never dropped.
    with served.client("filtered") as client:
        assert client.get(ROWS).status_code == 403
        assert client.get(ROWS, params={"_version": "1"}).status_code == 200
