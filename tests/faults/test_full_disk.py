"""A full disk (issue 17, parts 3 and 5): a real ``cityshare serve`` whose data folder —
SQLite store and upload spool — is a small tmpfs the test mounts (CI runs as root; the
tests skip elsewhere, and fail under ``CITYSHARE_REQUIRE_SERVICES=1``).

- An upload bigger than the free space answers 507 (not 500 "Something went wrong"); the
  previous version is still served, and no spool file is left behind.
- An upload whose declared length crosses the free-space guard is refused before its body
  is read; one without a declared length is stopped as it spools.
- The database itself full (a ballast file takes the rest of the disk): a write answers
  507, reads go on, and once the ballast is gone writes work again.
- The same on PostgreSQL, with the store's tables in a tablespace on the tmpfs.
"""

from __future__ import annotations

import os
import pwd
import secrets
import shutil
import socket
import sqlite3
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from cityshare.mqtt.batches import process_group
from cityshare.mqtt.broker import readings_topic
from cityshare.mqtt.messages import Delivery
from cityshare.streams.client import batch_body, mqtt_payload
from cityshare.streams.ingest import Ingestion
from tests.conftest import skip_or_fail
from tests.e2e.conftest import cityshare_env, free_port, wait_until_up
from tests.world import World, build_world, make_site

pytestmark = pytest.mark.e2e

MiB = 1024**2
DATASET = "private-counts"
UPLOAD = f"/api/v1/datasets/{DATASET}/data"


# --- a small disk --------------------------------------------------------------------------


def _run(*command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)


@contextmanager
def small_disk(folder: Path, size_mib: int, owner: str | None = None) -> Iterator[Path]:
    """A tmpfs of ``size_mib`` MiB mounted on ``folder`` (owned by ``owner``), unmounted
    afterwards whatever happened."""
    folder.mkdir(parents=True, exist_ok=True)
    mounted = _run(
        "mount", "-t", "tmpfs", "-o", f"size={size_mib}m,mode=0755", "tmpfs", str(folder)
    )
    if mounted.returncode != 0:
        skip_or_fail(f"cannot mount a tmpfs (root needed): {mounted.stderr.strip()}")
    try:
        if owner is not None:
            record = pwd.getpwnam(owner)
            os.chown(folder, record.pw_uid, record.pw_gid)
            folder.chmod(0o700)
        yield folder
    finally:
        if _run("umount", str(folder)).returncode != 0:
            _run("umount", "-l", str(folder))  # busy: detached now, freed when let go


def free_on(folder: Path) -> int:
    """Bytes free on the disk of ``folder``."""
    return shutil.disk_usage(folder).free


def fill(folder: Path, leave: int = 0) -> Path:
    """A ballast file that takes all the free space of ``folder``'s disk but ``leave``."""
    ballast = folder / f"ballast-{secrets.token_hex(4)}"
    with ballast.open("wb") as handle:
        while (room := free_on(folder) - leave) > 0:
            try:
                handle.write(b"\0" * min(room, MiB))
                handle.flush()
            except OSError:
                break
    return ballast


# --- a server on it --------------------------------------------------------------------------


@dataclass
class Served:
    """A populated store on the small disk, served by ``cityshare serve``."""

    world: World
    url: str
    data_dir: Path
    log: Path
    process: subprocess.Popen[bytes]

    def client(self, kind: str = "editor") -> httpx.Client:
        """A client of the server as one actor of the world."""
        return httpx.Client(base_url=self.url, headers=self.world.headers(kind), timeout=60)

    def spooled(self) -> list[str]:
        """Upload spool files left in the data folder."""
        return [p.name for p in (self.data_dir / "uploads").glob("upload-*")]

    def logged(self) -> str:
        """What the server wrote to its log so far."""
        return self.log.read_text(errors="replace")


@contextmanager
def serve_on(
    disk: Path, folder: Path, database_url: str | None, **environment: str
) -> Iterator[Served]:
    """Build the world with its store on ``database_url`` (default: SQLite on ``disk``)
    and its data folder on ``disk``, then serve it with ``environment``."""
    data_dir = disk / "data"
    url = database_url or f"sqlite:///{data_dir / 'cityshare.db'}"
    site = make_site(url, data_dir)
    try:
        world = build_world(site, folder)
        world.runtime.finish_background_work()
    finally:
        site.close()
    env = cityshare_env(data_dir, url)
    env.update({"CITYSHARE_SECRET_KEY": "test-secret-key", **environment})
    port, log = free_port(), folder / "server.log"
    with log.open("wb") as output:
        process = subprocess.Popen(
            [sys.executable, "-m", "cityshare", "serve", "--port", str(port)],
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    served = Served(world, f"http://127.0.0.1:{port}", data_dir, log, process)
    try:
        wait_until_up(f"{served.url}/api/v1", process)
        yield served
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=30)


