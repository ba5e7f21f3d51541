"""What the audit unit tests share: the site's signing key, the head, SQL on the log."""

from __future__ import annotations

import json
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import select, text

from cityshare import keys
from cityshare.audit.checkpoint import load_or_create_signing_key
from cityshare.audit.verify import Verdict, verify_chain
from cityshare.site import Site
from cityshare.storage.schema import audit_head, audit_log


def signing_key(site: Site) -> Ed25519PrivateKey:
    """The site's checkpoint signing key, read from the file its settings name (the same
    key ``cityshare serve`` and ``cityshare audit checkpoint`` sign with)."""
    return load_or_create_signing_key(site.settings.resolved_signing_key_file())


def public_key(site: Site) -> str:
    """The site's public key, as checkpoints carry it."""
    return keys.public_key_text(signing_key(site))


def head(site: Site) -> tuple[int, str]:
    """The audit head: the newest entry's sequence number and hash."""
    with site.engine.connect() as connection:
        row = connection.execute(select(audit_head.c.seq, audit_head.c.hash)).one()
    return int(row.seq), str(row.hash)


def stored(site: Site, seq: int) -> dict[str, Any]:
    """The stored audit_log row ``seq``."""
    with site.engine.connect() as connection:
        row = connection.execute(select(audit_log).where(audit_log.c.seq == seq)).one()
    return dict(row._mapping)


def content(site: Site, seq: int) -> dict[str, Any]:
    """What entry ``seq`` says, as hashed."""
    loaded: dict[str, Any] = json.loads(str(stored(site, seq)["content"]))
    return loaded


def run_sql(site: Site, statement: str, **values: Any) -> None:
    """Change the store behind cityshare's back, as someone with database access would."""
    with site.writer.begin() as connection:
        connection.execute(text(statement), values)


def verdict(site: Site) -> Verdict:
    """The verifier's walk over the whole log."""
    with site.engine.connect() as connection:
        return verify_chain(connection)
