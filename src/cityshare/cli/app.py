"""The ``cityshare`` command line."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import orjson
import typer
from rich.console import Console

from cityshare import __version__
from cityshare.access.actor import ALL_SCOPES
from cityshare.accounts import organisations, second_factor, tokens, users
from cityshare.accounts.console import console_actor, initialise
from cityshare.cli.audit import audit_app
from cityshare.cli.devices import device_app, stream_app
from cityshare.cli.harvest import harvest_command
from cityshare.cli.mqtt import register as register_ingest_commands
from cityshare.cli.support import (
    SETTINGS_KEY,
    open_site,
    publish_with_progress,
    serve_site,
)
from cityshare.config import load_settings

app = typer.Typer(
    help="cityshare: publish city data as files and live streams, and share it securely.",
    no_args_is_help=True,
    invoke_without_command=True,
    pretty_exceptions_enable=False,
)
org_app = typer.Typer(help="Manage organisations.", no_args_is_help=True)
user_app = typer.Typer(help="Manage users.", no_args_is_help=True)
token_app = typer.Typer(help="Manage API tokens.", no_args_is_help=True)
app.add_typer(org_app, name="org")
app.add_typer(user_app, name="user")
app.add_typer(token_app, name="token")
app.add_typer(device_app, name="device")
app.add_typer(stream_app, name="stream")
app.add_typer(audit_app, name="audit")
console = Console()

DataDir = Annotated[
    Path | None,
    typer.Option("--data-dir", help="Data folder (env CITYSHARE_DATA_DIR).", show_default=False),
]
DatabaseUrl = Annotated[
    str | None,
    typer.Option(
        "--database-url", help="Store URL (env CITYSHARE_DATABASE_URL).", show_default=False
    ),
]
AsUser = Annotated[str, typer.Option("--as", help="Act as this user (a site admin by default).")]


@app.callback()
def main_options(
    ctx: typer.Context,
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
    version: Annotated[bool, typer.Option("--version", help="Print the version.")] = False,
) -> None:
    """Read settings once (environment, then these flags) for every command."""
    if version:
        console.print(f"cityshare {__version__}")
        raise typer.Exit()
    if ctx.invoked_subcommand is None:
        console.print(ctx.get_help())
        raise typer.Exit()
    ctx.obj = {SETTINGS_KEY: load_settings(data_dir=data_dir, database_url=database_url)}


@app.command()
def init(
    ctx: typer.Context,
    json_output: Annotated[bool, typer.Option("--json", help="Print JSON only.")] = False,
    username: Annotated[str, typer.Option(help="The site administrator's username.")] = "admin",
) -> None:
    """Create the store and a site administrator; print an admin token (shown once)."""
    site = open_site(ctx)
    token = initialise(site, username)
    if json_output:
        typer.echo(orjson.dumps({"admin_token": token}).decode())
        return
    console.print(f"Store ready at {site.settings.resolved_database_url()}")
    console.print(f"Admin token for [bold]{username}[/] (shown once): [green]{token}[/]")


@app.command()
def serve(
    ctx: typer.Context,
    host: Annotated[str | None, typer.Option(help="Address to listen on.")] = None,
    port: Annotated[int | None, typer.Option(help="Port to listen on.")] = None,
    workers: Annotated[int | None, typer.Option(help="Worker processes.")] = None,
) -> None:
    """Run the HTTP API server."""
    settings = ctx.obj[SETTINGS_KEY]
    settings = settings.model_copy(
        update={
            key: value
            for key, value in {"host": host, "port": port, "workers": workers}.items()
            if value is not None
        }
    )
    serve_site(settings)


@app.command()
def demo(
    ctx: typer.Context,
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    scale: Annotated[float, typer.Option(help="Size of the sample data (1.0 = full).")] = 1.0,
    no_serve: Annotated[bool, typer.Option("--no-serve", help="Load data, then exit.")] = False,
    no_fleet: Annotated[
        bool, typer.Option("--no-fleet", help="Do not run the simulated live sensors.")
    ] = False,
) -> None:
    """Start a demo site with realistic smart-city sample data and live sensors (SQLite)."""
    from cityshare.demo.fleet import FleetSimulator
    from cityshare.demo.loader import load_demo

    settings = ctx.obj[SETTINGS_KEY]
    if settings.data_dir == Path("cityshare-data") and settings.database_url is None:
        settings = settings.model_copy(update={"data_dir": Path("cityshare-demo")})
    settings = settings.model_copy(update={"port": port})
    token, fleet, editor_password = load_demo(settings, scale=scale, console=console)
    console.print(f"\n[bold]cityshare demo[/] at http://{settings.host}:{port}/api/v1/datasets")
    console.print(f"Admin token (shown once): [green]{token}[/]", soft_wrap=True)
    console.print(
        f'Try: curl -H "Authorization: Bearer {token}" '
        f"'http://{settings.host}:{port}/api/v1/datasets/traffic-counts/rows?_limit=5'",
        soft_wrap=True,
        markup=False,
    )
    base_url = f"http://{settings.host}:{port}"
    console.print(
        f"Live sensors: {len(fleet)} signed devices; try "
        f"{base_url}/api/v1/datasets/air-quality-live/latest",
        soft_wrap=True,
    )
    console.print(_editor_sign_in(base_url, editor_password), soft_wrap=True, markup=False)
    if not no_serve:
        if not no_fleet:
            FleetSimulator(fleet, base_url).start()
        serve_site(settings)


def _editor_sign_in(base_url: str, password: str | None) -> str:
    """The demo's line on signing in to the web pages as its editor."""
    from cityshare.demo.loader import EDITOR, EDITOR_PASSWORD_FILE

    if password is None:
        return (
            f"{EDITOR}'s password file ({EDITOR_PASSWORD_FILE}) is gone; create another user "
            "with `cityshare user create NAME --org ORG --role editor --password` to sign in."
        )
    return f"Sign in at {base_url}/sign-in as {EDITOR} with password {password}"


