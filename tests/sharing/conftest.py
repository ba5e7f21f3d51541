"""Fixtures of the sharing services' unit tests.

``world`` (from tests/conftest.py) is a populated site of each test's own, for tests that
change it. ``unchanging`` is one populated site per engine and module, shared by the tests
whose every call must be refused: each asserts the store is as it was, so a refusal that
failed to refuse shows in its own test first.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from cityshare.sharing.grants import create_grant
from cityshare.sharing.requests import create_request
from tests.conftest import ENGINES, store_url
from tests.sharing.helpers import ADMIN, OUTSIDER, PURPOSE, Unchanging, actor, add_user, spec
from tests.world import build_world, make_site


@pytest.fixture(scope="module", params=ENGINES)
def unchanging(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    postgres_database: str | None,
) -> Iterator[Unchanging]:
    """One site per engine and module for tests whose calls are all refused."""
    folder: Path = tmp_path_factory.mktemp("sharing")
    with store_url(request.param, folder, postgres_database) as url:
        site = make_site(url, folder)
        try:
            world = build_world(site, folder)
            add_user(site, "stranger")
            made = create_grant(site, actor(site, ADMIN), "private-counts", spec())
            asked = create_request(site, actor(site, OUTSIDER), "shared-counts", purpose=PURPOSE)
            yield Unchanging(world, made.id, asked.id)
        finally:
            site.close()
