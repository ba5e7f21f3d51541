"""The metadata tables. Migrations in ``migrations/versions`` create and upgrade them.

Dataset rows live in one real typed table per version (see :mod:`cityshare.tables`);
those tables are named ``dsv_<dataset id>_<version number>`` and are not declared here.
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)

metadata = MetaData()

organisations = Table(
    "organisations",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("name", String(100), nullable=False, unique=True),
    Column("title", String(200), nullable=False),
    Column("description", Text, nullable=False, default=""),
    Column("created_at", DateTime, nullable=False),
)

users = Table(
    "users",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("username", String(100), nullable=False, unique=True),
    Column("email", String(320), nullable=True),
    Column("display_name", String(200), nullable=False, default=""),
    Column("password_hash", String(200), nullable=True),
    Column("is_site_admin", Boolean, nullable=False, default=False),
    Column("created_at", DateTime, nullable=False),
    # The TOTP secret, encrypted with a key derived from the site secret.
    Column("totp_secret", String(300), nullable=True),
    Column("totp_enabled_at", DateTime, nullable=True),
    # The last time step accepted, so that one code cannot be used twice.
    Column("totp_last_step", BigInteger, nullable=True),
)

recovery_codes = Table(
    "recovery_codes",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("user_id", ForeignKey("users.id", ondelete="CASCADE"), nullable=False, index=True),
    Column("code_hash", String(64), nullable=False),
    Column("created_at", DateTime, nullable=False),
    Column("used_at", DateTime, nullable=True),
)

memberships = Table(
    "memberships",
    metadata,
    Column("organisation_id", ForeignKey("organisations.id", ondelete="CASCADE"), primary_key=True),
    Column("user_id", ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
    Column("role", String(20), nullable=False),
    Column("created_at", DateTime, nullable=False),
)

tokens = Table(
    "tokens",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("user_id", ForeignKey("users.id", ondelete="CASCADE"), nullable=False, index=True),
    Column("name", String(200), nullable=False, default=""),
    Column("prefix", String(16), nullable=False),
    Column("token_hash", String(64), nullable=False, unique=True),
    Column("scopes", String(100), nullable=False),
    Column("created_at", DateTime, nullable=False),
    Column("expires_at", DateTime, nullable=True),
    Column("revoked_at", DateTime, nullable=True),
    Column("last_used_at", DateTime, nullable=True),
)

datasets = Table(
    "datasets",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("name", String(100), nullable=False, unique=True),
    Column("title", String(300), nullable=False),
    Column("description", Text, nullable=False, default=""),
    Column("tags", JSON, nullable=False),
    Column("licence", String(100), nullable=True),
    Column(
        "organisation_id",
        ForeignKey("organisations.id", ondelete="RESTRICT"),
        nullable=False,
        index=True,
    ),
    Column("visibility", String(10), nullable=False, index=True),
    Column("kind", String(20), nullable=False, default="table"),
    Column("update_frequency", String(40), nullable=True),
    Column("spatial", JSON, nullable=True),
    Column("temporal_start", String(40), nullable=True),
    Column("temporal_end", String(40), nullable=True),
    Column("current_version", Integer, nullable=True),
    # Column name -> "public" | "personal" | "sensitive" (absent: public); see cityshare.sharing.
    Column("column_classes", JSON, nullable=True),
    Column("created_by", ForeignKey("users.id", ondelete="SET NULL"), nullable=True),
    Column("created_at", DateTime, nullable=False),
    Column("modified_at", DateTime, nullable=False, index=True),
    Index("ix_datasets_visibility_modified", "visibility", "modified_at"),
)

dataset_versions = Table(
    "dataset_versions",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("dataset_id", ForeignKey("datasets.id", ondelete="CASCADE"), nullable=False, index=True),
    Column("number", Integer, nullable=False),
    Column("table_name", String(64), nullable=False, unique=True),
    Column("schema", JSON, nullable=False),
    Column("row_count", BigInteger, nullable=False),
    Column("media_type", String(100), nullable=False),
    Column("source_name", String(300), nullable=True),
    Column("byte_size", BigInteger, nullable=False),
    Column("sha256", String(64), nullable=False),
    Column("created_by", ForeignKey("users.id", ondelete="SET NULL"), nullable=True),
    Column("created_at", DateTime, nullable=False),
    UniqueConstraint("dataset_id", "number", name="uq_dataset_versions_number"),
)

# --- Live sensor data (see cityshare.streams). Times of readings are integer
# microseconds since the Unix epoch (UTC): compact, exact and bucketed with integer
# arithmetic identically on both engines.

# Integer primary keys that grow past 2**31 on PostgreSQL, and stay rowid aliases on SQLite.
BigId = BigInteger().with_variant(Integer(), "sqlite")

devices = Table(
    "devices",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("uid", String(40), nullable=False, unique=True),
    Column(
        "organisation_id",
        ForeignKey("organisations.id", ondelete="RESTRICT"),
        nullable=False,
        index=True,
    ),
    Column("name", String(100), nullable=False),
    Column("location", JSON, nullable=True),
    Column("properties", JSON, nullable=False),
    Column("mqtt_password_hash", String(200), nullable=True),
    Column("created_by", ForeignKey("users.id", ondelete="SET NULL"), nullable=True),
    Column("created_at", DateTime, nullable=False),
    Column("revoked_at", DateTime, nullable=True),
    UniqueConstraint("organisation_id", "name", name="uq_devices_name"),
)

device_keys = Table(
    "device_keys",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("device_id", ForeignKey("devices.id", ondelete="CASCADE"), nullable=False, index=True),
    Column("key_id", String(32), nullable=False),
    Column("public_key", String(64), nullable=False),
    Column("created_at", DateTime, nullable=False),
    Column("valid_until", DateTime, nullable=True),
    Column("revoked_at", DateTime, nullable=True),
    UniqueConstraint("device_id", "key_id", name="uq_device_keys_key_id"),
)

datastreams = Table(
    "datastreams",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("dataset_id", ForeignKey("datasets.id", ondelete="CASCADE"), nullable=False, index=True),
    Column("device_id", ForeignKey("devices.id", ondelete="RESTRICT"), nullable=False, index=True),
    Column("name", String(100), nullable=False),
    Column("observed_property", String(100), nullable=False),
    Column("unit", String(50), nullable=False),
    Column("value_type", String(10), nullable=False),
    Column("description", Text, nullable=False),
    Column("created_at", DateTime, nullable=False),
    UniqueConstraint("device_id", "name", name="uq_datastreams_name"),
)

ingest_batches = Table(
    "ingest_batches",
    metadata,
    Column("id", BigId, primary_key=True),
    Column("device_id", ForeignKey("devices.id", ondelete="CASCADE"), nullable=False),
    Column("key_id", Integer, nullable=False),
    Column("nonce", String(128), nullable=False),
    Column("body_sha256", String(64), nullable=False),
    Column("sent_at", BigInteger, nullable=False),
    Column("received_at", BigInteger, nullable=False),
    Column("readings", Integer, nullable=False),
    Column("channel", String(8), nullable=False),
    UniqueConstraint("device_id", "nonce", name="uq_ingest_batches_nonce"),
)

# No foreign keys: the narrow, append-mostly table that holds nearly all the rows,
# partitionable by time and distributable by stream (see docs/architecture.md).
observations = Table(
    "observations",
    metadata,
    Column("stream_id", Integer, primary_key=True, autoincrement=False),
    Column("time", BigInteger, primary_key=True, autoincrement=False),
    Column("value_num", Float(precision=53), nullable=True),
    Column("value_text", Text, nullable=True),
    Column("received_at", BigInteger, nullable=False),
    Column("device_id", Integer, nullable=False),
    Column("key_id", Integer, nullable=False),
    Column("batch_id", BigInteger, nullable=False),
    Column("verified", Boolean, nullable=False),
    sqlite_with_rowid=False,
)

ingest_refusals = Table(
    "ingest_refusals",
    metadata,
    Column("device", String(40), primary_key=True),
    Column("reason", String(40), primary_key=True),
    Column("count", BigInteger, nullable=False),
    Column("last_at", DateTime, nullable=False),
)

# --- The audit log (see cityshare.audit). ``content`` is the exact canonical JSON that
# was hashed; the other columns repeat parts of it for lookups and are checked against it.

audit_log = Table(
    "audit_log",
    metadata,
    Column("seq", BigInteger, primary_key=True, autoincrement=False),
    Column("at", DateTime, nullable=False),
    Column("action", String(60), nullable=False),
    Column("outcome", String(10), nullable=False),
    Column("user_id", Integer, nullable=True),
    Column("dataset_id", Integer, nullable=True, index=True),
    Column("content", Text, nullable=False),
    Column("prev_hash", String(64), nullable=False),
    Column("content_hash", String(64), nullable=False),
    Column("hash", String(64), nullable=False),
)

# One row (id 1): the newest entry. Appenders lock it, so the chain grows one at a time.
audit_head = Table(
    "audit_head",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("seq", BigInteger, nullable=False),
    Column("hash", String(64), nullable=False),
)

# --- Sharing (see cityshare.sharing): data sharing agreements and requests for them.

grants = Table(
    "grants",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("dataset_id", ForeignKey("datasets.id", ondelete="CASCADE"), nullable=False, index=True),
    Column(
        "grantee_user_id", ForeignKey("users.id", ondelete="CASCADE"), nullable=True, index=True
    ),
    Column(
        "grantee_organisation_id",
        ForeignKey("organisations.id", ondelete="CASCADE"),
        nullable=True,
        index=True,
    ),
    Column("purpose", Text, nullable=False),
    Column("terms", Text, nullable=False),
    Column("permissions", String(20), nullable=False),
    Column("columns", JSON, nullable=True),
    Column("row_filter", JSON, nullable=True),
    Column("min_group_size", Integer, nullable=True),
    Column("pseudonymised", JSON, nullable=True),
    Column("request_id", Integer, nullable=True),
    Column("created_by", ForeignKey("users.id", ondelete="SET NULL"), nullable=True),
    Column("created_at", DateTime, nullable=False),
    Column("expires_at", DateTime, nullable=False),
    Column("revoked_at", DateTime, nullable=True),
    Column("revoked_by", ForeignKey("users.id", ondelete="SET NULL"), nullable=True),
)

access_requests = Table(
    "access_requests",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("dataset_id", ForeignKey("datasets.id", ondelete="CASCADE"), nullable=False, index=True),
    Column("requester_id", ForeignKey("users.id", ondelete="CASCADE"), nullable=False, index=True),
    Column("organisation_id", ForeignKey("organisations.id", ondelete="CASCADE"), nullable=True),
    Column("purpose", Text, nullable=False),
    Column("status", String(10), nullable=False),
    Column("reason", Text, nullable=False),
    Column("grant_id", ForeignKey("grants.id", ondelete="SET NULL"), nullable=True),
    Column("decided_by", ForeignKey("users.id", ondelete="SET NULL"), nullable=True),
    Column("decided_at", DateTime, nullable=True),
    Column("created_at", DateTime, nullable=False),
)

# --- The search index (see cityshare.search.index). Each dataset's facet values
# (its organisation, tags, licence, formats, kind, visibility), with the two columns that
# decide who sees it; and how many datasets have each value, by those two columns, so the
# facets of the whole catalogue are read without counting it. The full-text documents
# live in an engine-specific table (cityshare.search.text).

dataset_facets = Table(
    "dataset_facets",
    metadata,
    Column("dataset_id", ForeignKey("datasets.id", ondelete="CASCADE"), primary_key=True),
    Column("facet", String(20), primary_key=True),
    Column("value", String(300), primary_key=True),
    Column("visibility", String(10), nullable=False),
    Column("organisation_id", Integer, nullable=False),
    # Value first: counting one facet over a search's matches must walk the primary key
    # from each match, not every value of the facet.
    Index("ix_dataset_facets_value", "value", "facet"),
)

# Every facet value any dataset has had, numbered; and one row per dataset listing the
# numbers of its values (JSON), so counting the facets of a search's many matches reads
# one short row per match and counts small integers.
facet_values = Table(
    "facet_values",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("facet", String(20), nullable=False),
    Column("value", String(300), nullable=False),
    UniqueConstraint("facet", "value", name="uq_facet_values_facet_value"),
)

dataset_facet_lists = Table(
    "dataset_facet_lists",
    metadata,
    Column("dataset_id", ForeignKey("datasets.id", ondelete="CASCADE"), primary_key=True),
    Column("facets", Text, nullable=False),
)

facet_counts = Table(
    "facet_counts",
    metadata,
    Column("facet", String(20), primary_key=True),
    Column("value", String(300), primary_key=True),
    Column("visibility", String(10), primary_key=True),
    Column("organisation_id", Integer, primary_key=True),
    Column("count", Integer, nullable=False),
)

# The views some readers have of a dataset's columns beyond its public ones (see
# cityshare.search.views): the owners' (no grant), and each live grant's that
# names columns; with the formats that view can be read in (space-delimited labels). Each
# view's full-text document lives in an engine-specific table keyed by the view's id.
search_views = Table(
    "search_views",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("dataset_id", ForeignKey("datasets.id", ondelete="CASCADE"), nullable=False, index=True),
    Column("organisation_id", Integer, nullable=False, index=True),
    Column("grant_id", Integer, nullable=True, index=True),
    Column("formats", String(100), nullable=False),
)

# --- Harvesting (see cityshare.harvest): where each harvested dataset came from, so that
# running a harvest again updates the same local dataset and never makes a second one.

harvest_records = Table(
    "harvest_records",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("source_url", String(1000), nullable=False),
    Column("remote_id", String(500), nullable=False),
    Column(
        "dataset_id",
        ForeignKey("datasets.id", ondelete="CASCADE"),
        nullable=False,
        unique=True,
    ),
    Column("remote_name", String(300), nullable=True),
    Column("remote_modified", String(40), nullable=True),
    Column("data_sha256", String(64), nullable=True),
    Column("harvested_at", DateTime, nullable=False),
    UniqueConstraint("source_url", "remote_id", name="uq_harvest_records_source_remote"),
)
