"""Routes for datasets, their versions and uploads."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request

from cityshare.api.models import DatasetCreate, DatasetFields
from cityshare.bounds.classes import checked_carry
from cityshare.catalogue import datasets as service
from cityshare.catalogue import search, versions
from cityshare.catalogue.models import (
    DataPackage,
    Dataset,
    DatasetPage,
    TableSchema,
    Version,
    VersionDetail,
)
from cityshare.http.deps import ActorDep, SiteDep
from cityshare.http.upload import receive_upload
from cityshare.interop import datapackage

router = APIRouter(tags=["datasets"])


@router.get("/datasets", response_model=DatasetPage)
def search_datasets(
    request: Request,
    site: SiteDep,
    actor: ActorDep,
    q: str = Query(
        "",
        description="Words to find in titles, descriptions, tags, "
        "organisations and column names; the last word may be a prefix.",
    ),
    organisation: Annotated[
        list[str] | None, Query(description="Only these organisations' datasets.")
    ] = None,
    tag: Annotated[
        list[str] | None, Query(description="Only datasets with all these tags.")
    ] = None,
    licence: Annotated[
        list[str] | None, Query(description="Only datasets under these licences.")
    ] = None,
    format: Annotated[
        list[str] | None, Query(description="Only datasets readable in all these formats.")
    ] = None,
    kind: Annotated[
        list[str] | None, Query(description="Only datasets of these kinds: table, sensor.")
    ] = None,
    visibility: Annotated[
        list[str] | None, Query(description="Only datasets of these visibilities.")
    ] = None,
    sort: str = Query("relevance", description=f"One of {', '.join(search.SORTS)}."),
    limit: int = Query(100, description=f"How many, 0 to {search.MAX_LIMIT}."),
    offset: int = Query(0, description=f"How many to skip, at most {search.MAX_OFFSET}."),
    facets: str = Query(
        "", description=f"Facets to count, comma-separated, or 'all': {', '.join(search.FACETS)}."
    ),
) -> DatasetPage:
    """Search the datasets you may see, with facets; ``next`` is the next page's URL."""
    query = search.SearchQuery(
        text=q,
        organisations=tuple(organisation or ()),
        tags=tuple(tag or ()),
        licences=tuple(licence or ()),
        formats=tuple(format or ()),
        kinds=tuple(kind or ()),
        visibilities=tuple(visibility or ()),
        sort=sort,
        offset=offset,
        limit=limit,
        facets=search.FACETS if facets == "all" else tuple(filter(None, facets.split(","))),
    )
    result = search.search_datasets(site, actor, query)
    following = offset + limit
    more = limit > 0 and following < result.count and following <= search.MAX_OFFSET
    return result.page(str(request.url.include_query_params(offset=following)) if more else None)


@router.post(
    "/datasets", status_code=201, response_model=Dataset, response_model_exclude_unset=True
)
def create_dataset(body: DatasetCreate, site: SiteDep, actor: ActorDep) -> Dataset:
    """Create a dataset in an organisation (its editors and admins). Private by default."""
    fields = body.changes()
    name = fields.pop("name")
    organisation = fields.pop("organisation")
    return service.create_dataset(site, actor, organisation=organisation, name=name, **fields)


@router.get("/datasets/{name}", response_model=Dataset, response_model_exclude_unset=True)
def get_dataset(name: str, site: SiteDep, actor: ActorDep) -> Dataset:
    """A dataset's metadata; ``column_classes`` only for those who read all of it."""
    return service.get_dataset(site, actor, name)


@router.patch("/datasets/{name}", response_model=Dataset, response_model_exclude_unset=True)
def update_dataset(name: str, body: DatasetFields, site: SiteDep, actor: ActorDep) -> Dataset:
    """Change metadata (editors); visibility too (admins)."""
    return service.update_dataset(site, actor, name, body.changes())


@router.delete("/datasets/{name}", status_code=204)
def delete_dataset(name: str, site: SiteDep, actor: ActorDep) -> None:
    """Delete a dataset and all its versions (admins)."""
    service.delete_dataset(site, actor, name)


@router.get(
    "/datasets/{name}/versions",
    response_model=list[Version],
    response_model_exclude_unset=True,
)
def list_versions(name: str, site: SiteDep, actor: ActorDep) -> list[Version]:
    """Every version of the data, newest first; ``row_count``, ``byte_size`` and ``sha256``
    only as far as the reader's bounds allow (see the versions section of the API docs)."""
    return versions.list_versions(site, actor, name)


@router.get(
    "/datasets/{name}/versions/{number}",
    response_model=VersionDetail,
    response_model_exclude_unset=True,
)
def get_version(name: str, number: int, site: SiteDep, actor: ActorDep) -> VersionDetail:
    """One version with its Table Schema, both within the reader's bounds."""
    return versions.get_version(site, actor, name, number)


@router.get(
    "/datasets/{name}/schema", response_model=TableSchema, response_model_exclude_unset=True
)
def get_schema(name: str, site: SiteDep, actor: ActorDep) -> TableSchema:
    """The Frictionless Table Schema of the current version."""
    return versions.get_version(site, actor, name, None).schema_


@router.get(
    "/datasets/{name}/datapackage.json",
    response_model=DataPackage,
    response_model_exclude_unset=True,
)
def get_data_package(name: str, request: Request, site: SiteDep, actor: ActorDep) -> DataPackage:
    """The dataset as a Frictionless Data Package: metadata, Table Schema, CSV resource."""
    package = datapackage.data_package(site, actor, name, str(request.base_url))
    return DataPackage.model_validate(package)


@router.put(
    "/datasets/{name}/data",
    status_code=201,
    response_model=Version,
    openapi_extra={
        "requestBody": {
            "required": True,
            "description": "The file as the body with its media type (CSV, JSON, NDJSON, "
            "GeoJSON or .xlsx), or multipart/form-data with a `file` part and an optional "
            "`schema` part (a Frictionless Table Schema as JSON).",
            "content": {
                "text/csv": {"schema": {"type": "string", "format": "binary"}},
                "application/json": {"schema": {"type": "string", "format": "binary"}},
                "application/x-ndjson": {"schema": {"type": "string", "format": "binary"}},
                "application/geo+json": {"schema": {"type": "string", "format": "binary"}},
                "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": {
                    "schema": {"type": "string", "format": "binary"}
                },
                "multipart/form-data": {
                    "schema": {
                        "type": "object",
                        "properties": {
                            "file": {"type": "string", "format": "binary"},
                            "schema": {"type": "string"},
                        },
                        "required": ["file"],
                    }
                },
            },
        }
    },
)
async def upload_data(
    name: str,
    request: Request,
    site: SiteDep,
    actor: ActorDep,
    filename: str | None = Query(
        None,
        description="The file's name, to record and to guess "
        "its format when the media type is application/octet-stream.",
    ),
    schema: str | None = Query(
        None,
        description="'current' to reuse the current version's schema instead of inferring one.",
    ),
    carry_classes: str | None = Query(
        None,
        description="JSON object: for each classified column the new file lacks, the "
        'column that takes its class, or null if dropped, e.g. {"plate": "registration"}. '
        "Without a decision for each such column the upload is refused (409).",
        max_length=100_000,
    ),
) -> Version:
    """Publish a file as the dataset's new current version (editors and admins)."""
    summary = await receive_upload(
        request,
        site,
        actor,
        name,
        filename=filename,
        schema=schema,
        carry_classes=checked_carry(carry_classes),
    )
    return summary
