"""The search index: facet values and counts, and full-text documents per engine.

SQLite keeps the documents in an FTS5 table (English stemming, diacritics folded);
PostgreSQL in a tsvector column with a GIN index. Existing datasets are indexed once every
migration has run (see storage.migrate).

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from cityshare.storage.fulltext import create_text_table, drop_text_table

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Create the index tables and index every dataset."""
    op.create_table(
        "dataset_facets",
        sa.Column(
            "dataset_id",
            sa.Integer,
            sa.ForeignKey("datasets.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("facet", sa.String(20), primary_key=True),
        sa.Column("value", sa.String(300), primary_key=True),
        sa.Column("visibility", sa.String(10), nullable=False),
        sa.Column("organisation_id", sa.Integer, nullable=False),
    )
    op.create_index("ix_dataset_facets_value", "dataset_facets", ["value", "facet"])
    op.create_table(
        "facet_counts",
        sa.Column("facet", sa.String(20), primary_key=True),
        sa.Column("value", sa.String(300), primary_key=True),
        sa.Column("visibility", sa.String(10), primary_key=True),
        sa.Column("organisation_id", sa.Integer, primary_key=True),
        sa.Column("count", sa.Integer, nullable=False),
    )
    op.create_index("ix_datasets_modified_at", "datasets", ["modified_at"])
    op.create_index("ix_datasets_visibility_modified", "datasets", ["visibility", "modified_at"])
    # The datasets are indexed after the last migration (cityshare.runtime.open_site), by
    # code that reads the tables as they are then, not as they were at this revision.
    create_text_table(op.get_bind(), "dataset_text", "dataset_id", "datasets")


def downgrade() -> None:
    """Drop the index."""
    drop_text_table(op.get_bind(), "dataset_text")
    op.drop_index("ix_datasets_visibility_modified", "datasets")
    op.drop_index("ix_datasets_modified_at", "datasets")
    op.drop_table("facet_counts")
    op.drop_table("dataset_facets")
