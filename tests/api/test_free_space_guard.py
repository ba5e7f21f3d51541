"""The free-space guard of uploads and what a full disk answers (issue 17, part 3).

The guard's arithmetic and the classification of a full disk are checked directly, on
real errors: an ``OSError`` as the kernel reports it, SQLite's own ``SQLITE_FULL`` (a
database capped with ``max_page_count``), and PostgreSQL's SQLSTATE 53100 raised by a
real server. Then every upload route (the API, CKAN's ``resource_create``, the publish
page) is sent to a site whose guard asks for more free space than any disk has: each
answers 507 before storing a byte, and nothing changes. A real disk that fills up is
``tests/faults/test_full_disk.py``.
"""

from __future__ import annotations

import errno
import shutil
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, event, text
from sqlalchemy.exc import OperationalError
from starlette.testclient import TestClient

from cityshare.app import create_app
from cityshare.config import Limits
from cityshare.errors import InsufficientStorage
from cityshare.http.problems import store_error_response
from cityshare.runtime import Runtime
from cityshare.storage.space import (
    CHECK_EVERY_BYTES,
    SpaceGuard,
    disk_full_refused,
    is_disk_full,
    leaves_room,
    space_guard,
)
from tests.conftest import ENGINES, skip_or_fail, store_url
from tests.web.test_account import csrf_of
from tests.world import SAMPLE_CSV, World, build_world, make_site

NEVER_ENOUGH = 2**62  # more free bytes than any disk has: the guard refuses every upload
MiB = 1024**2


# --- the arithmetic ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("free", "declared", "min_free", "fits"),
    [
        (10 * MiB, 4 * MiB, 6 * MiB, True),  # exactly the minimum left
        (10 * MiB, 4 * MiB + 1, 6 * MiB, False),  # one byte over
        (10 * MiB, 0, 11 * MiB, False),  # already under the minimum
        (10 * MiB, 20 * MiB, 0, True),  # 0: no guard
        (0, 0, 1, False),
    ],
)
def test_an_upload_fits_when_it_leaves_the_minimum_free(
    free: int, declared: int, min_free: int, fits: bool
) -> None:
    assert leaves_room(free, declared, min_free) is fits


def test_the_guard_measures_the_real_disk(tmp_path: Path) -> None:
    free = shutil.disk_usage(tmp_path).free
    half = free // 2
    guard = SpaceGuard(min_free=half, folders=(tmp_path,))
    guard.check(declared=half - 256 * MiB)  # fits, whatever else writes meanwhile
    guard.check(declared=None)
    with pytest.raises(InsufficientStorage) as refused:
        guard.check(declared=half + 256 * MiB)
    assert refused.value.status == 507
    assert "CITYSHARE_LIMIT_MIN_FREE_BYTES" in refused.value.detail
    SpaceGuard(min_free=0, folders=(tmp_path,)).check(declared=10 * free)  # off


def test_a_spool_without_a_length_is_stopped_once_past_the_guard(tmp_path: Path) -> None:
    meter = SpaceGuard(min_free=NEVER_ENOUGH, folders=(tmp_path,)).meter()
    meter.wrote(CHECK_EVERY_BYTES - 1)  # not checked yet: one statvfs per few MiB
    with pytest.raises(InsufficientStorage) as stopped:
        meter.wrote(1)
    assert "stopped" in stopped.value.detail
    unguarded = SpaceGuard(min_free=0, folders=(tmp_path,)).meter()
    unguarded.wrote(10 * CHECK_EVERY_BYTES)


def test_the_guard_watches_each_disk_once(tmp_path: Path) -> None:
    same = space_guard(MiB, tmp_path / "data", f"sqlite:///{tmp_path / 'data' / 'c.db'}")
    assert same.folders == (tmp_path / "data" / "uploads",)
    server = space_guard(MiB, tmp_path, "postgresql+psycopg://h/db")
    assert server.folders == (tmp_path / "uploads",)  # the server's disk is not ours to see
    shm = Path("/dev/shm")
    if shm.is_dir() and shm.stat().st_dev != tmp_path.stat().st_dev:
        apart = space_guard(MiB, tmp_path, f"sqlite:///{shm / 'c.db'}")
        assert apart.folders == (tmp_path / "uploads", shm)


