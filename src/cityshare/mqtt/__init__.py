"""MQTT ingestion: Mosquitto's files written by cityshare, and the ingest worker.

Devices publish signed batches to ``cityshare/devices/{uid}/readings`` on a Mosquitto
broker whose password file and ACL cityshare writes (:mod:`.broker`); ingest workers
(:mod:`.worker`) take them from a shared, persistent QoS 1 subscription, check them
exactly as ``POST /api/v1/ingest`` does, and acknowledge each message only once its
readings are committed. See docs/sensors-mqtt.md.
"""

from cityshare.mqtt.address import BrokerAddress, parse_mqtt_url
from cityshare.mqtt.broker import (
    BrokerFiles,
    BrokerOptions,
    readings_topic,
    reload_broker,
    write_broker_files,
)
from cityshare.mqtt.process import ingest_worker_alongside
from cityshare.mqtt.worker import IngestWorker, WorkerOptions, run_worker

__all__ = [
    "BrokerAddress",
    "BrokerFiles",
    "BrokerOptions",
    "IngestWorker",
    "WorkerOptions",
    "ingest_worker_alongside",
    "parse_mqtt_url",
    "readings_topic",
    "reload_broker",
    "run_worker",
    "write_broker_files",
]
