"""Typed settings, read once from ``CITYSHARE_*`` environment variables and CLI flags.

Nothing reads the environment at import time: :func:`load_settings` builds a
:class:`Settings` once (in the CLI or a test) and the value is passed explicitly.
"""

from __future__ import annotations

import ipaddress
import re
import secrets
from pathlib import Path

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

SECRET_KEY_FILE = "secret.key"  # noqa: S105 - a file name, not a secret
SIGNING_KEY_FILE = "site-signing-key.pem"
_ORIGIN = re.compile(r"https?://(\[[0-9a-fA-F:.]+\]|[^/\s:?#\[\]@]+)(:[0-9]{1,5})?")


class Limits(BaseSettings):
    """Limits that protect the service from oversized or abusive input."""

    model_config = SettingsConfigDict(env_prefix="CITYSHARE_LIMIT_", extra="ignore")

    max_upload_bytes: int = Field(2 * 1024**3, gt=0, description="Largest accepted upload body.")
    min_free_bytes: int = Field(
        1024**3,
        ge=0,
        description="Disk space an upload must leave free (spool and SQLite store); 0: no check.",
    )
    max_json_body_bytes: int = Field(1024**2, gt=0, description="Largest accepted JSON API body.")
    max_columns: int = Field(1000, gt=0, description="Most columns a dataset may have.")
    max_cell_chars: int = Field(
        1_000_000, gt=0, description="Longest accepted cell, in characters."
    )
    max_page_rows: int = Field(10_000, gt=0, description="Largest `_limit` a query may ask for.")
    default_page_rows: int = Field(100, gt=0, description="Rows per page when `_limit` is absent.")
    max_json_depth: int = Field(32, gt=0, description="Deepest accepted JSON nesting.")
    max_xlsx_ratio: int = Field(
        100, gt=0, description="Largest uncompressed/compressed ratio of .xlsx."
    )
    max_indexed_columns: int = Field(16, gt=0, description="Columns indexed per dataset version.")
    query_seconds: float = Field(10.0, gt=0, description="Time limit of one query page or count.")
    export_seconds: float = Field(900.0, gt=0, description="Time limit of one streamed export.")
    max_sql_rows: int = Field(
        10_000, gt=0, description="Most rows a statement of the SQL endpoint returns."
    )
    max_sql_bytes: int = Field(
        50_000_000,
        gt=0,
        description="Byte budget of one SQL answer: rows past it are cut (`truncated`).",
    )
    max_sql_value_bytes: int = Field(
        1024**2, gt=0, description="Longest value a SQL statement may build, in bytes."
    )
    sql_threads: int = Field(
        4, gt=0, le=64, description="Threads (per process) that run SQL statements; no more run."
    )
    sql_per_address: int = Field(
        2, gt=0, description="SQL statements one address may run at once without signing in."
    )
    sql_per_actor: int = Field(
        4, gt=0, description="SQL statements one signed-in actor may run at once."
    )
    max_readings_per_batch: int = Field(
        5000, gt=0, description="Most readings one signed ingest batch may carry."
    )
    ingest_clock_skew_seconds: int = Field(
        300, gt=0, description="How far a batch's `sent_at` may be from the server's clock."
    )


