"""``cityshare audit …``: prove the audit log whole, and write signed checkpoints."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import orjson
import typer
from rich.console import Console

from cityshare import keys
from cityshare.audit.checkpoint import make_checkpoint, site_signing_key
from cityshare.audit.checkpoint_folder import (
    Checked,
    CheckpointsVerdict,
    check_checkpoints,
    checkpoint_files,
    write_checkpoint,
)
from cityshare.audit.verify import verify_chain
from cityshare.cli.support import open_site
from cityshare.config import Settings
from cityshare.errors import CityshareError

audit_app = typer.Typer(help="Verify the audit log and write checkpoints.", no_args_is_help=True)
console = Console()


@audit_app.command("verify")
def audit_verify(
    ctx: typer.Context,
    checkpoint: Annotated[
        Path | None,
        typer.Option(
            help="A checkpoint file, or a folder of them, to check the log against "
            "(default: the checkpoint folder, CITYSHARE_AUDIT_CHECKPOINT_DIR).",
            exists=True,
        ),
    ] = None,
    no_checkpoints: Annotated[
        bool, typer.Option("--no-checkpoints", help="Walk the hash chain only.")
    ] = False,
) -> None:
    """Walk the hash chain and check it against the signed checkpoints; name the first
    broken link or failing checkpoint (exit status 1), or confirm the log whole."""
    site = open_site(ctx)
    with site.engine.connect() as connection:
        verdict = verify_chain(connection)
        if not verdict.ok:
            console.print(f"[red]BROKEN[/] at entry {verdict.broken_at}: {verdict.problem}")
            raise typer.Exit(1)
        console.print(
            f"[green]OK[/]: {verdict.entries} entries, head {verdict.head_hash}", soft_wrap=True
        )
        if no_checkpoints:
            return
        source = checkpoint or site.settings.resolved_audit_checkpoint_dir()
        files = [source] if checkpoint is not None and source.is_file() else []
        files = files or checkpoint_files(source)
        if not files:
            _no_checkpoint(site.settings, source, explicit=checkpoint is not None)
            return
        public = keys.public_key_text(site_signing_key(site))
        checked = check_checkpoints(connection, files, public)
    _report(checked, source)


def _no_checkpoint(settings: Settings, folder: Path, *, explicit: bool) -> None:
    if explicit:
        console.print(f"[red]NO CHECKPOINT[/] in {folder}", soft_wrap=True)
        raise typer.Exit(1)
    console.print(
        f"[yellow]WARNING[/]: no checkpoint in {folder}, so a history rewritten with every "
        "hash recomputed would pass unnoticed. `cityshare serve` writes one every "
        f"{settings.audit_checkpoint_seconds:g} s (CITYSHARE_AUDIT_CHECKPOINT_SECONDS; 0 is "
        "off); `cityshare audit checkpoint` writes one by hand.",
        soft_wrap=True,
    )


def _report(checked: CheckpointsVerdict, source: Path) -> None:
    where = f" in {source}" if source.is_dir() else ""
    failed = checked.failed
    if failed is not None:
        console.print(
            f"[red]CHECKPOINT FAILS[/]: {_name(failed)}{where}: {failed.problem}"
            f"{_since(checked, failed)}",
            soft_wrap=True,
        )
        raise typer.Exit(1)
    latest = checked.checked[-1]  # there was at least one file
    others = len(checked.checked) - 1
    earlier = f", and with the {others} earlier one{'s' * (others != 1)}" if others else ""
    console.print(
        f"[green]OK[/]: the log agrees with the checkpoint {_name(latest)}{where}, the "
        f"latest{earlier}",
        soft_wrap=True,
    )


def _name(item: Checked) -> str:
    return f"{item.path.name} (entry {item.seq}, taken at {item.at})"


def _since(checked: CheckpointsVerdict, failed: Checked) -> str:
    """Where the change lies: after the last checkpoint that still holds."""
    if failed.seq < 0 or "rewritten" not in str(failed.problem):
        return ""
    vouched = checked.vouched_before(failed)
    if vouched is None:
        return f" (somewhere in entries 1 to {failed.seq})"
    return (
        f" (somewhere in entries {vouched.seq + 1} to {failed.seq}: entries up to "
        f"{vouched.seq} still agree with {_name(vouched)})"
    )


@audit_app.command("checkpoint")
def audit_checkpoint(
    ctx: typer.Context,
    out: Annotated[
        Path | None,
        typer.Option(
            help="Write the checkpoint to this new file, or as a new file into this folder "
            "(default: print it). An existing file is never replaced."
        ),
    ] = None,
) -> None:
    """Sign the log's current head with the site key; keep the file somewhere else."""
    site = open_site(ctx)
    with site.engine.connect() as connection:
        document = make_checkpoint(connection, site_signing_key(site))
    if out is None:
        typer.echo(orjson.dumps(document, option=orjson.OPT_INDENT_2).decode())
        return
    if out.is_dir():
        out = write_checkpoint(out, document)
    else:
        try:
            with out.open("xb") as handle:
                handle.write(orjson.dumps(document, option=orjson.OPT_INDENT_2) + b"\n")
        except FileExistsError:
            raise CityshareError(f"{out} exists: a checkpoint is never overwritten.") from None
    console.print(f"Checkpoint of entry {document['seq']} written to {out}.", soft_wrap=True)
