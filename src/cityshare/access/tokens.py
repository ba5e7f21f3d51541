"""API tokens: 256 random bits, shown once, stored only as a SHA-256 hash.

A token looks like ``cs_<43 url-safe characters>``. Its first characters after
the ``cs_`` marker are kept as a visible prefix so people can tell tokens apart.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass

TOKEN_MARKER = "cs_"  # noqa: S105 - a visible marker, not a secret
TOKEN_BYTES = 32  # 256 bits
PREFIX_LENGTH = 8
_TOKEN_LENGTH = len(TOKEN_MARKER) + 43
_URLSAFE = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")


@dataclass(frozen=True)
class NewToken:
    """A freshly minted token: the secret (shown once), its prefix and its hash."""

    secret: str
    prefix: str
    digest: str


def mint_token() -> NewToken:
    """Create a new random token."""
    secret = TOKEN_MARKER + secrets.token_urlsafe(TOKEN_BYTES)
    return NewToken(secret=secret, prefix=token_prefix(secret), digest=token_digest(secret))


def token_prefix(secret: str) -> str:
    """The short, non-secret part of a token that is shown in lists."""
    return secret[: len(TOKEN_MARKER) + PREFIX_LENGTH]


def token_digest(secret: str) -> str:
    """The stored form of a token."""
    return hashlib.sha256(secret.encode()).hexdigest()


def looks_like_token(secret: str) -> bool:
    """True when ``secret`` has a token's shape (checked before any lookup)."""
    return (
        len(secret) == _TOKEN_LENGTH
        and secret.startswith(TOKEN_MARKER)
        and set(secret[len(TOKEN_MARKER) :]) <= _URLSAFE
    )


def digests_match(stored: str, presented: str) -> bool:
    """Constant-time comparison of two token digests."""
    return hmac.compare_digest(stored.encode(), presented.encode())
