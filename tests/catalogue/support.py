"""Helpers for the unit tests of the catalogue, search and interop services: the actors of
the test world, files to publish, and a snapshot of what the store holds."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
from sqlalchemy import func, inspect, select

from cityshare.access import Actor
from cityshare.access.actor import ALL_SCOPES, ANONYMOUS
from cityshare.accounts import organisations, tokens, users
from cityshare.accounts.console import console_actor
from cityshare.accounts.tokens import authenticate_token
from cityshare.catalogue.versions import open_version
from cityshare.site import Site
from cityshare.storage.schema import audit_log, dataset_facets, dataset_versions, datasets
from tests.world import World

# The actors that may be refused: who they are in tests/world.py.
REFUSED_KINDS = ("anonymous", "outsider", "member", "readonly")
VERSION_TABLE_PREFIX = "dsv_"


def actor(world: World, kind: str) -> Actor:
    """The Actor of an actor kind of the test world ("anonymous", "outsider", "member",
    "editor", "admin", "readonly" or "siteadmin"), as its token authenticates it."""
    if kind == "anonymous":
        return ANONYMOUS
    return authenticate_token(world.site, world.tokens[kind])


def add_user(world: World, username: str, organisation: str | None = None) -> Actor:
    """A new user (a member of ``organisation`` when given) with an all-scopes token."""
    admin = console_actor(world.site, "admin")
    users.create_user(world.site, admin, username=username)
    if organisation is not None:
        organisations.set_member(world.site, admin, organisation, username, "member")
    created = tokens.create_token(world.site, admin, username=username, scopes=ALL_SCOPES)
    world.tokens[username] = created.token
    return actor(world, username)


def write_file(folder: Path, name: str, text: str) -> Path:
    """``text`` written to ``folder/name`` (UTF-8)."""
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


@dataclass(frozen=True)
class StoreState:
    """What the catalogue holds: dataset and version rows, version tables, the length of
    the audit chain and the search index's facet rows."""

    datasets: tuple[tuple[Any, ...], ...]
    versions: tuple[tuple[Any, ...], ...]
    version_tables: frozenset[str]
    audit_entries: int
    facets: tuple[tuple[Any, ...], ...]


def store_state(site: Site) -> StoreState:
    """A snapshot of the store, to show that a refused call changed nothing."""
    with site.engine.connect() as connection:
        dataset_rows = connection.execute(
            select(
                datasets.c.name,
                datasets.c.title,
                datasets.c.description,
                datasets.c.visibility,
                datasets.c.licence,
                datasets.c.current_version,
                datasets.c.modified_at,
            ).order_by(datasets.c.name)
        ).all()
        version_rows = connection.execute(
            select(
                dataset_versions.c.dataset_id,
                dataset_versions.c.number,
                dataset_versions.c.table_name,
                dataset_versions.c.row_count,
            ).order_by(dataset_versions.c.dataset_id, dataset_versions.c.number)
        ).all()
        entries = connection.execute(select(func.count()).select_from(audit_log)).scalar_one()
        facet_rows = connection.execute(
            select(dataset_facets.c.dataset_id, dataset_facets.c.facet, dataset_facets.c.value)
            .order_by(dataset_facets.c.dataset_id, dataset_facets.c.facet)
            .order_by(dataset_facets.c.value)
        ).all()
        tables = inspect(connection).get_table_names()
    return StoreState(
        datasets=tuple(tuple(row) for row in dataset_rows),
        versions=tuple(tuple(row) for row in version_rows),
        version_tables=frozenset(t for t in tables if t.startswith(VERSION_TABLE_PREFIX)),
        audit_entries=int(entries),
        facets=tuple(tuple(row) for row in facet_rows),
    )


def stored_dataset(site: Site, name: str) -> Any:
    """The ``datasets`` row called ``name``, or None."""
    with site.engine.connect() as connection:
        return connection.execute(select(datasets).where(datasets.c.name == name)).first()


def stored_versions(site: Site, name: str) -> list[Any]:
    """The version rows of dataset ``name``, oldest first."""
    with site.engine.connect() as connection:
        return list(
            connection.execute(
                select(dataset_versions)
                .join(datasets, datasets.c.id == dataset_versions.c.dataset_id)
                .where(datasets.c.name == name)
                .order_by(dataset_versions.c.number)
            ).all()
        )


def last_audit(site: Site) -> dict[str, Any]:
    """The content of the newest audit entry."""
    with site.engine.connect() as connection:
        text = connection.execute(
            select(audit_log.c.content).order_by(audit_log.c.seq.desc()).limit(1)
        ).scalar_one()
    entry: dict[str, Any] = orjson.loads(text)
    return entry


def current_rows(site: Site, name: str) -> list[dict[str, Any]]:
    """Every row of dataset ``name``'s current version, by field name, in stored order
    (read whole, as a site administrator)."""
    admin = console_actor(site, "admin")
    with site.engine.connect() as connection:
        opened = open_version(site, admin, name, None, connection)
        table = opened.table
        rows = connection.execute(select(table.table).order_by(table.table.c["_id"])).all()
    return [{field.name: row._mapping[field.column] for field in table.fields} for row in rows]