@org_app.command("create")
def org_create(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Short name (slug), e.g. northbridge-council.")],
    title: Annotated[str | None, typer.Option(help="Display title.")] = None,
    description: Annotated[str, typer.Option(help="What the organisation does.")] = "",
    as_user: AsUser = "admin",
) -> None:
    """Create an organisation."""
    site = open_site(ctx)
    created = organisations.create_organisation(
        site, console_actor(site, as_user), name=name, title=title or name, description=description
    )
    console.print(f"Created organisation [bold]{created.name}[/].")


@org_app.command("add-member")
def org_add_member(
    ctx: typer.Context,
    organisation: Annotated[str, typer.Argument(help="The organisation's name.")],
    username: Annotated[str, typer.Argument(help="The user to add.")],
    role: Annotated[str, typer.Option(help="member, editor or admin.")] = "member",
    as_user: AsUser = "admin",
) -> None:
    """Add a user to an organisation, or change their role."""
    site = open_site(ctx)
    organisations.set_member(site, console_actor(site, as_user), organisation, username, role)
    console.print(f"{username} is now {role} of {organisation}.")


@user_app.command("create")
def user_create(
    ctx: typer.Context,
    username: Annotated[str, typer.Argument(help="Login name.")],
    email: Annotated[str | None, typer.Option(help="E-mail address.")] = None,
    display_name: Annotated[str, typer.Option(help="Name shown to people.")] = "",
    org: Annotated[str | None, typer.Option(help="Add to this organisation.")] = None,
    role: Annotated[str, typer.Option(help="Role in --org: member, editor or admin.")] = "member",
    site_admin: Annotated[bool, typer.Option(help="Make a site administrator.")] = False,
    password: Annotated[
        bool, typer.Option("--password", help="Prompt for a password (for sign-in).")
    ] = False,
    as_user: AsUser = "admin",
) -> None:
    """Create a user (optionally in an organisation)."""
    site = open_site(ctx)
    actor = console_actor(site, as_user)
    secret = (
        typer.prompt("Password", hide_input=True, confirmation_prompt=True) if password else None
    )
    users.create_user(
        site,
        actor,
        username=username,
        password=secret,
        email=email,
        display_name=display_name,
        is_site_admin=site_admin,
    )
    if org:
        organisations.set_member(site, actor, org, username, role)
    console.print(f"Created user [bold]{username}[/].")


@user_app.command("reset-second-factor")
def user_reset_second_factor(
    ctx: typer.Context,
    username: Annotated[str, typer.Argument(help="The user who lost their second factor.")],
    as_user: AsUser = "admin",
) -> None:
    """Remove a user's second factor (TOTP and recovery codes), e.g. after a lost phone."""
    site = open_site(ctx)
    had_one = second_factor.reset(site, console_actor(site, as_user), username)
    if had_one:
        console.print(f"Removed the second factor of [bold]{username}[/]; they can enrol again.")
    else:
        console.print(f"{username} had no second factor enabled; nothing pending is left.")


