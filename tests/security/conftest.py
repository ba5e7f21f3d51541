"""Fixtures of the security regression tests: a real ``cityshare serve`` on a populated store.

Each test in this package reproduces one finding of the outside assessment (issue 16)
against a real server process, with rate limits applied to loopback as the assessors had
them (``CITYSHARE_RATE_LIMIT_EXEMPT=""``) unless a test asks otherwise.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.e2e.conftest import Server, cityshare_env, start_server
from tests.world import World, build_world, make_site


@dataclass
class Served:
    """A populated store (the :class:`World` of the API tests) served by ``cityshare serve``."""

    world: World
    server: Server

    def client(self, kind: str = "anonymous", **kwargs: object) -> httpx.Client:
        """An HTTP client of the server for one actor kind of the world."""
        return httpx.Client(
            base_url=self.server.url, headers=self.world.headers(kind), timeout=60, **kwargs
        )


@contextmanager
def served_world(database_url: str, folder: Path, **environment: str) -> Iterator[Served]:
    """Build the world in ``folder`` on ``database_url``, then serve it with ``environment``
    (``CITYSHARE_*`` variables) on top of the end-to-end defaults."""
    site = make_site(database_url, folder / "data")
    world = build_world(site, folder)
    world.runtime.finish_background_work()
    env = cityshare_env(folder / "data", database_url)
    env["CITYSHARE_SECRET_KEY"] = "test-secret-key"  # the world's cursors and sessions
    env["CITYSHARE_RATE_LIMIT_EXEMPT"] = ""
    env.update(environment)
    server = start_server(env)
    try:
        yield Served(world=world, server=server)
    finally:
        server.process.terminate()
        server.process.wait(timeout=30)
        site.close()


ServeFactory = Callable[..., Served]


@pytest.fixture
def serve(database_url: str, tmp_path: Path) -> Iterator[ServeFactory]:
    """Call ``serve(CITYSHARE_X="…")`` to get the populated world behind a real server;
    each call builds a world of its own. Every server is stopped after the test."""
    with ExitStack() as stack:
        count = 0

        def start(**environment: str) -> Served:
            nonlocal count
            count += 1
            folder = tmp_path / f"site{count}"
            return stack.enter_context(served_world(database_url, folder, **environment))

        yield start
