"""Datasets, resources and organisations as CKAN's Action API shows them.

The CKAN adapter (``cityshare.api.ckan``) answers with these dictionaries; everything
here reads through the catalogue's services, so the access policy decides what exists.

What maps to what::

    CKAN package                 cityshare dataset
    id, name                     name (immutable, unique: the id too)
    title, notes                 title, description
    tags [{"name"}]              tags
    license_id                   licence (SPDX)
    owner_org, organization      the owning organisation (its id is its name)
    private                      visibility == "private" ("visibility" is shown too)
    extras                       update_frequency, spatial (GeoJSON text),
                                 temporal_start, temporal_end, kind
    metadata_created/_modified   created_at / modified_at (UTC, without offset, as CKAN)
    resources                    derived from the data, never stored (see below)

Resources are the ways to read the data: for a dataset of tables with data, one per
format of :func:`cityshare.tables.data_formats.dataset_formats`, with the id
``{dataset}.{format}`` (``traffic-counts.csv``) and the rows export as URL; the datastore
(``datastore_search``) reads any of them. A sensor dataset has one resource per stream
and format, ``{dataset}.stream-{id}.{format}``: the observations export.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import Any
from urllib.parse import quote

from cityshare.access import Actor
from cityshare.accounts.models import Organisation
from cityshare.accounts.organisations import get_organisation, get_organisations
from cityshare.catalogue.datasets import get_dataset as get_visible_dataset
from cityshare.catalogue.models import Dataset, DatasetBase, ListedDataset
from cityshare.catalogue.search import MAX_LIMIT, MAX_OFFSET, SearchQuery, search_datasets
from cityshare.catalogue.versions import get_version
from cityshare.errors import NotFound
from cityshare.site import Site
from cityshare.streams.datastreams import list_streams
from cityshare.streams.models import Stream
from cityshare.tables.data_formats import (
    ALL_FORMATS,
    SENSOR_FORMATS,
    TABLE_FORMATS,
    DataFormat,
    dataset_formats,
)

# The CKAN release whose Action API this adapter follows.
CKAN_VERSION = "2.10.0"
SEPARATOR = "."  # dataset names never contain it (see catalogue.names)
STREAM_PREFIX = "stream-"
# Licences CKAN's default list marks open (``isopen``), by SPDX identifier.
OPEN_LICENCES = frozenset(
    {
        "CC0-1.0", "CC-BY-4.0", "CC-BY-3.0", "CC-BY-SA-4.0", "CC-BY-SA-3.0",
        "ODbL-1.0", "ODC-By-1.0", "PDDL-1.0", "OGL-UK-3.0", "GFDL-1.3", "etalab-2.0",
        "DL-DE-BY-2.0", "DL-DE-ZERO-2.0",
    }
)  # fmt: skip
EXTRA_KEYS = ("update_frequency", "spatial", "temporal_start", "temporal_end", "kind")
BY_PARAM = {data_format.param: data_format for data_format in ALL_FORMATS}


def resource_id(dataset: str, suffix: str) -> str:
    """The id of one of a dataset's resources."""
    return f"{dataset}{SEPARATOR}{suffix}"


def split_resource_id(identifier: str) -> tuple[str, str]:
    """``(dataset name, suffix)`` of a resource id; the suffix is empty for a bare name."""
    dataset, _separator, suffix = identifier.partition(SEPARATOR)
    return dataset, suffix


def get_dataset(site: Site, actor: Actor, name: str) -> Dataset:
    """The dataset ``name`` if ``actor`` may see it. A dataset that does not exist and
    one the actor may not see get the very same answer, so no message tells them apart."""
    try:
        return get_visible_dataset(site, actor, name)
    except NotFound:
        raise NotFound(f"No dataset named {name[:100]!r}, or you may not see it.") from None


def ckan_time(value: str | None) -> str | None:
    """An ISO 8601 UTC time as CKAN writes it (no offset)."""
    return value.removesuffix("Z") if value else value


# --- out: organisations ---------------------------------------------------------------


def organization_dict(organisation: Organisation, package_count: int | None) -> dict[str, Any]:
    """An organisation as CKAN shows it (its id is its name)."""
    shown: dict[str, Any] = {
        "id": organisation.name,
        "name": organisation.name,
        "title": organisation.title,
        "display_name": organisation.title,
        "description": organisation.description or "",
        "created": ckan_time(organisation.created_at),
        "type": "organization",
        "is_organization": True,
        "state": "active",
        "approval_status": "approved",
        "image_url": "",
        "image_display_url": "",
    }
    if package_count is not None:
        shown["package_count"] = package_count
    return shown


# --- out: resources -------------------------------------------------------------------


