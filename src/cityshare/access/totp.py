"""Time-based one-time passwords (RFC 6238) and recovery codes, as pure functions.

A TOTP secret is 160 random bits, shown to the user once in base32 and stored only
encrypted under a key derived from the site secret. Codes are six digits, one per
30-second step, accepted one step either side of now. Recovery codes are 60 random
bits each, shown once and stored as SHA-256 hashes.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time
from urllib.parse import quote, urlencode

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives.hashes import SHA1, SHA256
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from cryptography.hazmat.primitives.twofactor.hotp import HOTP

ISSUER = "cityshare"
DIGITS = 6
STEP_SECONDS = 30
WINDOW = 1  # steps accepted either side of the current one (clock drift)
SECRET_BYTES = 20  # 160 bits, as RFC 4226 recommends
RECOVERY_CODE_COUNT = 10
RECOVERY_GROUPS = 3  # xxxx-xxxx-xxxx: 12 base32 characters, 60 bits
RECOVERY_GROUP_LENGTH = 4
# Crockford's base32 alphabet: no i, l, o or u, so nothing is misread when typed.
_BASE32 = "0123456789abcdefghjkmnpqrstvwxyz"
_LOOKALIKES = str.maketrans({"i": "1", "l": "1", "o": "0"})
_SECRET_KEY_INFO = b"cityshare totp secret encryption v1"


def new_secret() -> str:
    """A new random TOTP secret: 160 bits in base32 (32 characters, no padding)."""
    return base64.b32encode(secrets.token_bytes(SECRET_BYTES)).decode().rstrip("=")


def current_step(now: float | None = None) -> int:
    """The TOTP time step of ``now`` (Unix seconds; default: the clock)."""
    return int((time.time() if now is None else now) // STEP_SECONDS)


def code_at(secret: str, step: int) -> str:
    """The code of ``secret`` for time step ``step``."""
    # RFC 6238 with HMAC-SHA1: what authenticator apps use; HMAC-SHA1 is not broken.
    return HOTP(_secret_bytes(secret), DIGITS, SHA1()).generate(step).decode()  # noqa: S303


def matching_step(
    secret: str, code: str, *, now: float | None = None, after: int | None = None
) -> int | None:
    """The step within the window whose code is ``code``, later than ``after``; else None.

    ``after`` is the last step already accepted: its code, and older ones, never match
    again, so a code cannot be replayed.
    """
    candidate = normalise_totp_code(code)
    if candidate is None:
        return None
    step = current_step(now)
    found = None
    for offset in range(-WINDOW, WINDOW + 1):
        tried = step + offset
        matches = hmac.compare_digest(code_at(secret, tried).encode(), candidate.encode())
        if matches and (after is None or tried > after) and found is None:
            found = tried
    return found


def normalise_totp_code(code: str) -> str | None:
    """The six digits of a TOTP code (spaces allowed), or None if it is not one."""
    digits = code.replace(" ", "").strip()
    if len(digits) != DIGITS or not digits.isascii() or not digits.isdigit():
        return None
    return digits


def provisioning_uri(secret: str, username: str) -> str:
    """The ``otpauth://`` URI authenticator apps read (usually from a QR code)."""
    label = f"{quote(ISSUER, safe='')}:{quote(username, safe='')}"
    query = urlencode(
        {
            "secret": secret,
            "issuer": ISSUER,
            "algorithm": "SHA1",
            "digits": DIGITS,
            "period": STEP_SECONDS,
        }
    )
    return f"otpauth://totp/{label}?{query}"


def new_recovery_codes(count: int = RECOVERY_CODE_COUNT) -> list[str]:
    """``count`` new recovery codes like ``k7pq-2mzx-a4rd`` (60 random bits each)."""
    return [_recovery_code() for _ in range(count)]


def _recovery_code() -> str:
    groups = (
        "".join(secrets.choice(_BASE32) for _ in range(RECOVERY_GROUP_LENGTH))
        for _ in range(RECOVERY_GROUPS)
    )
    return "-".join(groups)


def normalise_recovery_code(code: str) -> str | None:
    """A recovery code in its canonical form, or None if it cannot be one.

    Letter case, spaces and dashes do not matter, and ``i``, ``l`` and ``o`` are read as
    ``1``, ``1`` and ``0``: ``K7PQ 2MZX A4RD`` is ``k7pq-2mzx-a4rd``.
    """
    letters = "".join(code.split()).replace("-", "").lower().translate(_LOOKALIKES)
    length = RECOVERY_GROUPS * RECOVERY_GROUP_LENGTH
    if len(letters) != length or not set(letters) <= set(_BASE32):
        return None
    size = RECOVERY_GROUP_LENGTH
    return "-".join(letters[i : i + size] for i in range(0, length, size))


def recovery_code_hash(code: str) -> str:
    """The stored form of a recovery code (SHA-256 of its canonical form, in hex)."""
    canonical = normalise_recovery_code(code) or code
    return hashlib.sha256(canonical.encode()).hexdigest()


def hashes_match(stored: str, presented: str) -> bool:
    """Constant-time comparison of two recovery code hashes."""
    return hmac.compare_digest(stored.encode(), presented.encode())


def encrypt_secret(site_secret: bytes, secret: str) -> str:
    """``secret`` encrypted (Fernet) under a key derived from the site secret."""
    return _fernet(site_secret).encrypt(secret.encode()).decode()


def decrypt_secret(site_secret: bytes, stored: str) -> str | None:
    """The secret from :func:`encrypt_secret`; None if the site secret has changed."""
    try:
        return _fernet(site_secret).decrypt(stored.encode()).decode()
    except InvalidToken:
        return None


def _fernet(site_secret: bytes) -> Fernet:
    key = HKDF(algorithm=SHA256(), length=32, salt=None, info=_SECRET_KEY_INFO).derive(site_secret)
    return Fernet(base64.urlsafe_b64encode(key))


def _secret_bytes(secret: str) -> bytes:
    padded = secret.upper() + "=" * (-len(secret) % 8)
    return base64.b32decode(padded)
