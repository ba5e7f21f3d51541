"""The ingest worker's MQTT connection: a persistent session, QoS 1, manual acknowledgement.

The worker connects with MQTT v5, ``clean_start=False`` and a long session expiry, so
the broker keeps its subscription and queues readings while the worker is away. It
asks for at most ``receive_maximum`` unacknowledged messages at a time and
acknowledges each message itself (``manual_ack``), only once its readings are stored.

paho runs the network in its own thread; :class:`Inbox` hands the messages over to
the worker's thread. Each message is tagged with the connection ("session" number) it
arrived on, and :meth:`Inbox.acknowledge` sends a PUBACK only on that same
connection: after a reconnect the broker sends unacknowledged messages again, and an
acknowledgement meant for the old copy must not land on another message that reuses
its packet id.

paho reads every packet with three ``recv`` calls (its first byte, its length, its
body), each a system call that gives up the GIL the worker's thread then waits to get
back: :class:`BufferedSocket` reads what the kernel holds at once and hands it out.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING

from paho.mqtt.client import (
    Client,
    ConnectFlags,
    DisconnectFlags,
    MQTTMessage,
)
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from cityshare.mqtt.address import BrokerAddress
from cityshare.mqtt.messages import Delivery

if TYPE_CHECKING:
    from paho.mqtt.client import SocketLike

# How long the broker keeps the worker's session (and queues its messages) while the
# worker is away. MQTT v5 caps it at 2**32 - 1 seconds, which means "never expires".
SESSION_EXPIRY_SECONDS = 7 * 24 * 3600
KEEPALIVE_SECONDS = 30
# After losing the broker, try again every second: messages a restarted broker takes
# before the worker is back are only queued for it once its session is restored.
RECONNECT_SECONDS = 1
MAX_RECEIVE_MAXIMUM = 65_535
# What one read from the broker's connection asks the kernel for.
READ_BYTES = 65_536

log = logging.getLogger(__name__)


class Inbox:
    """Messages from paho's network thread to the worker thread, tagged by connection."""

    def __init__(self) -> None:
        self._queue: queue.SimpleQueue[Delivery] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._session = 0
        self.subscribed = threading.Event()
        # The broker's own in-flight limit, as it announces it (MQTT v5 receive-maximum).
        self.broker_limit = MAX_RECEIVE_MAXIMUM

    def new_session(self) -> None:
        """The connection changed: messages of earlier ones are no longer acknowledged."""
        with self._lock:
            self._session += 1
            self.subscribed.clear()

    def put(self, message: MQTTMessage) -> None:
        """Queue ``message`` (called in paho's network thread)."""
        with self._lock:
            session = self._session
        self._queue.put(
            Delivery(
                topic=message.topic,
                payload=bytes(message.payload),
                mid=message.mid,
                qos=message.qos,
                session=session,
            )
        )

    def take(self, most: int, *, wait: float, linger: float) -> list[Delivery]:
        """Up to ``most`` messages: wait up to ``wait`` s for the first, then up to
        ``linger`` s more for others to join it."""
        try:
            group = [self._queue.get(timeout=wait)]
        except queue.Empty:
            return []
        deadline = time.monotonic() + linger
        while len(group) < most:
            try:
                group.append(self._queue.get_nowait())
                continue
            except queue.Empty:
                pass
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            try:
                group.append(self._queue.get(timeout=remaining))
            except queue.Empty:
                break
        return group

    def acknowledge(self, client: Client, deliveries: Sequence[Delivery]) -> int:
        """Send PUBACKs, in order, for the messages of the current connection; how many."""
        sent = 0
        with self._lock:
            for delivery in deliveries:
                if delivery.qos > 0 and delivery.session == self._session:
                    client.ack(delivery.mid, delivery.qos)
                    sent += 1
        return sent


def create_client(
    address: BrokerAddress, client_id: str, topic: str, inbox: Inbox, *, receive_maximum: int
) -> Client:
    """A paho client that connects (and reconnects) with a persistent session and
    subscribes to ``topic`` with QoS 1, delivering into ``inbox``. Call
    :func:`start` to connect."""
    client = BufferedClient(
        CallbackAPIVersion.VERSION2,
        client_id=client_id,
        protocol=MQTTProtocolVersion.MQTTv5,
        manual_ack=True,
    )
    client.username_pw_set(address.username, address.password)
    if address.tls:
        client.tls_set()
    client.reconnect_delay_set(min_delay=RECONNECT_SECONDS, max_delay=RECONNECT_SECONDS)
    # No limit in paho on the receipts in flight: with one, paho scans every outgoing
    # message on each PUBACK (2.5 times the CPU per receipt). They come a group at a time,
    # at most half the window; one the broker would not take costs the device a resend.
    client.max_inflight_messages_set(0)
    client.user_data_set(_Handlers(inbox, topic, receive_maximum))
    client.on_pre_connect = _on_pre_connect
    client.on_connect = _on_connect
    client.on_subscribe = _on_subscribe
    client.on_message = _on_message
    client.on_disconnect = _on_disconnect
    properties = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
    properties.SessionExpiryInterval = SESSION_EXPIRY_SECONDS
    properties.ReceiveMaximum = max(1, min(receive_maximum, MAX_RECEIVE_MAXIMUM))
    client.connect_async(
        address.host,
        address.port,
        keepalive=KEEPALIVE_SECONDS,
        clean_start=False,
        properties=properties,
    )
    return client


