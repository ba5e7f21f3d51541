"""A small, fast MQTT 3.1.1 publisher for load tests: many device connections, no threads.

paho needs a network loop (a thread) per client; a thousand devices would be a thousand
threads. This speaks just enough MQTT over plain sockets: CONNECT with a user name and
password, QoS 1 PUBLISH, counting PUBACKs, and (with ``receipts``) SUBSCRIBE to the
device's receipts topic, counting the receipts cityshare publishes and acknowledging them.

The devices run on the same cores as what they measure, so they are kept cheap: one
epoll selector over every connection (not a ``select`` of hundreds of sockets each time
one has data), every packet read at a time parsed from one ``recv``, the PUBACKs of
those written with one ``send``.
"""

from __future__ import annotations

import selectors
import socket
import time
from collections.abc import Sequence
from dataclasses import dataclass, field


def _varint(length: int) -> bytes:
    out = bytearray()
    while True:
        digit, length = length % 128, length // 128
        out.append(digit | (0x80 if length else 0))
        if not length:
            return bytes(out)


def _text(value: str) -> bytes:
    raw = value.encode()
    return len(raw).to_bytes(2, "big") + raw


def connect_packet(username: str, password: str, keepalive: int = 300) -> bytes:
    """CONNECT, MQTT 3.1.1, clean session, with a user name and password."""
    header = b"\x00\x04MQTT\x04" + bytes([0xC2]) + keepalive.to_bytes(2, "big")
    payload = _text(username) + _text(username) + _text(password)
    body = header + payload
    return b"\x10" + _varint(len(body)) + body


def subscribe_packet(topic: str, packet_id: int) -> bytes:
    """SUBSCRIBE to one topic with QoS 1."""
    body = packet_id.to_bytes(2, "big") + _text(topic) + b"\x01"
    return b"\x82" + _varint(len(body)) + body


def puback_packet(packet_id: int) -> bytes:
    """PUBACK of a QoS 1 message the broker sent us."""
    return b"\x40\x02" + packet_id.to_bytes(2, "big")


def publish_packet(topic: str, packet_id: int, payload: bytes) -> bytes:
    """PUBLISH with QoS 1."""
    body = _text(topic) + packet_id.to_bytes(2, "big") + payload
    return b"\x32" + _varint(len(body)) + body


@dataclass
class DeviceConnection:
    """One device's connection and its unacknowledged packet ids."""

    uid: str
    sock: socket.socket
    pending: set[int] = field(default_factory=set)
    buffer: bytearray = field(default_factory=bytearray)
    acked: int = 0
    refused: int = 0
    receipts: int = 0
    stored_receipts: int = 0


def open_connection(
    host: str, port: int, uid: str, password: str, *, receipts: bool = False
) -> DeviceConnection:
    """Connect and wait for a successful CONNACK (and, with ``receipts``, a SUBACK)."""
    sock = socket.create_connection((host, port), timeout=30)
    sock.sendall(connect_packet(uid, password))
    reply = b""
    while len(reply) < 4:
        chunk = sock.recv(4 - len(reply))
        if not chunk:
            raise ConnectionError(f"{uid}: the broker closed the connection")
        reply += chunk
    if reply[0] != 0x20 or reply[3] != 0:
        raise ConnectionError(f"{uid}: CONNACK refused ({reply.hex()})")
    if receipts:
        sock.sendall(subscribe_packet(f"cityshare/devices/{uid}/receipts", 1))
        suback = _read_exactly(sock, 5)
        if suback[0] != 0x90 or suback[4] != 1:
            raise ConnectionError(f"{uid}: SUBACK refused ({suback.hex()})")
    sock.setblocking(False)
    return DeviceConnection(uid, sock)


