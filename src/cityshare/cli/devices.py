"""``cityshare device …`` and ``cityshare stream …``: sensors from the command line."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlsplit

import httpx
import orjson
import typer
from rich.console import Console
from rich.table import Table

from cityshare import keys
from cityshare.access import Actor
from cityshare.accounts.console import console_actor
from cityshare.catalogue import datasets
from cityshare.cli.support import open_site
from cityshare.clock import naive_utc
from cityshare.errors import BadRequest, NotFound
from cityshare.site import Site
from cityshare.streams import datastreams, devices
from cityshare.streams.client import MqttDevice, ReceiptTimeout, batch_body, http_headers

device_app = typer.Typer(help="Manage sensor devices and their keys.", no_args_is_help=True)
stream_app = typer.Typer(help="Manage datastreams of sensor datasets.", no_args_is_help=True)
console = Console()

AsUser = Annotated[str, typer.Option("--as", help="Act as this user (a site admin by default).")]
JsonOutput = Annotated[bool, typer.Option("--json", help="Print JSON only.")]


@device_app.command("keygen")
def device_keygen(
    out: Annotated[
        Path, typer.Argument(help="Private key file to write; the public key goes to OUT.pub.")
    ],
    force: Annotated[bool, typer.Option("--force", help="Overwrite existing files.")] = False,
) -> None:
    """Write a new Ed25519 key pair (for a device, a simulator or a test)."""
    public_path = out.with_name(out.name + ".pub")
    if not force and (out.exists() or public_path.exists()):
        raise BadRequest(f"{out} or {public_path} exists; pass --force to overwrite.")
    key = keys.generate_private_key()
    out.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "wb") as handle:
        handle.write(keys.private_key_pem(key))
    public_path.write_bytes(keys.public_key_pem(key))
    console.print(
        f"Private key: {out} (keep it on the device)\nPublic key:  {public_path}\n"
        f"Key id:      {keys.key_id(keys.public_key_text(key))}"
    )


@device_app.command("add")
def device_add(
    ctx: typer.Context,
    org: Annotated[str, typer.Option(help="The owning organisation.")],
    name: Annotated[str, typer.Option(help="The device's name in the organisation.")],
    public_key: Annotated[Path, typer.Option(help="The device's public key file (PEM).")],
    lon: Annotated[float | None, typer.Option(help="Longitude of the device (WGS84).")] = None,
    lat: Annotated[float | None, typer.Option(help="Latitude of the device (WGS84).")] = None,
    json_output: JsonOutput = False,
    as_user: AsUser = "admin",
) -> None:
    """Register a device; prints its uid and its MQTT password (shown once)."""
    site = open_site(ctx)
    location = _point(lon, lat)
    created = devices.register_device(
        site,
        console_actor(site, as_user),
        organisation=org,
        name=name,
        public_key=public_key.read_text(),
        location=location,
    )
    if json_output:
        typer.echo(orjson.dumps(created.model_dump()).decode())
        return
    console.print(
        f"Device [bold]{created.uid}[/] registered (key {created.keys[0].key_id}).\n"
        f"MQTT topic:    {created.topic}\n"
        f"MQTT password: [green]{created.mqtt_password}[/] (shown once)"
    )


@device_app.command("list")
def device_list(
    ctx: typer.Context,
    org: Annotated[str, typer.Option(help="The organisation.")],
    as_user: AsUser = "admin",
) -> None:
    """List an organisation's devices."""
    site = open_site(ctx)
    table = Table("uid", "name", "location", "revoked")
    for item in devices.list_devices(site, console_actor(site, as_user), org):
        where = item.location["coordinates"] if item.location else "-"
        table.add_row(item.uid, item.name, str(where), item.revoked_at or "-")
    console.print(table)


@device_app.command("show")
def device_show(
    ctx: typer.Context,
    uid: Annotated[str, typer.Argument(help="The device's uid.")],
    as_user: AsUser = "admin",
) -> None:
    """Show a device as JSON: keys, streams and refusal counts."""
    site = open_site(ctx)
    shown = devices.get_device(site, console_actor(site, as_user), uid)
    typer.echo(orjson.dumps(shown.model_dump(), option=orjson.OPT_INDENT_2).decode())


@device_app.command("rotate")
def device_rotate(
    ctx: typer.Context,
    uid: Annotated[str, typer.Argument(help="The device's uid.")],
    public_key: Annotated[Path, typer.Option(help="The new public key file (PEM).")],
    old_valid_until: Annotated[
        datetime | None,
        typer.Option(help="Until when the old keys stay valid (UTC; default: now)."),
    ] = None,
    as_user: AsUser = "admin",
) -> None:
    """Add a new key; the device's old keys stay valid until --old-valid-until."""
    site = open_site(ctx)
    until = naive_utc(old_valid_until) if old_valid_until else None
    shown = devices.add_key(
        site,
        console_actor(site, as_user),
        uid,
        public_key.read_text(),
        old_keys_valid_until=until,
    )
    console.print(f"Device {uid} now has the key {shown.keys[-1].key_id}.")


@device_app.command("revoke")
def device_revoke(
    ctx: typer.Context,
    uid: Annotated[str, typer.Argument(help="The device's uid.")],
    key: Annotated[str | None, typer.Option(help="Revoke only this key id.")] = None,
    as_user: AsUser = "admin",
) -> None:
    """Revoke a device (or only one of its keys) at once."""
    site = open_site(ctx)
    actor = console_actor(site, as_user)
    if key is not None:
        devices.revoke_key(site, actor, uid, key)
        console.print(f"Key {key} of device {uid} revoked.")
        return
    devices.revoke_device(site, actor, uid)
    console.print(f"Device {uid} revoked; its readings stay, with their provenance.")


