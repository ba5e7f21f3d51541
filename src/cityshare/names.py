"""Validation of the slugs that name organisations, users and datasets, and of the
lengths of the texts that describe them."""

from __future__ import annotations

import re

from cityshare.errors import BadRequest

_SLUG = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,98}[a-z0-9])?$")
_USERNAME = re.compile(r"^[a-z0-9](?:[a-z0-9._-]{0,62}[a-z0-9])?$")
_SPDX = re.compile(r"^[A-Za-z0-9][A-Za-z0-9.+-]{0,99}$")


def check_slug(value: str, what: str) -> str:
    """Return ``value`` if it is a valid slug, else raise BadRequest naming ``what``."""
    if not _SLUG.fullmatch(value):
        raise BadRequest(
            f"Invalid {what} name {value[:80]!r}: use 1-100 lowercase letters, digits and "
            "hyphens, starting and ending with a letter or digit.",
            parameter=what,
        )
    return value


def check_username(value: str) -> str:
    """Return ``value`` if it is a valid username."""
    if not _USERNAME.fullmatch(value):
        raise BadRequest(
            f"Invalid username {value[:80]!r}: use 1-64 lowercase letters, digits, '.', '_' "
            "or '-', starting and ending with a letter or digit.",
            parameter="username",
        )
    return value


def check_length(value: str, parameter: str, limit: int) -> str:
    """Return ``value`` if it has at most ``limit`` characters (its column's length)."""
    if len(value) > limit:
        raise BadRequest(
            f"{parameter} is {len(value)} characters long: use at most {limit}.",
            parameter=parameter,
        )
    return value


def check_licence(value: str | None) -> str | None:
    """Return an SPDX licence id (or None) after checking its shape."""
    if value is None:
        return None
    if not _SPDX.fullmatch(value):
        raise BadRequest(
            f"Invalid licence {value[:80]!r}: give an SPDX identifier such as 'CC-BY-4.0'.",
            parameter="licence",
        )
    return value