# --- a full disk told from other failures -----------------------------------------------


def test_the_kernel_saying_the_disk_is_full() -> None:
    assert is_disk_full(OSError(errno.ENOSPC, "No space left on device"))
    assert is_disk_full(OSError(errno.EDQUOT, "Disk quota exceeded"))
    assert not is_disk_full(OSError(errno.EACCES, "Permission denied"))
    assert not is_disk_full(ValueError("bad value"))
    try:
        try:
            raise OSError(errno.ENOSPC, "No space left on device")
        except OSError as full:
            raise RuntimeError("while writing the spool") from full
    except RuntimeError as wrapped:
        assert is_disk_full(wrapped)


def _full_sqlite(path: Path) -> sqlite3.Connection:
    connection = sqlite3.connect(path)
    connection.execute("CREATE TABLE t (x BLOB)")
    connection.commit()
    connection.execute("PRAGMA max_page_count = 3")  # the file may grow no further
    return connection


def test_sqlite_saying_the_database_is_full(tmp_path: Path) -> None:
    connection = _full_sqlite(tmp_path / "full.db")
    with pytest.raises(sqlite3.OperationalError) as full:
        connection.execute("INSERT INTO t VALUES (zeroblob(100000))")
    connection.close()
    assert full.value.sqlite_errorcode == 13  # SQLITE_FULL: a real one, not a message
    assert is_disk_full(full.value)
    locked = sqlite3.OperationalError("database is locked")
    assert not is_disk_full(locked)


