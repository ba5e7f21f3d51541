"""Routes for datasets, their versions and uploads."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query, Request

from cityshare.api.deps import ActorDep, SiteDep
from cityshare.api.models import DatasetCreate, DatasetFields
from cityshare.api.upload import receive_upload
from cityshare.catalogue import datapackage, versions
from cityshare.catalogue import datasets as service

router = APIRouter(tags=["datasets"])


@router.get("/datasets")
def list_datasets(
    site: SiteDep,
    actor: ActorDep,
    organisation: str | None = Query(None, description="Only this organisation's datasets."),
    after: str | None = Query(None, description="Continue after this dataset name."),
    limit: int = Query(100, ge=1, le=service.MAX_LIST_LIMIT),
) -> dict[str, Any]:
    """The datasets you may see, by name; ``next`` continues the list."""
    return service.list_datasets(site, actor, organisation=organisation, after=after, limit=limit)


@router.post("/datasets", status_code=201)
def create_dataset(body: DatasetCreate, site: SiteDep, actor: ActorDep) -> dict[str, Any]:
    """Create a dataset in an organisation (its editors and admins). Private by default."""
    fields = body.changes()
    name = fields.pop("name")
    organisation = fields.pop("organisation")
    return service.create_dataset(site, actor, organisation=organisation, name=name, **fields)


@router.get("/datasets/{name}")
def get_dataset(name: str, site: SiteDep, actor: ActorDep) -> dict[str, Any]:
    """A dataset's metadata."""
    return service.get_dataset(site, actor, name)


@router.patch("/datasets/{name}")
def update_dataset(
    name: str, body: DatasetFields, site: SiteDep, actor: ActorDep
) -> dict[str, Any]:
    """Change metadata (editors); visibility too (admins)."""
    return service.update_dataset(site, actor, name, body.changes())


@router.delete("/datasets/{name}", status_code=204)
def delete_dataset(name: str, site: SiteDep, actor: ActorDep) -> None:
    """Delete a dataset and all its versions (admins)."""
    service.delete_dataset(site, actor, name)


@router.get("/datasets/{name}/versions")
def list_versions(name: str, site: SiteDep, actor: ActorDep) -> list[dict[str, Any]]:
    """Every version of the data, newest first."""
    return versions.list_versions(site, actor, name)


@router.get("/datasets/{name}/versions/{number}")
def get_version(name: str, number: int, site: SiteDep, actor: ActorDep) -> dict[str, Any]:
    """One version with its Table Schema."""
    return versions.get_version(site, actor, name, number)


@router.get("/datasets/{name}/schema")
def get_schema(name: str, site: SiteDep, actor: ActorDep) -> dict[str, Any]:
    """The Frictionless Table Schema of the current version."""
    schema: dict[str, Any] = versions.get_version(site, actor, name, None)["schema"]
    return schema


@router.get("/datasets/{name}/datapackage.json")
def get_data_package(name: str, request: Request, site: SiteDep, actor: ActorDep) -> dict[str, Any]:
    """The dataset as a Frictionless Data Package: metadata, Table Schema, CSV resource."""
    return datapackage.data_package(site, actor, name, str(request.base_url))


@router.put(
    "/datasets/{name}/data",
    status_code=201,
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
) -> dict[str, Any]:
    """Publish a file as the dataset's new current version (editors and admins)."""
    return await receive_upload(request, site, actor, name, filename=filename, schema=schema)