@device_app.command("send")
def device_send(
    uid: Annotated[str, typer.Argument(help="The device's uid.")],
    key: Annotated[Path, typer.Option(help="The device's private key file (PEM).")],
    stream: Annotated[str, typer.Option(help="The stream's name.")],
    value: Annotated[str, typer.Option(help="The value: a number, true/false, JSON or text.")],
    url: Annotated[str, typer.Option(help="The cityshare server.")] = "http://127.0.0.1:8000",
    mqtt: Annotated[
        bool, typer.Option("--mqtt", help="Publish to the MQTT broker and wait for the receipt.")
    ] = False,
    broker: Annotated[
        str, typer.Option(help="The MQTT broker, mqtt://HOST:PORT or mqtts://HOST:PORT.")
    ] = "mqtt://127.0.0.1:1883",
    password: Annotated[
        str | None,
        typer.Option(
            envvar="CITYSHARE_DEVICE_MQTT_PASSWORD",
            help="The device's MQTT password (better in CITYSHARE_DEVICE_MQTT_PASSWORD).",
        ),
    ] = None,
    timeout: Annotated[
        float, typer.Option(min=1, help="Seconds to wait for the receipt (over MQTT).")
    ] = 30.0,
) -> None:
    """Sign one reading (now) with the device's key and send it over HTTP, or over MQTT
    until cityshare's receipt arrives."""
    private = keys.load_private_key(key.read_bytes())
    body = batch_body([(stream, datetime.now(UTC), _value(value))])
    if mqtt:
        if not password:
            raise BadRequest("Give the device's MQTT password (--password).")
        _send_over_mqtt(uid, password, private, body, broker, timeout)
        return
    response = httpx.post(
        f"{url.rstrip('/')}/api/v1/ingest",
        content=body,
        headers=http_headers(uid, private, body),
        timeout=30,
    )
    typer.echo(response.text)
    if response.status_code >= 400:
        raise typer.Exit(1)


def _send_over_mqtt(
    uid: str, password: str, key: Any, body: bytes, broker: str, timeout: float
) -> None:
    """Publish ``body``, resending it unchanged until its receipt comes; print the receipt
    and exit 1 on a refusal or when none came within ``timeout`` seconds."""
    address = urlsplit(broker)
    if address.scheme not in ("mqtt", "mqtts") or not address.hostname:
        raise BadRequest("--broker must look like mqtt://HOST:PORT or mqtts://HOST:PORT.")
    tls = address.scheme == "mqtts"
    device = MqttDevice(
        uid,
        password,
        key,
        address.hostname,
        address.port or (8883 if tls else 1883),
        tls=tls,
        resend_after=min(5.0, timeout / 3),
    )
    try:
        device.connect(timeout)
        nonce = device.send_body(body)
        receipt = device.wait_for_receipts(timeout)[nonce]
    except (TimeoutError, ConnectionRefusedError, ReceiptTimeout) as error:
        typer.echo(f"No receipt from cityshare: {error}", err=True)
        raise typer.Exit(1) from None
    finally:
        device.close()
    typer.echo(orjson.dumps(receipt.document).decode())
    if not receipt.stored:
        raise typer.Exit(1)


@stream_app.command("add")
def stream_add(
    ctx: typer.Context,
    dataset: Annotated[str, typer.Option(help="The sensor dataset.")],
    device: Annotated[str, typer.Option(help="The feeding device's uid.")],
    name: Annotated[str, typer.Option(help="The name readings use.")],
    observed_property: Annotated[str, typer.Option("--property", help="e.g. no2.")],
    unit: Annotated[str, typer.Option(help="e.g. µg/m³.")] = "",
    value_type: Annotated[
        str, typer.Option("--type", help="number, string, boolean or object.")
    ] = "number",
    org: Annotated[
        str | None, typer.Option(help="Owner organisation (to create the sensor dataset).")
    ] = None,
    visibility: Annotated[
        str, typer.Option(help="open, shared or private (when creating the dataset).")
    ] = "private",
    as_user: AsUser = "admin",
) -> None:
    """Add a datastream to a sensor dataset (creating the dataset if --org is given)."""
    site = open_site(ctx)
    actor = console_actor(site, as_user)
    if org is not None and not _exists(site, actor, dataset):
        datasets.create_dataset(
            site, actor, organisation=org, name=dataset, visibility=visibility, kind="sensor"
        )
        console.print(f"Created the {visibility} sensor dataset {dataset}.")
    created = datastreams.create_stream(
        site,
        actor,
        dataset,
        device=device,
        name=name,
        observed_property=observed_property,
        unit=unit,
        value_type=value_type,
    )
    console.print(f"Stream {created.id} ({name}) added to {dataset}.")


def _exists(site: Site, actor: Actor, dataset: str) -> bool:
    try:
        datasets.get_dataset(site, actor, dataset)
    except NotFound:
        return False
    return True


def _point(lon: float | None, lat: float | None) -> dict[str, Any] | None:
    if lon is None and lat is None:
        return None
    if lon is None or lat is None:
        raise BadRequest("Give both --lon and --lat, or neither.")
    return {"type": "Point", "coordinates": [lon, lat]}


def _value(text: str) -> Any:
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        return text
