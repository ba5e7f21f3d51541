"""Ed25519 device keys: generate (for simulators and tests), parse, fingerprint, sign, verify.

cityshare keeps only public keys. A public key is accepted as PEM
(``-----BEGIN PUBLIC KEY-----``) or as the base64 of its 32 raw bytes; it is stored
as the latter, and known by its key id: the first 16 hex digits of its SHA-256.
"""

from __future__ import annotations

import base64
import binascii
import hashlib

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from cityshare.errors import BadRequest

RAW_KEY_BYTES = 32
SIGNATURE_BYTES = 64


def generate_private_key() -> Ed25519PrivateKey:
    """A new device key pair (the device keeps it; cityshare never sees the private half)."""
    return Ed25519PrivateKey.generate()


def private_key_pem(key: Ed25519PrivateKey) -> bytes:
    """The private key as unencrypted PKCS#8 PEM."""
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def load_private_key(pem: bytes) -> Ed25519PrivateKey:
    """A private key read back from PEM."""
    key = serialization.load_pem_private_key(pem, password=None)
    if not isinstance(key, Ed25519PrivateKey):
        raise BadRequest("The private key is not an Ed25519 key.")
    return key


def public_key_text(key: Ed25519PrivateKey | Ed25519PublicKey) -> str:
    """The public key as base64 of its 32 raw bytes (how cityshare stores it)."""
    public = key.public_key() if isinstance(key, Ed25519PrivateKey) else key
    raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return base64.b64encode(raw).decode()


def public_key_pem(key: Ed25519PrivateKey) -> bytes:
    """The public key as SubjectPublicKeyInfo PEM."""
    return key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def parse_public_key(text: str) -> str:
    """Validate a PEM or base64 Ed25519 public key; return it as stored (base64, raw)."""
    text = text.strip()
    if text.startswith("-----BEGIN"):
        try:
            key = serialization.load_pem_public_key(text.encode())
        except ValueError:
            raise _bad_key("it is not a readable PEM public key") from None
        if not isinstance(key, Ed25519PublicKey):
            raise _bad_key("it is not an Ed25519 key")
        return public_key_text(key)
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise _bad_key("it is neither PEM nor base64") from None
    if len(raw) != RAW_KEY_BYTES:
        raise _bad_key(f"it decodes to {len(raw)} bytes, not {RAW_KEY_BYTES}")
    return base64.b64encode(raw).decode()


def key_id(public_key: str) -> str:
    """The short, stable name of a stored public key."""
    return hashlib.sha256(base64.b64decode(public_key)).hexdigest()[:16]


def sign(key: Ed25519PrivateKey, body: bytes) -> str:
    """The base64 Ed25519 signature of ``body`` (what a device sends in ``X-Signature``)."""
    return base64.b64encode(key.sign(body)).decode()


def decode_signature(signature: str) -> bytes | None:
    """The raw signature bytes, or None when ``signature`` is not base64 of 64 bytes."""
    try:
        raw = base64.b64decode(signature.strip(), validate=True)
    except (binascii.Error, ValueError):
        return None
    return raw if len(raw) == SIGNATURE_BYTES else None


def load_public_key(public_key: str) -> Ed25519PublicKey:
    """A stored public key as a cryptography object."""
    return Ed25519PublicKey.from_public_bytes(base64.b64decode(public_key))


def verifies(public_key: Ed25519PublicKey, signature: bytes, body: bytes) -> bool:
    """True when ``signature`` is ``public_key``'s signature of exactly ``body``."""
    try:
        public_key.verify(signature, body)
    except InvalidSignature:
        return False
    return True


def _bad_key(why: str) -> BadRequest:
    return BadRequest(
        f"The public key is not usable: {why}. Send an Ed25519 public key as PEM or as "
        "the base64 of its 32 raw bytes (`cityshare device keygen` writes one).",
        parameter="public_key",
    )
