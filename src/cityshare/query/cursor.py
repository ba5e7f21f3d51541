"""Opaque, signed keyset cursors.

A cursor is ``base64url(payload) "." base64url(mac)``. The payload is JSON
``{"v": 1, "i": <_id>, "k": [<sort key values>]}`` of the last row of a page; ``k``
is left out when the values are long (they are then read back by ``_id``, which is
cheap because version tables never change). The MAC is HMAC-SHA256 under a key
derived from the site secret, over the scope (e.g. ``dsv_17``), the normalised
query (filters, bbox, sort) and the payload, so a cursor cannot be forged, edited
or replayed on another dataset, version or query. Any failure is the same 400.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
from typing import Any

import orjson

from cityshare.errors import BadRequest
from cityshare.query.spec import Position, SortKey
from cityshare.query.values import cursor_value, from_cursor_value

CURSOR_VERSION = 1
MAX_CURSOR_CHARS = 16_384
MAX_INLINE_KEYS_BYTES = 1024
_TOKEN = re.compile(r"[A-Za-z0-9_-]{2,16384}\.[A-Za-z0-9_-]{43}")
_DOMAIN = b"cityshare/query-cursor/v1"


class CursorSigner:
    """Signs and checks cursors with the site secret (never shown by ``repr``)."""

    __slots__ = ("_key",)

    def __init__(self, secret: bytes | str) -> None:
        raw = secret.encode() if isinstance(secret, str) else bytes(secret)
        if not raw:
            raise ValueError("the cursor secret must not be empty")
        self._key = hmac.new(raw, _DOMAIN, hashlib.sha256).digest()

    def __repr__(self) -> str:
        return "CursorSigner(<secret>)"

    def sign(self, context: bytes, payload: bytes) -> str:
        """A token carrying ``payload``, valid only for ``context``."""
        return f"{_b64encode(payload)}.{_b64encode(self._mac(context, payload))}"

    def open(self, context: bytes, token: str) -> bytes:
        """The payload of a token signed for ``context``; BadRequest otherwise."""
        if len(token) > MAX_CURSOR_CHARS or not _TOKEN.fullmatch(token):
            raise invalid_cursor()
        body, mac = token.split(".")
        try:
            payload = _b64decode(body)
            given = _b64decode(mac)
        except (binascii.Error, ValueError):
            raise invalid_cursor() from None
        if not hmac.compare_digest(given, self._mac(context, payload)):
            raise invalid_cursor()
        return payload

    def _mac(self, context: bytes, payload: bytes) -> bytes:
        message = len(context).to_bytes(8, "big") + context + payload
        return hmac.new(self._key, message, hashlib.sha256).digest()


def invalid_cursor() -> BadRequest:
    """The one error for every bad cursor (nothing tells which check failed)."""
    return BadRequest(
        "Parameter '_next': invalid cursor. Use the 'next' value of the previous page "
        "unchanged, with the same filters, bbox and _sort.",
        parameter="_next",
    )


def cursor_context(scope: str, binding: Any) -> bytes:
    """The bytes a cursor is bound to: the scope and the normalised query."""
    return orjson.dumps([scope, binding])


def encode_cursor(
    signer: CursorSigner,
    context: bytes,
    sort: tuple[SortKey, ...],
    values: tuple[Any, ...],
    row_id: int,
) -> str:
    """The cursor continuing after the row ``row_id`` with sort key ``values``."""
    keys = [cursor_value(key.field.type, value) for key, value in zip(sort, values, strict=True)]
    payload: dict[str, Any] = {"v": CURSOR_VERSION, "i": row_id}
    if keys and len(orjson.dumps(keys)) <= MAX_INLINE_KEYS_BYTES:
        payload["k"] = keys
    return signer.sign(context, orjson.dumps(payload))


def decode_cursor(
    signer: CursorSigner, context: bytes, sort: tuple[SortKey, ...], token: str
) -> Position:
    """The position a cursor names; BadRequest "invalid cursor" for anything wrong."""
    payload = signer.open(context, token)
    try:
        data = orjson.loads(payload)
        return _position(data, sort)
    except (orjson.JSONDecodeError, ValueError, TypeError, KeyError):
        raise invalid_cursor() from None


def _position(data: Any, sort: tuple[SortKey, ...]) -> Position:
    if not isinstance(data, dict) or data.get("v") != CURSOR_VERSION:
        raise ValueError("payload")
    row_id = data["i"]
    if isinstance(row_id, bool) or not isinstance(row_id, int):
        raise ValueError("row id")
    if "k" not in data:
        return Position(row_id=row_id, values=None if sort else ())
    keys = data["k"]
    if not isinstance(keys, list) or len(keys) != len(sort):
        raise ValueError("keys")
    values = tuple(
        from_cursor_value(key.field.type, value) for key, value in zip(sort, keys, strict=True)
    )
    return Position(row_id=row_id, values=values)


def _b64encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _b64decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
