"""Fault tests: a real Mosquitto (started the way tests/mqtt starts it) killed mid-stream,
and the site those tests set up (an administrator and the organisation "city")."""

from __future__ import annotations

from tests.mqtt.conftest import site, start_broker

__all__ = ["site", "start_broker"]
