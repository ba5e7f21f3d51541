"""The hash chain, as pure functions.

Each entry's content is canonical JSON (sorted keys, no spaces, UTF-8), stored as the
exact bytes that were hashed. ``content_hash = SHA-256(content)`` and
``hash = SHA-256(prev_hash ‖ content_hash)``, where ``prev_hash`` is the previous
entry's ``hash`` (64 zeros for the first). The content holds the entry's sequence
number, so an entry edited, deleted, inserted or moved breaks the chain at that point.
"""

from __future__ import annotations

import hashlib
from typing import Any

import orjson

GENESIS = "0" * 64


def canonical(content: dict[str, Any]) -> str:
    """The one byte-exact text of ``content`` that is hashed and stored."""
    return orjson.dumps(content, option=orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS).decode()


def content_hash(text: str) -> str:
    """SHA-256 of an entry's canonical content."""
    return hashlib.sha256(text.encode()).hexdigest()


def link(prev_hash: str, digest: str) -> str:
    """An entry's chain hash from the previous entry's hash and its own content hash."""
    return hashlib.sha256(bytes.fromhex(prev_hash) + bytes.fromhex(digest)).hexdigest()