def table_resources(
    dataset: DatasetBase,
    formats: Sequence[DataFormat],
    base_url: str,
    schema: dict[str, Any] | None = None,
) -> list[dict[str, Any]]:
    """The resources of a dataset of tables: one per format of its rows export. The CSV
    one carries the Table Schema the reader would get, when ``schema`` is given."""
    name = dataset.name
    rows_url = f"{base_url.rstrip('/')}/api/v1/datasets/{quote(name)}/rows"
    resources = []
    for position, data_format in enumerate(formats):
        resource = _resource(
            dataset,
            resource_id(name, data_format.param),
            f"{dataset.title} ({data_format.label})",
            f"{rows_url}?_format={data_format.param}",
            data_format,
            position,
            datastore=True,
        )
        if schema is not None and data_format.param == "csv":
            resource["schema"] = schema
        resources.append(resource)
    return resources


def stream_resources(
    dataset: DatasetBase, streams: Iterable[Stream], base_url: str
) -> list[dict[str, Any]]:
    """The resources of a sensor dataset: each stream's observations, in each format."""
    base = base_url.rstrip("/")
    resources: list[dict[str, Any]] = []
    for stream in streams:
        url = f"{base}/api/v1/streams/{stream.id}/observations"
        title = f"{stream.name} ({stream.device.uid})"
        for data_format in SENSOR_FORMATS:
            suffix = f"{STREAM_PREFIX}{stream.id}{SEPARATOR}{data_format.param}"
            resource = _resource(
                dataset,
                resource_id(dataset.name, suffix),
                f"{title} ({data_format.label})",
                f"{url}?_format={data_format.param}",
                data_format,
                len(resources),
                datastore=False,
            )
            resource["description"] = f"{stream.observed_property} ({stream.unit})"
            resources.append(resource)
    return resources


def _resource(
    dataset: DatasetBase,
    identifier: str,
    title: str,
    url: str,
    data_format: DataFormat,
    position: int,
    *,
    datastore: bool,
) -> dict[str, Any]:
    return {
        "id": identifier,
        "package_id": dataset.name,
        "name": title,
        "description": "",
        "format": data_format.label,
        "mimetype": data_format.media_type,
        "url": url,
        "url_type": None,
        "datastore_active": datastore,
        "state": "active",
        "position": position,
        "created": ckan_time(dataset.created_at),
        "last_modified": ckan_time(dataset.modified_at),
        "size": None,
        "hash": "",
        "resource_type": None,
        "mimetype_inner": None,
        "cache_url": None,
    }


def dataset_resources(
    site: Site, actor: Actor, dataset: DatasetBase, base_url: str, *, with_schema: bool
) -> list[dict[str, Any]]:
    """The resources of ``dataset`` (with its ``formats`` when it comes from a search)."""
    if dataset.kind == "sensor":
        return stream_resources(dataset, list_streams(site, actor, dataset.name), base_url)
    if dataset.current_version is None:
        return []
    if not with_schema and isinstance(dataset, ListedDataset):
        labels = {label.lower() for label in dataset.formats}
        formats = [f for f in ALL_FORMATS if f.label.lower() in labels]
        return table_resources(dataset, formats, base_url)
    schema = _current_schema(site, actor, dataset)
    formats = list(dataset_formats("table", schema))
    return table_resources(dataset, formats, base_url, schema if with_schema else None)


def _current_schema(site: Site, actor: Actor, dataset: DatasetBase) -> dict[str, Any]:
    """The Table Schema of a dataset's current version, as ``actor`` reads it."""
    return get_version(site, actor, dataset.name, None).schema_.document()


def show_resource(site: Site, actor: Actor, identifier: str, base_url: str) -> dict[str, Any]:
    """The resource ``identifier`` (NotFound unless it is one of a visible dataset's)."""
    name, suffix = split_resource_id(identifier)
    if suffix:
        dataset = get_dataset(site, actor, name)
        for resource in dataset_resources(site, actor, dataset, base_url, with_schema=True):
            if resource["id"] == identifier:
                return resource
    raise NotFound(f"No resource {identifier[:120]!r}, or you may not see it.")


def datastore_dataset(site: Site, actor: Actor, identifier: str) -> str:
    """The dataset whose table a datastore call on ``identifier`` reads: a resource id of
    a dataset of tables, or the dataset's name itself."""
    name, suffix = split_resource_id(identifier)
    dataset = get_dataset(site, actor, name)
    if dataset.kind != "table":
        raise NotFound(
            f"Resource {identifier[:120]!r} is a sensor stream, not a datastore table: read "
            "it from its url."
        )
    if suffix and not _offers(site, actor, dataset, suffix):
        raise NotFound(f"No resource {identifier[:120]!r}, or you may not see it.")
    return name


