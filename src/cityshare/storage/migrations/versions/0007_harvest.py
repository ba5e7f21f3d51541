"""Harvesting: the record of where each harvested dataset came from.

Revision ID: 0007
Revises: 0006
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Create ``harvest_records``: one row per harvested dataset, unique per source."""
    op.create_table(
        "harvest_records",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("source_url", sa.String(1000), nullable=False),
        sa.Column("remote_id", sa.String(500), nullable=False),
        sa.Column(
            "dataset_id",
            sa.Integer,
            sa.ForeignKey("datasets.id", ondelete="CASCADE"),
            nullable=False,
            unique=True,
        ),
        sa.Column("remote_name", sa.String(300), nullable=True),
        sa.Column("remote_modified", sa.String(40), nullable=True),
        sa.Column("data_sha256", sa.String(64), nullable=True),
        sa.Column("harvested_at", sa.DateTime, nullable=False),
        sa.UniqueConstraint("source_url", "remote_id", name="uq_harvest_records_source_remote"),
    )


def downgrade() -> None:
    """Drop the harvest records (the harvested datasets stay)."""
    op.drop_table("harvest_records")