@dataclass
class Answer:
    """An HTTP answer read off a raw socket."""

    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return orjson.loads(self.body)


def raw_request(url: str, head: str, body: Iterator[bytes] | None = None) -> Answer:
    """Send ``head`` (request line and headers), then ``body`` from another thread, and
    read the answer as soon as it comes: the server may answer before reading the body,
    or stop reading it, so the sending must not hold up the reading."""
    host, port = url.removeprefix("http://").split(":")
    connection = socket.create_connection((host, int(port)), timeout=60)

    def send_body() -> None:
        with suppress(OSError):
            for chunk in body or ():
                connection.sendall(chunk)

    with connection:
        connection.sendall(head.encode("latin-1"))
        sender = threading.Thread(target=send_body, daemon=True)
        sender.start()
        answer = _read_answer(connection)
        connection.shutdown(socket.SHUT_RDWR)
    sender.join(timeout=60)
    return answer


def _read_answer(connection: socket.socket) -> Answer:
    received = b""
    while b"\r\n\r\n" not in received:
        chunk = connection.recv(65536)
        assert chunk, f"the server closed the connection without an answer: {received!r}"
        received += chunk
    head, _, body = received.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
    length = int(headers.get("content-length", "0"))
    while len(body) < length:
        chunk = connection.recv(65536)
        if not chunk:
            break
        body += chunk
    return Answer(int(lines[0].split()[1]), headers, body)


