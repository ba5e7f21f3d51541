"""A limit kept in Redis holds across two real ``cityshare serve`` processes."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from tests.e2e.conftest import Server, cityshare_env, run_cli_here, start_servers
from tests.redis_support import RedisSpace, redis_space

pytestmark = pytest.mark.e2e
__all__ = ["redis_space"]  # the fixture, imported to be used here

BURST = 10


def stop(server: Server) -> None:
    server.process.terminate()
    server.process.wait(timeout=20)


def test_two_servers_share_one_token_limit(
    database_url: str, tmp_path: Path, redis_space: RedisSpace
) -> None:
    env = cityshare_env(tmp_path / "data", database_url)
    env.update(
        {
            "CITYSHARE_REDIS_URL": redis_space.url,
            "CITYSHARE_RATE_LIMIT_PREFIX": redis_space.prefix,
            # One token back every 1000 s: within the test, the burst is all there is.
            "CITYSHARE_RATE_LIMIT_TOKEN_PER_SECOND": "0.001",
            "CITYSHARE_RATE_LIMIT_TOKEN_BURST": str(BURST),
        }
    )
    init = run_cli_here(env, "init", "--json")
    assert init.returncode == 0, init.stderr
    headers = {"Authorization": f"Bearer {json.loads(init.stdout)['admin_token']}"}
    servers = start_servers(env, env)
    try:
        statuses: list[list[int]] = [[], []]
        for number in range(3 * BURST):
            which = number % 2
            response = httpx.get(f"{servers[which].url}/api/v1/me", headers=headers, timeout=10)
            statuses[which].append(response.status_code)
            if response.status_code == 429:
                assert int(response.headers["retry-after"]) >= 1
    finally:
        for server in servers:
            stop(server)
    every = statuses[0] + statuses[1]
    assert every.count(200) == BURST, statuses  # not BURST per process
    assert set(every) == {200, 429}
    assert 429 in statuses[0] and 429 in statuses[1]
    assert redis_space.stored_keys(), "the bucket lives in Redis, under the test's prefix"
