"""CKAN's writing actions on packages and resources, for tokens with the write scope.

- ``package_create`` creates a dataset in ``owner_org`` (editors and admins);
- ``package_update`` replaces its metadata: fields left out are cleared, except the
  visibility, which changes only when asked (``private`` or ``visibility``);
- ``package_patch`` changes only the fields given;
- ``resource_create`` with an ``upload`` file publishes it as a new immutable version.

``private: true`` makes a dataset private; ``private: false`` makes a private one open and
leaves a shared one shared; ``visibility`` (open, shared or private) says it exactly.
Making data open or shared is an organisation admin's decision, as in the native API.
A package that does not say is created private (never open by omission).

Resources are derived from the data (see :mod:`cityshare.interop.ckan_mapping`), so
the ``resources`` of a package sent to create or update are ignored and their URLs
never fetched (that would let callers make the server request any address): publish
data with ``resource_create`` and an ``upload``, or ``datastore_create``. Read-only CKAN
fields (``id``, ``metadata_modified``, ``num_tags``, …) and unknown extras are ignored,
so a package dumped from this site loads back unchanged.
"""

from __future__ import annotations

import json
from typing import Any

from cityshare.api.ckan.params import CkanCall
from cityshare.bounds.classes import checked_carry
from cityshare.catalogue import versions
from cityshare.catalogue.datasets import create_dataset, update_dataset
from cityshare.catalogue.metadata import VISIBILITIES
from cityshare.errors import Conflict, NotFound
from cityshare.http.ckan_envelope import invalid
from cityshare.interop import ckan_mapping as mapping
from cityshare.tables.formats import media_type_for_filename

UNSPECIFIED_LICENCES = frozenset({"", "notspecified", "other-closed"})
# A resource's ``format`` as the media type of an upload.
FORMAT_MEDIA_TYPES = {
    "csv": "text/csv",
    "tsv": "text/tab-separated-values",
    "json": "application/json",
    "ndjson": "application/x-ndjson",
    "jsonl": "application/x-ndjson",
    "geojson": "application/geo+json",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}
CLEARED: dict[str, Any] = {
    "description": "",
    "tags": [],
    "licence": None,
    "update_frequency": None,
    "spatial": None,
    "temporal": {"start": None, "end": None},
}


def package_create(call: CkanCall) -> dict[str, Any]:
    """Create a dataset (``name`` and ``owner_org`` required)."""
    name = call.required("name")
    owner = _owner(call)
    if owner is None:
        raise invalid("owner_org", "Missing value: the organisation that will own the dataset.")
    metadata = _metadata(call)
    metadata.setdefault("visibility", _visibility(call, current=None) or "private")
    kind = _extras(call).get("kind")
    if kind:
        metadata["kind"] = kind
    try:
        create_dataset(call.site, call.actor, organisation=owner, name=name, **metadata)
    except Conflict:
        raise invalid("name", "That URL is already in use.") from None
    except NotFound as error:
        if "organisation" in error.detail.lower():
            raise invalid("owner_org", "Organization does not exist.") from None
        raise
    return mapping.show_package(call.site, call.actor, name, call.base_url)


def package_update(call: CkanCall) -> dict[str, Any]:
    """Replace a dataset's metadata."""
    return _change(call, partial=False)


def package_patch(call: CkanCall) -> dict[str, Any]:
    """Change the given fields of a dataset's metadata."""
    return _change(call, partial=True)


def _change(call: CkanCall, *, partial: bool) -> dict[str, Any]:
    name = call.required("id", "name")
    current = mapping.get_dataset(call.site, call.actor, name)
    if call.text("name") not in (None, name):
        raise invalid("name", "Dataset names never change (they are their ids).")
    owner = _owner(call)
    if owner not in (None, current.organisation):
        raise invalid("owner_org", "Datasets cannot move to another organisation.")
    kind = _extras(call).get("kind")
    if kind not in (None, current.kind):
        raise invalid("extras", "A dataset's kind cannot change.")
    changes = _metadata(call)
    if not partial:
        changes = {**CLEARED, "title": current.name, **changes}
    visibility = _visibility(call, current=current.visibility)
    if visibility is not None and visibility != current.visibility:
        changes["visibility"] = visibility
    # Even with nothing to change, the caller must have the right to change it.
    update_dataset(call.site, call.actor, name, changes)
    return mapping.show_package(call.site, call.actor, name, call.base_url)


def _owner(call: CkanCall) -> str | None:
    owner = call.text("owner_org")
    organisation = call.data.get("organization")
    if owner is None and isinstance(organisation, dict):
        named = organisation.get("name") or organisation.get("id")
        owner = str(named) if named else None
    return owner or None