def test_sqlite_through_sqlalchemy_is_a_507(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite:///{tmp_path / 'full.db'}")

    @event.listens_for(engine, "connect")
    def _cap(connection: Any, record: Any) -> None:
        connection.execute("PRAGMA max_page_count = 3")

    with engine.begin() as connection:
        connection.execute(text("CREATE TABLE t (x BLOB)"))
    try:
        with engine.begin() as connection:
            connection.execute(text("INSERT INTO t VALUES (zeroblob(100000))"))
    except OperationalError as error:
        assert is_disk_full(error)
        answer = store_error_response(error, "PUT", "/api/v1/datasets/x/data")
    else:
        pytest.fail("the capped database took the row")
    finally:
        engine.dispose()
    assert answer.status_code == 507
    assert answer.headers["content-type"] == "application/problem+json"
    assert b"insufficient-storage" in answer.body and b"nothing was changed" in answer.body


def test_postgresql_saying_the_disk_is_full(postgres_database: str | None) -> None:
    """PostgreSQL's own error (SQLSTATE 53100, psycopg's DiskFull), raised by a real
    server in a DO block: a tablespace actually filling up is the fault test's."""
    if postgres_database is None:
        skip_or_fail("PostgreSQL is not reachable at CITYSHARE_TEST_POSTGRES_URL")
        return
    engine = create_engine(postgres_database)
    raising = "DO $$ BEGIN RAISE EXCEPTION 'out of room' USING ERRCODE = '{}'; END $$"
    try:
        with engine.connect() as connection, pytest.raises(OperationalError) as full:
            connection.execute(text(raising.format("disk_full")))
        with engine.connect() as connection, pytest.raises(OperationalError) as memory:
            connection.execute(text(raising.format("out_of_memory")))  # 53200: not the disk
    finally:
        engine.dispose()
    assert type(full.value.orig).__name__ == "DiskFull"
    assert is_disk_full(full.value)
    assert not is_disk_full(memory.value)


def test_a_full_disk_in_a_block_becomes_a_507_and_others_pass() -> None:
    with pytest.raises(InsufficientStorage) as refused, disk_full_refused():
        raise OSError(errno.ENOSPC, "No space left on device")
    assert "nothing was changed" in refused.value.detail
    assert "administrators" in refused.value.detail
    with pytest.raises(OSError, match="Permission"), disk_full_refused():
        raise OSError(errno.EACCES, "Permission denied")


# --- every upload route, before a byte is stored ------------------------------------------


@pytest.fixture(scope="module", params=ENGINES)
def guarded(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    postgres_database: str | None,
) -> Iterator[tuple[World, TestClient]]:
    """A populated site whose guard wants more free space than there is."""
    folder: Path = tmp_path_factory.mktemp("guarded")
    with store_url(request.param, folder, postgres_database) as url:
        site = make_site(url, folder / "data", limits=Limits(min_free_bytes=NEVER_ENOUGH))
        world = build_world(site, folder)
        with TestClient(create_app(Runtime(site)), raise_server_exceptions=False) as client:
            yield world, client
        site.close()


def _unchanged(world: World, client: TestClient, name: str) -> None:
    admin = world.headers("admin")
    described = client.get(f"/api/v1/datasets/{name}", headers=admin).json()
    assert described["current_version"] == 1
    rows = client.get(f"/api/v1/datasets/{name}/rows", headers=admin).json()["rows"]
    assert len(rows) == 3
    assert list((world.site.settings.data_dir / "uploads").glob("*")) == []


def _is_disk_full_problem(answer: Any) -> None:
    assert answer.status_code == 507, answer.text
    problem = answer.json()
    assert problem["type"].endswith("/insufficient-storage")
    assert "CITYSHARE_LIMIT_MIN_FREE_BYTES" in problem["detail"]
    assert "Nothing was read or changed" in problem["detail"]


def test_an_upload_is_refused_before_its_body(guarded: tuple[World, TestClient]) -> None:
    world, client = guarded
    sent = client.put(
        "/api/v1/datasets/private-counts/data",
        content=b"a,b\n1,2\n",
        headers={**world.headers("editor"), "Content-Type": "text/csv"},
    )
    _is_disk_full_problem(sent)
    chunked = client.put(  # no Content-Length: refused on what is free now
        "/api/v1/datasets/private-counts/data",
        content=iter([b"a,b\n", b"1,2\n"]),
        headers={**world.headers("editor"), "Content-Type": "text/csv"},
    )
    _is_disk_full_problem(chunked)
    _unchanged(world, client, "private-counts")


def test_the_guard_comes_after_the_access_check(guarded: tuple[World, TestClient]) -> None:
    world, client = guarded
    headers = {"Content-Type": "text/csv"}
    anonymous = client.put(
        "/api/v1/datasets/private-counts/data", content=b"a\n1\n", headers=headers
    )
    assert anonymous.status_code in (401, 404)
    outsider = client.put(
        "/api/v1/datasets/private-counts/data",
        content=b"a\n1\n",
        headers={**headers, **world.headers("outsider")},
    )
    assert outsider.status_code == 404  # not told about the disk of a site it cannot write to
    made = client.post(  # other writes are not uploads: no guard
        "/api/v1/organisations",
        json={"name": "roads", "title": "Roads"},
        headers=world.headers("siteadmin"),
    )
    assert made.status_code == 201, made.text


def test_ckan_resource_create_is_refused_before_its_file(
    guarded: tuple[World, TestClient],
) -> None:
    world, client = guarded
    sent = client.post(
        "/api/action/resource_create",
        data={"package_id": "private-counts"},
        files={"upload": ("counts.csv", SAMPLE_CSV.encode(), "text/csv")},
        headers={"Authorization": world.tokens["editor"]},
    )
    assert sent.status_code == 507, sent.text
    error = sent.json()["error"]
    assert error["__type"] == "Insufficient storage"
    assert "CITYSHARE_LIMIT_MIN_FREE_BYTES" in error["message"]
    _unchanged(world, client, "private-counts")


def test_the_publish_page_says_the_disk_is_full(guarded: tuple[World, TestClient]) -> None:
    world, client = guarded
    headers = world.headers("editor")
    form = {"csrf": csrf_of(client), "organisation": "city", "name": "new-counts", "title": "",
            "visibility": "private"}  # fmt: skip
    sent = client.post(
        "/publish",
        data=form,
        files={"file": ("counts.csv", SAMPLE_CSV.encode(), "text/csv")},
        headers=headers,
        follow_redirects=False,
    )
    assert sent.status_code == 507
    assert sent.headers["content-type"].startswith("text/html")
    assert "disk is too full" in sent.text and "administrators" in sent.text
    assert 'name="organisation"' in sent.text  # the form again, to send once there is room
    assert client.get("/api/v1/datasets/new-counts", headers=headers).status_code == 404
    assert list((world.site.settings.data_dir / "uploads").glob("review-*")) == []
