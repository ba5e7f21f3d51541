"""Mosquitto's files, written by cityshare: the listener, the accounts and the topic ACL.

:func:`write_broker_files` fills one folder::

    mosquitto.conf  the broker's configuration: run ``mosquitto -c FOLDER/mosquitto.conf``
    passwd          one ``user:$7$...`` line per live device, plus the ingest worker (0600)
    acl             the workers read every device's readings topic and write every
                    device's receipts topic; a device may only write its own readings
                    topic and read its own receipts topic,
                    ``cityshare/devices/{uid}/readings`` and ``…/receipts`` (0600)
    mosquitto.pid   written by the running broker; :func:`reload_broker` signals it
    mosquitto.db    the broker's persistence: messages queued for an offline worker

Every file is replaced atomically (a temporary file renamed over the old one), so a
broker reloading at any moment reads either the old or the new version. Revoked
devices and devices without an MQTT password get no line at all.

Two defences go beyond the ACL, because Mosquitto's ACL file cannot forbid a
*subscription* (it only filters what a client receives):

- ``use_username_as_clientid``: a client's id is its user name, so no device can take
  over the worker's persistent session (and the readings queued in it) by connecting
  with the worker's client id.
- the workers' shared-subscription group is a secret derived from their password
  (:func:`share_group`): a device that joined a known group would be handed its
  share of everyone's readings, which the ACL then drops: readings lost.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import math
import os
import pwd
import re
import signal
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import Connection, select

from cityshare.errors import CityshareError
from cityshare.mqtt.address import SAFE_NAME, BrokerAddress
from cityshare.site import Site
from cityshare.storage.schema import devices
from cityshare.streams.credentials import mosquitto_password_hash

CONFIG_FILE = "mosquitto.conf"
PASSWORD_FILE = "passwd"  # noqa: S105 - a file name, not a secret
ACL_FILE = "acl"
PID_FILE = "mosquitto.pid"
READINGS_FILTER = "cityshare/devices/+/readings"
RECEIPTS_FILTER = "cityshare/devices/+/receipts"
DEFAULT_MAX_INFLIGHT = 1000
DEFAULT_AUTOSAVE_SECONDS = 10
# Sizing the queues for a fleet (see queue_limits).
DEFAULT_BATCH_SECONDS = 10.0
DEFAULT_OUTAGE_MINUTES = 60.0
DEFAULT_BATCH_BYTES = 2048
MIN_QUEUED = 100_000
_HASH = re.compile(r"\$[0-9]+\$[A-Za-z0-9+/=$.]+")
_HEADER = "# Written by cityshare (`cityshare mqtt-config`): edits here are overwritten.\n"

log = logging.getLogger(__name__)


def readings_topic(uid: str) -> str:
    """The one topic device ``uid`` may publish to.

    >>> readings_topic("dev-0a1b")
    'cityshare/devices/dev-0a1b/readings'
    """
    return f"cityshare/devices/{uid}/readings"


def receipts_topic(uid: str) -> str:
    """The topic where cityshare tells device ``uid`` what became of each of its batches;
    only that device may read it, and only the ingest workers write it.

    >>> receipts_topic("dev-0a1b")
    'cityshare/devices/dev-0a1b/receipts'
    """
    return f"cityshare/devices/{uid}/receipts"


def share_group(worker_password: str) -> str:
    """The shared-subscription group of the ingest workers: derived from their password,
    so only they can join it.

    >>> share_group("s3cret") == share_group("s3cret") != share_group("other")
    True
    """
    digest = hmac.new(worker_password.encode(), b"cityshare mqtt share group", hashlib.sha256)
    return f"cityshare-{digest.hexdigest()[:32]}"


def shared_readings_filter(group: str) -> str:
    """The subscription the workers of ``group`` share."""
    return f"$share/{group}/{READINGS_FILTER}"


def worker_names(username: str, count: int) -> list[str]:
    """The accounts of ``count`` workers: ``username``, then ``username-2``, ``username-3``…

    >>> worker_names("cityshare-ingest", 3)
    ['cityshare-ingest', 'cityshare-ingest-2', 'cityshare-ingest-3']
    """
    return [username, *(f"{username}-{number}" for number in range(2, count + 1))]


@dataclass(frozen=True)
class BrokerAccount:
    """A user of the broker: its name and its password hash (never the password)."""

    username: str
    password_hash: str


@dataclass(frozen=True)
class BrokerOptions:
    """How the generated broker listens and how much it holds per client."""

    host: str = "127.0.0.1"
    port: int = 1883
    # QoS 1 messages in flight per client (and, for MQTT v5 clients, the receive-maximum
    # the broker announces). Keep CITYSHARE_MQTT_INFLIGHT at or below it.
    max_inflight_messages: int = DEFAULT_MAX_INFLIGHT
    # Messages (and bytes of them) the broker queues for a client beyond those in flight:
    # what a stopped ingest worker finds when it comes back. Past either, Mosquitto drops
    # new messages. See queue_limits.
    max_queued_messages: int = MIN_QUEUED
    max_queued_bytes: int = MIN_QUEUED * DEFAULT_BATCH_BYTES
    # How often (seconds) the broker saves its sessions and queues to mosquitto.db.
    autosave_seconds: int = DEFAULT_AUTOSAVE_SECONDS
    # The largest MQTT packet; a device sending more is disconnected. 0: no limit.
    max_packet_size: int = 0
    # When Mosquitto is started as root, the user it switches to (and who owns the files).
    run_as: str | None = None
    # How many ingest worker accounts to write (see worker_names); all share one password.
    workers: int = 1


@dataclass(frozen=True)
class BrokerFiles:
    """What :func:`write_broker_files` wrote."""

    folder: Path
    config: Path
    passwd: Path
    acl: Path
    devices: int

    def command(self) -> str:
        """The command that starts Mosquitto with these files."""
        return f"mosquitto -c {self.config}"


def queue_limits(
    devices: int,
    *,
    batch_seconds: float = DEFAULT_BATCH_SECONDS,
    outage_minutes: float = DEFAULT_OUTAGE_MINUTES,
    batch_bytes: int = DEFAULT_BATCH_BYTES,
) -> tuple[int, int]:
    """``max_queued_messages`` and ``max_queued_bytes`` that hold everything ``devices``
    devices, each sending a batch of about ``batch_bytes`` every ``batch_seconds``, send
    while no worker takes them for ``outage_minutes`` (at least 100 000 messages).

    >>> queue_limits(1000, batch_seconds=10, outage_minutes=60, batch_bytes=1000)
    (360000, 360000000)
    """
    messages = max(MIN_QUEUED, math.ceil(devices * outage_minutes * 60 / batch_seconds))
    return messages, messages * batch_bytes


def max_packet_size_for(max_body_bytes: int) -> int:
    """A packet limit that fits any body within ``max_body_bytes`` sent as a JSON string
    (escaping can double it) with its signature, topic and headers."""
    return 2 * max_body_bytes + 4096


def worker_accounts(address: BrokerAddress, count: int = 1) -> list[BrokerAccount]:
    """The ingest workers' accounts, with the password of CITYSHARE_MQTT_URL (hashed)."""
    return [
        BrokerAccount(name, mosquitto_password_hash(address.password))
        for name in worker_names(address.username, count)
    ]


