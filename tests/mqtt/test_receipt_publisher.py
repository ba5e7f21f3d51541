"""How receipts leave the worker: from a thread of their own, every one, in order, only
once its batch is committed; and the worker's buffered reads from the broker."""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable, Iterator

import orjson
import pytest
from paho.mqtt.client import Client, MQTTMessage
from sqlalchemy import select

from cityshare.mqtt import connection
from cityshare.mqtt.broker import receipts_topic
from cityshare.mqtt.receipts import RECEIPT_QOS, ReceiptPublisher
from cityshare.mqtt.worker import IngestWorker
from cityshare.site import Site
from cityshare.storage.schema import ingest_batches
from cityshare.streams.client import batch_body, mqtt_payload, mqtt_topic
from tests.mqtt.conftest import WAIT, Broker, MqttProbe
from tests.mqtt.test_worker import Fleet, _publisher, _readings, make_fleet, running

# --- reads from the broker, buffered --------------------------------------------------


@pytest.fixture
def pair() -> Iterator[tuple[socket.socket, socket.socket]]:
    """Two connected sockets: the broker's end and the worker's (non-blocking) end."""
    broker_end, worker_end = socket.socketpair()
    worker_end.setblocking(False)
    yield broker_end, worker_end
    broker_end.close()
    worker_end.close()


def test_one_read_takes_every_packet_the_kernel_holds(
    pair: tuple[socket.socket, socket.socket],
) -> None:
    broker_end, worker_end = pair
    buffered = connection.BufferedSocket(worker_end)
    packets = b"\x40\x02\x00\x01" + b"\x40\x02\x00\x02" + b"\x30\x05\x00\x01tabc"
    broker_end.sendall(packets)
    # paho's reads: the first byte, the length, the rest.
    assert buffered.recv(1) == b"\x40"
    with pytest.raises(BlockingIOError):
        worker_end.recv(1)  # the kernel has nothing left: it was all read at once
    assert buffered.pending() == len(packets) - 1
    assert buffered.recv(1) == b"\x02"
    assert buffered.recv(2) == b"\x00\x01"
    assert buffered.recv(1) + buffered.recv(1) + buffered.recv(2) == b"\x40\x02\x00\x02"
    assert buffered.recv(1) + buffered.recv(1) == b"\x30\x05"
    assert buffered.recv(100) == b"\x00\x01tabc"  # what there is, not more
    assert buffered.pending() == 0
    with pytest.raises(BlockingIOError):
        buffered.recv(1)  # as the socket: nothing has come
    broker_end.sendall(b"\xd0")
    assert buffered.recv(5) == b"\xd0"  # a short read passes straight through
    broker_end.close()
    assert buffered.recv(1) == b""  # the broker closed the connection


def test_a_body_longer_than_one_read_comes_in_pieces(
    pair: tuple[socket.socket, socket.socket],
) -> None:
    broker_end, worker_end = pair
    worker_end.settimeout(WAIT)
    buffered = connection.BufferedSocket(worker_end)
    body = bytes(range(256)) * 1000  # larger than READ_BYTES
    sender = threading.Thread(target=broker_end.sendall, args=(body,))
    sender.start()
    received = bytearray()
    while len(received) < len(body):
        received += buffered.recv(len(body) - len(received))
    sender.join(WAIT)
    assert bytes(received) == body


# --- the receipt thread, against a real broker ----------------------------------------


@pytest.fixture
def fleet(site: Site, start_broker: Callable[..., Broker]) -> Fleet:
    """Three devices and a broker (SQLite and PostgreSQL)."""
    return make_fleet(site, start_broker)


@pytest.fixture
def worker_client(fleet: Fleet) -> Iterator[Client]:
    """The ingest worker's own paho client, connected and subscribed."""
    inbox = connection.Inbox()
    client = connection.create_client(
        fleet.broker.address,
        fleet.broker.address.username,
        fleet.broker.topic,
        inbox,
        receive_maximum=100,
    )
    connection.start(client)
    assert inbox.subscribed.wait(WAIT), fleet.broker.log()
    yield client
    connection.stop(client)


