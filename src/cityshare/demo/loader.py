"""Load the demo: a site administrator, three organisations and the sample datasets."""

from __future__ import annotations

import tempfile
from pathlib import Path

from rich.console import Console
from rich.progress import Progress
from sqlalchemy import select

from cityshare.access.actions import Role
from cityshare.catalogue import datasets, versions
from cityshare.catalogue.organisations import insert_organisation, set_membership
from cityshare.cli_support import console_actor, initialise
from cityshare.config import Settings
from cityshare.demo.fleet import FleetDevice, ensure_fleet
from cityshare.demo.samples import ORGANISATIONS, SampleDataset, write_samples
from cityshare.errors import NotFound
from cityshare.site import Site
from cityshare.storage.schema import organisations, users

ADMIN = "admin"


def load_demo(
    settings: Settings, *, scale: float, console: Console
) -> tuple[str, list[FleetDevice]]:
    """Create (or reuse) the demo store, load missing samples and the sensor fleet;
    return a new admin token and the fleet."""
    site = Site.open(settings)
    try:
        token = initialise(site, ADMIN)
        ensure_organisations(site)
        with tempfile.TemporaryDirectory() as folder:
            samples = write_samples(Path(folder), scale=scale)
            with Progress(console=console, transient=False) as progress:
                task = progress.add_task("Loading sample datasets", total=len(samples))
                for sample, path in samples:
                    _load_sample(site, sample, path)
                    progress.advance(task)
        with console.status("Registering the live sensor fleet"):
            fleet = ensure_fleet(site, ADMIN)
        return token, fleet
    finally:
        site.close()


def ensure_organisations(site: Site) -> None:
    """Create the demo organisations (once) with the admin as their admin."""
    with site.writer.begin() as connection:
        admin_id = connection.execute(
            select(users.c.id).where(users.c.username == ADMIN)
        ).scalar_one()
        for name, title, description in ORGANISATIONS:
            existing = connection.execute(
                select(organisations.c.id).where(organisations.c.name == name)
            ).scalar_one_or_none()
            if existing is None:
                existing = insert_organisation(
                    connection, name=name, title=title, description=description
                )["id"]
            set_membership(connection, existing, admin_id, Role.ADMIN)


def _load_sample(site: Site, sample: SampleDataset, path: Path) -> None:
    actor = console_actor(site, ADMIN)
    try:
        if datasets.get_dataset(site, actor, sample.name)["current_version"] is not None:
            return
    except NotFound:
        datasets.create_dataset(
            site,
            actor,
            organisation=sample.organisation,
            name=sample.name,
            title=sample.title,
            description=sample.description,
            tags=list(sample.tags),
            licence=sample.licence,
            visibility=sample.visibility,
            update_frequency=sample.update_frequency,
            spatial=sample.spatial,
            temporal={"start": sample.temporal_start, "end": sample.temporal_end},
        )
    versions.publish_version(
        site,
        actor,
        sample.name,
        source=path,
        media_type=sample.media_type,
        source_name=sample.filename,
    )
