"""Redis for the tests of shared rate limits.

Redis comes from ``CITYSHARE_TEST_REDIS_URL`` (default ``redis://127.0.0.1:6379/0``).
Each test gets its own key prefix and deletes its keys afterwards, so parallel runs
never share a bucket. When Redis cannot be reached the tests are skipped, unless
``CITYSHARE_REQUIRE_SERVICES=1``, which makes them fail instead.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
import redis

from tests.conftest import skip_or_fail

DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"


def redis_url_for_tests() -> str:
    """The Redis the tests use."""
    return os.environ.get("CITYSHARE_TEST_REDIS_URL", DEFAULT_REDIS_URL)


@dataclass(frozen=True)
class RedisSpace:
    """A reachable Redis and a key prefix no other test uses."""

    url: str
    prefix: str
    client: redis.Redis

    def stored_keys(self) -> list[bytes]:
        """Every key under this test's prefix."""
        return list(self.client.scan_iter(match=f"{self.prefix}*", count=1000))


@pytest.fixture
def redis_space() -> Iterator[RedisSpace]:
    """A key prefix of its own on the test Redis; its keys are deleted afterwards."""
    url = redis_url_for_tests()
    client = redis.Redis.from_url(url, socket_connect_timeout=1, socket_timeout=2)
    try:
        client.ping()
    except redis.RedisError:
        client.close()
        skip_or_fail(f"Redis is not reachable at {url} (CITYSHARE_TEST_REDIS_URL)")
        return
    space = RedisSpace(url=url, prefix=f"cityshare-test:{secrets.token_hex(8)}:", client=client)
    try:
        yield space
    finally:
        leftover = space.stored_keys()
        if leftover:
            client.delete(*leftover)
        client.close()
