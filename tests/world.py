"""A small populated site for API tests: two organisations, users of every role, tokens
and one dataset per visibility, built through the core services."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
from sqlalchemy import select
from starlette.testclient import TestClient

from cityshare.access.actions import Scope
from cityshare.access.actor import ALL_SCOPES
from cityshare.accounts import organisations, tokens, users
from cityshare.accounts.console import console_actor, initialise
from cityshare.app import create_app
from cityshare.catalogue import datasets, versions
from cityshare.config import Settings
from cityshare.runtime import Runtime, open_site
from cityshare.site import Site
from cityshare.storage.schema import audit_log
from cityshare.streams import datastreams
from tests.conftest import store_url
from tests.sensors import Device, add_device, add_sensor_dataset

OWNER = "city"
OTHER = "partner"
VISIBILITIES = ("open", "shared", "private")
SAMPLE_CSV = (
    "junction,counted_at,cars,speed,note\n"
    "J1,2024-03-04T08:00:00Z,120,31.5,morning\n"
    "J2,2024-03-04T09:00:00Z,80,42.0,\n"
    'J1,2024-03-04T10:00:00Z,95,35.25,=HYPERLINK("http://x")\n'
)
# Actor kinds of the access matrix. "readonly" is the owner's admin with a read-only token.
ACTOR_KINDS = ("anonymous", "outsider", "member", "editor", "admin", "readonly")


def make_site(database_url: str, folder: Path, **overrides: Any) -> Site:
    """A Site on a fresh store in ``folder``.

    Every test client comes from one address, and some tests sign in dozens of times: the
    sign-in throttle (5 a minute by default) is raised here, not switched off. The other
    limits keep their defaults; ``overrides`` set other values.
    """
    values: dict[str, Any] = {
        "rate_limit_sign_in_per_minute": 60_000,
        "rate_limit_sign_in_burst": 10_000,
        **overrides,
    }
    settings = Settings(
        data_dir=folder, database_url=database_url, secret_key="test-secret-key", **values
    )
    return open_site(settings)


@dataclass
class World:
    """What :func:`build_world` created."""

    site: Site
    runtime: Runtime
    tokens: dict[str, str] = field(default_factory=dict)
    datasets: dict[str, str] = field(default_factory=dict)
    sensor_datasets: dict[str, str] = field(default_factory=dict)
    streams: dict[str, int] = field(default_factory=dict)  # by visibility
    station: Device | None = None

    def headers(self, kind: str) -> dict[str, str]:
        """Authorization headers for an actor kind ("anonymous" sends none)."""
        if kind == "anonymous":
            return {}
        return {"Authorization": f"Bearer {self.tokens[kind]}"}


def build_world(site: Site, folder: Path, *, runtime: Runtime | None = None) -> World:
    """Populate ``site`` with the organisations, users, tokens and datasets tests use;
    ``runtime`` (one of its own by default) is what its apps are built from."""
    world = World(site=site, runtime=runtime or Runtime(site))
    world.tokens["siteadmin"] = initialise(site, "admin")
    admin = console_actor(site, "admin")
    for name in (OWNER, OTHER):
        organisations.create_organisation(site, admin, name=name, title=name.title())
    people = {"member": (OWNER, "member"), "editor": (OWNER, "editor"), "admin": (OWNER, "admin")}
    people["outsider"] = (OTHER, "admin")
    for kind, (organisation, role) in people.items():
        username = f"{kind}-user"
        users.create_user(site, admin, username=username)
        organisations.set_member(site, admin, organisation, username, role)
        world.tokens[kind] = tokens.create_token(
            site, admin, username=username, scopes=ALL_SCOPES
        ).token
    world.tokens["readonly"] = tokens.create_token(
        site, admin, username="admin-user", scopes=frozenset({Scope.READ})
    ).token
    for visibility in VISIBILITIES:
        world.datasets[visibility] = add_dataset(site, folder, f"{visibility}-counts", visibility)
    add_sensors(world)
    return world


def add_sensors(world: World) -> None:
    """One sensor dataset per visibility, fed by one device with a stream in each."""
    for visibility in VISIBILITIES:
        world.sensor_datasets[visibility] = add_sensor_dataset(
            world.site, f"{visibility}-air", visibility=visibility
        )
    world.station = add_device(world.site, "station")
    admin = console_actor(world.site, "admin")
    for visibility, dataset in world.sensor_datasets.items():
        created = datastreams.create_stream(
            world.site,
            admin,
            dataset,
            device=world.station.uid,
            name=f"no2-{visibility}",
            observed_property="no2",
            unit="µg/m³",
        )
        world.streams[visibility] = created.id


def add_dataset(site: Site, folder: Path, name: str, visibility: str) -> str:
    """Create a dataset in the owner organisation with one version of SAMPLE_CSV."""
    admin = console_actor(site, "admin")
    datasets.create_dataset(
        site, admin, organisation=OWNER, name=name, title=name, visibility=visibility
    )
    source = folder / f"{name}.csv"
    source.write_text(SAMPLE_CSV)
    versions.publish_version(site, admin, name, source=source, media_type="text/csv")
    return name


@contextmanager
def populated_client(
    engine_name: str, folder: Path, postgres_database: str | None
) -> Iterator[tuple[World, TestClient]]:
    """A populated site on ``engine_name`` and an in-process client, for module fixtures."""
    with store_url(engine_name, folder, postgres_database) as url:
        site = make_site(url, folder)
        world = build_world(site, folder)
        with TestClient(create_app(world.runtime), raise_server_exceptions=False) as client:
            yield world, client
        world.runtime.close()


def audit_entries(site: Site, after: int = 0) -> list[dict[str, Any]]:
    """The contents of the audit entries after sequence number ``after``, in order."""
    with site.engine.connect() as connection:
        rows = connection.execute(
            select(audit_log.c.content).where(audit_log.c.seq > after).order_by(audit_log.c.seq)
        ).scalars()
        return [orjson.loads(text) for text in rows]
