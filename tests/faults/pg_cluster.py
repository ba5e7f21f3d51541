"""A PostgreSQL cluster of a test's own, on a free port, that the test may stop and start.

Never the machine's shared server: ``initdb`` makes a new cluster in a temporary folder,
``pg_ctl`` starts it on a free port with its socket in that folder, and
:func:`postgres_cluster` stops and removes it whatever happens. ``initdb`` refuses to
run as root, so as root every command runs as the ``postgres`` user (``runuser``).
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import create_engine, text

from tests.conftest import skip_or_fail
from tests.e2e.conftest import free_port

OWNER = "postgres"  # the system user that owns the cluster when the tests run as root
COMMAND_SECONDS = 120


def binary(name: str) -> str | None:
    """The path of a PostgreSQL server program (``initdb``, ``pg_ctl``), or None."""
    found = shutil.which(name)
    if found:
        return found
    candidates = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    return candidates[-1] if candidates else None


@dataclass
class PgCluster:
    """A cluster in ``folder`` listening on 127.0.0.1:``port`` (trust authentication)."""

    folder: Path
    port: int
    pg_ctl: str

    @property
    def data(self) -> Path:
        """The cluster's data directory."""
        return self.folder / "data"

    @property
    def log(self) -> Path:
        """The server's log file."""
        return self.folder / "server.log"

    def url(self, database: str = "postgres") -> str:
        """A SQLAlchemy URL of ``database`` on this cluster."""
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{database}"

    def start(self) -> None:
        """Start the server and wait until it accepts connections."""
        options = (
            f"-p {self.port} -k {self.folder} -c listen_addresses=127.0.0.1 -c fsync=off "
            "-c max_connections=60"
        )
        _run(self.pg_ctl, "-D", str(self.data), "-l", str(self.log), "-o", options, "-w", "start")

    def stop(self) -> None:
        """Stop the server at once (``-m fast``: open sessions are ended)."""
        _run(self.pg_ctl, "-D", str(self.data), "-m", "fast", "-w", "stop")

    def is_running(self) -> bool:
        """True while the server's postmaster runs."""
        status = subprocess.run(
            _as_owner([self.pg_ctl, "-D", str(self.data), "status"]),
            capture_output=True,
            timeout=COMMAND_SECONDS,
            check=False,
        )
        return status.returncode == 0

    def create_database(self, name: str) -> str:
        """Create database ``name``; its URL."""
        admin = create_engine(self.url(), isolation_level="AUTOCOMMIT")
        try:
            with admin.connect() as connection:
                connection.execute(text(f'CREATE DATABASE "{name}"'))
        finally:
            admin.dispose()
        return self.url(name)


@contextmanager
def postgres_cluster() -> Iterator[PgCluster]:
    """A new, started cluster, stopped and removed when the block ends; the test is skipped
    (failed under ``CITYSHARE_REQUIRE_SERVICES=1``) without ``initdb`` and ``pg_ctl``."""
    initdb, pg_ctl = binary("initdb"), binary("pg_ctl")
    if initdb is None or pg_ctl is None:
        skip_or_fail("initdb and pg_ctl are needed to create a PostgreSQL cluster")
    assert initdb is not None and pg_ctl is not None
    if os.geteuid() == 0 and (shutil.which("runuser") is None or not _owner_exists()):
        skip_or_fail(f"as root, initdb needs runuser and a {OWNER!r} user to run as")
    folder = Path(tempfile.mkdtemp(prefix="cityshare-pg-"))
    try:
        if os.geteuid() == 0:
            owner = pwd.getpwnam(OWNER)
            os.chown(folder, owner.pw_uid, owner.pw_gid)
        data = str(folder / "data")
        _run(initdb, "-D", data, "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync")
        cluster = PgCluster(folder=folder, port=free_port(), pg_ctl=pg_ctl)
        cluster.start()
        try:
            yield cluster
        finally:
            if cluster.is_running():
                cluster.stop()
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _owner_exists() -> bool:
    try:
        pwd.getpwnam(OWNER)
    except KeyError:
        return False
    return True


def _as_owner(command: list[str]) -> list[str]:
    """``command`` as the cluster's owner: through ``runuser`` when running as root."""
    if os.geteuid() == 0:
        return ["runuser", "-u", OWNER, "--", *command]
    return command


def _run(*command: str) -> None:
    done = subprocess.run(
        _as_owner(list(command)),
        capture_output=True,
        text=True,
        timeout=COMMAND_SECONDS,
        check=False,
        cwd="/",  # the owner may not be allowed into the test's working directory
    )
    if done.returncode != 0:
        raise RuntimeError(f"{command[0]} failed ({done.returncode}): {done.stderr[-2000:]}")