class BufferedSocket:
    """A connection to the broker whose reads are buffered: one ``recv`` takes what the
    kernel holds (up to :data:`READ_BYTES`), and paho's small reads are served from it.
    :meth:`pending` tells paho's loop that bytes wait here, as it asks of TLS sockets, so
    that it reads them before it waits on the socket again."""

    def __init__(self, sock: SocketLike) -> None:
        self._sock = sock
        self._buffer = b""
        self._offset = 0

    def recv(self, size: int) -> bytes:
        """Up to ``size`` bytes: buffered ones first, else from one read of the socket
        (which raises as the socket does: BlockingIOError when nothing has come)."""
        if self._offset >= len(self._buffer):
            data = self._sock.recv(max(size, READ_BYTES))
            if len(data) <= size:
                return data  # all of it, or b"" when the broker closed the connection
            self._buffer, self._offset = data, 0
        start = self._offset
        self._offset = min(start + size, len(self._buffer))
        return self._buffer[start : self._offset]

    def pending(self) -> int:
        """Bytes read but not yet handed out (and those TLS holds decrypted)."""
        inner = getattr(self._sock, "pending", None)
        return len(self._buffer) - self._offset + (inner() if inner else 0)

    def send(self, data: bytes | bytearray) -> int:
        """Send as the socket does."""
        return self._sock.send(data)

    def fileno(self) -> int:
        """The socket's descriptor (paho's loop waits on it)."""
        return self._sock.fileno()

    def setblocking(self, flag: bool) -> None:
        """As the socket's."""
        self._sock.setblocking(flag)

    def close(self) -> None:
        """Close the socket (and forget what was buffered)."""
        self._buffer, self._offset = b"", 0
        self._sock.close()


class BufferedClient(Client):
    """paho's client, reading from the broker through a :class:`BufferedSocket`."""

    def _create_socket(self) -> SocketLike:
        return BufferedSocket(super()._create_socket())


def start(client: Client) -> None:
    """Connect in paho's background thread; it reconnects by itself after failures."""
    client.loop_start()


def stop(client: Client) -> None:
    """Disconnect cleanly (the session stays on the broker) and stop the thread."""
    client.disconnect()
    client.loop_stop()


class _Handlers:
    """What paho's callbacks need (passed as the client's user data)."""

    def __init__(self, inbox: Inbox, topic: str, receive_maximum: int) -> None:
        self.inbox = inbox
        self.topic = topic
        self.receive_maximum = receive_maximum


def _on_pre_connect(client: Client, handlers: _Handlers) -> None:
    handlers.inbox.new_session()


def _on_connect(
    client: Client,
    handlers: _Handlers,
    flags: ConnectFlags,
    reason: ReasonCode,
    properties: Properties | None,
) -> None:
    if reason.is_failure:
        log.error("The MQTT broker refused the ingest worker: %s", reason)
        return
    limit = getattr(properties, "ReceiveMaximum", None)
    handlers.inbox.broker_limit = int(limit) if limit else MAX_RECEIVE_MAXIMUM
    if handlers.inbox.broker_limit < handlers.receive_maximum:
        log.warning(
            "The broker allows %d messages in flight, fewer than CITYSHARE_MQTT_INFLIGHT=%d; "
            "the worker keeps to the broker's limit",
            handlers.inbox.broker_limit,
            handlers.receive_maximum,
        )
    if not flags.session_present:
        log.info("New MQTT session on the broker; subscribing to %s", handlers.topic)
    client.subscribe(handlers.topic, qos=1)


def _on_subscribe(
    client: Client,
    handlers: _Handlers,
    mid: int,
    reasons: list[ReasonCode],
    properties: Properties | None,
) -> None:
    failed = [reason for reason in reasons if reason.is_failure]
    if failed:
        log.error("The MQTT broker refused the subscription to %s: %s", handlers.topic, failed)
        return
    log.info("Subscribed to %s (QoS 1)", handlers.topic)
    handlers.inbox.subscribed.set()


def _on_message(client: Client, handlers: _Handlers, message: MQTTMessage) -> None:
    handlers.inbox.put(message)


def _on_disconnect(
    client: Client,
    handlers: _Handlers,
    flags: DisconnectFlags,
    reason: ReasonCode,
    properties: Properties | None,
) -> None:
    handlers.inbox.new_session()
    if reason.is_failure:
        log.warning("Lost the MQTT broker (%s); reconnecting", reason)