def _read_exactly(sock: socket.socket, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = sock.recv(size - len(data))
        if not chunk:
            raise ConnectionError("the broker closed the connection")
        data += chunk
    return data


def _read_acks(connection: DeviceConnection) -> None:
    try:
        chunk = connection.sock.recv(65536)
    except BlockingIOError:
        return
    if not chunk:
        raise ConnectionError(f"{connection.uid}: disconnected by the broker")
    connection.buffer += chunk
    data = connection.buffer
    replies = bytearray()
    while True:
        packet = _next_packet(data)
        if packet is None:
            break
        kind, header, body = packet
        if kind == 0x40:
            connection.pending.discard(int.from_bytes(body[:2], "big"))
            connection.acked += 1
        elif kind == 0x30:  # a receipt, QoS 1 (flags 0x02): acknowledge it
            topic_length = int.from_bytes(body[:2], "big")
            packet_id = int.from_bytes(body[2 + topic_length : 4 + topic_length], "big")
            replies += puback_packet(packet_id)
            connection.receipts += 1
            connection.stored_receipts += b'"status":20' in body[4 + topic_length :]
        else:
            raise ConnectionError(f"{connection.uid}: unexpected packet {header.hex()}")
        del data[: len(header) + len(body)]
    if replies:
        _send(connection.sock, bytes(replies))


def _send(sock: socket.socket, data: bytes) -> None:
    """Send ``data`` on a non-blocking socket; blocking only for what the kernel's
    buffer did not take at once (rare: these are small packets)."""
    try:
        sent = sock.send(data)
    except BlockingIOError:
        sent = 0
    if sent < len(data):
        sock.setblocking(True)
        sock.sendall(data[sent:])
        sock.setblocking(False)


def _next_packet(data: bytearray) -> tuple[int, bytes, bytes] | None:
    """(packet type, fixed header, body) of the first whole packet in ``data``, or None."""
    length, multiplier, position = 0, 1, 1
    while True:
        if position >= len(data):
            return None
        digit = data[position]
        length += (digit & 0x7F) * multiplier
        multiplier *= 128
        position += 1
        if not digit & 0x80:
            break
    if len(data) < position + length:
        return None
    return data[0] & 0xF0, bytes(data[:position]), bytes(data[position : position + length])


def publish_rounds(
    connections: Sequence[DeviceConnection],
    messages: Sequence[Sequence[bytes]],
    topic_of: dict[str, str],
    *,
    timeout: float = 300.0,
) -> int:
    """Publish round ``r`` of every device, wait for its PUBACKs, then the next round.

    ``messages[i][r]`` is device ``i``'s payload for round ``r``. Returns how many
    publishes the broker acknowledged.
    """
    deadline = time.monotonic() + timeout
    rounds = max(len(items) for items in messages)
    with _selector(connections) as selector:
        for number in range(rounds):
            for connection, items in zip(connections, messages, strict=True):
                if number < len(items):
                    packet_id = number % 65535 + 1
                    connection.pending.add(packet_id)
                    packet = publish_packet(topic_of[connection.uid], packet_id, items[number])
                    _send(connection.sock, packet)
            waiting = sum(1 for c in connections if c.pending)
            while waiting:
                if time.monotonic() > deadline:
                    raise TimeoutError("the broker did not acknowledge every publish in time")
                waiting -= _read_ready(selector)
    return sum(connection.acked for connection in connections)


def wait_for_receipts(
    connections: Sequence[DeviceConnection], expected: int, *, timeout: float = 300.0
) -> int:
    """Read until ``expected`` receipts came on ``connections`` (or ``timeout``); how many."""
    deadline = time.monotonic() + timeout
    with _selector(connections) as selector:
        while sum(c.receipts for c in connections) < expected and time.monotonic() < deadline:
            _read_ready(selector)
    return sum(c.receipts for c in connections)


def _selector(connections: Sequence[DeviceConnection]) -> selectors.BaseSelector:
    """An epoll selector (where there is one) over every connection, registered once."""
    selector = selectors.DefaultSelector()
    for connection in connections:
        selector.register(connection.sock, selectors.EVENT_READ, connection)
    return selector


def _read_ready(selector: selectors.BaseSelector) -> int:
    """Read what is ready (waiting up to a second); how many connections this left with
    no publish waiting for its PUBACK."""
    settled = 0
    for key, _ in selector.select(1.0):
        connection: DeviceConnection = key.data
        had_pending = bool(connection.pending)
        _read_acks(connection)
        settled += had_pending and not connection.pending
    return settled


def close_all(connections: Sequence[DeviceConnection]) -> None:
    """DISCONNECT and close every connection."""
    for connection in connections:
        try:
            connection.sock.setblocking(True)
            connection.sock.sendall(b"\xe0\x00")
        except OSError:
            pass
        connection.sock.close()