@token_app.command("create")
def token_create(
    ctx: typer.Context,
    user: Annotated[str | None, typer.Option(help="Whose token (default: --as).")] = None,
    scopes: Annotated[str, typer.Option(help="Comma-separated: read, write, admin.")] = "read",
    name: Annotated[str, typer.Option(help="A label.")] = "",
    expires_in_days: Annotated[int | None, typer.Option(help="Days until it expires.")] = None,
    json_output: Annotated[bool, typer.Option("--json", help="Print JSON only.")] = False,
    as_user: AsUser = "admin",
) -> None:
    """Create an API token; its secret is printed once."""
    site = open_site(ctx)
    created = tokens.create_token(
        site,
        console_actor(site, as_user),
        username=user,
        name=name,
        scopes=tokens.parse_scopes(scopes),
        expires_in_days=expires_in_days,
    )
    if json_output:
        typer.echo(orjson.dumps(created.model_dump()).decode())
        return
    console.print(f"Token {created.id} ({','.join(created.scopes)}): [green]{created.token}[/]")


@token_app.command("list")
def token_list(
    ctx: typer.Context,
    user: Annotated[str | None, typer.Option(help="Whose tokens (default: --as).")] = None,
    as_user: AsUser = "admin",
) -> None:
    """List API tokens (never their secrets)."""
    from rich.table import Table

    site = open_site(ctx)
    table = Table("id", "prefix", "name", "scopes", "expires", "revoked", "last used")
    for item in tokens.list_tokens(site, console_actor(site, as_user), user):
        table.add_row(
            str(item.id),
            item.prefix,
            item.name,
            ",".join(item.scopes),
            item.expires_at or "-",
            item.revoked_at or "-",
            item.last_used_at or "-",
        )
    console.print(table)


@token_app.command("revoke")
def token_revoke(
    ctx: typer.Context,
    token_id: Annotated[int, typer.Argument(help="The token's id (see `token list`).")],
    as_user: AsUser = "admin",
) -> None:
    """Revoke an API token at once."""
    site = open_site(ctx)
    tokens.revoke_token(site, console_actor(site, as_user), token_id)
    console.print(f"Token {token_id} revoked.")


@app.command()
def publish(
    ctx: typer.Context,
    file: Annotated[
        Path,
        typer.Argument(
            help="CSV, JSON, NDJSON, GeoJSON or .xlsx file.", exists=True, dir_okay=False
        ),
    ],
    dataset: Annotated[str, typer.Option(help="The dataset's name (slug).")],
    org: Annotated[
        str | None, typer.Option(help="Owner organisation (to create the dataset).")
    ] = None,
    title: Annotated[str | None, typer.Option(help="Title (when creating).")] = None,
    visibility: Annotated[
        str, typer.Option(help="open, shared or private (when creating).")
    ] = "private",
    schema: Annotated[
        Path | None, typer.Option(help="A Table Schema JSON file.", exists=True)
    ] = None,
    carry_classes: Annotated[
        str | None,
        typer.Option(
            help="JSON object: for each classified column the file lacks, the column that "
            'takes its class, or null if dropped, e.g. \'{"plate": "registration"}\'.'
        ),
    ] = None,
    as_user: AsUser = "admin",
) -> None:
    """Publish FILE as a new version of a dataset (creating the dataset if needed)."""
    site = open_site(ctx)
    summary = publish_with_progress(
        site,
        console_actor(site, as_user),
        file,
        dataset=dataset,
        organisation=org,
        title=title,
        visibility=visibility,
        schema_path=schema,
        console=console,
        carry_classes=carry_classes,
    )
    rows = summary.row_count or 0
    console.print(
        f"Published [bold]{dataset}[/] version {summary.number}: "
        f"{rows:,} row{'' if rows == 1 else 's'}."
    )


register_ingest_commands(app)  # ingest-mqtt, mqtt-config
app.command("harvest")(harvest_command)


def main() -> None:
    """Entry point of the ``cityshare`` console script."""
    from cityshare.cli.support import run_cli

    run_cli(app, console)


__all__ = ["ALL_SCOPES", "app", "main"]
