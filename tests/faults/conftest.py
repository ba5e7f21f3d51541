"""Fault tests: a real Mosquitto (started the way tests/ingest starts it) killed mid-stream."""

from __future__ import annotations

from tests.ingest.conftest import start_broker

__all__ = ["start_broker"]
