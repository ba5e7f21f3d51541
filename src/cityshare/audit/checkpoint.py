"""Checkpoints: the chain's head, signed with the site's Ed25519 key, to keep elsewhere.

Whoever holds a checkpoint can later prove the log was not rewritten up to that point:
``verify_checkpoint`` checks the signature and that the log still has the same hash at
the same sequence number.
"""

from __future__ import annotations

import base64
import contextlib
import os
import secrets
from pathlib import Path
from typing import Any

import orjson
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import Connection, select

from cityshare import keys
from cityshare.audit.chain import canonical
from cityshare.clock import utcnow
from cityshare.site import Site
from cityshare.storage.schema import audit_head, audit_log

FORMAT = "cityshare-audit-checkpoint/1"


def site_signing_key(site: Site) -> Ed25519PrivateKey:
    """The site's Ed25519 key that signs audit checkpoints (its file generated on first
    use; read again each time: checkpoints are rare)."""
    return load_or_create_signing_key(site.settings.resolved_signing_key_file())


def load_or_create_signing_key(path: Path) -> Ed25519PrivateKey:
    """The site's signing key, generated (0600) on first use.

    A new key is written under a temporary name and linked into place, so a process
    starting at the same moment reads either no file or the whole key, and the first
    key written is the one every process keeps.
    """
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp")
        descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(descriptor, "wb") as handle:
                handle.write(keys.private_key_pem(keys.generate_private_key()))
                handle.flush()
                os.fsync(handle.fileno())
            with contextlib.suppress(FileExistsError):  # another process was first
                os.link(temporary, path)
        finally:
            temporary.unlink(missing_ok=True)
    return keys.load_private_key(path.read_bytes())


def make_checkpoint(connection: Connection, key: Ed25519PrivateKey) -> dict[str, Any]:
    """A signed statement of the log's current head."""
    head = connection.execute(select(audit_head).where(audit_head.c.id == 1)).one()
    statement = {
        "format": FORMAT,
        "seq": int(head.seq),
        "hash": head.hash,
        "at": utcnow().isoformat(timespec="seconds") + "Z",
    }
    signature = key.sign(canonical(statement).encode())
    return {
        **statement,
        "public_key": keys.public_key_text(key),
        "signature": base64.b64encode(signature).decode(),
    }


def verify_checkpoint(
    connection: Connection, checkpoint: dict[str, Any], site_public_key: str
) -> str | None:
    """None when the checkpoint is genuine and the log still agrees with it; else why not."""
    problem = signature_problem(checkpoint, site_public_key)
    if problem is not None:
        return problem
    seq = int(checkpoint["seq"])
    stored = connection.execute(
        select(audit_log.c.hash).where(audit_log.c.seq == seq)
    ).scalar_one_or_none()
    return head_problem(checkpoint, stored)


def signature_problem(checkpoint: dict[str, Any], site_public_key: str) -> str | None:
    """None when ``checkpoint`` is a statement signed with the site's key; else why not."""
    try:
        statement = {name: checkpoint[name] for name in ("format", "seq", "hash", "at")}
        signature = keys.decode_signature(str(checkpoint["signature"]))
        public = str(checkpoint["public_key"])
    except (KeyError, TypeError):
        return "the checkpoint file is not a cityshare audit checkpoint"
    if statement["format"] != FORMAT or signature is None or type(statement["seq"]) is not int:
        return "the checkpoint file is not a cityshare audit checkpoint"
    if public != site_public_key:
        return "the checkpoint was signed by another key than this site's"
    if not keys.verifies(keys.load_public_key(public), signature, canonical(statement).encode()):
        return "the checkpoint's signature is not valid: the file was altered"
    return None


def head_problem(checkpoint: dict[str, Any], stored: str | None) -> str | None:
    """None when the log's hash at the checkpoint's entry (``stored``) is the one signed."""
    seq = int(checkpoint["seq"])
    if seq == 0:
        return None
    if stored is None:
        return f"entry {seq} of the checkpoint is gone: the log was cut short"
    if stored != checkpoint["hash"]:
        return f"entry {seq} differs from the checkpoint: the log was rewritten"
    return None


def read_checkpoint(path: Path) -> dict[str, Any]:
    """A checkpoint file's content (an empty dict when it is not JSON)."""
    try:
        loaded = orjson.loads(path.read_bytes())
    except orjson.JSONDecodeError:
        return {}
    return loaded if isinstance(loaded, dict) else {}
