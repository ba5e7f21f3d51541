"""``cityshare harvest``: copy another catalogue's public datasets into an organisation."""

from __future__ import annotations

from typing import Annotated

import orjson
import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn
from rich.table import Table
from rich.text import Text

from cityshare.accounts.console import console_actor
from cityshare.cli.support import open_site
from cityshare.errors import CityshareError
from cityshare.harvest import HarvestOptions, HarvestSummary, Outcome, harvest, policy_from_settings
from cityshare.harvest.fetch import UnsafeURL

console = Console()
errors = Console(stderr=True)
EXIT_SOME_FAILED = 3
STYLES = {"created": "green", "updated": "cyan", "failed": "red", "missing": "yellow"}


def harvest_command(
    ctx: typer.Context,
    source_url: Annotated[
        str,
        typer.Argument(
            help="The source: a CKAN site (or its /api/3/action URL), or a DCAT catalogue URL."
        ),
    ],
    org: Annotated[str, typer.Option("--org", help="The organisation that will own them.")],
    source_type: Annotated[
        str | None,
        typer.Option("--type", help="ckan or dcat (default: ckan if the source answers as one)."),
    ] = None,
    visibility: Annotated[
        str, typer.Option(help="open, shared or private: the visibility of new datasets.")
    ] = "open",
    no_data: Annotated[bool, typer.Option("--no-data", help="Harvest metadata only.")] = False,
    limit: Annotated[
        int | None, typer.Option(min=1, help="Harvest at most this many datasets.")
    ] = None,
    token: Annotated[
        str | None,
        typer.Option(
            help="An API token for the source (env CITYSHARE_HARVEST_TOKEN).",
            envvar="CITYSHARE_HARVEST_TOKEN",
            show_envvar=False,
        ),
    ] = None,
    name_prefix: Annotated[
        str, typer.Option(help="Put this before every new dataset's name, e.g. 'leeds-'.")
    ] = "",
    delete_missing: Annotated[
        bool,
        typer.Option(
            "--delete-missing", help="Delete datasets the source no longer offers as public."
        ),
    ] = False,
    allow_private_addresses: Annotated[
        bool,
        typer.Option(
            "--allow-private-addresses",
            help="Let the harvest reach loopback and private addresses (trusted sources only).",
        ),
    ] = False,
    max_bytes: Annotated[
        int | None,
        typer.Option(
            min=1, help="Largest data file to download (env CITYSHARE_HARVEST_MAX_BYTES)."
        ),
    ] = None,
    timeout: Annotated[
        float | None,
        typer.Option(min=0.1, help="Time limit of one request, in seconds."),
    ] = None,
    json_output: Annotated[bool, typer.Option("--json", help="Print the summary as JSON.")] = False,
    as_user: Annotated[
        str, typer.Option("--as", help="Act as this user (a site admin by default).")
    ] = "admin",
) -> None:
    """Harvest datasets (metadata, and data where public) from a CKAN API or DCAT catalogue."""
    site = open_site(ctx)
    options = HarvestOptions(
        source_url=source_url,
        organisation=org,
        source_type=source_type,
        visibility=visibility,
        with_data=not no_data,
        limit=limit,
        token=token,
        name_prefix=name_prefix,
        delete_missing=delete_missing,
    )
    policy = policy_from_settings(
        site.settings,
        allow_private=allow_private_addresses,
        max_bytes=max_bytes,
        total_seconds=timeout,
    )
    try:
        actor = console_actor(site, as_user)
        if json_output:
            summary = harvest(site, actor, options, policy)
        else:
            with ProgressBar(console) as progress:
                summary = harvest(site, actor, options, policy, progress)
    except CityshareError as error:
        errors.print(Text("Error: ", style="red") + Text(error.detail))
        if isinstance(error, UnsafeURL) and error.opt_in:
            errors.print(
                "For a trusted internal source, pass --allow-private-addresses.", markup=False
            )
        raise typer.Exit(1) from None
    if json_output:
        typer.echo(orjson.dumps(summary.as_dict()).decode())
    else:
        show_summary(summary)
    if summary.counts()["failed"]:
        raise typer.Exit(EXIT_SOME_FAILED)


class ProgressBar:
    """A rich progress bar over the datasets of a run."""

    def __init__(self, out: Console) -> None:
        self._progress = Progress(
            SpinnerColumn(),
            TextColumn("{task.description}", markup=False),
            BarColumn(),
            MofNCompleteColumn(),
            console=out,
            transient=True,
        )
        self._task = self._progress.add_task("Reading the source", total=None)

    def __enter__(self) -> ProgressBar:
        self._progress.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._progress.stop()

    def listed(self, total: int | None) -> None:
        """Show the total once the source gives it."""
        if total is not None:
            self._progress.update(self._task, total=total)

    def started(self, name: str) -> None:
        """Name the dataset being harvested."""
        self._progress.update(self._task, description=f"Harvesting {name}")

    def finished(self, outcome: Outcome) -> None:
        """Count one more dataset done."""
        self._progress.advance(self._task)


def show_summary(summary: HarvestSummary) -> None:
    """The datasets of a run in a table, then the counts."""
    if summary.outcomes:
        table = Table("dataset", "result", "detail")
        for outcome in summary.outcomes:
            style = STYLES.get(outcome.status, "")
            table.add_row(
                Text(outcome.name), Text(outcome.status, style=style), Text(outcome.detail)
            )
        console.print(table)
    counts = summary.counts()
    done = ", ".join(f"{counts[key]} {key}" for key in ("created", "updated", "unchanged"))
    other = ", ".join(
        f"{counts[key]} {key}" for key in ("skipped", "failed", "missing", "deleted") if counts[key]
    )
    line = f"Harvested {summary.source} ({summary.source_type}) into {summary.organisation}: {done}"
    console.print(Text(line + (f"; {other}" if other else "") + "."))
    if summary.not_public:
        console.print(
            Text(f"{summary.not_public} dataset(s) not public at the source: never harvested.")
        )
    if not summary.complete:
        why = summary.stopped or "the limit was reached"
        console.print(
            Text(f"Not the whole source was read ({why}): missing datasets not looked for.")
        )