class Settings(BaseSettings):
    """All settings of one cityshare site."""

    model_config = SettingsConfigDict(env_prefix="CITYSHARE_", extra="ignore")

    data_dir: Path = Field(Path("cityshare-data"), description="Folder for the store and keys.")
    database_url: str | None = Field(
        None, description="SQLAlchemy URL; default: a SQLite file in the data folder."
    )
    secret_key: str | None = Field(
        None, description="Signs cursors; generated into the data folder when absent."
    )
    signing_key_file: Path | None = Field(
        None,
        description="The site's Ed25519 private key (PEM) that signs audit checkpoints; "
        "generated into the data folder when absent.",
    )
    host: str = Field("127.0.0.1", description="Address `cityshare serve` listens on.")
    port: int = Field(8000, ge=1, le=65535, description="Port `cityshare serve` listens on.")
    workers: int = Field(1, ge=1, le=64, description="API worker processes for `cityshare serve`.")
    access_log: bool = Field(
        False, description="Log every HTTP request (off: a proxy in front usually logs)."
    )
    audit_reads: bool = Field(
        True, description="Record every read of data in the audit log (writes always are)."
    )
    audit_checkpoint_seconds: float = Field(
        900.0,
        ge=0,
        description="How often `cityshare serve` signs the audit log's head into the "
        "checkpoint folder (also once at start and once at shutdown); 0: never.",
    )
    audit_checkpoint_dir: Path | None = Field(
        None,
        description="Folder of signed audit checkpoints, outside the database; default: "
        "DATA_DIR/audit-checkpoints.",
    )
    limits: Limits = Field(default_factory=Limits)
    mqtt_url: str | None = Field(
        None,
        description="The MQTT broker the ingest worker reads devices' readings from, as "
        "mqtt://USER:PASSWORD@HOST:PORT; `cityshare serve` starts the worker when set.",
    )
    mqtt_inflight: int = Field(
        1000,
        ge=2,
        le=65535,
        description="Most unacknowledged MQTT messages the ingest worker holds (its MQTT v5 "
        "receive-maximum); at most the broker's max_inflight_messages.",
    )
    mqtt_receipts: bool = Field(
        True,
        description="Publish a receipt for every MQTT batch, once stored or refused, to "
        "cityshare/devices/{uid}/receipts; turn off only to measure what receipts cost.",
    )
    redis_url: str | None = Field(
        None,
        description="Redis that holds rate-limit buckets shared by every server process, as "
        "redis://HOST:PORT/DB; default: each process keeps its own.",
    )
    rate_limit_prefix: str = Field(
        "cityshare:rate:", min_length=1, description="Prefix of the rate-limit keys in Redis."
    )
    rate_limit_token_per_second: float = Field(
        100.0, ge=0, description="Requests a second per API token (0: no limit)."
    )
    rate_limit_token_burst: int = Field(200, ge=1, description="Burst allowed per API token.")
    rate_limit_address_per_second: float = Field(
        50.0, ge=0, description="Anonymous requests a second per client address (0: no limit)."
    )
    rate_limit_address_burst: int = Field(
        100, ge=1, description="Burst of anonymous requests allowed per client address."
    )
    rate_limit_sign_in_per_minute: float = Field(
        5.0, ge=0, description="Password sign-ins a minute per client address (0: no limit)."
    )
    rate_limit_sign_in_burst: int = Field(
        10, ge=1, description="Burst of password sign-ins allowed per client address."
    )
    rate_limit_exempt: str | None = Field(
        "127.0.0.1,::1",
        description="Client addresses or networks (comma-separated) never limited per address.",
    )
    trusted_proxies: str | None = Field(
        None,
        description="Proxy addresses or networks (comma-separated) whose X-Forwarded-For and "
        "X-Forwarded-Proto are believed.",
    )
    cors_origins: str | None = Field(
        None,
        description="Origins (comma-separated, exact, or *) that browsers may call the API "
        "from; default: no CORS headers.",
    )
    base_url: str | None = Field(
        None,
        description="The public URL of the site (scheme://host[:port]); every absolute URL "
        "(DCAT, CKAN, data packages, next links) is built from it, whatever the Host header "
        "says, and its host is allowed.",
    )
    allowed_hosts: str | None = Field(
        None,
        description="Host names (comma-separated; *.example.org for its subdomains) requests "
        "may name in their Host header; others are refused with 400. Default: any.",
    )
    harvest_allow_private: bool = Field(
        False,
        description="Let `cityshare harvest` reach loopback and private addresses (trusted "
        "internal sources only).",
    )
    harvest_allow_networks: str | None = Field(
        None,
        description="Addresses or networks (comma-separated) `cityshare harvest` may reach "
        "although they are not public.",
    )
    harvest_max_bytes: int = Field(
        1024**3, gt=0, description="Largest data file one harvested dataset may download."
    )
    harvest_max_document_bytes: int = Field(
        32 * 1024**2, gt=0, description="Largest catalogue answer (JSON or RDF) a harvest reads."
    )
    harvest_connect_seconds: float = Field(
        10.0, gt=0, description="Time limit of resolving and connecting to a harvest source."
    )
    harvest_read_seconds: float = Field(
        30.0, gt=0, description="Longest wait for the next bytes from a harvest source."
    )
    harvest_timeout_seconds: float = Field(
        600.0, gt=0, description="Time limit of one whole request of a harvest, redirects included."
    )

    @field_validator("harvest_allow_networks")
    @classmethod
    def _check_networks(cls, value: str | None) -> str | None:
        for item in split_list(value):
            try:
                ipaddress.ip_network(item, strict=False)
            except ValueError:
                raise ValueError(f"{item!r} is not an IP address or network") from None
        return value

    @field_validator("cors_origins")
    @classmethod
    def _check_origins(cls, value: str | None) -> str | None:
        for origin in split_list(value):
            if origin != "*" and not _ORIGIN.fullmatch(origin):
                raise ValueError(
                    f"{origin!r} is not an origin: write scheme://host[:port], "
                    "without a path or a trailing slash"
                )
        return value

    @field_validator("base_url")
    @classmethod
    def _check_base_url(cls, value: str | None) -> str | None:
        if value and not _ORIGIN.fullmatch(value.rstrip("/")):
            raise ValueError(
                f"{value!r} is not a site's URL: write scheme://host[:port], without a path"
            )
        return value.rstrip("/") if value else value

    def resolved_database_url(self) -> str:
        """The database URL, defaulting to ``sqlite:///DATA_DIR/cityshare.db``."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'cityshare.db').resolve()}"

    def resolved_secret_key(self) -> bytes:
        """The site secret; created (0600) in the data folder on first use if not configured."""
        if self.secret_key:
            return self.secret_key.encode()
        path = self.data_dir / SECRET_KEY_FILE
        if not path.exists():
            self.data_dir.mkdir(parents=True, exist_ok=True)
            path.touch(mode=0o600)
            path.write_text(secrets.token_urlsafe(48))
        return path.read_text().strip().encode()

    def resolved_signing_key_file(self) -> Path:
        """The site signing key's file; created (0600) in the data folder on first use."""
        return self.signing_key_file or self.data_dir / SIGNING_KEY_FILE

    def resolved_audit_checkpoint_dir(self) -> Path:
        """The folder of signed audit checkpoints (``DATA_DIR/audit-checkpoints`` by default)."""
        return self.audit_checkpoint_dir or self.data_dir / "audit-checkpoints"


def split_list(value: str | None) -> list[str]:
    """The items of a comma-separated setting, stripped, empty ones left out."""
    return [item.strip() for item in (value or "").split(",") if item.strip()]


def load_settings(**overrides: object) -> Settings:
    """Read settings from the environment once; explicit overrides (CLI flags) win."""
    clean = {key: value for key, value in overrides.items() if value is not None}
    return Settings(**clean)  # type: ignore[arg-type]
