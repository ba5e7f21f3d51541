"""What a harvest reads from a source, whatever its protocol: one remote dataset.

The CKAN and DCAT readers turn what a source says into :class:`RemoteDataset`, with
metadata already checked by the same rules as local metadata
(:func:`cityshare.catalogue.metadata.clean_metadata`). A field that does not pass is left
out and named in ``dropped``; it never stops the dataset.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from cityshare.catalogue.metadata import UPDATE_FREQUENCIES, clean_metadata
from cityshare.catalogue.models import DatasetBase
from cityshare.errors import BadRequest
from cityshare.harvest.text import plain

MAX_NAME_CHARS = 100
MAX_REMOTE_ID_CHARS = 500
# CKAN's own licence ids, as SPDX ids; others keep their id when it has an SPDX shape.
CKAN_LICENCES = {
    "cc-by": "CC-BY-4.0",
    "cc-by-sa": "CC-BY-SA-4.0",
    "cc-zero": "CC0-1.0",
    "cc-nc": "CC-BY-NC-4.0",
    "gfdl": "GFDL-1.3-or-later",
    "odc-by": "ODC-By-1.0",
    "odc-odbl": "ODbL-1.0",
    "odc-pddl": "PDDL-1.0",
    "uk-ogl": "OGL-UK-3.0",
    "notspecified": None,
}


@dataclass(frozen=True)
class RemoteDataset:
    """One dataset of a source, as the harvest will store it."""

    remote_id: str  # stable at the source: a CKAN package id, a DCAT dataset IRI
    name: str  # the source's name for it, made a slug ("" when it has none)
    public: bool  # anyone may read it at the source
    metadata: dict[str, Any]  # checked fields for create_dataset/update_dataset
    data_url: str | None = None  # its one CSV file, if it has exactly one
    data_note: str = ""  # why there is no data_url
    modified: str | None = None  # when the source last changed it, as the source says
    dropped: tuple[str, ...] = field(default=())  # metadata fields that did not pass


@dataclass(frozen=True)
class RemoteProblem:
    """A dataset of a source that could not be read; the run goes on without it."""

    label: str
    reason: str


def slug(text: str) -> str:
    """``text`` as a dataset name: lower case, ``a-z0-9`` and single hyphens, at most
    100 characters ("" when nothing is left).

    >>> slug("Air Quality (NO₂) 2024")
    'air-quality-no-2024'
    """
    lowered = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")
    return lowered[:MAX_NAME_CHARS].rstrip("-")


def licence_id(value: object) -> str | None:
    """A licence as an SPDX-shaped id: CKAN's ids mapped, the URLs of
    ``spdx.org/licenses/ID`` read, anything else as given (checked later)."""
    if not isinstance(value, str) or not value.strip():
        return None
    text = value.strip()
    if text.lower() in CKAN_LICENCES:
        return CKAN_LICENCES[text.lower()]
    match = re.match(r"^https?://spdx\.org/licenses/([A-Za-z0-9.+-]+?)(?:\.html)?/?$", text)
    return match.group(1) if match else text


def frequency(value: object) -> str | None:
    """An update frequency from cityshare's words or the EU frequency table's IRIs."""
    if not isinstance(value, str):
        return None
    word = value.rstrip("/").rsplit("/", 1)[-1].strip().lower()
    eu = {"update_cont": "continuous", "annual": "annually", "irreg": "irregular"}
    word = eu.get(word, word)
    return word if word in UPDATE_FREQUENCIES else None


def spatial(value: object) -> dict[str, Any] | None:
    """A GeoJSON geometry from a dict or its JSON text (None when it is neither)."""
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            return None
    return value if isinstance(value, dict) else None


def checked_metadata(raw: dict[str, Any]) -> tuple[dict[str, Any], tuple[str, ...]]:
    """The fields of ``raw`` that pass cityshare's checks, and the names of those that
    did not. ``raw`` uses the service's names: title, description, tags, licence,
    update_frequency, spatial, temporal ({"start", "end"})."""
    kept: dict[str, Any] = {}
    dropped: list[str] = []
    for key, value in raw.items():
        if value is None or value == "" or value == []:
            continue
        try:
            cleaned = clean_metadata({key: _trimmed(key, value)})
        except (BadRequest, TypeError, ValueError):
            dropped.append(key)
            continue
        if key == "temporal":
            kept[key] = {"start": cleaned["temporal_start"], "end": cleaned["temporal_end"]}
        else:
            kept[key] = cleaned[key]
    return kept, tuple(dropped)


def _trimmed(key: str, value: Any) -> Any:
    """Text cut to what cityshare stores: titles to 300 characters, tags to 50 of at
    most 100 (longer ones left out), a description to 100 000."""
    if key == "title":
        return plain(value, 300).strip()
    if key == "description":
        return str(value)[:100_000]
    if key == "tags":
        if not isinstance(value, list | tuple):
            raise TypeError("tags must be a list")
        tags = [str(tag).strip() for tag in value if str(tag).strip()]
        return [tag for tag in tags if len(tag) <= 100][:50]
    return value


def local_metadata(dataset: DatasetBase) -> dict[str, Any]:
    """A local dataset's description in the shape of :func:`checked_metadata`'s fields."""
    return {
        "title": dataset.title,
        "description": dataset.description or "",
        "tags": list(dataset.tags),
        "licence": dataset.licence,
        "update_frequency": dataset.update_frequency,
        "spatial": dataset.spatial,
        "temporal": {"start": dataset.temporal.start, "end": dataset.temporal.end},
    }


def metadata_changes(remote: dict[str, Any], local: DatasetBase) -> dict[str, Any]:
    """What to change locally so that ``local`` says what ``remote`` says; a field the
    source no longer gives is cleared (the title is always given)."""
    wanted = {
        "title": remote.get("title") or local.title,
        "description": remote.get("description", ""),
        "tags": remote.get("tags", []),
        "licence": remote.get("licence"),
        "update_frequency": remote.get("update_frequency"),
        "spatial": remote.get("spatial"),
        "temporal": remote.get("temporal") or {"start": None, "end": None},
    }
    current = local_metadata(local)
    return {key: value for key, value in wanted.items() if _differs(value, current[key])}


def _differs(wanted: Any, current: Any) -> bool:
    if isinstance(wanted, dict) and isinstance(current, dict):
        keys = set(wanted) | set(current)
        return any(wanted.get(key) != current.get(key) for key in keys)
    return bool(wanted != current)