def device_accounts(connection: Connection) -> list[BrokerAccount]:
    """One account per live device that has an MQTT password, by uid."""
    rows = connection.execute(
        select(devices.c.uid, devices.c.mqtt_password_hash)
        .where(devices.c.revoked_at.is_(None), devices.c.mqtt_password_hash.is_not(None))
        .order_by(devices.c.uid)
    )
    accounts = []
    for uid, password_hash in rows:
        if SAFE_NAME.fullmatch(uid) and _HASH.fullmatch(password_hash):
            accounts.append(BrokerAccount(uid, password_hash))
        else:
            log.warning("Device %r has an unusable uid or MQTT password hash; left out.", uid)
    return accounts


def render_config(folder: Path, options: BrokerOptions) -> str:
    """The text of ``mosquitto.conf`` for files in ``folder`` (an absolute path)."""
    lines = [
        "per_listener_settings false",
        "allow_anonymous false",
        f"password_file {folder / PASSWORD_FILE}",
        f"acl_file {folder / ACL_FILE}",
        f"listener {options.port} {options.host}",
        f"max_inflight_messages {options.max_inflight_messages}",
        f"max_queued_messages {options.max_queued_messages}",
        f"max_queued_bytes {options.max_queued_bytes}",
        "queue_qos0_messages false",
        *([f"max_packet_size {options.max_packet_size}"] if options.max_packet_size else []),
        # A client's id is its user name: nobody can take over another's session.
        "use_username_as_clientid true",
        "persistence true",
        f"persistence_location {folder}/",
        # Saved every autosave_interval seconds and at a clean stop; a crash loses what
        # came since the last save: devices resend whatever got no receipt.
        f"autosave_interval {options.autosave_seconds}",
        f"pid_file {folder / PID_FILE}",
        "set_tcp_nodelay true",
        "log_dest stderr",
        "log_type error",
        "log_type warning",
        "log_type notice",
        "connection_messages true",
        *([f"user {options.run_as}"] if options.run_as else []),
    ]
    return _HEADER + "\n".join(lines) + "\n"