def csv_rows(size: int) -> Iterator[bytes]:
    """A CSV of about ``size`` bytes for the sample's columns, in 1 MiB pieces."""
    yield b"junction,counted_at,cars,speed,note\n"
    line = b"J9,2024-03-04T08:00:00Z,120,31.5,a note long enough to fill the disk a little faster\n"
    block = line * (MiB // len(line))
    sent = 0
    while sent < size:
        yield block
        sent += len(block)


def upload_head(served: Served, length: int | None) -> str:
    sized = (
        f"Content-Length: {length}\r\n" if length is not None else "Transfer-Encoding: chunked\r\n"
    )
    token = served.world.tokens["editor"]
    return (
        f"PUT {UPLOAD} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {token}\r\n"
        f"Content-Type: text/csv\r\n{sized}\r\n"
    )


def chunked(pieces: Iterator[bytes]) -> Iterator[bytes]:
    for piece in pieces:
        yield f"{len(piece):x}\r\n".encode() + piece + b"\r\n"
    yield b"0\r\n\r\n"


def exact(pieces: Iterator[bytes], length: int) -> Iterator[bytes]:
    """``pieces`` cut (or padded with newlines) to exactly ``length`` bytes."""
    left = length
    for piece in pieces:
        if left <= 0:
            return
        yield piece[:left]
        left -= min(len(piece), left)
    if left > 0:
        yield b"\n" * left


def rows_of(served: Served) -> list[dict[str, Any]]:
    with served.client("admin") as http:
        answer = http.get(f"/api/v1/datasets/{DATASET}/rows")
        assert answer.status_code == 200, answer.text
        rows: list[dict[str, Any]] = answer.json()["rows"]
        return rows


def current_version(served: Served) -> int:
    with served.client("admin") as http:
        return int(http.get(f"/api/v1/datasets/{DATASET}").json()["current_version"])


def assert_disk_full_problem(answer: Answer | httpx.Response, *words: str) -> None:
    status = answer.status if isinstance(answer, Answer) else answer.status_code
    assert status == 507, getattr(answer, "text", getattr(answer, "body", b""))
    assert answer.headers["content-type"] == "application/problem+json"
    problem = answer.json()
    assert problem["type"].endswith("/insufficient-storage") and problem["status"] == 507
    detail = problem["detail"]
    assert "disk" in detail and "administrators" in detail
    for word in words:
        assert word in detail, detail


def ingest(served: Served, value: float, readings: int = 1) -> httpx.Response:
    """Send the world's station's batch of ``readings`` readings of ``value``."""
    station = served.world.station
    assert station is not None
    now = datetime.now(UTC)
    times = [now - timedelta(seconds=n) for n in range(readings)]
    body, headers = station.signed([("no2-open", at, value) for at in times])
    return httpx.post(f"{served.url}/api/v1/ingest", content=body, headers=headers, timeout=60)


def assert_no_tracebacks(served: Served) -> None:
    log = served.logged()
    assert "Traceback" not in log and "Something went wrong" not in log, log[-3000:]


# --- the tests ------------------------------------------------------------------------------


@pytest.fixture
def disk(tmp_path: Path) -> Iterator[Path]:
    with small_disk(tmp_path / "disk", 64) as mounted:
        yield mounted


def test_an_upload_bigger_than_the_free_space_is_a_507_that_changed_nothing(
    disk: Path, tmp_path: Path
) -> None:
    with serve_on(disk, tmp_path, None, CITYSHARE_LIMIT_MIN_FREE_BYTES="0") as served:
        before, version = rows_of(served), current_version(served)
        free = free_on(disk)
        length = free + 2 * MiB  # what the socket buffers hold once the server stops reading
        answer = raw_request(
            served.url, upload_head(served, length), exact(csv_rows(length), length)
        )
        assert_disk_full_problem(answer, "nothing was changed", "previous version")
        assert rows_of(served) == before and current_version(served) == version
        assert served.spooled() == []
        assert free_on(disk) >= free - MiB  # the spool's space is given back
        assert "the disk is full" in served.logged()
        assert_no_tracebacks(served)


def test_the_guard_refuses_a_declared_length_before_reading_the_body(
    disk: Path, tmp_path: Path
) -> None:
    guard = 16 * MiB
    with serve_on(disk, tmp_path, None, CITYSHARE_LIMIT_MIN_FREE_BYTES=str(guard)) as served:
        free = free_on(disk)
        # The headers alone, with a length far past the disk: the answer comes without a
        # byte of the body sent.
        answer = raw_request(served.url, upload_head(served, 1024**3))
        assert_disk_full_problem(answer, "CITYSHARE_LIMIT_MIN_FREE_BYTES", "Nothing was read")
        # One byte past the guard is refused too; one that leaves it free is stored.
        crossing = free - guard + MiB
        answer = raw_request(served.url, upload_head(served, crossing))
        assert answer.status == 507
        fitting = 2 * MiB  # the store takes about as much again: the guard's margin
        with served.client() as http:
            stored = http.put(
                UPLOAD, content=b"".join(exact(csv_rows(fitting), fitting)),
                headers={"Content-Type": "text/csv"},
            )  # fmt: skip
        assert stored.status_code in (200, 201), stored.text
        assert served.spooled() == []
        assert_no_tracebacks(served)


def test_the_guard_stops_a_body_without_a_length_as_it_spools(disk: Path, tmp_path: Path) -> None:
    guard = 16 * MiB
    with serve_on(disk, tmp_path, None, CITYSHARE_LIMIT_MIN_FREE_BYTES=str(guard)) as served:
        before, free = rows_of(served), free_on(disk)
        answer = raw_request(served.url, upload_head(served, None), chunked(csv_rows(free)))
        assert_disk_full_problem(answer, "stopped", "Nothing was changed")
        assert rows_of(served) == before
        assert served.spooled() == []
        assert free_on(disk) >= free - MiB
        assert_no_tracebacks(served)


def _truncate_write_ahead_log(database: Path) -> None:
    """Checkpoint SQLite's log into the database and empty it, so the next write needs
    new space on the disk (a log's old frames are reused without asking for any)."""
    with sqlite3.connect(database, timeout=30) as connection:
        connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    connection.close()


def test_a_full_database_is_a_507_reads_go_on_and_writes_come_back(
    disk: Path, tmp_path: Path
) -> None:
    with serve_on(disk, tmp_path, None, CITYSHARE_LIMIT_MIN_FREE_BYTES="0") as served:
        before = rows_of(served)
        assert ingest(served, 1.0).status_code == 201
        _truncate_write_ahead_log(served.data_dir / "cityshare.db")
        ballast = fill(disk)
        refused = ingest(served, 2.0)
        assert_disk_full_problem(refused, "nothing was changed")
        with served.client("siteadmin") as http:
            made = http.post("/api/v1/organisations", json={"name": "roads", "title": "Roads"})
            assert_disk_full_problem(made)
            small = http.put(UPLOAD, content=b"a,b\n1,2\n", headers={"Content-Type": "text/csv"})
            assert_disk_full_problem(small)
        assert rows_of(served) == before  # reads go on
        with httpx.Client(base_url=served.url, timeout=60) as anonymous:
            assert anonymous.get("/api/v1/datasets").status_code == 200
        ballast.unlink()
        assert ingest(served, 3.0).status_code == 201
        with served.client("siteadmin") as http:
            made = http.post("/api/v1/organisations", json={"name": "roads", "title": "Roads"})
            assert made.status_code == 201, made.text
        assert served.spooled() == []
        assert "database or disk is full" in served.logged()
        assert_no_tracebacks(served)


def test_the_mqtt_worker_keeps_a_batch_it_cannot_store_until_there_is_room(
    disk: Path, tmp_path: Path
) -> None:
    """No receipt (and no acknowledgement to the broker, which comes after) while the
    database is full: the worker retries, and stores the batch once there is room."""
    data_dir = disk / "data"
    site = make_site(f"sqlite:///{data_dir / 'cityshare.db'}", data_dir)
    try:
        world = build_world(site, tmp_path)
        world.runtime.finish_background_work()
        station = world.station
        assert station is not None
        body = batch_body([("no2-open", datetime.now(UTC), 4.0)])
        delivery = Delivery(readings_topic(station.uid), mqtt_payload(station.key, body), 1, 1, 1)
        _truncate_write_ahead_log(data_dir / "cityshare.db")
        ballast = fill(disk)
        stop, results = threading.Event(), []
        worker = threading.Thread(
            target=lambda: results.append(process_group(Ingestion(site), [delivery], stop=stop))
        )
        worker.start()
        worker.join(timeout=3)
        assert worker.is_alive() and results == []  # still trying: nothing said to the device
        ballast.unlink()
        worker.join(timeout=60)
        stop.set()
        assert not worker.is_alive()
        (result,) = results
        assert result.stored == 1
        ((device, receipt),) = result.receipts
        assert device == station.uid and orjson.loads(receipt)["status"] == 201
    finally:
        site.close()


# --- PostgreSQL: the store's tables in a tablespace on the small disk ------------------------


@contextmanager
def tablespace_store(postgres_database: str, disk: Path) -> Iterator[str]:
    """A fresh schema of the session's database whose tables are created in a tablespace
    on ``disk``; both dropped afterwards."""
    name = f"t_{secrets.token_hex(6)}"
    admin = create_engine(postgres_database, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            connection.execute(text(f"CREATE TABLESPACE {name} LOCATION '{disk}'"))
            connection.execute(text(f'CREATE SCHEMA "{name}"'))
        options = f"-csearch_path={name} -cdefault_tablespace={name}"
        yield (
            make_url(postgres_database)
            .update_query_dict({"options": options})
            .render_as_string(hide_password=False)
        )
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP SCHEMA IF EXISTS "{name}" CASCADE'))
            connection.execute(text(f"DROP TABLESPACE IF EXISTS {name}"))
        admin.dispose()


@pytest.mark.postgres
def test_a_full_postgresql_tablespace_is_a_507(
    tmp_path: Path, postgres_database: str | None
) -> None:
    if postgres_database is None:
        skip_or_fail("PostgreSQL is not reachable at CITYSHARE_TEST_POSTGRES_URL")
        return
    space = Path(f"/tmp/cityshare-tablespace-{secrets.token_hex(4)}")  # postgres reaches it
    try:
        with (
            small_disk(space, 32, owner="postgres"),
            small_disk(tmp_path / "disk", 32) as disk,
            tablespace_store(postgres_database, space) as url,
            serve_on(disk, tmp_path, url, CITYSHARE_LIMIT_MIN_FREE_BYTES="0") as served,
        ):
            _fill_the_tablespace_and_write(served, space)
    finally:
        with suppress(OSError):
            space.rmdir()


def _fill_the_tablespace_and_write(served: Served, space: Path) -> None:
    before, version = rows_of(served), current_version(served)
    assert ingest(served, 1.0).status_code == 201
    ballast = fill(space)
    # Rows that fit in pages the tables have already are stored without new space: a
    # batch of the most readings needs new pages.
    refused = ingest(served, 2.0, readings=5000)
    assert_disk_full_problem(refused, "nothing was changed")
    with served.client() as http:
        upload = http.put(
            UPLOAD, content=b"".join(csv_rows(4 * MiB)), headers={"Content-Type": "text/csv"}
        )
    assert_disk_full_problem(upload, "previous version")
    assert rows_of(served) == before and current_version(served) == version
    assert served.spooled() == []
    ballast.unlink()
    assert ingest(served, 3.0, readings=5000).status_code == 201
    assert "could not extend file" in served.logged()
    assert_no_tracebacks(served)
