"""The errors of a harvest's outbound requests::

    CityshareError
    ├── BadRequest
    │   └── UnsafeURL          refused before any connection: scheme, spelling, address
    └── SourceError (502)      the source failed: unreachable, an HTTP error, too many
        │                      redirects, an answer that cannot be used
        ├── SourceTooLarge     more bytes than the limit
        └── SourceTimeout      a time limit ran out

Each names the URL (without credentials) and the reason.
"""

from __future__ import annotations

from cityshare.errors import BadRequest, CityshareError


class UnsafeURL(BadRequest):
    """A URL the harvester will not request: refused before any connection."""

    title = "Refused URL"
    slug = "refused-url"
    opt_in: bool = False  # True when allowing private addresses would admit the URL


class SourceError(CityshareError):
    """The harvest source failed or answered something that cannot be used."""

    status = 502
    title = "Harvest source failed"
    slug = "harvest-source"

    def __init__(self, detail: str, *, http_status: int | None = None) -> None:
        super().__init__(detail)
        self.http_status = http_status


class SourceTooLarge(SourceError):
    """An answer longer than the byte limit."""


class SourceTimeout(SourceError):
    """A request that ran past one of its time limits."""
