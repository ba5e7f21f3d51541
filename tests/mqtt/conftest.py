"""MQTT fixtures: a private Mosquitto per test, started from the files cityshare writes,
and a small MQTT client that waits for the broker's answers."""

from __future__ import annotations

import getpass
import queue
import secrets
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from paho.mqtt.client import (
    Client,
    ConnectFlags,
    DisconnectFlags,
    MQTTMessage,
)
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from cityshare.accounts import organisations
from cityshare.accounts.console import console_actor, initialise
from cityshare.mqtt.address import BrokerAddress
from cityshare.mqtt.broker import (
    BrokerFiles,
    BrokerOptions,
    max_packet_size_for,
    reload_broker,
    share_group,
    shared_readings_filter,
    write_broker_files,
)
from cityshare.site import Site
from tests.conftest import skip_or_fail
from tests.world import make_site

WAIT = 30.0  # generous: only a failing test waits this long
WORKER_USER = "cityshare-ingest"


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def mosquitto_binary() -> str:
    """The Mosquitto executable (Debian package ``mosquitto``), or skip/fail."""
    found = shutil.which("mosquitto") or shutil.which("mosquitto", path="/usr/sbin:/sbin")
    if found is None:
        skip_or_fail("Mosquitto is not installed (apt-get install mosquitto)")
    assert found is not None
    return found


@dataclass
class Broker:
    """A running private Mosquitto and the ingest worker's account on it."""

    site: Site
    files: BrokerFiles
    options: BrokerOptions
    address: BrokerAddress
    process: subprocess.Popen[bytes]

    @property
    def url(self) -> str:
        """CITYSHARE_MQTT_URL for the ingest worker."""
        a = self.address
        return f"mqtt://{a.username}:{a.password}@{a.host}:{a.port}"

    @property
    def topic(self) -> str:
        """The shared subscription of the ingest workers."""
        return shared_readings_filter(share_group(self.address.password))

    def reload(self) -> BrokerFiles:
        """Rewrite the files from the store and make the broker re-read them."""
        self.files = write_broker_files(self.site, self.files.folder, self.address, self.options)
        reload_broker(self.process.pid)
        time.sleep(0.3)  # SIGHUP is handled on the broker's next loop
        return self.files

    def log(self) -> str:
        """What the broker logged so far."""
        return (self.files.folder / "mosquitto.log").read_text(errors="replace")


def wait_for_port(host: str, port: int, process: subprocess.Popen[bytes]) -> None:
    """Return once ``host:port`` accepts connections; fail if the process died."""
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"mosquitto exited with {process.returncode}")
        try:
            with socket.create_connection((host, port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError("mosquitto did not start listening")


@pytest.fixture
def start_broker(tmp_path: Path) -> Iterator[Callable[..., Broker]]:
    """Start Mosquitto with the files cityshare writes for ``site``, on a free port."""
    binary = mosquitto_binary()
    started: list[Broker] = []

    def start(site: Site, workers: int = 1) -> Broker:
        port = free_port()
        address = BrokerAddress("127.0.0.1", port, WORKER_USER, secrets.token_urlsafe(16))
        options = BrokerOptions(
            host="127.0.0.1",
            port=port,
            max_packet_size=max_packet_size_for(site.settings.limits.max_json_body_bytes),
            run_as=getpass.getuser(),  # as root, stay root: the files are the test's
            workers=workers,
        )
        folder = tmp_path / f"broker-{len(started)}"
        files = write_broker_files(site, folder, address, options)
        with (folder / "mosquitto.log").open("wb") as log:
            process = subprocess.Popen([binary, "-c", str(files.config)], stdout=log, stderr=log)
        broker = Broker(site, files, options, address, process)
        started.append(broker)
        wait_for_port("127.0.0.1", port, process)
        return broker

    yield start
    for broker in started:
        broker.process.terminate()
        broker.process.wait(timeout=WAIT)


@pytest.fixture
def site(database_url: str, tmp_path: Path) -> Iterator[Site]:
    """A site on SQLite or PostgreSQL with an administrator and the organisation "city"."""
    opened = make_site(database_url, tmp_path / "data")
    initialise(opened, "admin")
    organisations.create_organisation(
        opened, console_actor(opened, "admin"), name="city", title="City"
    )
    yield opened
    opened.close()


@dataclass
class MqttProbe:
    """A paho client for tests: every broker answer is waited for and returned."""

    client: Client
    connected: queue.SimpleQueue[ReasonCode] = field(default_factory=queue.SimpleQueue)
    acks: dict[int, ReasonCode] = field(default_factory=dict)
    subacks: queue.SimpleQueue[list[ReasonCode]] = field(default_factory=queue.SimpleQueue)
    received: list[MQTTMessage] = field(default_factory=list)
    disconnects: queue.SimpleQueue[ReasonCode] = field(default_factory=queue.SimpleQueue)
    lock: threading.Condition = field(default_factory=threading.Condition)

    def publish(self, topic: str, payload: bytes, qos: int = 1) -> ReasonCode:
        """Publish and wait for the broker's PUBACK; its reason code."""
        info = self.client.publish(topic, payload, qos=qos)
        with self.lock:
            assert self.lock.wait_for(lambda: info.mid in self.acks, timeout=WAIT), "no PUBACK"
            return self.acks[info.mid]

    def subscribe(self, topic: str) -> list[ReasonCode]:
        """Subscribe with QoS 1 and wait for the SUBACK."""
        self.client.subscribe(topic, qos=1)
        return self.subacks.get(timeout=WAIT)

    def close(self) -> None:
        """Disconnect and stop the network thread."""
        self.client.disconnect()
        self.client.loop_stop()


def mqtt_connect(
    broker: Broker, username: str, password: str, *, client_id: str | None = None
) -> tuple[MqttProbe, ReasonCode]:
    """An MQTT v5 client signed in as ``username``, and the broker's CONNACK reason."""
    client = Client(
        CallbackAPIVersion.VERSION2,
        client_id=client_id or f"probe-{secrets.token_hex(4)}",
        protocol=MQTTProtocolVersion.MQTTv5,
        reconnect_on_failure=False,
    )
    probe = MqttProbe(client)
    client.username_pw_set(username, password)

    def on_connect(
        c: Client, u: object, f: ConnectFlags, reason: ReasonCode, p: Properties | None
    ) -> None:
        probe.connected.put(reason)

    def on_publish(
        c: Client, u: object, mid: int, reason: ReasonCode, p: Properties | None
    ) -> None:
        with probe.lock:
            probe.acks[mid] = reason
            probe.lock.notify_all()

    def on_subscribe(
        c: Client, u: object, mid: int, reasons: list[ReasonCode], p: Properties | None
    ) -> None:
        probe.subacks.put(reasons)

    def on_message(c: Client, u: object, message: MQTTMessage) -> None:
        with probe.lock:
            probe.received.append(message)
            probe.lock.notify_all()

    def on_disconnect(
        c: Client, u: object, f: DisconnectFlags, reason: ReasonCode, p: Properties | None
    ) -> None:
        probe.disconnects.put(reason)

    client.on_connect = on_connect
    client.on_disconnect = on_disconnect
    client.on_publish = on_publish
    client.on_subscribe = on_subscribe
    client.on_message = on_message
    client.connect(broker.address.host, broker.address.port)
    client.loop_start()
    return probe, probe.connected.get(timeout=WAIT)
