"""Remote text made safe to show: in error messages, summaries and the audit log.

A harvest source controls the URLs it links to, its error messages and its datasets'
names. Before any of it is shown it loses control characters (no terminal escapes, no
forged log lines), credentials in URLs, and its length beyond a limit. (The command line
prints it with console markup off.)
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit, urlunsplit

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2066-\u2069]")


def plain(text: object, limit: int = 200) -> str:
    """``text`` as one printable line of at most ``limit`` characters."""
    cleaned = _CONTROL.sub(" ", str(text))
    return cleaned if len(cleaned) <= limit else cleaned[: limit - 1] + "…"


def shown_url(url: str, limit: int = 200) -> str:
    """A URL fit to show: without user name or password, printable, and short.

    >>> shown_url("https://user:secret@example.org/catalog.ttl")
    'https://example.org/catalog.ttl'
    """
    try:
        parts = urlsplit(url.strip())
        netloc = parts.netloc.rpartition("@")[2]
        text = urlunsplit((parts.scheme, netloc, parts.path, parts.query, ""))
    except ValueError:
        text = url.rpartition("@")[2] if "@" in url else url
    return plain(text or url, limit)
