"""Search: facet values numbered, and each dataset's numbers in one row, so a search
counts its facets in one short read per match.

Revision ID: 0008
Revises: 0007

The lists are filled when the store is next opened (``index_if_empty``), from the
catalogue as it then is.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Create ``facet_values`` and ``dataset_facet_lists`` (a dataset's value numbers)."""
    op.create_table(
        "facet_values",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("facet", sa.String(20), nullable=False),
        sa.Column("value", sa.String(300), nullable=False),
        sa.UniqueConstraint("facet", "value", name="uq_facet_values_facet_value"),
    )
    op.create_table(
        "dataset_facet_lists",
        sa.Column(
            "dataset_id",
            sa.Integer,
            sa.ForeignKey("datasets.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("facets", sa.Text, nullable=False),
    )


def downgrade() -> None:
    """Drop the facet lists and numbers (the per-value index stays)."""
    op.drop_table("dataset_facet_lists")
    op.drop_table("facet_values")
