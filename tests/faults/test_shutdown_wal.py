"""A clean shutdown leaves SQLite's write-ahead log checkpointed into the database file:
after SIGTERM the ``-wal`` file is gone or empty (it stayed 8.4 MB before)."""

from __future__ import annotations

import json
import signal
from pathlib import Path

import httpx
import pytest

from tests.e2e.conftest import cityshare_env, run_cli_here, start_server

pytestmark = pytest.mark.e2e


@pytest.mark.parametrize("workers", ["1", "2"])
def test_sigterm_leaves_no_write_ahead_log(tmp_path: Path, workers: str) -> None:
    database = tmp_path / "store.db"
    env = cityshare_env(tmp_path / "data", f"sqlite:///{database}")
    env["CITYSHARE_WORKERS"] = workers
    init = run_cli_here(env, "init", "--json")
    assert init.returncode == 0, init.stderr
    admin = {"Authorization": f"Bearer {json.loads(init.stdout)['admin_token']}"}
    server = start_server(env)
    try:
        with httpx.Client(base_url=server.url, headers=admin, timeout=30) as http:
            for number in range(30):
                made = http.post(
                    "/api/v1/organisations",
                    json={"name": f"org-{number}", "title": "x" * 200, "description": "y" * 2000},
                )
                assert made.status_code == 201, made.text
        wal = Path(f"{database}-wal")
        assert wal.exists() and wal.stat().st_size > 0  # the writes are in the log now
    finally:
        server.process.send_signal(signal.SIGTERM)
        assert server.process.wait(timeout=60) == 0
    assert not wal.exists() or wal.stat().st_size == 0