def _offers(site: Site, actor: Actor, dataset: DatasetBase, param: str) -> bool:
    """Whether a dataset of tables has (or, without data yet, may have) a resource in
    the format ``param``."""
    if param not in BY_PARAM:
        return False
    if dataset.current_version is None or BY_PARAM[param] in TABLE_FORMATS:
        return True
    return BY_PARAM[param] in dataset_formats("table", _current_schema(site, actor, dataset))


# --- out: packages --------------------------------------------------------------------


def package_dict(
    dataset: DatasetBase, organisation: Organisation, resources: list[dict[str, Any]]
) -> dict[str, Any]:
    """A dataset as a CKAN package."""
    licence = dataset.licence
    tags = [_tag(tag) for tag in dataset.tags]
    version = dataset.current_version
    return {
        "id": dataset.name,
        "name": dataset.name,
        "title": dataset.title,
        "notes": dataset.description or "",
        "url": "",
        "version": None if version is None else str(version),
        "author": None,
        "author_email": None,
        "maintainer": None,
        "maintainer_email": None,
        "license_id": licence,
        "license_title": licence,
        "license_url": f"https://spdx.org/licenses/{quote(licence)}.html" if licence else None,
        "isopen": licence in OPEN_LICENCES,
        "private": dataset.visibility == "private",
        "visibility": dataset.visibility,
        "state": "active",
        "type": "dataset",
        "owner_org": organisation.name,
        "organization": organization_dict(organisation, None),
        "creator_user_id": None,
        "metadata_created": ckan_time(dataset.created_at),
        "metadata_modified": ckan_time(dataset.modified_at),
        "tags": tags,
        "num_tags": len(tags),
        "groups": [],
        "relationships_as_object": [],
        "relationships_as_subject": [],
        "extras": _extras(dataset),
        "resources": resources,
        "num_resources": len(resources),
    }


def _tag(name: str) -> dict[str, Any]:
    return {
        "id": name,
        "name": name,
        "display_name": name,
        "state": "active",
        "vocabulary_id": None,
    }


def _extras(dataset: DatasetBase) -> list[dict[str, str]]:
    temporal = dataset.temporal
    values = {
        "update_frequency": dataset.update_frequency,
        "spatial": json.dumps(dataset.spatial) if dataset.spatial else None,
        "temporal_start": temporal.start,
        "temporal_end": temporal.end,
        "kind": dataset.kind,
    }
    return [{"key": key, "value": str(value)} for key, value in values.items() if value]


class OrganisationCache:
    """Organisations looked up once per call (a search page names few of them)."""

    def __init__(self, site: Site, actor: Actor) -> None:
        self.site = site
        self.actor = actor
        self.found: dict[str, Organisation] = {}

    def load(self, names: Iterable[str]) -> None:
        """Look up all of ``names`` not yet known, in one read."""
        missing = set(names) - self.found.keys()
        if missing:
            self.found.update(get_organisations(self.site, self.actor, missing))

    def get(self, name: str) -> Organisation:
        """The organisation called ``name`` (NotFound when invisible)."""
        if name not in self.found:
            self.found[name] = get_organisation(self.site, self.actor, name)
        return self.found[name]


def show_package(site: Site, actor: Actor, name: str, base_url: str) -> dict[str, Any]:
    """The package ``name`` with its resources (NotFound when invisible)."""
    dataset = get_dataset(site, actor, name)
    resources = dataset_resources(site, actor, dataset, base_url, with_schema=True)
    organisation = get_organisation(site, actor, dataset.organisation)
    return package_dict(dataset, organisation, resources)


def packages_of(
    site: Site,
    actor: Actor,
    found: Sequence[DatasetBase],
    base_url: str,
    organisations: OrganisationCache | None = None,
) -> list[dict[str, Any]]:
    """Packages of datasets a search or a list returned (with ``formats`` from a search)."""
    organisations = organisations or OrganisationCache(site, actor)
    organisations.load(dataset.organisation for dataset in found)
    return [
        package_dict(
            dataset,
            organisations.get(dataset.organisation),
            dataset_resources(site, actor, dataset, base_url, with_schema=False),
        )
        for dataset in found
    ]


def all_visible_datasets(
    site: Site,
    actor: Actor,
    organisation: str | None = None,
    visibilities: tuple[str, ...] = (),
) -> list[ListedDataset]:
    """Every dataset ``actor`` may see (of ``organisation``; of these visibilities), by
    name, through the catalogue's search: at most ``MAX_OFFSET + MAX_LIMIT`` of them."""
    found: list[ListedDataset] = []
    owners = (organisation,) if organisation else ()
    offset = 0
    while offset <= MAX_OFFSET:
        query = SearchQuery(
            organisations=owners,
            visibilities=visibilities,
            sort="name",
            offset=offset,
            limit=MAX_LIMIT,
        )
        result = search_datasets(site, actor, query)
        found.extend(result.datasets)
        offset += MAX_LIMIT
        if offset >= result.count:
            break
    return found
