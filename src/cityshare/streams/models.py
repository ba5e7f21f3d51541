"""The resources the streams services answer with, as the API describes them (issue 18,
part 3): devices, their keys, datastreams and their latest readings.

The hot paths write their own bytes and are described, not validated, with these models:
a page of observations (:class:`ObservationPage`, :class:`BucketPage`) and the
acknowledgement of a signed batch (:class:`IngestReceipt`, built by
:meth:`cityshare.streams.ingest.Acknowledgement.as_dict`).
"""

from __future__ import annotations

from typing import Any

from pydantic import Field

from cityshare.resource import Resource

_TIME = "RFC 3339, UTC."


class DeviceKey(Resource):
    """One of a device's Ed25519 public keys."""

    key_id: str = Field(description="The key's short id: 16 hex digits of its SHA-256.")
    public_key: str = Field(description="The public key: base64 of its 32 raw bytes.")
    created_at: str = Field(description=_TIME)
    valid_until: str | None = Field(
        description="RFC 3339, UTC: when the key stops being valid (after a rotation)."
    )
    revoked_at: str | None = Field(description="RFC 3339, UTC; null while not revoked.")


class DeviceStream(Resource):
    """A datastream a device feeds."""

    id: int
    name: str = Field(description="The name its readings use.")


class DeviceSummary(Resource):
    """A device as listed: without its keys, streams and refusal counts."""

    uid: str = Field(description="The device's id, dev-…, as sent in X-Device-Id.")
    name: str
    organisation: str = Field(description="The owning organisation's slug.")
    location: dict[str, Any] | None = Field(description="A GeoJSON Point (WGS84), or null.")
    properties: dict[str, Any] = Field(description="Free-form metadata.")
    created_at: str = Field(description=_TIME)
    revoked_at: str | None = Field(description="RFC 3339, UTC; null while not revoked.")
    topic: str = Field(description="The MQTT topic the device publishes its readings to.")


class Device(DeviceSummary):
    """A device with its keys, the streams it feeds and its refused batches."""

    keys: list[DeviceKey]
    streams: list[DeviceStream]
    refusals: dict[str, int] = Field(description="Refused batches per reason.")


class RegisteredDevice(Device):
    """A device just registered: its MQTT password is shown here, once."""

    mqtt_password: str = Field(description="The device's password for the MQTT broker.")


class MqttPassword(Resource):
    """A device's new MQTT password, shown once."""

    uid: str
    mqtt_password: str = Field(description="The device's password for the MQTT broker.")


class StreamDevice(Resource):
    """The device that feeds a stream."""

    uid: str
    name: str
    location: dict[str, Any] | None = Field(description="A GeoJSON Point (WGS84), or null.")


class Stream(Resource):
    """A datastream: one device's readings of one observed property."""

    id: int
    name: str = Field(description="The name its readings use; unique per device.")
    dataset: str = Field(description="The sensor dataset's name.")
    observed_property: str = Field(description="e.g. no2, vehicle_count.")
    unit: str = Field(description="e.g. µg/m³; may be empty.")
    value_type: str = Field(description="number, string, boolean or object.")
    description: str
    device: StreamDevice
    created_at: str = Field(description=_TIME)
    observations: str = Field(description="The path of the stream's observations.")


class LatestReading(Resource):
    """A stream with its newest reading (time and value null when it has none yet)."""

    stream: int = Field(description="The stream's id.")
    name: str
    observed_property: str
    unit: str
    device: StreamDevice
    time: str | None = Field(description="RFC 3339, UTC: when the reading was taken.")
    value: Any = Field(description="In the stream's value type.")
    received_at: str | None = Field(description="RFC 3339, UTC: when cityshare stored it.")


class Latest(Resource):
    """The newest reading of every stream of a sensor dataset."""

    dataset: str
    streams: list[LatestReading]


class Observation(Resource):
    """One reading, with its provenance."""

    time: str = Field(description="RFC 3339, UTC: when the reading was taken.")
    value: Any = Field(description="In the stream's value type.")
    received_at: str = Field(description="RFC 3339, UTC: when cityshare stored it.")
    device: str = Field(description="The uid of the device that sent it.")
    key_id: str | None = Field(description="The id of the key that signed it.")
    batch: int = Field(description="The batch it came in.")
    verified: bool = Field(description="Whether its signature was verified (always true).")


class ObservationPage(Resource):
    """A page of a stream's readings."""

    stream: int
    observations: list[Observation]
    next: str | None = Field(description="The cursor of the next page (as _next), or null.")


class Bucket(Resource):
    """A time bucket's aggregates: those asked for in _agg, no others."""

    bucket: str = Field(description="RFC 3339, UTC: the start of the bucket.")
    avg: float | None = None
    min: float | None = None
    max: float | None = None
    count: int | None = None
    sum: float | None = None


class BucketPage(Resource):
    """A page of a stream's time buckets (with _bucket)."""

    stream: int
    buckets: list[Bucket]
    next: str | None = Field(description="The cursor of the next page (as _next), or null.")


class IngestReceipt(Resource):
    """The acknowledgement of a signed batch, sent once its readings are durably stored
    (the same again when the very same batch is sent twice)."""

    batch: int = Field(description="The batch's id, as in each reading's provenance.")
    device: str = Field(description="The device's uid.")
    nonce: str = Field(description="The batch's nonce.")
    accepted: int = Field(description="How many readings were stored.")
    received_at: str = Field(description="RFC 3339, UTC: when the batch was stored.")
