"""Sharing: grants (data sharing agreements), access requests, column classes.

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def _fk(target: str, ondelete: str) -> sa.ForeignKey:
    return sa.ForeignKey(target, ondelete=ondelete)


def upgrade() -> None:
    """Create the sharing tables and the datasets' column classes."""
    with op.batch_alter_table("datasets") as batch:
        batch.add_column(sa.Column("column_classes", sa.JSON, nullable=True))
    op.create_table(
        "grants",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("dataset_id", sa.Integer, _fk("datasets.id", "CASCADE"), nullable=False),
        sa.Column("grantee_user_id", sa.Integer, _fk("users.id", "CASCADE"), nullable=True),
        sa.Column(
            "grantee_organisation_id",
            sa.Integer,
            _fk("organisations.id", "CASCADE"),
            nullable=True,
        ),
        sa.Column("purpose", sa.Text, nullable=False),
        sa.Column("terms", sa.Text, nullable=False),
        sa.Column("permissions", sa.String(20), nullable=False),
        sa.Column("columns", sa.JSON, nullable=True),
        sa.Column("row_filter", sa.JSON, nullable=True),
        sa.Column("min_group_size", sa.Integer, nullable=True),
        sa.Column("pseudonymised", sa.JSON, nullable=True),
        sa.Column("request_id", sa.Integer, nullable=True),
        sa.Column("created_by", sa.Integer, _fk("users.id", "SET NULL"), nullable=True),
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.Column("expires_at", sa.DateTime, nullable=False),
        sa.Column("revoked_at", sa.DateTime, nullable=True),
        sa.Column("revoked_by", sa.Integer, _fk("users.id", "SET NULL"), nullable=True),
    )
    op.create_index("ix_grants_dataset_id", "grants", ["dataset_id"])
    op.create_index("ix_grants_grantee_user_id", "grants", ["grantee_user_id"])
    op.create_index("ix_grants_grantee_organisation_id", "grants", ["grantee_organisation_id"])
    op.create_table(
        "access_requests",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("dataset_id", sa.Integer, _fk("datasets.id", "CASCADE"), nullable=False),
        sa.Column("requester_id", sa.Integer, _fk("users.id", "CASCADE"), nullable=False),
        sa.Column("organisation_id", sa.Integer, _fk("organisations.id", "CASCADE"), nullable=True),
        sa.Column("purpose", sa.Text, nullable=False),
        sa.Column("status", sa.String(10), nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("grant_id", sa.Integer, _fk("grants.id", "SET NULL"), nullable=True),
        sa.Column("decided_by", sa.Integer, _fk("users.id", "SET NULL"), nullable=True),
        sa.Column("decided_at", sa.DateTime, nullable=True),
        sa.Column("created_at", sa.DateTime, nullable=False),
    )
    op.create_index("ix_access_requests_dataset_id", "access_requests", ["dataset_id"])
    op.create_index("ix_access_requests_requester_id", "access_requests", ["requester_id"])


def downgrade() -> None:
    """Drop the sharing tables and column classes."""
    op.drop_table("access_requests")
    op.drop_table("grants")
    with op.batch_alter_table("datasets") as batch:
        batch.drop_column("column_classes")
