"""Fixtures of the streams services' unit tests.

``shared`` is one populated site per engine and module (see :func:`tests.world.build_world`:
the organisations ``city`` and ``partner``, users of every role, one sensor dataset per
visibility fed by the device ``station``). Building a site takes a second or two, so the
tests of a module share it: each test works on devices, datasets and streams of its own,
made with fresh names, and so does not depend on the others or on their order.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from cityshare.runtime import Runtime
from tests.conftest import ENGINES, store_url
from tests.world import World, build_world, make_site


@pytest.fixture(scope="module", params=ENGINES)
def shared(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    postgres_database: str | None,
) -> Iterator[World]:
    """One populated site per engine and module, with its runtime (ingestion, reader)."""
    folder: Path = tmp_path_factory.mktemp("streams")
    with store_url(request.param, folder, postgres_database) as url:
        runtime = Runtime(make_site(url, folder))
        try:
            yield build_world(runtime.site, folder, runtime=runtime)
        finally:
            runtime.close()