def _metadata(call: CkanCall) -> dict[str, Any]:
    """The cityshare metadata fields the call gives (only those)."""
    found: dict[str, Any] = {}
    if "title" in call.data:
        found["title"] = call.text("title") or call.required("name", "id")
    if "notes" in call.data:
        found["description"] = call.text("notes") or ""
    tags = _tags(call)
    if tags is not None:
        found["tags"] = tags
    if "license_id" in call.data:
        licence = call.text("license_id") or ""
        found["licence"] = None if licence in UNSPECIFIED_LICENCES else licence
    found.update(_extra_fields(call))
    return found


def _tags(call: CkanCall) -> list[str] | None:
    if "tag_string" in call.data and "tags" not in call.data:
        return call.strings("tag_string", split=True) or []
    value = call.decoded("tags")
    if value is None:
        return None
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list):
        raise invalid("tags", 'Must be a list of tags ({"name": …}).')
    names = []
    for tag in value:
        name = tag.get("name") if isinstance(tag, dict) else tag
        if not isinstance(name, str):
            raise invalid("tags", "Each tag needs a name.")
        names.append(name)
    return names


def _extras(call: CkanCall) -> dict[str, str]:
    """The package's extras as a mapping (given as CKAN's list of key/value pairs)."""
    value = call.decoded("extras")
    if value is None:
        return {}
    if isinstance(value, dict):
        return {str(key): str(item) for key, item in value.items() if item is not None}
    if not isinstance(value, list):
        raise invalid("extras", 'Must be a list of {"key": …, "value": …}.')
    found = {}
    for extra in value:
        if not isinstance(extra, dict) or not isinstance(extra.get("key"), str):
            raise invalid("extras", "Each extra needs a key and a value.")
        if extra.get("value") is not None:
            found[extra["key"]] = str(extra["value"])
    return found


def _extra_fields(call: CkanCall) -> dict[str, Any]:
    if "extras" not in call.data:
        return {}
    extras = _extras(call)
    found: dict[str, Any] = {"update_frequency": extras.get("update_frequency") or None}
    spatial = extras.get("spatial")
    try:
        found["spatial"] = json.loads(spatial) if spatial else None
    except ValueError:
        raise invalid("extras", "spatial must be a GeoJSON geometry as JSON text.") from None
    found["temporal"] = {
        "start": extras.get("temporal_start") or None,
        "end": extras.get("temporal_end") or None,
    }
    return found


def _visibility(call: CkanCall, *, current: str | None) -> str | None:
    """The visibility the call asks for, or None when it does not say."""
    exact = call.text("visibility")
    if exact is not None and exact not in VISIBILITIES:
        raise invalid("visibility", f"Use one of {', '.join(VISIBILITIES)}.")
    private = call.flag("private") if "private" in call.data else None
    if exact is not None:
        if private is not None and private != (exact == "private"):
            raise invalid("private", f"private={private} contradicts visibility {exact!r}.")
        return exact
    if private is None:
        return None
    if private:
        return "private"
    return "open" if current in (None, "private") else current


def resource_create(call: CkanCall) -> dict[str, Any]:
    """Publish the ``upload`` file as the dataset's new version; the new resource."""
    name = call.required("package_id")
    if call.upload is None:
        raise invalid(
            "upload",
            "Send the file itself as 'upload' (multipart/form-data): resources are made "
            "from the data, and URLs are never fetched.",
        )
    filename = call.upload.filename or call.text("name")
    media_type = _media_type(call, filename)
    summary = versions.publish_version(
        call.site,
        call.actor,
        name,
        source=call.upload.path,
        media_type=media_type,
        source_name=filename,
        carry_classes=_carry_classes(call),
    )
    package = mapping.show_package(call.site, call.actor, name, call.base_url)
    resources: list[dict[str, Any]] = package["resources"]
    wanted = (call.text("format") or "CSV").lower()
    chosen = [res for res in resources if res["format"].lower() == wanted] or resources
    return {**chosen[0], "version": summary.number} if chosen else {"version": summary.number}


def _carry_classes(call: CkanCall) -> dict[str, str | None] | None:
    """``carry_classes``: the decision on classified columns the new file lacks (see
    :func:`~cityshare.bounds.classes.carried_classes`)."""
    return checked_carry(call.mapping("carry_classes"))


def _media_type(call: CkanCall, filename: str | None) -> str:
    label = (call.text("format") or "").strip().lower()
    if label:
        if label not in FORMAT_MEDIA_TYPES:
            raise invalid("format", f"Use one of {', '.join(sorted(FORMAT_MEDIA_TYPES))}.")
        return FORMAT_MEDIA_TYPES[label]
    guessed = media_type_for_filename(filename) if filename else None
    if guessed:
        return guessed
    assert call.upload is not None
    declared = call.upload.content_type.split(";")[0].strip().lower()
    if declared and declared != "application/octet-stream":
        return declared
    raise invalid("format", "Say the file's format (CSV, JSON, GeoJSON, XLSX, …).")
