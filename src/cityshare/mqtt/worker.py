"""The MQTT ingest worker: readings from the broker into the store, none lost, none twice.

The loop, in one thread::

    take a group of messages (up to half the in-flight window, or what came in a few ms)
    → check each as HTTP ingestion does, store the good ones in ONE transaction,
      count the refused ones                          (cityshare.mqtt.batches)
    → acknowledge every message of the group to the broker, in order
    → publish each device's receipt (QoS 0) on the same connection
      (cityshare.mqtt.receipts)

A receipt is the device's end-to-end acknowledgement: a PUBACK only says the broker
has the message, and a broker that crashes loses what it had not yet handed over.
Devices keep each batch until its receipt arrives and resend it unchanged otherwise.

A message is acknowledged only after its readings are committed, so a worker killed
at any moment loses nothing: the broker sends every unacknowledged message again, and
a batch stored before the kill comes back as a duplicate (same device, nonce and
bytes), which is acknowledged without storing anything twice. Refused and malformed
messages are acknowledged too: a refusal is final.

Groups of at most half the window keep the broker busy while a group is stored: the
other half of the window is being delivered meanwhile.
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from types import FrameType

from paho.mqtt.client import Client

from cityshare.config import Settings
from cityshare.errors import CityshareError
from cityshare.mqtt import connection
from cityshare.mqtt.address import BrokerAddress, parse_mqtt_url
from cityshare.mqtt.batches import WORKER_ERROR, GroupResult, Stopped, process_group
from cityshare.mqtt.broker import share_group, shared_readings_filter
from cityshare.mqtt.messages import Delivery, device_of
from cityshare.mqtt.receipts import ReceiptPublisher
from cityshare.runtime import open_site
from cityshare.site import Site
from cityshare.streams.ingest import Ingestion

LINGER_SECONDS = 0.005
IDLE_WAIT_SECONDS = 0.2
REPORT_SECONDS = 60.0

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class WorkerOptions:
    """How a worker connects and how many messages it holds at once."""

    address: BrokerAddress
    inflight: int = 1000
    linger_seconds: float = LINGER_SECONDS
    # Publish a receipt per batch to the device's receipts topic (off only to measure).
    receipts: bool = True

    @property
    def client_id(self) -> str:
        """The MQTT client id: the account's user name (the broker insists on it), which
        names the worker's persistent session."""
        return self.address.username

    @property
    def topic(self) -> str:
        """The shared subscription of all workers with this password."""
        return shared_readings_filter(share_group(self.address.password))

    @classmethod
    def from_settings(cls, settings: Settings) -> WorkerOptions:
        """Options from ``CITYSHARE_MQTT_URL``, ``CITYSHARE_MQTT_INFLIGHT`` and
        ``CITYSHARE_MQTT_RECEIPTS``."""
        if not settings.mqtt_url:
            raise CityshareError(
                "Set CITYSHARE_MQTT_URL to the broker and the ingest worker's account, as in "
                "mqtt://cityshare-ingest:PASSWORD@127.0.0.1:1883."
            )
        return cls(
            address=parse_mqtt_url(settings.mqtt_url),
            inflight=settings.mqtt_inflight,
            receipts=settings.mqtt_receipts,
        )


@dataclass
class WorkerStats:
    """Running totals of one worker (since it started)."""

    messages: int = 0
    stored: int = 0
    readings: int = 0
    duplicates: int = 0
    acknowledged: int = 0
    receipts: int = 0
    refused: Counter[str] = field(default_factory=Counter)

    def add(self, size: int, result: GroupResult, acknowledged: int, receipts: int) -> None:
        """Count a processed group."""
        self.messages += size
        self.receipts += receipts
        self.stored += result.stored
        self.readings += result.readings
        self.duplicates += result.duplicates
        self.acknowledged += acknowledged
        self.refused.update(result.refused())


