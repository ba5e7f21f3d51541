"""Search: the views owners and grantees have of a dataset's columns, each with its own
full-text document; the public document and facets keep only public columns.

Revision ID: 0009
Revises: 0008

The documents written before held every column's name: the facet lists are emptied
here, so that the next opening of the store (``index_if_empty``) indexes every dataset
again, as the code then is, with only its public columns in the public document.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from cityshare.storage.fulltext import create_text_table, drop_text_table

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Create ``search_views`` and their text table; ask for a full reindex."""
    op.create_table(
        "search_views",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column(
            "dataset_id",
            sa.Integer,
            sa.ForeignKey("datasets.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("organisation_id", sa.Integer, nullable=False),
        sa.Column("grant_id", sa.Integer, nullable=True),
        sa.Column("formats", sa.String(100), nullable=False),
    )
    op.create_index("ix_search_views_dataset_id", "search_views", ["dataset_id"])
    op.create_index("ix_search_views_organisation_id", "search_views", ["organisation_id"])
    op.create_index("ix_search_views_grant_id", "search_views", ["grant_id"])
    create_text_table(op.get_bind(), "view_text", "view_id", "search_views")
    op.execute(sa.text("DELETE FROM dataset_facet_lists"))


def downgrade() -> None:
    """Drop the views and their documents (the public documents stay as they are)."""
    drop_text_table(op.get_bind(), "view_text")
    op.drop_table("search_views")
