"""The device side of signed ingestion: build, sign and address a batch of readings, and
send it over MQTT until cityshare's receipt says it is stored (:class:`MqttDevice`).

Used by the demo fleet, the benchmarks, the tests and ``cityshare device send``;
a real device does the same in a few lines of its own language.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson
import paho.mqtt.client as mqtt
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from cityshare.keys import sign

Reading = tuple[str, datetime | str, Any]  # (stream name, time, value)


def rfc3339(moment: datetime | str) -> str:
    """A time as RFC 3339 (a string is passed through unchanged)."""
    if isinstance(moment, str):
        return moment
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.isoformat().replace("+00:00", "Z")


def batch_body(
    readings: Iterable[Reading], *, nonce: str | None = None, sent_at: datetime | str | None = None
) -> bytes:
    """The JSON body of a batch (a fresh random nonce and the current time by default)."""
    document = {
        "sent_at": rfc3339(sent_at or datetime.now(UTC)),
        "nonce": nonce or secrets.token_urlsafe(16),
        "readings": [
            {"stream": stream, "time": rfc3339(time), "value": value}
            for stream, time, value in readings
        ],
    }
    return orjson.dumps(document)


def http_headers(device_uid: str, key: Ed25519PrivateKey, body: bytes) -> dict[str, str]:
    """The headers of ``POST /api/v1/ingest`` for ``body``."""
    return {
        "Content-Type": "application/json",
        "X-Device-Id": device_uid,
        "X-Signature": sign(key, body),
    }


def mqtt_topic(device_uid: str) -> str:
    """The only topic a device may publish to."""
    return f"cityshare/devices/{device_uid}/readings"


def mqtt_payload(key: Ed25519PrivateKey, body: bytes) -> bytes:
    """The MQTT message for ``body``: the body as a string and its signature."""
    return orjson.dumps({"body": body.decode(), "signature": sign(key, body)})


def receipts_topic(device_uid: str) -> str:
    """The topic where cityshare answers a device: one receipt per batch."""
    return f"cityshare/devices/{device_uid}/receipts"


@dataclass(frozen=True)
class Receipt:
    """cityshare's answer to one batch: what ``POST /api/v1/ingest`` would have said."""

    nonce: str | None
    status: int
    document: dict[str, Any]

    @property
    def stored(self) -> bool:
        """The batch is durably stored (now, or by an earlier copy)."""
        return 200 <= self.status < 300

    @property
    def already_stored(self) -> bool:
        """The batch had been stored before: this was a resend."""
        return bool(self.document.get("already_stored"))

    @classmethod
    def parse(cls, payload: bytes) -> Receipt | None:
        """A receipt from its MQTT payload; None if it is not one."""
        try:
            document = orjson.loads(payload)
        except orjson.JSONDecodeError:
            return None
        if not isinstance(document, dict) or not isinstance(document.get("status"), int):
            return None
        nonce = document.get("nonce")
        return cls(nonce if isinstance(nonce, str) else None, document["status"], document)


MAX_BACKOFF = 8  # the longest wait for a receipt, in multiples of resend_after


class ReceiptTimeout(Exception):
    """Some batches got no receipt in time (they are still kept and resent)."""

    def __init__(self, pending: list[str]) -> None:
        super().__init__(f"{len(pending)} batches got no receipt in time")
        self.pending = pending


@dataclass
class _Pending:
    payload: bytes
    sent_at: float
    sends: int = 1


