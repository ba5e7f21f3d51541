"""A small, fast MQTT 3.1.1 publisher for load tests: many device connections, no threads.

paho needs a network loop (a thread) per client; a thousand devices would be a thousand
threads. This speaks just enough MQTT over plain sockets: CONNECT with a user name and
password, QoS 1 PUBLISH, and counting PUBACKs.
"""

from __future__ import annotations

import select
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


def open_connection(host: str, port: int, uid: str, password: str) -> DeviceConnection:
    """Connect and wait for a successful CONNACK."""
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
    sock.setblocking(False)
    return DeviceConnection(uid, sock)


def _read_acks(connection: DeviceConnection) -> None:
    try:
        chunk = connection.sock.recv(65536)
    except BlockingIOError:
        return
    if not chunk:
        raise ConnectionError(f"{connection.uid}: disconnected by the broker")
    connection.buffer += chunk
    data = connection.buffer
    while len(data) >= 4 and data[0] == 0x40:
        packet_id = int.from_bytes(data[2:4], "big")
        connection.pending.discard(packet_id)
        connection.acked += 1
        del data[:4]
    if data and data[0] != 0x40:
        raise ConnectionError(f"{connection.uid}: unexpected packet {bytes(data[:4]).hex()}")


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
    for number in range(rounds):
        for connection, items in zip(connections, messages, strict=True):
            if number < len(items):
                packet_id = number % 65535 + 1
                connection.pending.add(packet_id)
                connection.sock.setblocking(True)
                connection.sock.sendall(
                    publish_packet(topic_of[connection.uid], packet_id, items[number])
                )
                connection.sock.setblocking(False)
        waiting = [c for c in connections if c.pending]
        while waiting:
            if time.monotonic() > deadline:
                raise TimeoutError("the broker did not acknowledge every publish in time")
            readable, _, _ = select.select([c.sock for c in waiting], [], [], 1.0)
            by_socket = {c.sock: c for c in waiting}
            for sock in readable:
                _read_acks(by_socket[sock])
            waiting = [c for c in waiting if c.pending]
    return sum(connection.acked for connection in connections)


def close_all(connections: Sequence[DeviceConnection]) -> None:
    """DISCONNECT and close every connection."""
    for connection in connections:
        try:
            connection.sock.setblocking(True)
            connection.sock.sendall(b"\xe0\x00")
        except OSError:
            pass
        connection.sock.close()
