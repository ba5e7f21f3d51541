"""Devices for fault tests: signed batches over HTTP and over MQTT, each recorded in a
:class:`Ledger` when cityshare acknowledges it (an HTTP 2xx, or an MQTT receipt).

A device here behaves as a careful real one does: it keeps each batch until it is
acknowledged and sends it again unchanged (same nonce, same bytes) when the answer is
an error or never comes, so a test can check afterwards that every acknowledged batch
is stored, and that none is stored twice.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import httpx
import orjson

from cityshare.streams.client import MqttDevice, Reading, Receipt, batch_body, http_headers
from tests.mqtt.conftest import Broker
from tests.sensors import Device

HTTP = "http"
MQTT = "mqtt"
RETRY_SECONDS = 0.2  # between two tries of one HTTP batch
GIVE_UP_SECONDS = 120.0  # an HTTP batch still unacknowledged after this is given up


@dataclass
class Ledger:
    """What the devices sent and what cityshare acknowledged, by nonce (thread-safe)."""

    sent: dict[str, str] = field(default_factory=dict)  # nonce → channel
    acknowledged: dict[str, str] = field(default_factory=dict)  # nonce → channel
    refused: list[tuple[str, int, str]] = field(default_factory=list)  # nonce, status, body
    answers: Counter[int] = field(default_factory=Counter)  # HTTP statuses seen
    unanswered: int = 0  # HTTP requests that got no answer (connection refused or cut)
    changed: threading.Condition = field(default_factory=threading.Condition)
    stop: threading.Event = field(default_factory=threading.Event)  # the test is over

    def record_sent(self, nonce: str, channel: str) -> None:
        """A batch left a device for the first time."""
        with self.changed:
            self.sent[nonce] = channel

    def record_acknowledged(self, nonce: str, channel: str) -> None:
        """cityshare said the batch is stored."""
        with self.changed:
            self.acknowledged[nonce] = channel
            self.changed.notify_all()

    def record_refused(self, nonce: str, status: int, detail: str) -> None:
        """cityshare refused the batch for good (a 4xx other than 429)."""
        with self.changed:
            self.refused.append((nonce, status, detail[:300]))
            self.changed.notify_all()

    def acknowledged_over(self, channel: str) -> set[str]:
        """The nonces acknowledged over ``channel`` so far."""
        with self.changed:
            return {nonce for nonce, over in self.acknowledged.items() if over == channel}

    def wait_for(self, counts: dict[str, int], timeout: float) -> bool:
        """Wait until each channel has at least its count of acknowledgements."""

        def reached() -> bool:
            done = Counter(self.acknowledged.values())
            return all(done[channel] >= count for channel, count in counts.items())

        with self.changed:
            return self.changed.wait_for(reached, timeout)


def batch_readings(start: datetime, number: int, size: int) -> list[Reading]:
    """Batch ``number`` of a device: ``size`` readings of its "pm25" stream, one a second,
    none at the same time as a reading of another batch."""
    first = number * size
    return [("pm25", start + timedelta(seconds=first + n), float(first + n)) for n in range(size)]


@dataclass
class HttpDevice:
    """A device that POSTs its batches one after another to ``/api/v1/ingest``, each
    until it gets a 2xx or a final refusal; :meth:`run` in a thread."""

    device: Device
    base_url: str
    ledger: Ledger
    batches: int
    readings: int
    start: datetime
    pause: float = 0.0

    def run(self) -> None:
        """Send every batch (a fresh nonce each), resending each until it is answered."""
        with httpx.Client(base_url=self.base_url, timeout=30) as http:
            for number in range(self.batches):
                if self.ledger.stop.is_set():
                    return
                body = batch_body(batch_readings(self.start, number, self.readings))
                self._deliver(http, body)
                time.sleep(self.pause)

    def _deliver(self, http: httpx.Client, body: bytes) -> None:
        nonce = _nonce(body)
        self.ledger.record_sent(nonce, HTTP)
        headers = http_headers(self.device.uid, self.device.key, body)
        deadline = time.monotonic() + GIVE_UP_SECONDS
        while time.monotonic() < deadline and not self.ledger.stop.is_set():
            try:
                answer = http.post("/api/v1/ingest", content=body, headers=headers)
            except httpx.TransportError:  # the server went away mid-request, or is down
                with self.ledger.changed:
                    self.ledger.unanswered += 1
                time.sleep(RETRY_SECONDS)
                continue
            with self.ledger.changed:
                self.ledger.answers[answer.status_code] += 1
            if answer.is_success:
                self.ledger.record_acknowledged(nonce, HTTP)
                return
            if answer.status_code < 500 and answer.status_code != 429:
                self.ledger.record_refused(nonce, answer.status_code, answer.text)
                return
            time.sleep(RETRY_SECONDS)


def _nonce(body: bytes) -> str:
    return str(orjson.loads(body)["nonce"])


def mqtt_device(
    broker: Broker, device: Device, ledger: Ledger, *, resend_after: float, wait: float
) -> MqttDevice:
    """A connected :class:`MqttDevice` that records each receipt in ``ledger``."""
    client = MqttDevice(
        device.uid,
        device.mqtt_password,
        device.key,
        broker.address.host,
        broker.address.port,
        resend_after=resend_after,
        on_receipt=_receipt_recorder(ledger),
    )
    client.connect(wait)
    return client


def _receipt_recorder(ledger: Ledger) -> Callable[[Receipt], None]:
    def record(receipt: Receipt) -> None:
        assert receipt.nonce is not None  # MqttDevice passes on only its own batches' receipts
        if receipt.stored:
            ledger.record_acknowledged(receipt.nonce, MQTT)
        else:
            ledger.record_refused(receipt.nonce, receipt.status, str(receipt.document))

    return record


def send_over_mqtt(
    client: MqttDevice,
    ledger: Ledger,
    *,
    batches: int,
    readings: int,
    start: datetime,
    pause: float,
) -> None:
    """Publish ``batches`` batches, ``pause`` seconds apart (the client resends each until
    its receipt arrives)."""
    for number in range(batches):
        if ledger.stop.is_set():
            return
        nonce = client.send(batch_readings(start, number, readings))
        ledger.record_sent(nonce, MQTT)
        time.sleep(pause)
