"""MQTT passwords for devices, hashed in Mosquitto's own password-file format.

Mosquitto 2 reads ``username:$7$<iterations>$<base64 salt>$<base64 PBKDF2-SHA512>``
lines (what ``mosquitto_passwd`` writes), so cityshare can write the broker's
password file without running a tool and without ever storing a device's password.
"""

from __future__ import annotations

import base64
import hashlib
import secrets

ITERATIONS = 101  # mosquitto_passwd's default
SALT_BYTES = 12
PASSWORD_BYTES = 24


def new_password() -> str:
    """A random MQTT password for a device (shown once)."""
    return secrets.token_urlsafe(PASSWORD_BYTES)


def mosquitto_password_hash(password: str, *, salt: bytes | None = None) -> str:
    """The ``$7$`` PBKDF2-SHA512 hash Mosquitto checks ``password`` against."""
    salt = salt if salt is not None else secrets.token_bytes(SALT_BYTES)
    digest = hashlib.pbkdf2_hmac("sha512", password.encode(), salt, ITERATIONS)
    encode = base64.b64encode
    return f"$7${ITERATIONS}${encode(salt).decode()}${encode(digest).decode()}"