class MqttDevice:
    """A device's MQTT connection that keeps every batch until cityshare's receipt says it
    is stored (or refused), and resends it unchanged when none came in ``resend_after``
    seconds (then twice as long, up to 8 times). A broker's PUBACK is not enough: a broker
    that crashes loses what it had not handed over yet. Resending is safe: the nonce makes
    a batch count once.

    >>> device = MqttDevice(uid, password, key, "broker.example.org")  # doctest: +SKIP
    >>> device.connect()  # doctest: +SKIP
    >>> nonce = device.send([("no2", datetime.now(UTC), 41.5)])  # doctest: +SKIP
    >>> device.wait_for_receipts(timeout=60)[nonce].stored  # doctest: +SKIP
    True
    """

    def __init__(
        self,
        uid: str,
        password: str,
        key: Ed25519PrivateKey,
        host: str = "127.0.0.1",
        port: int = 1883,
        *,
        tls: bool = False,
        resend_after: float = 10.0,
        session_expiry: int = 3600,
        max_inflight: int = 100,
        on_receipt: Callable[[Receipt], None] | None = None,
    ) -> None:
        """``on_receipt``, when given, is called (in paho's network thread) with each
        receipt instead of keeping it for :meth:`wait_for_receipts`: for a device that
        runs for months."""
        self.uid = uid
        self.key = key
        self.resend_after = resend_after
        self.resent = 0
        self._on_receipt = on_receipt
        self._topic = mqtt_topic(uid)
        self._receipts_topic = receipts_topic(uid)
        self._pending: dict[str, _Pending] = {}
        self._receipts: dict[str, Receipt] = {}
        self._changed = threading.Condition()
        self._subscribed = threading.Event()
        self._refused: str | None = None  # why the broker refused the connection
        self._closing = threading.Event()
        self._resender = threading.Thread(target=self._resend_loop, daemon=True)
        self._client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=uid,
            protocol=MQTTProtocolVersion.MQTTv5,
        )
        self._client.username_pw_set(uid, password)
        if tls:
            self._client.tls_set()
        self._client.reconnect_delay_set(min_delay=1, max_delay=1)
        self._client.max_inflight_messages_set(max_inflight)
        self._client.on_connect = self._on_connect
        self._client.on_disconnect = self._on_disconnect
        self._client.on_subscribe = self._on_subscribe
        self._client.on_message = self._on_message
        self._address = (host, port, session_expiry)

    def connect(self, timeout: float = 30.0) -> None:
        """Connect (a persistent session, so receipts wait while the device is away) and
        subscribe to this device's receipts; raise ConnectionRefusedError when the broker
        refuses the device, TimeoutError if it takes longer than ``timeout`` seconds."""
        host, port, session_expiry = self._address
        properties = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
        properties.SessionExpiryInterval = session_expiry
        self._client.connect_async(host, port, clean_start=False, properties=properties)
        self._client.loop_start()
        deadline = time.monotonic() + timeout
        while not self._subscribed.wait(0.05):
            if self._refused is not None or time.monotonic() > deadline:
                self.close()
                if self._refused is not None:
                    raise ConnectionRefusedError(f"the broker refused {self.uid}: {self._refused}")
                raise TimeoutError(
                    f"could not subscribe to {self._receipts_topic} at {host}:{port}"
                )
        self._resender.start()

    def send(self, readings: Iterable[Reading]) -> str:
        """Sign and publish a batch of readings; its nonce (receipts are keyed by it)."""
        return self.send_body(batch_body(readings))

    def send_body(self, body: bytes) -> str:
        """Publish a batch body (signed here) and keep it until its receipt; its nonce."""
        nonce = orjson.loads(body)["nonce"]
        payload = mqtt_payload(self.key, body)
        with self._changed:
            self._pending[nonce] = _Pending(payload, time.monotonic())
        self._client.publish(self._topic, payload, qos=1)
        return str(nonce)

    @property
    def pending(self) -> int:
        """How many batches still wait for their receipt."""
        with self._changed:
            return len(self._pending)

    def wait_for_receipts(self, timeout: float) -> dict[str, Receipt]:
        """Wait until every batch sent has its receipt; return (and forget) the receipts
        that came since the last call, by nonce. Raise :class:`ReceiptTimeout` if some
        are still missing after ``timeout`` seconds (those stay pending and resent)."""
        with self._changed:
            if not self._changed.wait_for(lambda: not self._pending, timeout):
                raise ReceiptTimeout(sorted(self._pending))
            receipts, self._receipts = self._receipts, {}
        return receipts

    def close(self) -> None:
        """Stop resending and disconnect (batches still pending are given up)."""
        self._closing.set()
        self._client.disconnect()
        self._client.loop_stop()
        if self._resender.is_alive():
            self._resender.join()

    def _resend_loop(self) -> None:
        interval = min(1.0, self.resend_after / 4)
        while not self._closing.wait(interval):
            if not self._client.is_connected():
                continue  # paho sends its unacknowledged messages again on reconnecting
            now = time.monotonic()
            with self._changed:
                due = [
                    (nonce, item)
                    for nonce, item in self._pending.items()
                    if now - item.sent_at >= self._wait_after(item.sends)
                ]
                for _, item in due:
                    item.sent_at, item.sends = now, item.sends + 1
                self.resent += len(due)
            for _, item in due:
                self._client.publish(self._topic, item.payload, qos=1)

    def _wait_after(self, sends: int) -> float:
        """How long to wait for a receipt after the ``sends``-th send: ``resend_after``,
        doubling with each resend up to 8 times as long, so that a worker far behind
        (its receipts late, not lost) is not flooded with copies."""
        return self.resend_after * min(2.0 ** (sends - 1), MAX_BACKOFF)

    def _on_connect(
        self,
        client: mqtt.Client,
        userdata: object,
        flags: mqtt.ConnectFlags,
        reason: ReasonCode,
        properties: Properties | None,
    ) -> None:
        if reason.is_failure:
            self._refused = str(reason)
        else:  # always: a broker that lost the session forgot the subscription
            client.subscribe(self._receipts_topic, qos=1)

    def _on_disconnect(
        self,
        client: mqtt.Client,
        userdata: object,
        flags: mqtt.DisconnectFlags,
        reason: ReasonCode,
        properties: Properties | None,
    ) -> None:
        self._subscribed.clear()

    def _on_subscribe(
        self,
        client: mqtt.Client,
        userdata: object,
        mid: int,
        reasons: list[ReasonCode],
        properties: Properties | None,
    ) -> None:
        if not any(reason.is_failure for reason in reasons):
            self._subscribed.set()

    def _on_message(self, client: mqtt.Client, userdata: object, message: mqtt.MQTTMessage) -> None:
        receipt = Receipt.parse(bytes(message.payload))
        if receipt is None or receipt.nonce is None:
            return
        with self._changed:
            if self._pending.pop(receipt.nonce, None) is None:
                return  # a second receipt (for a resend), or one of an earlier run
            if self._on_receipt is None:
                self._receipts[receipt.nonce] = receipt
            self._changed.notify_all()
        if self._on_receipt is not None:
            self._on_receipt(receipt)
