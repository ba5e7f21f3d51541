"""The broker files cityshare writes, and what a real Mosquitto started from them allows."""

from __future__ import annotations

import stat
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import typer
from sqlalchemy import update
from typer.testing import CliRunner

from cityshare.accounts import organisations
from cityshare.accounts.console import console_actor, initialise
from cityshare.cli.mqtt import register
from cityshare.errors import CityshareError
from cityshare.mqtt.address import BadMqttUrl, BrokerAddress, parse_mqtt_url
from cityshare.mqtt.broker import (
    BrokerOptions,
    queue_limits,
    render_acl,
    render_config,
    share_group,
    write_broker_files,
)
from cityshare.site import Site
from cityshare.storage.schema import devices
from cityshare.streams import devices as device_service
from cityshare.streams.client import mqtt_topic
from tests.mqtt.conftest import WAIT, Broker, MqttProbe, mqtt_connect
from tests.sensors import Device, add_device
from tests.world import make_site

WORKER = BrokerAddress("127.0.0.1", 1883, "cityshare-ingest", "worker-secret")
NOT_AUTHORIZED = 135
PACKET_TOO_LARGE = 149
UNSPECIFIED_ERROR = 128


# --- the files ----------------------------------------------------------------------------


def test_the_acl_lets_the_workers_read_and_each_device_write_only_its_own_topic() -> None:
    text = render_acl(["ingest", "ingest-2"], "group-x", ["dev-a", "dev-b"])
    blocks = [block for block in text.split("\n\n") if not block.startswith("#")]
    rights = (
        "topic read cityshare/devices/+/readings\n"
        "topic read $share/group-x/cityshare/devices/+/readings\n"
        "topic write cityshare/devices/+/receipts"
    )
    assert blocks == [
        f"user ingest\n{rights}",
        f"user ingest-2\n{rights}",
        "user dev-a\ntopic write cityshare/devices/dev-a/readings\n"
        "topic read cityshare/devices/dev-a/receipts",
        "user dev-b\ntopic write cityshare/devices/dev-b/readings\n"
        "topic read cityshare/devices/dev-b/receipts\n",
    ]


