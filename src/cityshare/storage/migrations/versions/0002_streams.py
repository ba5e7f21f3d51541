"""Live sensor data: devices, their keys, datastreams, ingest batches, observations.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

_BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _fk(target: str, ondelete: str) -> sa.ForeignKey:
    return sa.ForeignKey(target, ondelete=ondelete)


def upgrade() -> None:
    """Create the sensor tables."""
    op.create_table(
        "devices",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("uid", sa.String(40), nullable=False, unique=True),
        sa.Column(
            "organisation_id", sa.Integer, _fk("organisations.id", "RESTRICT"), nullable=False
        ),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("location", sa.JSON, nullable=True),
        sa.Column("properties", sa.JSON, nullable=False),
        sa.Column("mqtt_password_hash", sa.String(200), nullable=True),
        sa.Column("created_by", sa.Integer, _fk("users.id", "SET NULL"), nullable=True),
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.Column("revoked_at", sa.DateTime, nullable=True),
        sa.UniqueConstraint("organisation_id", "name", name="uq_devices_name"),
    )
    op.create_index("ix_devices_organisation_id", "devices", ["organisation_id"])
    op.create_table(
        "device_keys",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("device_id", sa.Integer, _fk("devices.id", "CASCADE"), nullable=False),
        sa.Column("key_id", sa.String(32), nullable=False),
        sa.Column("public_key", sa.String(64), nullable=False),
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.Column("valid_until", sa.DateTime, nullable=True),
        sa.Column("revoked_at", sa.DateTime, nullable=True),
        sa.UniqueConstraint("device_id", "key_id", name="uq_device_keys_key_id"),
    )
    op.create_index("ix_device_keys_device_id", "device_keys", ["device_id"])
    op.create_table(
        "datastreams",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("dataset_id", sa.Integer, _fk("datasets.id", "CASCADE"), nullable=False),
        sa.Column("device_id", sa.Integer, _fk("devices.id", "RESTRICT"), nullable=False),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("observed_property", sa.String(100), nullable=False),
        sa.Column("unit", sa.String(50), nullable=False),
        sa.Column("value_type", sa.String(10), nullable=False),
        sa.Column("description", sa.Text, nullable=False),
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.UniqueConstraint("device_id", "name", name="uq_datastreams_name"),
    )
    op.create_index("ix_datastreams_dataset_id", "datastreams", ["dataset_id"])
    op.create_index("ix_datastreams_device_id", "datastreams", ["device_id"])
    op.create_table(
        "ingest_batches",
        sa.Column("id", _BIG_ID, primary_key=True),
        sa.Column("device_id", sa.Integer, _fk("devices.id", "CASCADE"), nullable=False),
        sa.Column("key_id", sa.Integer, nullable=False),
        sa.Column("nonce", sa.String(128), nullable=False),
        sa.Column("body_sha256", sa.String(64), nullable=False),
        sa.Column("sent_at", sa.BigInteger, nullable=False),
        sa.Column("received_at", sa.BigInteger, nullable=False),
        sa.Column("readings", sa.Integer, nullable=False),
        sa.Column("channel", sa.String(8), nullable=False),
        sa.UniqueConstraint("device_id", "nonce", name="uq_ingest_batches_nonce"),
    )
    op.create_table(
        "observations",
        sa.Column("stream_id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("time", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("value_num", sa.Float(precision=53), nullable=True),
        sa.Column("value_text", sa.Text, nullable=True),
        sa.Column("received_at", sa.BigInteger, nullable=False),
        sa.Column("device_id", sa.Integer, nullable=False),
        sa.Column("key_id", sa.Integer, nullable=False),
        sa.Column("batch_id", sa.BigInteger, nullable=False),
        sa.Column("verified", sa.Boolean, nullable=False),
        sqlite_with_rowid=False,
    )
    op.create_table(
        "ingest_refusals",
        sa.Column("device", sa.String(40), primary_key=True),
        sa.Column("reason", sa.String(40), primary_key=True),
        sa.Column("count", sa.BigInteger, nullable=False),
        sa.Column("last_at", sa.DateTime, nullable=False),
    )


def downgrade() -> None:
    """Drop the sensor tables."""
    for table in (
        "ingest_refusals",
        "observations",
        "ingest_batches",
        "datastreams",
        "device_keys",
        "devices",
    ):
        op.drop_table(table)
