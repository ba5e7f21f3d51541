"""Helpers for the search and interop tests: datasets and grants made through the services."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from cityshare.access import Actor
from cityshare.accounts.console import console_actor
from cityshare.catalogue import datasets
from cityshare.catalogue.models import Dataset
from cityshare.sharing import grants
from tests.catalogue.support import actor, add_user
from tests.world import OWNER, World


def make_dataset(
    world: World, name: str, *, visibility: str = "private", **metadata: Any
) -> Dataset:
    """A dataset without data in the owner organisation, created by the site admin."""
    admin = console_actor(world.site, "admin")
    return datasets.create_dataset(
        world.site, admin, organisation=OWNER, name=name, visibility=visibility, **metadata
    )


def grant_to(world: World, dataset: str, username: str, **spec: Any) -> Actor:
    """A new user outside every organisation holding a 30-day grant on ``dataset`` (with
    ``spec``'s bounds), as the Actor its token gives."""
    add_user(world, username)
    terms = {
        "user": username,
        "purpose": "Testing what a grantee finds",
        "expires_at": datetime.now(UTC) + timedelta(days=30),
        **spec,
    }
    grants.create_grant(world.site, actor(world, "admin"), dataset, terms)
    return actor(world, username)
