"""Receive an upload: check access first, stream the body to disk, then publish it."""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from contextlib import suppress
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import Any

import orjson
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile
from starlette.requests import Request

from cityshare.access import Actor
from cityshare.catalogue import versions
from cityshare.catalogue.datasets import table_dataset_row
from cityshare.catalogue.models import Version
from cityshare.errors import BadRequest, UnsupportedMediaType
from cityshare.site import Site
from cityshare.storage.space import SpaceGuard, SpoolMeter, disk_full_refused, space_guard
from cityshare.tables import media_type_for_filename
from cityshare.tables.formats import unknown_extension

CHUNK = 1 << 20


async def receive_upload(
    request: Request,
    site: Site,
    actor: Actor,
    name: str,
    *,
    filename: str | None,
    schema: str | None,
    carry_classes: Mapping[str, str | None] | None = None,
) -> Version:
    """Handle ``PUT /datasets/{name}/data``: returns the new version's summary. A full
    disk, met or foreseen (:mod:`cityshare.storage.space`), is a 507 that changed
    nothing."""
    # Checked before the body is read, so a refused upload costs no disk or time;
    # publish_version checks again inside its transaction, where the answer counts.
    await run_in_threadpool(check_may_upload, site, actor, name)
    guard = upload_guard(site)
    guard.check(declared_length(request))
    spool = _spool_path(site)
    try:
        with disk_full_refused():
            return await _receive_and_publish(
                request, site, actor, name, spool, guard.meter(), filename=filename,
                schema=schema, carry_classes=carry_classes,
            )  # fmt: skip
    finally:
        with suppress(FileNotFoundError):
            spool.unlink()


async def _receive_and_publish(
    request: Request,
    site: Site,
    actor: Actor,
    name: str,
    spool: Path,
    meter: SpoolMeter,
    *,
    filename: str | None,
    schema: str | None,
    carry_classes: Mapping[str, str | None] | None,
) -> Version:
    media_type, table_schema, source_name = await _receive(request, spool, meter, filename)
    if schema == "current":
        current = await run_in_threadpool(versions.get_version, site, actor, name, None)
        table_schema = current.schema_.document()
    elif schema is not None:
        raise BadRequest("schema= accepts only 'current'.", parameter="schema")
    return await run_in_threadpool(
        lambda: versions.publish_version(
            site,
            actor,
            name,
            source=spool,
            media_type=media_type,
            schema=table_schema,
            source_name=source_name,
            carry_classes=carry_classes,
        )
    )


def upload_guard(site: Site) -> SpaceGuard:
    """The free-space guard of uploads to ``site`` (``CITYSHARE_LIMIT_MIN_FREE_BYTES``)."""
    settings = site.settings
    return space_guard(
        settings.limits.min_free_bytes, settings.data_dir, settings.resolved_database_url()
    )


def declared_length(request: Request) -> int | None:
    """The request's ``Content-Length``, if it declares one (the body limit refused
    one that is not a number)."""
    declared = request.headers.get("content-length", "")
    return int(declared) if declared.isdigit() else None


def check_may_upload(site: Site, actor: Actor, name: str) -> None:
    """Refuse unless ``actor`` may upload a file to the dataset ``name`` (the same check
    as :func:`~cityshare.catalogue.versions.publish_version`'s, made before a body is
    read)."""
    with site.engine.connect() as connection:
        table_dataset_row(connection, actor, name)


def _spool_path(site: Site) -> Path:
    folder = site.settings.data_dir / "uploads"
    folder.mkdir(parents=True, exist_ok=True)
    return folder / f"upload-{secrets.token_hex(16)}"


async def _receive(
    request: Request, spool: Path, meter: SpoolMeter, filename: str | None
) -> tuple[str, dict[str, Any] | None, str | None]:
    content_type = request.headers.get("content-type", "")
    if content_type.startswith("multipart/form-data"):
        return await _receive_multipart(request, spool, meter)
    with spool.open("wb") as handle:
        async for chunk in request.stream():
            handle.write(chunk)
            meter.wrote(len(chunk))
    return _media_type(content_type, filename), None, safe_filename(filename)


async def _receive_multipart(
    request: Request, spool: Path, meter: SpoolMeter
) -> tuple[str, dict[str, Any] | None, str | None]:
    async with request.form(max_files=1, max_fields=2) as form:
        upload = form.get("file")
        if not isinstance(upload, UploadFile):
            raise BadRequest("Multipart uploads need a 'file' part.", parameter="file")
        with spool.open("wb") as handle:
            while chunk := await upload.read(CHUNK):
                handle.write(chunk)
                meter.wrote(len(chunk))
        schema_text = form.get("schema")
        name = safe_filename(upload.filename)
        media_type = _media_type(upload.content_type or "", name)
    return media_type, _parse_schema(schema_text), name


def _parse_schema(text: object) -> dict[str, Any] | None:
    if text is None:
        return None
    try:
        schema = orjson.loads(str(text))
    except orjson.JSONDecodeError:
        raise BadRequest("The 'schema' part is not valid JSON.", parameter="schema") from None
    if not isinstance(schema, dict):
        raise BadRequest("The 'schema' part must be a Table Schema object.", parameter="schema")
    return schema


def _media_type(content_type: str, filename: str | None) -> str:
    base = content_type.split(";")[0].strip().lower()
    if base in ("", "application/octet-stream") and filename:
        guessed = media_type_for_filename(filename)
        if guessed:
            return guessed
        raise UnsupportedMediaType(unknown_extension(filename))
    if not base:
        raise UnsupportedMediaType(
            "Send the file's media type in Content-Type (for example text/csv)."
        )
    return content_type


def safe_filename(name: str | None) -> str | None:
    """The last path component of a client-supplied file name, for display only."""
    if not name:
        return None
    base = PureWindowsPath(PurePosixPath(name.replace("\x00", "")).name).name
    return base[:300] or None