def test_the_queues_are_sized_for_the_fleet_and_saved_often(tmp_path: Path) -> None:
    messages, size = queue_limits(5000, batch_seconds=5, outage_minutes=30, batch_bytes=1500)
    assert (messages, size) == (5000 * 30 * 60 // 5, 5000 * 30 * 60 // 5 * 1500)
    assert queue_limits(3)[0] == 100_000  # a small fleet still rides out a long outage
    options = BrokerOptions(max_queued_messages=messages, max_queued_bytes=size)
    lines = render_config(tmp_path, options).splitlines()
    for expected in (
        "persistence true",
        "autosave_interval 10",
        f"max_queued_messages {messages}",
        f"max_queued_bytes {size}",
    ):
        assert expected in lines


def test_the_share_group_is_a_secret_of_the_workers() -> None:
    group = share_group("worker-secret")
    assert group == share_group("worker-secret")
    assert group != share_group("worker-secreT")
    assert "worker-secret" not in group and len(group) >= 32


def test_the_configuration_refuses_anonymous_clients(tmp_path: Path) -> None:
    options = BrokerOptions(host="192.0.2.7", port=18830, max_packet_size=4096, run_as="mosquitto")
    lines = render_config(tmp_path, options).splitlines()
    for expected in (
        "allow_anonymous false",
        f"password_file {tmp_path}/passwd",
        f"acl_file {tmp_path}/acl",
        "listener 18830 192.0.2.7",
        "max_inflight_messages 1000",
        "max_queued_messages 100000",
        "max_packet_size 4096",
        "use_username_as_clientid true",
        f"persistence_location {tmp_path}/",
        "user mosquitto",
    ):
        assert expected in lines


def test_the_files_hold_live_devices_only(database_url: str, tmp_path: Path) -> None:
    site = _site(database_url, tmp_path)
    try:
        live, revoked, passwordless = (add_device(site, name) for name in ("a", "b", "c"))
        device_service.revoke_device(site, console_actor(site, "admin"), revoked.uid)
        _set(site, passwordless.uid, mqtt_password_hash=None)
        folder = tmp_path / "broker"
        files = write_broker_files(site, folder, WORKER, BrokerOptions())
    finally:
        site.close()
    users = [line.split(":", 1)[0] for line in files.passwd.read_text().splitlines()]
    assert users == ["cityshare-ingest", live.uid]
    assert "worker-secret" not in files.passwd.read_text()
    assert files.devices == 1
    acl = files.acl.read_text()
    assert f"topic write {mqtt_topic(live.uid)}" in acl
    assert revoked.uid not in acl and passwordless.uid not in acl
    for path in (files.passwd, files.acl):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert sorted(p.name for p in folder.iterdir()) == ["acl", "mosquitto.conf", "passwd"]


def test_a_uid_that_could_inject_acl_lines_is_left_out(database_url: str, tmp_path: Path) -> None:
    site = _site(database_url, tmp_path)
    try:
        device = add_device(site, "a")
        _set(site, device.uid, uid="x\ntopic readwrite #")
        files = write_broker_files(site, tmp_path / "broker", WORKER, BrokerOptions())
    finally:
        site.close()
    assert "readwrite" not in files.acl.read_text()
    assert files.passwd.read_text().count("\n") == 1  # the worker only


def test_the_mqtt_url_names_the_worker_account() -> None:
    address = parse_mqtt_url("mqtts://ingest%2D1:p%40ss@broker.example:8884")
    assert address == BrokerAddress("broker.example", 8884, "ingest-1", "p@ss", tls=True)
    assert parse_mqtt_url("mqtt://w:p@localhost").port == 1883
    assert "p@ss" not in repr(address)
    for bad in ("http://w:p@h", "mqtt://h:1883", "mqtt://w@h", "mqtt://bad user:p@h"):
        with pytest.raises(BadMqttUrl):
            parse_mqtt_url(bad)


def test_mqtt_config_writes_the_files_and_prints_how_to_start_mosquitto(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CITYSHARE_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("CITYSHARE_MQTT_URL", "mqtt://ingest:pw@127.0.0.1:18999")
    out = tmp_path / "broker"
    arguments = ["mqtt-config", "--out", str(out), "--port", "1999", "--workers", "2"]
    result = CliRunner().invoke(_cli(), arguments)
    assert result.exit_code == 0, result.output
    assert f"mosquitto -c {out}/mosquitto.conf" in result.output
    assert "listener 1999 127.0.0.1" in (out / "mosquitto.conf").read_text().splitlines()
    users = [line.split(":")[0] for line in (out / "passwd").read_text().splitlines()]
    assert users == ["ingest", "ingest-2"]
    reload = CliRunner().invoke(_cli(), ["mqtt-config", "--out", str(out), "--reload"])
    assert isinstance(reload.exception, CityshareError)
    assert "No running broker" in reload.exception.detail


def test_mqtt_config_sizes_the_queues_for_the_fleet(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CITYSHARE_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("CITYSHARE_MQTT_URL", "mqtt://ingest:pw@127.0.0.1:18999")
    out = tmp_path / "broker"
    sizing = ["--fleet", "2000", "--batch-seconds", "1", "--outage-minutes", "10"]
    more = ["--batch-bytes", "1000", "--autosave-seconds", "5"]
    result = CliRunner().invoke(_cli(), ["mqtt-config", "--out", str(out), *sizing, *more])
    assert result.exit_code == 0, result.output
    lines = (out / "mosquitto.conf").read_text().splitlines()
    for expected in (
        "max_queued_messages 1200000",
        "max_queued_bytes 1200000000",
        "autosave_interval 5",
        "persistence true",
    ):
        assert expected in lines


def test_mqtt_config_needs_the_worker_account(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CITYSHARE_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("CITYSHARE_MQTT_URL", raising=False)
    result = CliRunner().invoke(_cli(), ["mqtt-config", "--out", str(tmp_path / "broker")])
    assert isinstance(result.exception, CityshareError)
    assert "CITYSHARE_MQTT_URL" in result.exception.detail
    assert not (tmp_path / "broker").exists()


# --- a real broker ------------------------------------------------------------------------


@pytest.fixture
def sqlite_site(tmp_path: Path) -> Iterator[Site]:
    """The broker's behaviour does not depend on the store: SQLite only."""
    site = _site(f"sqlite:///{tmp_path / 'store.db'}", tmp_path)
    yield site
    site.close()


@pytest.fixture
def fleet(
    sqlite_site: Site, start_broker: Callable[..., Broker]
) -> Iterator[tuple[Broker, Device, Device, MqttProbe]]:
    """A broker with devices a and b, and the ingest worker's account subscribed."""
    a, b = add_device(sqlite_site, "a"), add_device(sqlite_site, "b")
    broker = start_broker(sqlite_site)
    worker, reason = mqtt_connect(broker, broker.address.username, broker.address.password)
    assert not reason.is_failure
    assert [r.value for r in worker.subscribe(broker.topic)] == [1]
    yield broker, a, b, worker
    worker.close()


def test_a_device_publishes_to_its_own_topic(
    fleet: tuple[Broker, Device, Device, MqttProbe],
) -> None:
    broker, a, _, worker = fleet
    device = _connected(broker, a)
    assert device.publish(mqtt_topic(a.uid), b"hello").value == 0
    _wait_for(worker, 1)
    assert [(m.topic, m.payload) for m in worker.received] == [(mqtt_topic(a.uid), b"hello")]
    device.close()


def test_publishing_to_another_devices_topic_is_refused_and_never_delivered(
    fleet: tuple[Broker, Device, Device, MqttProbe],
) -> None:
    broker, a, b, worker = fleet
    device = _connected(broker, a)
    assert device.publish(mqtt_topic(b.uid), b"forged").value == NOT_AUTHORIZED
    assert device.publish("cityshare/devices/dev-x/readings", b"x").value == NOT_AUTHORIZED
    assert device.publish("elsewhere", b"x").value == NOT_AUTHORIZED
    # A later message of a's own arrives; the refused ones, sent before it, never do.
    assert device.publish(mqtt_topic(a.uid), b"marker").value == 0
    _wait_for(worker, 1)
    time.sleep(0.2)
    assert [m.payload for m in worker.received] == [b"marker"]
    device.close()


def test_wrong_or_missing_credentials_are_refused_at_connect(
    fleet: tuple[Broker, Device, Device, MqttProbe],
) -> None:
    broker, a, b, _ = fleet
    for username, password in (
        (a.uid, "not-the-password"),
        (a.uid, b.mqtt_password),
        ("dev-unknown", a.mqtt_password),
        (broker.address.username, a.mqtt_password),
    ):
        probe, reason = mqtt_connect(broker, username, password)
        probe.close()
        assert reason.is_failure, (username, reason)
        assert reason.value == NOT_AUTHORIZED


def test_a_device_receives_nothing_even_when_it_subscribes(
    fleet: tuple[Broker, Device, Device, MqttProbe],
) -> None:
    broker, a, b, worker = fleet
    spy = _connected(broker, a)
    # Mosquitto grants subscriptions and filters deliveries by the ACL.
    for topic in ("#", mqtt_topic(a.uid), mqtt_topic(b.uid), "$SYS/#"):
        spy.subscribe(topic)
    other = _connected(broker, b)
    assert other.publish(mqtt_topic(b.uid), b"from b").value == 0
    assert spy.publish(mqtt_topic(a.uid), b"from a").value == 0
    _wait_for(worker, 2)
    time.sleep(0.2)
    assert spy.received == []
    spy.close()
    other.close()


@pytest.mark.parametrize("group", ["cityshare", "x"])
def test_a_device_in_a_guessed_share_group_takes_no_readings_away(
    fleet: tuple[Broker, Device, Device, MqttProbe], group: str
) -> None:
    broker, a, b, worker = fleet
    spy = _connected(broker, b)
    spy.subscribe(f"$share/{group}/cityshare/devices/+/readings")
    device = _connected(broker, a)
    for number in range(10):
        assert device.publish(mqtt_topic(a.uid), str(number).encode()).value == 0
    _wait_for(worker, 10)
    assert sorted(int(m.payload) for m in worker.received) == list(range(10))
    assert spy.received == []
    spy.close()
    device.close()


def test_a_device_cannot_take_over_the_workers_session(
    fleet: tuple[Broker, Device, Device, MqttProbe],
) -> None:
    broker, a, _, worker = fleet
    intruder, reason = mqtt_connect(
        broker, a.uid, a.mqtt_password, client_id=broker.address.username
    )
    assert not reason.is_failure  # connected, but under its own name: its uid
    assert worker.client.is_connected()
    assert intruder.publish(mqtt_topic(a.uid), b"still flowing").value == 0
    _wait_for(worker, 1)
    assert [m.payload for m in worker.received] == [b"still flowing"]
    assert intruder.received == []
    intruder.close()


def test_a_packet_over_the_size_limit_disconnects_the_device(
    fleet: tuple[Broker, Device, Device, MqttProbe],
) -> None:
    broker, a, _, worker = fleet
    device = _connected(broker, a)
    device.client.publish(mqtt_topic(a.uid), b" " * (broker.options.max_packet_size + 1), qos=1)
    # "Packet too large", or a plain reset when the broker closes while paho still sends.
    assert device.disconnects.get(timeout=WAIT).value in (PACKET_TOO_LARGE, UNSPECIFIED_ERROR)
    time.sleep(0.2)
    assert worker.received == []
    device.close()


def test_the_worker_account_cannot_publish_readings(
    fleet: tuple[Broker, Device, Device, MqttProbe],
) -> None:
    _, a, _, worker = fleet
    assert worker.publish(mqtt_topic(a.uid), b"forged").value == NOT_AUTHORIZED


def test_after_a_reload_a_revoked_device_and_an_old_password_are_refused(
    sqlite_site: Site, fleet: tuple[Broker, Device, Device, MqttProbe]
) -> None:
    broker, a, b, worker = fleet
    admin = console_actor(sqlite_site, "admin")
    revoked, reset = _connected(broker, a), _connected(broker, b)
    device_service.revoke_device(sqlite_site, admin, a.uid)
    new_password = device_service.reset_mqtt_password(sqlite_site, admin, b.uid).mqtt_password
    broker.reload()
    assert a.uid not in broker.files.passwd.read_text()
    # Mosquitto checks connected clients again on reload: both are cut off at once.
    for cut_off in (revoked, reset):
        cut_off.disconnects.get(timeout=WAIT)
        assert not cut_off.client.is_connected()
    assert worker.disconnects.empty()  # the ingest worker stays connected
    for username, password in ((a.uid, a.mqtt_password), (b.uid, b.mqtt_password)):
        probe, reason = mqtt_connect(broker, username, password)
        probe.close()
        assert reason.value == NOT_AUTHORIZED
    renewed, reason = mqtt_connect(broker, b.uid, new_password)
    assert not reason.is_failure
    assert renewed.publish(mqtt_topic(b.uid), b"renewed").value == 0
    _wait_for(worker, 1)
    assert [m.payload for m in worker.received] == [b"renewed"]
    renewed.close()
    revoked.close()
    reset.close()


# --- helpers ------------------------------------------------------------------------------


def _cli() -> typer.Typer:
    app = typer.Typer()
    register(app)
    return app


def _site(database_url: str, folder: Path) -> Site:
    site = make_site(database_url, folder / "data")
    initialise(site, "admin")
    organisations.create_organisation(site, console_actor(site, "admin"), name="city", title="C")
    return site


def _set(site: Site, device_uid: str, **values: object) -> None:
    with site.writer.begin() as connection:
        connection.execute(update(devices).where(devices.c.uid == device_uid).values(**values))


def _connected(broker: Broker, device: Device) -> MqttProbe:
    probe, reason = mqtt_connect(broker, device.uid, device.mqtt_password)
    assert not reason.is_failure, reason
    return probe


def _wait_for(probe: MqttProbe, count: int) -> None:
    with probe.lock:
        assert probe.lock.wait_for(lambda: len(probe.received) >= count, timeout=WAIT)
