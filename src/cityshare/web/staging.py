"""Uploads waiting for review: the publish page stores a file here, shows its inferred
schema for correction, then publishes it. Without the web framework.

A staged upload is a folder under the data folder's ``uploads/`` with the file and what
the uploader chose; only its uploader may continue it, and one older than a day is
removed when the next upload is staged.
"""

from __future__ import annotations

import copy
import json
import secrets
import shutil
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from cityshare.access import Actor
from cityshare.bounds.classes import CLASSES
from cityshare.catalogue import datasets, versions
from cityshare.errors import BadRequest, NotFound
from cityshare.site import Site
from cityshare.tables import check_against_schema, infer_schema
from cityshare.tables.model import FIELD_TYPES

MAX_AGE_SECONDS = 86400
_ID_CHARS = frozenset("0123456789abcdef")


@dataclass(frozen=True)
class Staged:
    """What the uploader chose for a staged file."""

    id: str
    username: str
    organisation: str
    name: str
    title: str
    visibility: str
    media_type: str
    source_name: str | None
    schema: dict[str, Any]


def staging_folder(site: Site) -> Path:
    """Where staged uploads live."""
    folder = site.settings.data_dir / "uploads"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def new_spool(site: Site) -> Path:
    """A fresh path to receive an upload into (old staged uploads are swept first)."""
    _sweep(staging_folder(site))
    return staging_folder(site) / f"review-{secrets.token_hex(16)}.part"


def stage(site: Site, actor: Actor, spool: Path, choices: dict[str, Any]) -> Staged:
    """Check the choices, infer the file's schema from all of it, and keep both."""
    if actor.username is None:
        raise NotFound("Sign in to publish.")
    datasets.check_new_dataset(
        site,
        actor,
        organisation=choices["organisation"],
        name=choices["name"],
        visibility=choices["visibility"],
    )
    schema = infer_schema(spool, choices["media_type"], site.settings.limits)
    staged = Staged(id=spool.stem.removeprefix("review-"), username=actor.username, schema=schema,
                    **choices)  # fmt: skip
    folder = staging_folder(site) / f"review-{staged.id}"
    folder.mkdir()
    try:
        spool.rename(folder / "file")
        (folder / "choices.json").write_text(json.dumps(asdict(staged)))
    except BaseException:  # a full disk, say: nothing half-staged is left behind
        shutil.rmtree(folder, ignore_errors=True)
        raise
    return staged


def staged_upload(site: Site, actor: Actor, staged_id: str) -> Staged:
    """A staged upload of ``actor``'s; NotFound for anyone else's or a missing one."""
    folder = _folder(site, staged_id)
    try:
        found = Staged(**json.loads((folder / "choices.json").read_text()))
    except FileNotFoundError:
        raise NotFound("No such upload waiting for review, or it expired.") from None
    if found.username != actor.username:
        raise NotFound("No such upload waiting for review, or it expired.")
    return found


def corrected_schema(
    staged: Staged, types: dict[str, str], classes: dict[str, str]
) -> dict[str, Any]:
    """The inferred schema with the reviewer's types and classifications."""
    schema: dict[str, Any] = copy.deepcopy(staged.schema)
    for field in schema.get("fields") or []:
        name = str(field["name"])
        chosen = types.get(name, field.get("type", "string"))
        if chosen not in FIELD_TYPES:
            raise BadRequest(f"{chosen[:40]!r} is not a type; use one of {', '.join(FIELD_TYPES)}.")
        field["type"] = chosen
        level = classes.get(name, "public")
        if level not in CLASSES:
            raise BadRequest(f"{level[:40]!r} is not a classification ({', '.join(CLASSES)}).")
        if level != "public":
            field["classification"] = level
    return schema


def publish_staged(site: Site, actor: Actor, staged: Staged, schema: dict[str, Any]) -> str:
    """Create the dataset and publish the staged file as its first version, with
    ``schema``; the staged upload is gone afterwards. The dataset's name. The file is
    read against ``schema`` first, so a type that does not fit is explained (row, column,
    value) before anything is created, and the reviewer can correct it."""
    folder = _folder(site, staged.id)
    check_against_schema(
        folder / "file", staged.media_type, schema, site.settings.limits, site.engine.dialect.name
    )
    datasets.create_dataset(
        site, actor, organisation=staged.organisation, name=staged.name, title=staged.title,
        visibility=staged.visibility,
    )  # fmt: skip
    versions.publish_version(
        site, actor, staged.name, source=folder / "file", media_type=staged.media_type,
        schema=schema, source_name=staged.source_name,
    )  # fmt: skip
    shutil.rmtree(folder, ignore_errors=True)
    return staged.name


def types() -> tuple[str, ...]:
    """The column types a reviewer may choose."""
    return tuple(FIELD_TYPES)


def _folder(site: Site, staged_id: str) -> Path:
    if len(staged_id) != 32 or not set(staged_id) <= _ID_CHARS:
        raise NotFound("No such upload waiting for review, or it expired.")
    return staging_folder(site) / f"review-{staged_id}"


def _sweep(folder: Path) -> None:
    """Remove staged uploads (and unfinished receipts) older than a day."""
    cutoff = time.time() - MAX_AGE_SECONDS
    for entry in folder.glob("review-*"):
        try:
            if entry.stat().st_mtime < cutoff:
                if entry.is_dir():
                    shutil.rmtree(entry, ignore_errors=True)
                else:
                    entry.unlink(missing_ok=True)
        except FileNotFoundError:
            continue