def render_passwd(accounts: Iterable[BrokerAccount]) -> str:
    """The text of the password file: ``username:hash`` per account."""
    return "".join(f"{account.username}:{account.password_hash}\n" for account in accounts)


def render_acl(workers: Sequence[str], group: str, device_uids: Iterable[str]) -> str:
    """The text of the ACL file: the workers read all readings and write all receipts;
    each device writes its own readings and reads its own receipts."""
    rights = (
        f"topic read {READINGS_FILTER}\ntopic read {shared_readings_filter(group)}\n"
        f"topic write {RECEIPTS_FILTER}"
    )
    blocks = [
        _HEADER.removesuffix("\n"),
        *(f"user {worker}\n{rights}" for worker in workers),
        *(
            f"user {uid}\ntopic write {readings_topic(uid)}\ntopic read {receipts_topic(uid)}"
            for uid in device_uids
        ),
    ]
    return "\n\n".join(blocks) + "\n"


def write_broker_files(
    site: Site, folder: Path, address: BrokerAddress, options: BrokerOptions
) -> BrokerFiles:
    """Write the broker's configuration, password file and ACL into ``folder``: accounts
    for the ingest workers of ``address`` (CITYSHARE_MQTT_URL) and every live device."""
    folder = _usable_folder(folder)
    workers = worker_accounts(address, options.workers)
    names = {worker.username for worker in workers}
    with site.engine.connect() as connection:
        accounts = [a for a in device_accounts(connection) if a.username not in names]
    owner = _owner_ids(options.run_as)
    if owner is not None:
        os.chown(folder, *owner)  # the broker writes its pid and persistence files here
    files = BrokerFiles(
        folder=folder,
        config=folder / CONFIG_FILE,
        passwd=folder / PASSWORD_FILE,
        acl=folder / ACL_FILE,
        devices=len(accounts),
    )
    acl = render_acl(sorted(names), share_group(address.password), [a.username for a in accounts])
    # Accounts and ACL first: a broker (re)loading in between sees complete files.
    atomic_write(files.passwd, render_passwd([*workers, *accounts]), 0o600, owner)
    atomic_write(files.acl, acl, 0o600, owner)
    atomic_write(files.config, render_config(folder, options), 0o644, owner)
    return files


def atomic_write(path: Path, text: str, mode: int, owner: tuple[int, int] | None = None) -> None:
    """Replace ``path`` with ``text`` at once: written beside it, flushed, then renamed."""
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as stream:
            stream.write(text)
            stream.flush()
            os.fsync(stream.fileno())
        os.chmod(temporary, mode)
        if owner is not None:
            os.chown(temporary, *owner)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def broker_pid(folder: Path) -> int | None:
    """The pid a broker started with these files wrote, or None."""
    try:
        return int((folder / PID_FILE).read_text().strip())
    except (OSError, ValueError):
        return None


def reload_broker(pid: int) -> None:
    """Ask the Mosquitto process ``pid`` to re-read its password file and ACL (SIGHUP)."""
    os.kill(pid, signal.SIGHUP)


def _usable_folder(folder: Path) -> Path:
    folder = folder.resolve()
    if re.search(r"\s", str(folder)):
        raise CityshareError(
            f"Mosquitto cannot read paths with spaces: choose another folder "
            f"than {str(folder)[:200]!r}."
        )
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    return folder


def _owner_ids(user: str | None) -> tuple[int, int] | None:
    """The (uid, gid) the files should belong to: ``user`` when we may give them away."""
    if user is None or os.geteuid() != 0:
        return None
    try:
        entry = pwd.getpwnam(user)
    except KeyError:
        raise CityshareError(
            f"There is no system user {user[:60]!r} to run Mosquitto as."
        ) from None
    return entry.pw_uid, entry.pw_gid
