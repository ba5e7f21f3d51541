"""What the CLI commands share: opening the site, acting as a user, progress, serving."""

from __future__ import annotations

import json
import os
import signal
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import FrameType

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.progress import (
    BarColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
)

from cityshare import runtime
from cityshare.access import Actor
from cityshare.bounds.classes import checked_carry
from cityshare.catalogue import datasets, versions
from cityshare.catalogue.models import Version
from cityshare.config import Settings
from cityshare.errors import CityshareError, NotFound
from cityshare.site import Site
from cityshare.tables import media_type_for_filename
from cityshare.tables.formats import unknown_extension

SETTINGS_KEY = "settings"


def open_site(ctx: typer.Context) -> Site:
    """The Site for the settings the main callback read."""
    settings: Settings = ctx.obj[SETTINGS_KEY]
    site = runtime.open_site(settings)
    ctx.call_on_close(site.close)
    return site


def publish_with_progress(
    site: Site,
    actor: Actor,
    file: Path,
    *,
    dataset: str,
    organisation: str | None,
    title: str | None,
    visibility: str,
    schema_path: Path | None,
    console: Console,
    carry_classes: str | None = None,
) -> Version:
    """Create the dataset if needed, then publish ``file`` with a progress bar;
    ``carry_classes`` is the JSON text of the decision on classified columns the file
    lacks (see :func:`~cityshare.bounds.classes.carried_classes`)."""
    try:
        datasets.get_dataset(site, actor, dataset)
    except NotFound:
        if organisation is None:
            raise NotFound(f"No dataset {dataset!r}: pass --org to create it.") from None
        datasets.create_dataset(
            site,
            actor,
            organisation=organisation,
            name=dataset,
            title=title or dataset,
            visibility=visibility,
        )
    media_type = media_type_for_filename(file.name)
    if media_type is None:
        raise CityshareError(unknown_extension(file.name, "Rename the file."))
    schema = json.loads(schema_path.read_text()) if schema_path else None
    with _progress(console) as progress:
        task = progress.add_task(f"Loading {file.name}", total=None)
        return versions.publish_version(
            site,
            actor,
            dataset,
            source=file,
            media_type=media_type,
            schema=schema,
            source_name=file.name,
            progress=lambda done: progress.update(task, completed=done),
            carry_classes=checked_carry(carry_classes),
        )


def _progress(console: Console) -> Progress:
    return Progress(
        SpinnerColumn(),
        "[progress.description]{task.description}",
        BarColumn(),
        TextColumn("{task.completed:,.0f} rows"),
        TimeElapsedColumn(),
        console=console,
        transient=True,
    )


def serve_site(settings: Settings) -> None:
    """Run uvicorn on the settings' host and port (several workers if configured)."""
    import uvicorn

    from cityshare.audit.schedule import checkpoints_alongside
    from cityshare.http.edge import host_warning
    from cityshare.mqtt.process import ingest_worker_alongside

    site = runtime.open_site(settings)  # migrate once, before workers start
    site.close()
    if warning := host_warning(settings):
        print(f"WARNING: {warning}", file=sys.stderr)
    os.environ["CITYSHARE_DATA_DIR"] = str(settings.data_dir.resolve())
    if settings.database_url:
        os.environ["CITYSHARE_DATABASE_URL"] = settings.database_url
    with (
        checkpoints_alongside(settings),  # in this process only: one schedule for N workers
        ingest_worker_alongside(settings),  # only when CITYSHARE_MQTT_URL is set
        _sigterm_as_exit(),
    ):
        uvicorn.run(
            "cityshare.asgi:app_from_environment",
            factory=True,
            host=settings.host,
            port=settings.port,
            workers=settings.workers,
            log_level="info",
            access_log=settings.access_log,
            proxy_headers=False,
            server_header=False,
        )
    # Every process that used the store has stopped: checkpoint SQLite's WAL (Site.close).
    Site.open(settings).close()


class _Terminated(Exception):
    """SIGTERM arrived: the server is stopping cleanly."""


@contextmanager
def _sigterm_as_exit() -> Iterator[None]:
    """Let SIGTERM end the block it arrives in like a normal return.

    After a graceful shutdown, a single uvicorn server raises the signal it handled
    again; with the default handler the process would die before the blocks around the
    server (the last audit checkpoint, stopping the ingest worker, the WAL checkpoint)
    could run. Here the signal ends the block instead, and the command exits with 0.
    """

    def stop(_signal: int, _frame: FrameType | None) -> None:
        raise _Terminated

    previous = signal.signal(signal.SIGTERM, stop)
    try:
        yield
    except _Terminated:
        pass
    finally:
        signal.signal(signal.SIGTERM, previous)


def run_cli(app: typer.Typer, console: Console) -> None:
    """Run the CLI, showing service errors as one clear line instead of a traceback."""
    try:
        app()
    except CityshareError as error:
        console.print(f"[red]Error:[/] {error.detail}", markup=True, highlight=False)
        raise SystemExit(1) from None
    except ValidationError as error:
        problems = "; ".join(
            f"CITYSHARE_{'_'.join(str(part) for part in item['loc']).upper()}: {item['msg']}"
            for item in error.errors()
        )
        console.print(f"[red]Error in settings:[/] {problems}", highlight=False)
        raise SystemExit(2) from None
