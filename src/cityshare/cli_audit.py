"""``cityshare audit …``: prove the audit log whole, and write signed checkpoints."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import orjson
import typer
from rich.console import Console

from cityshare.audit.checkpoint import make_checkpoint, read_checkpoint, verify_checkpoint
from cityshare.audit.verify import verify_chain
from cityshare.cli_support import open_site
from cityshare.streams import keys

audit_app = typer.Typer(help="Verify the audit log and write checkpoints.", no_args_is_help=True)
console = Console()


@audit_app.command("verify")
def audit_verify(
    ctx: typer.Context,
    checkpoint: Annotated[
        Path | None,
        typer.Option(help="A checkpoint file to check the log against.", exists=True),
    ] = None,
) -> None:
    """Walk the hash chain; name the first broken link (exit status 1) or confirm it whole."""
    site = open_site(ctx)
    with site.engine.connect() as connection:
        verdict = verify_chain(connection)
        if not verdict.ok:
            console.print(f"[red]BROKEN[/] at entry {verdict.broken_at}: {verdict.problem}")
            raise typer.Exit(1)
        console.print(f"[green]OK[/]: {verdict.entries} entries, head {verdict.head_hash}")
        if checkpoint is not None:
            public = keys.public_key_text(site.signing_key)
            problem = verify_checkpoint(connection, read_checkpoint(checkpoint), public)
            if problem is not None:
                console.print(f"[red]CHECKPOINT FAILS[/]: {problem}")
                raise typer.Exit(1)
            console.print(f"[green]OK[/]: the log agrees with the checkpoint {checkpoint}")


@audit_app.command("checkpoint")
def audit_checkpoint(
    ctx: typer.Context,
    out: Annotated[
        Path | None, typer.Option(help="Write the checkpoint to this file (default: print it).")
    ] = None,
) -> None:
    """Sign the log's current head with the site key; keep the file somewhere else."""
    site = open_site(ctx)
    with site.engine.connect() as connection:
        document = make_checkpoint(connection, site.signing_key)
    text = orjson.dumps(document, option=orjson.OPT_INDENT_2).decode()
    if out is None:
        typer.echo(text)
        return
    out.write_text(text + "\n")
    console.print(f"Checkpoint of entry {document['seq']} written to {out}.")
