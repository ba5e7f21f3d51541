"""Load the demo: a site administrator, three organisations, an editor who can sign in
to the web pages, and the sample datasets."""

from __future__ import annotations

import os
import secrets
import tempfile
from pathlib import Path
from typing import NamedTuple

from rich.console import Console
from rich.progress import Progress
from sqlalchemy import select

from cityshare.access import Actor
from cityshare.access.actions import Role
from cityshare.accounts.console import console_actor, initialise
from cityshare.accounts.organisations import insert_organisation, set_member, set_membership
from cityshare.accounts.users import create_user, get_user
from cityshare.catalogue import datasets, versions
from cityshare.config import Settings
from cityshare.demo.fleet import FleetDevice, ensure_fleet
from cityshare.demo.samples import ORGANISATIONS, SAMPLES, SampleDataset, write_samples
from cityshare.errors import NotFound
from cityshare.runtime import open_site
from cityshare.site import Site
from cityshare.storage.schema import organisations, users

ADMIN = "admin"
EDITOR = "demo-editor"
EDITOR_PASSWORD_FILE = "demo-editor-password"  # noqa: S105 - a file name, not a secret


class Demo(NamedTuple):
    """What the demo prints: a new admin token, the sensor fleet, and the password of
    :data:`EDITOR` (None when its file was removed after the account was made)."""

    token: str
    fleet: list[FleetDevice]
    editor_password: str | None


def load_demo(settings: Settings, *, scale: float, console: Console) -> Demo:
    """Create (or reuse) the demo store, its editor, missing samples and the sensor fleet;
    return a new admin token, the fleet and the editor's password."""
    site = open_site(settings)
    try:
        token = initialise(site, ADMIN)
        ensure_organisations(site)
        editor_password = ensure_editor(site)
        with tempfile.TemporaryDirectory() as folder:
            samples = write_samples(Path(folder), scale=scale)
            with Progress(console=console, transient=False) as progress:
                task = progress.add_task("Loading sample datasets", total=len(samples))
                for sample, path in samples:
                    _load_sample(site, sample, path)
                    progress.advance(task)
        with console.status("Registering the live sensor fleet"):
            fleet = ensure_fleet(site, ADMIN)
        return Demo(token, fleet, editor_password)
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
                ).id
            set_membership(connection, existing, admin_id, Role.ADMIN)


def ensure_editor(site: Site) -> str | None:
    """Create (once) :data:`EDITOR`, editor of every organisation that owns sample data, with
    a random password kept in the data folder (0600); return that password.

    The password file is written before the account is made, so a run that stops between
    the two makes the account with the same password next time. None when the account
    exists but its file was removed: its password cannot be read back.
    """
    path = site.settings.data_dir / EDITOR_PASSWORD_FILE
    password = path.read_text().strip() if path.exists() else None
    admin = console_actor(site, ADMIN)
    try:
        joined = get_user(site, admin, EDITOR).memberships
    except NotFound:
        password = password or _new_password_file(path)
        create_user(site, admin, username=EDITOR, password=password, display_name="Demo editor")
        joined = []
    _join_sample_owners(site, admin, {membership.organisation for membership in joined})
    return password


def _join_sample_owners(site: Site, admin: Actor, member_of: set[str]) -> None:
    """Make :data:`EDITOR` editor of each sample-owning organisation it is not in yet (a
    role changed since is left alone)."""
    for organisation in sorted({sample.organisation for sample in SAMPLES} - member_of):
        set_member(site, admin, organisation, EDITOR, Role.EDITOR.value)


def _new_password_file(path: Path) -> str:
    """A new random password, written to ``path`` (readable only by its owner)."""
    password = secrets.token_urlsafe(12)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.unlink(missing_ok=True)  # an empty file left by a run that stopped while writing
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        handle.write(password + "\n")
    return password


def _load_sample(site: Site, sample: SampleDataset, path: Path) -> None:
    actor = console_actor(site, ADMIN)
    try:
        if datasets.get_dataset(site, actor, sample.name).current_version is not None:
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
