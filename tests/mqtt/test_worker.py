"""The MQTT ingest worker, end to end through a real Mosquitto, on SQLite and PostgreSQL."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, cast

import orjson
import pytest
import typer
from paho.mqtt.client import Client, MQTTMessage
from sqlalchemy import func, select
from sqlalchemy.exc import OperationalError

from cityshare import keys
from cityshare.accounts import organisations
from cityshare.accounts.console import console_actor, initialise
from cityshare.mqtt import batches
from cityshare.mqtt.address import BrokerAddress
from cityshare.mqtt.connection import Inbox
from cityshare.mqtt.messages import Delivery, Malformed, SignedBatch, decode
from cityshare.mqtt.process import ingest_worker_alongside
from cityshare.mqtt.worker import IngestWorker, WorkerOptions
from cityshare.site import Site
from cityshare.storage.schema import ingest_batches, ingest_refusals, observations
from cityshare.streams import devices as device_service
from cityshare.streams import ingest
from cityshare.streams.client import Reading, batch_body, mqtt_payload, mqtt_topic
from tests.mqtt.conftest import WAIT, Broker, MqttProbe, mqtt_connect
from tests.sensors import Device, add_device, add_sensor_dataset
from tests.world import make_site

START = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)


# --- the message format (no broker) -------------------------------------------------------


def test_a_well_formed_message_names_its_device_body_and_signature() -> None:
    payload = orjson.dumps({"body": '{"nonce": "é"}', "signature": "c2ln"})
    decoded = decode("cityshare/devices/dev-1/readings", payload, max_body_bytes=1000)
    assert decoded == SignedBatch("dev-1", '{"nonce": "é"}'.encode(), "c2ln")


@pytest.mark.parametrize(
    ("payload", "detail"),
    [
        (b"not json", "not JSON"),
        (b"\xff\xfe\x00garbage\x81", "not JSON"),
        (b"[1, 2]", "must be"),
        (b'{"body": "{}"}', "must be"),
        (b'{"body": "{}", "signature": "x", "extra": 1}', "must be"),
        (b'{"body": {"nonce": "n"}, "signature": "x"}', "strings"),
        (orjson.dumps({"body": "x" * 1001, "signature": "x"}), "body is too large"),
        (b" " * 3100, "payload is too large"),
    ],
)
def test_anything_else_is_malformed(payload: bytes, detail: str) -> None:
    decoded = decode("cityshare/devices/dev-1/readings", payload, max_body_bytes=1000)
    assert isinstance(decoded, Malformed)
    assert decoded.device == "dev-1"
    assert detail in decoded.detail


def test_a_topic_that_names_no_device_is_malformed() -> None:
    payload = orjson.dumps({"body": "{}", "signature": "x"})
    for topic in ("cityshare/devices/readings", "cityshare/devices/a/b/readings", "other"):
        assert decode(topic, payload, max_body_bytes=1000) == Malformed(
            None, "the topic is not cityshare/devices/{uid}/readings"
        )


def test_acknowledgements_go_only_to_the_connection_a_message_came_on() -> None:
    class Recorder:
        def __init__(self) -> None:
            self.acks: list[int] = []

        def ack(self, mid: int, qos: int) -> None:
            self.acks.append(mid)

    inbox, recorder = Inbox(), Recorder()
    client = cast(Client, recorder)
    inbox.new_session()
    old = [Delivery("t", b"", mid, 1, session=1) for mid in (1, 2)]
    inbox.new_session()  # reconnected: the broker sends 1 and 2 again, later
    new = [Delivery("t", b"", 3, 1, session=2), Delivery("t", b"", 4, 0, session=2)]
    assert inbox.acknowledge(client, [*old, *new]) == 1
    assert recorder.acks == [3]  # not the old copies, not QoS 0


def test_a_group_holds_at_most_half_the_in_flight_window() -> None:
    address = BrokerAddress("127.0.0.1", 1883, "ingest", "pw")
    worker = IngestWorker(cast(Site, None), WorkerOptions(address, inflight=50))
    assert worker.group_size() == 25
    worker.inbox.broker_limit = 20  # the broker announced a smaller window
    assert worker.group_size() == 10
    inbox = Inbox()
    for mid in range(7):
        inbox.put(MQTTMessage(mid=mid, topic=b"t"))
    assert [d.mid for d in inbox.take(3, wait=0.1, linger=0)] == [0, 1, 2]
    assert [d.mid for d in inbox.take(10, wait=0.1, linger=0.01)] == [3, 4, 5, 6]
    assert inbox.take(10, wait=0.01, linger=0) == []


# --- a worker in this process -------------------------------------------------------------


@dataclass
class Fleet:
    """A site, its broker, and devices with one numeric stream "pm25" each."""

    site: Site
    broker: Broker
    devices: list[Device]


def make_fleet(site: Site, start_broker: Callable[..., Broker]) -> Fleet:
    """Three devices feeding the dataset "air", and a broker that knows them."""
    dataset = add_sensor_dataset(site, "air")
    streams = {"pm25": ("pm25", "number"), "label": ("label", "string")}
    devices = [add_device(site, f"s{n}", streams=streams, dataset=dataset) for n in range(3)]
    return Fleet(site, start_broker(site), devices)


@pytest.fixture
def fleet(site: Site, start_broker: Callable[..., Broker]) -> Fleet:
    """A fleet on SQLite and on PostgreSQL."""
    return make_fleet(site, start_broker)


@contextmanager
def running(fleet: Fleet) -> Iterator[IngestWorker]:
    """An ingest worker running in a thread, subscribed; stopped (cleanly) on exit."""
    worker = IngestWorker(fleet.site, WorkerOptions(fleet.broker.address, inflight=50))
    stop = threading.Event()
    thread = threading.Thread(target=worker.run, args=(stop,))
    thread.start()
    try:
        assert worker.inbox.subscribed.wait(WAIT), fleet.broker.log()
        yield worker
    finally:
        stop.set()
        thread.join(WAIT)
        assert not thread.is_alive()


@pytest.fixture
def worker(fleet: Fleet) -> Iterator[IngestWorker]:
    """An ingest worker running in a thread."""
    with running(fleet) as started:
        yield started


def test_signed_readings_published_through_the_broker_are_stored(
    fleet: Fleet, worker: IngestWorker
) -> None:
    sent: dict[int, list[tuple[int, float]]] = {}
    for device in fleet.devices:
        publisher = _publisher(fleet.broker, device)
        for batch in range(3):
            readings = _readings(batch * 10, 2, value=float(batch))
            assert publisher.publish(*_message(device, readings)).value == 0
            stream = device.streams["pm25"]
            sent.setdefault(stream, []).extend((_micros(t), v) for _, t, v in readings)
        publisher.close()
    _wait_until(lambda: _count(fleet.site, observations) == 18)
    with fleet.site.engine.connect() as connection:
        rows = connection.execute(
            select(observations.c.stream_id, observations.c.time, observations.c.value_num)
            .where(observations.c.verified.is_(True))
            .order_by(observations.c.stream_id, observations.c.time)
        ).all()
        channels = connection.execute(select(ingest_batches.c.channel).distinct()).scalars()
        assert list(channels) == ["mqtt"]
    assert {stream: [(t, v) for s, t, v in rows if s == stream] for stream in sent} == sent
    _wait_until(lambda: worker.stats.acknowledged == 9)
    assert _refusals(fleet.site) == {}


def test_every_refusal_is_counted_and_never_stops_the_worker(
    fleet: Fleet, worker: IngestWorker
) -> None:
    a, b, c = fleet.devices
    admin = console_actor(fleet.site, "admin")
    device_service.revoke_key(fleet.site, admin, c.uid, keys.key_id(keys.public_key_text(c.key)))
    to_a, to_c = _publisher(fleet.broker, a), _publisher(fleet.broker, c)
    topic = mqtt_topic(a.uid)
    good = batch_body(_readings(0, 1), nonce="n-1")
    replayed = batch_body(_readings(5, 1), nonce="n-1")
    stale = batch_body(_readings(10, 1), sent_at=datetime.now(UTC) - timedelta(hours=2))
    forged = batch_body(_readings(20, 1))
    huge = orjson.dumps({"body": " " * (1024**2 + 1), "signature": keys.sign(a.key, b"x")})
    messages = [
        (topic, mqtt_payload(a.key, good)),  # stored
        (topic, mqtt_payload(a.key, good)),  # the same batch again: a duplicate, stored once
        (topic, mqtt_payload(a.key, replayed)),  # replay
        (topic, mqtt_payload(a.key, stale)),  # stale
        (topic, mqtt_payload(b.key, forged)),  # bad-signature: b's key, a's topic
        (topic, mqtt_payload(a.key, batch_body([("nope", START, 1.0)]))),  # unknown-stream
        (topic, mqtt_payload(a.key, batch_body([("pm25", START, "high")]))),  # wrong-type
        (topic, b"not json"),
        (topic, b'{"signature": "x"}'),
        (topic, bytes(range(256)) * 4),
        (topic, huge),
    ]
    for message in messages:
        assert to_a.publish(*message).value == 0
    assert to_c.publish(*_message(c, _readings(30, 1))).value == 0  # revoked-key
    last = _readings(40, 3)
    assert to_a.publish(*_message(a, last)).value == 0  # the worker still stores
    _wait_until(lambda: worker.stats.acknowledged == len(messages) + 2)
    assert _count(fleet.site, observations) == 4
    assert _count(fleet.site, ingest_batches) == 2
    assert worker.stats.duplicates == 1
    assert _refusals(fleet.site) == {
        (a.uid, "replay"): 1,
        (a.uid, "stale"): 1,
        (a.uid, "bad-signature"): 1,
        (a.uid, "unknown-stream"): 1,
        (a.uid, "wrong-type"): 1,
        (a.uid, "malformed"): 4,
        (c.uid, "revoked-key"): 1,
    }
    to_a.close()
    to_c.close()


def test_while_the_store_is_unavailable_nothing_is_acknowledged(
    fleet: Fleet, worker: IngestWorker, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_commit = ingest.commit
    failures = threading.Semaphore(0)
    release = threading.Event()

    def flaky_commit(*args: Any, **kwargs: Any) -> Any:
        if not release.is_set():
            failures.release()
            raise OperationalError("INSERT", {}, Exception("server closed the connection"))
        return real_commit(*args, **kwargs)

    monkeypatch.setattr(batches, "commit", flaky_commit)
    device = fleet.devices[0]
    publisher = _publisher(fleet.broker, device)
    assert publisher.publish(*_message(device, _readings(0, 2))).value == 0
    for _ in range(3):  # retried with backoff, and not acknowledged meanwhile
        assert failures.acquire(timeout=WAIT)
    assert worker.stats.acknowledged == 0
    assert _count(fleet.site, observations) == 0
    release.set()
    _wait_until(lambda: worker.stats.acknowledged == 1)
    assert _count(fleet.site, observations) == 2
    publisher.close()


def test_a_batch_stored_but_not_acknowledged_is_not_stored_twice(fleet: Fleet) -> None:
    device = fleet.devices[0]
    publisher = _publisher(fleet.broker, device)
    with running(fleet) as first:
        # As if the worker died between its commit and its acknowledgements.
        first.inbox.acknowledge = lambda client, deliveries: 0  # type: ignore[method-assign]
        for offset in (0, 10, 20):
            assert publisher.publish(*_message(device, _readings(offset, 2))).value == 0
        _wait_until(lambda: first.stats.stored == 3)
    with running(fleet) as second:  # the broker sends the three messages again
        _wait_until(lambda: second.stats.acknowledged == 3)
        assert second.stats.duplicates == 3
        assert second.stats.stored == 0
    assert _count(fleet.site, observations) == 6
    assert _count(fleet.site, ingest_batches) == 3
    assert _refusals(fleet.site) == {}
    publisher.close()


# --- a worker process, killed mid-stream --------------------------------------------------


@pytest.fixture
def start_worker(tmp_path: Path) -> Iterator[Callable[[dict[str, str]], subprocess.Popen[bytes]]]:
    """Start ``cityshare ingest-mqtt`` processes (logging to tmp_path/worker.log); any still
    running at the end are killed."""
    started: list[subprocess.Popen[bytes]] = []

    def start(env: dict[str, str]) -> subprocess.Popen[bytes]:
        with (tmp_path / "worker.log").open("ab") as log:
            process = subprocess.Popen(_worker_command(), env=env, stdout=log, stderr=log)
        started.append(process)
        return process

    yield start
    for process in started:
        if process.poll() is None:
            process.kill()
            process.wait(WAIT)


def test_killing_the_worker_mid_stream_loses_and_duplicates_no_acknowledged_reading(
    fleet: Fleet,
    database_url: str,
    tmp_path: Path,
    start_worker: Callable[[dict[str, str]], subprocess.Popen[bytes]],
) -> None:
    env = _worker_env(fleet, database_url, tmp_path)
    first = start_worker(env)
    publishers = [_publisher(fleet.broker, device) for device in fleet.devices]
    expected: set[tuple[int, int]] = set()
    _publish_until_delivered(publishers[0], fleet.devices[0], expected)
    _wait_until(lambda: _count(fleet.site, observations) == len(expected) == 5)

    stream = threading.Thread(target=_stream, args=(publishers, fleet.devices, expected))
    stream.start()
    _wait_until(lambda: _count(fleet.site, observations) >= 60)
    first.send_signal(signal.SIGKILL)
    first.wait(WAIT)
    stored_at_kill = _count(fleet.site, observations)
    stream.join(60)
    assert stored_at_kill < len(expected), "the worker was not killed mid-stream"

    second = start_worker(env)
    _wait_until(lambda: _count(fleet.site, observations) >= len(expected), timeout=30)
    time.sleep(0.5)  # anything stored twice would show now
    second.terminate()
    second.wait(WAIT)
    with fleet.site.engine.connect() as connection:
        stored = connection.execute(select(observations.c.stream_id, observations.c.time)).all()
    assert len(stored) == len(expected)
    assert {(row.stream_id, row.time) for row in stored} == expected
    assert _count(fleet.site, ingest_batches) == len(expected) // 5
    assert _refusals(fleet.site) == {}
    assert second.returncode == 0, (tmp_path / "worker.log").read_text()
    for publisher in publishers:
        publisher.close()


def test_serve_keeps_a_worker_process_beside_it_and_restarts_it_after_a_crash(
    tmp_path: Path, start_broker: Callable[..., Broker]
) -> None:
    site = make_site(f"sqlite:///{tmp_path / 'store.db'}", tmp_path / "data")
    initialise(site, "admin")
    organisations.create_organisation(site, console_actor(site, "admin"), name="city", title="C")
    fleet = make_fleet(site, start_broker)
    device = fleet.devices[0]
    publisher = _publisher(fleet.broker, device)
    settings = site.settings.model_copy(update={"mqtt_url": fleet.broker.url})
    expected: set[tuple[int, int]] = set()
    with ingest_worker_alongside(settings) as child:
        assert child is not None
        _publish_until_delivered(publisher, device, expected)
        _wait_until(lambda: _count(site, observations) == 5, timeout=30)
        crashed = child.pid
        assert crashed is not None
        os.kill(crashed, signal.SIGKILL)
        _wait_until(lambda: child.pid != crashed)
        # Queued for the worker's session meanwhile, stored by the restarted worker.
        assert publisher.publish(*_message(device, _readings(10, 5))).value == 0
        _wait_until(lambda: _count(site, observations) == 10, timeout=30)
    assert child.returncode == 0  # stopped cleanly with the block
    with ingest_worker_alongside(site.settings) as nothing:
        assert nothing is None  # no CITYSHARE_MQTT_URL, no worker
    publisher.close()
    site.close()


def _worker_env(fleet: Fleet, database_url: str, tmp_path: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        {
            "CITYSHARE_DATA_DIR": str(tmp_path / "worker-data"),
            "CITYSHARE_DATABASE_URL": database_url,
            "CITYSHARE_SECRET_KEY": "test-secret-key",
            "CITYSHARE_MQTT_URL": fleet.broker.url,
            "CITYSHARE_MQTT_INFLIGHT": "40",
        }
    )
    return env


def _worker_command() -> list[str]:
    """``cityshare ingest-mqtt``; until the main CLI registers it, the same command from
    :mod:`cityshare.cli.mqtt` run alone."""
    from cityshare.cli.app import app

    commands = getattr(typer.main.get_command(app), "commands", {})
    if "ingest-mqtt" in commands:
        return [sys.executable, "-m", "cityshare", "ingest-mqtt"]
    return [sys.executable, "-m", "cityshare.cli.mqtt", "ingest-mqtt"]


def _publish_batch(publisher: MqttProbe, device: Device, offset: int) -> set[tuple[int, int]]:
    """Publish five readings; the (stream, time) pairs the broker acknowledged as
    delivered to a subscriber (reason 0, not 16 "no matching subscribers")."""
    readings = _readings(offset, 5)
    if publisher.publish(*_message(device, readings)).value != 0:
        return set()
    return {(device.streams["pm25"], _micros(time)) for _, time, _ in readings}


def _publish_until_delivered(
    publisher: MqttProbe, device: Device, expected: set[tuple[int, int]]
) -> None:
    """Publish a batch until one reaches a subscriber: until the worker has subscribed,
    the broker answers "no matching subscribers" and drops it."""
    for attempt in range(300):
        expected |= _publish_batch(publisher, device, 1000 + attempt * 10)
        if expected:
            return
        time.sleep(0.1)
    raise AssertionError("the worker never subscribed")


def _stream(
    publishers: list[MqttProbe], devices: list[Device], expected: set[tuple[int, int]]
) -> None:
    for number in range(1, 61):
        for publisher, device in zip(publishers, devices, strict=True):
            expected |= _publish_batch(publisher, device, number * 10)
        time.sleep(0.01)


# --- helpers ------------------------------------------------------------------------------


def _publisher(broker: Broker, device: Device) -> MqttProbe:
    probe, reason = mqtt_connect(broker, device.uid, device.mqtt_password)
    assert not reason.is_failure, reason
    return probe


def _readings(offset: int, count: int, *, value: float = 1.5) -> list[Reading]:
    return [("pm25", START + timedelta(seconds=offset + n), value + n) for n in range(count)]


def _message(device: Device, readings: list[Reading]) -> tuple[str, bytes]:
    return mqtt_topic(device.uid), mqtt_payload(device.key, batch_body(readings))


def _micros(moment: datetime | str) -> int:
    assert isinstance(moment, datetime)
    return int(moment.timestamp()) * 1_000_000


def _count(site: Site, table: Any) -> int:
    with site.engine.connect() as connection:
        return int(connection.execute(select(func.count()).select_from(table)).scalar_one())


def _refusals(site: Site) -> dict[tuple[str, str], int]:
    with site.engine.connect() as connection:
        rows = connection.execute(
            select(ingest_refusals.c.device, ingest_refusals.c.reason, ingest_refusals.c.count)
        ).all()
    return {(device, reason): int(count) for device, reason, count in rows}


def _wait_until(condition: Callable[[], bool], timeout: float = WAIT) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)
