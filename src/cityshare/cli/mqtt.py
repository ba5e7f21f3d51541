"""The ``cityshare ingest-mqtt`` and ``cityshare mqtt-config`` commands.

:func:`register` adds both to the main ``cityshare`` app. Run alone
(``python -m cityshare.cli.mqtt``) they read their settings from the environment.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from cityshare.cli.support import SETTINGS_KEY
from cityshare.config import Settings, load_settings
from cityshare.errors import CityshareError
from cityshare.mqtt.address import parse_mqtt_url
from cityshare.mqtt.broker import (
    DEFAULT_AUTOSAVE_SECONDS,
    DEFAULT_BATCH_BYTES,
    DEFAULT_BATCH_SECONDS,
    DEFAULT_MAX_INFLIGHT,
    DEFAULT_OUTAGE_MINUTES,
    BrokerOptions,
    broker_pid,
    device_accounts,
    max_packet_size_for,
    queue_limits,
    reload_broker,
    write_broker_files,
)
from cityshare.mqtt.worker import run_worker
from cityshare.runtime import open_site

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
console = Console()


def ingest_mqtt(ctx: typer.Context) -> None:
    """Run the MQTT ingest worker until stopped (SIGTERM or Ctrl+C)."""
    logging.basicConfig(level=logging.INFO, format=LOG_FORMAT)
    run_worker(_settings(ctx))


def mqtt_config(
    ctx: typer.Context,
    out: Annotated[Path, typer.Option("--out", help="Folder for mosquitto.conf, passwd and acl.")],
    host: Annotated[
        str | None,
        typer.Option(help="Address Mosquitto listens on (default: the host of the MQTT URL)."),
    ] = None,
    port: Annotated[
        int | None,
        typer.Option(help="Port Mosquitto listens on (default: the port of the MQTT URL)."),
    ] = None,
    max_inflight: Annotated[
        int, typer.Option(min=1, max=65535, help="QoS 1 messages in flight per client.")
    ] = DEFAULT_MAX_INFLIGHT,
    fleet: Annotated[
        int | None,
        typer.Option(
            min=1, help="Devices to size the queues for (default: the live devices registered)."
        ),
    ] = None,
    batch_seconds: Annotated[
        float, typer.Option(min=0.01, help="Seconds between two batches of one device.")
    ] = DEFAULT_BATCH_SECONDS,
    outage_minutes: Annotated[
        float, typer.Option(min=1, help="Minutes without a worker the queues must ride out.")
    ] = DEFAULT_OUTAGE_MINUTES,
    batch_bytes: Annotated[
        int, typer.Option(min=64, help="Typical size of one MQTT message, in bytes.")
    ] = DEFAULT_BATCH_BYTES,
    max_queued: Annotated[
        int | None,
        typer.Option(
            min=1,
            help="Messages queued per client beyond those in flight "
            "(default: from the fleet's size, at least 100 000).",
        ),
    ] = None,
    max_queued_bytes: Annotated[
        int | None,
        typer.Option(min=1, help="Bytes queued per client (default: max-queued × batch-bytes)."),
    ] = None,
    autosave_seconds: Annotated[
        int, typer.Option(min=1, help="Seconds between two saves of the broker's queues.")
    ] = DEFAULT_AUTOSAVE_SECONDS,
    workers: Annotated[
        int,
        typer.Option(
            min=1, max=100, help="Ingest worker accounts: USER, USER-2, … (USER from the URL)."
        ),
    ] = 1,
    user: Annotated[
        str | None,
        typer.Option(help="The system user Mosquitto runs as when started as root."),
    ] = None,
    reload: Annotated[
        bool, typer.Option("--reload", help="Then make the running broker re-read the files.")
    ] = False,
) -> None:
    """Write Mosquitto's configuration, password file and topic ACL for the live devices."""
    settings = _settings(ctx)
    if not settings.mqtt_url:
        raise CityshareError(
            "Set CITYSHARE_MQTT_URL first: the broker's address and the ingest worker's "
            "account on it, as in mqtt://cityshare-ingest:PASSWORD@127.0.0.1:1883."
        )
    address = parse_mqtt_url(settings.mqtt_url)
    site = open_site(settings)
    try:
        if fleet is None:
            with site.engine.connect() as connection:
                fleet = max(1, len(device_accounts(connection)))
        messages = (
            max_queued
            or queue_limits(
                fleet,
                batch_seconds=batch_seconds,
                outage_minutes=outage_minutes,
                batch_bytes=batch_bytes,
            )[0]
        )
        options = BrokerOptions(
            host=host or address.host,
            port=port or address.port,
            max_inflight_messages=max_inflight,
            max_queued_messages=messages,
            max_queued_bytes=max_queued_bytes or messages * batch_bytes,
            autosave_seconds=autosave_seconds,
            max_packet_size=max_packet_size_for(settings.limits.max_json_body_bytes),
            run_as=user,
            workers=workers,
        )
        files = write_broker_files(site, out, address, options)
    finally:
        site.close()
    console.print(
        f"Wrote {files.config.name}, passwd and acl ({files.devices} devices) in {files.folder}; "
        f"queues of {options.max_queued_messages:,} messages / "
        f"{options.max_queued_bytes:,} bytes per client (a fleet of {fleet})"
    )
    if reload:
        _reload(files.folder)
    else:
        console.print(f"Start the broker with: [bold]{files.command()}[/]", soft_wrap=True)


def register(app: typer.Typer) -> None:
    """Add ``ingest-mqtt`` and ``mqtt-config`` to ``app``."""
    app.command("ingest-mqtt")(ingest_mqtt)
    app.command("mqtt-config")(mqtt_config)


def main() -> None:
    """Run these commands alone, with settings from the environment."""
    app = typer.Typer(no_args_is_help=True, pretty_exceptions_enable=False)
    register(app)
    from cityshare.cli.support import run_cli

    run_cli(app, console)


def _settings(ctx: typer.Context) -> Settings:
    """The settings the main ``cityshare`` callback read, or the environment's."""
    if isinstance(ctx.obj, dict) and SETTINGS_KEY in ctx.obj:
        settings: Settings = ctx.obj[SETTINGS_KEY]
        return settings
    return load_settings()


def _reload(folder: Path) -> None:
    pid = broker_pid(folder)
    if pid is None:
        raise CityshareError(f"No running broker wrote {folder}/mosquitto.pid; start it first.")
    try:
        reload_broker(pid)
    except ProcessLookupError:
        raise CityshareError(f"The broker (pid {pid}) is not running; start it again.") from None
    console.print(f"Asked the broker (pid {pid}) to reload its password file and ACL.")


if __name__ == "__main__":
    main()