class IngestWorker:
    """One ingest worker: a persistent MQTT session feeding the store.

    >>> worker = IngestWorker(site, WorkerOptions(parse_mqtt_url(url)))  # doctest: +SKIP
    >>> worker.run(stop_event)  # returns once stop_event is set  # doctest: +SKIP
    """

    def __init__(self, site: Site, options: WorkerOptions) -> None:
        self.site = site
        self.ingestion = Ingestion(site)  # this process's device cache and commit lock
        self.options = options
        self.inbox = connection.Inbox()
        self.stats = WorkerStats()

    def run(self, stop: threading.Event) -> None:
        """Receive, store and acknowledge until ``stop`` is set; never stops on an error."""
        client = connection.create_client(
            self.options.address,
            self.options.client_id,
            self.options.topic,
            self.inbox,
            receive_maximum=self.options.inflight,
        )
        connection.start(client)
        receipts = ReceiptPublisher(client)
        log.info(
            "MQTT ingest worker %s started: %s:%d, window %d",
            self.options.client_id,
            self.options.address.host,
            self.options.address.port,
            self.options.inflight,
        )
        try:
            self._loop(client, receipts, stop)
        finally:
            connection.stop(client)
            log.info("MQTT ingest worker stopped: %s", self._summary())

    def _loop(self, client: Client, receipts: ReceiptPublisher, stop: threading.Event) -> None:
        next_report = time.monotonic() + REPORT_SECONDS
        while not stop.is_set():
            group = self.inbox.take(
                self.group_size(),
                wait=IDLE_WAIT_SECONDS,
                linger=self.options.linger_seconds,
            )
            if group and not self._handle(client, receipts, group, stop):
                return
            if time.monotonic() >= next_report:
                log.info("MQTT ingest: %s", self._summary())
                next_report = time.monotonic() + REPORT_SECONDS

    def group_size(self) -> int:
        """The most messages stored in one transaction: half the in-flight window (ours,
        or the broker's when it announces a smaller one), so the broker delivers the
        other half while a group is stored."""
        return max(1, min(self.options.inflight, self.inbox.broker_limit) // 2)

    def _handle(
        self,
        client: Client,
        receipts: ReceiptPublisher,
        group: list[Delivery],
        stop: threading.Event,
    ) -> bool:
        """Store one group, acknowledge it and hand its receipts over to be published;
        False when told to stop before it was stored."""
        try:
            result = process_group(self.ingestion, group, stop=stop)
        except Stopped:
            return False
        except Exception:
            # Not the store being away (that is retried): a defect. Dropping the group
            # keeps the stream flowing; the log says what happened.
            log.exception("Dropped a group of %d MQTT messages after an error", len(group))
            result = GroupResult(refusals=[(device_of(d.topic), WORKER_ERROR) for d in group])
        # Acknowledged first, so that the broker delivers the next messages meanwhile. A
        # worker that dies in between leaves receipts unsent: the devices resend, and
        # are told "already stored".
        acknowledged = self.inbox.acknowledge(client, group)
        sent = len(result.receipts) if self.options.receipts else 0
        if sent:
            receipts.send(result.receipts)
        self.stats.add(len(group), result, acknowledged, sent)
        return True

    def _summary(self) -> str:
        stats = self.stats
        refused = ", ".join(f"{reason} {count}" for reason, count in sorted(stats.refused.items()))
        return (
            f"{stats.messages} messages, {stats.stored} batches stored ({stats.readings} "
            f"readings), {stats.duplicates} duplicates, {stats.receipts} receipts, "
            f"refused: {refused or 'none'}"
        )


def run_worker(settings: Settings) -> None:
    """Run one worker in this process until SIGTERM or SIGINT (``cityshare ingest-mqtt``)."""
    options = WorkerOptions.from_settings(settings)
    stop = threading.Event()

    def request_stop(signum: int, frame: FrameType | None) -> None:
        log.info("Stopping the MQTT ingest worker (signal %d)", signum)
        stop.set()

    previous = {sig: signal.signal(sig, request_stop) for sig in (signal.SIGTERM, signal.SIGINT)}
    site = open_site(settings)
    try:
        IngestWorker(site, options).run(stop)
    finally:
        site.close()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