def _listening(fleet: Fleet, index: int) -> MqttProbe:
    device = fleet.devices[index]
    probe = _publisher(fleet.broker, device)
    assert [r.value for r in probe.subscribe(receipts_topic(device.uid))] == [1]
    return probe


def _payloads(probe: MqttProbe, count: int) -> list[bytes]:
    with probe.lock:
        assert probe.lock.wait_for(lambda: len(probe.received) >= count, timeout=WAIT)
        return [bytes(message.payload) for message in probe.received]


def test_every_receipt_handed_over_is_published_in_order(
    fleet: Fleet, worker_client: Client
) -> None:
    a, b = fleet.devices[0].uid, fleet.devices[1].uid
    probes = [_listening(fleet, 0), _listening(fleet, 1)]
    publisher = ReceiptPublisher(worker_client)
    groups = [
        [(b if n % 3 == 0 else a, f"{group}-{n}".encode()) for n in range(9)] for group in range(20)
    ]
    for group in groups:
        publisher.send(group)
    publisher.send([])
    assert publisher.published == 180
    expected_a = [payload for group in groups for uid, payload in group if uid == a]
    expected_b = [payload for group in groups for uid, payload in group if uid == b]
    assert _payloads(probes[0], len(expected_a)) == expected_a
    assert _payloads(probes[1], len(expected_b)) == expected_b
    assert all(message.qos == RECEIPT_QOS == 0 for probe in probes for message in probe.received)
    for probe in probes:
        probe.close()


def test_a_receipt_that_cannot_be_published_does_not_stop_the_others(
    fleet: Fleet, worker_client: Client
) -> None:
    a = fleet.devices[0].uid
    probe = _listening(fleet, 0)
    publisher = ReceiptPublisher(worker_client)
    publisher.send([(a, b"first"), ("bad/+/uid", b"never"), (a, b"second")])
    assert publisher.published == 2
    assert _payloads(probe, 2) == [b"first", b"second"]
    probe.close()


# --- through the worker: after the commit, in order -----------------------------------


@pytest.fixture
def worker(fleet: Fleet) -> Iterator[IngestWorker]:
    """An ingest worker running in a thread."""
    with running(fleet) as started:
        yield started


def _stored_nonces(site: Site) -> set[str]:
    with site.engine.connect() as connection_:
        return set(connection_.execute(select(ingest_batches.c.nonce)).scalars())


def test_a_receipt_arrives_after_its_batch_is_committed_in_the_order_sent(
    fleet: Fleet, worker: IngestWorker
) -> None:
    devices = fleet.devices[:2]
    probes = [_listening(fleet, 0), _listening(fleet, 1)]
    committed_on_arrival: list[bool] = []
    for probe in probes:
        on_message = probe.client.on_message
        assert on_message is not None

        def check(c: Client, u: object, message: MQTTMessage, keep: object = on_message) -> None:
            nonce = orjson.loads(message.payload)["nonce"]
            committed_on_arrival.append(nonce in _stored_nonces(fleet.site))
            keep(c, u, message)  # type: ignore[operator]

        probe.client.on_message = check
    sent: list[list[str]] = [[], []]
    for number in range(40):  # without waiting for receipts: several groups at once
        for index, (device, probe) in enumerate(zip(devices, probes, strict=True)):
            nonce = f"n-{index}-{number:03d}"
            body = batch_body(_readings(number * 10, 2), nonce=nonce)
            probe.client.publish(mqtt_topic(device.uid), mqtt_payload(device.key, body), qos=1)
            sent[index].append(nonce)
    for index, probe in enumerate(probes):
        receipts = [orjson.loads(payload) for payload in _payloads(probe, 40)]
        assert [receipt["nonce"] for receipt in receipts] == sent[index]
        assert {receipt["status"] for receipt in receipts} == {201}
    assert committed_on_arrival == [True] * 80
    for probe in probes:
        probe.close()
