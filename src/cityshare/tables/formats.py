"""Upload formats: the media types cityshare reads and how a file name maps to one.

A media type may carry parameters; only ``charset`` is honoured (for the text
formats), anything else is ignored::

    >>> parse_media_type("text/csv; charset=latin-1")
    MediaType(essence='text/csv', charset='iso8859-1')
    >>> media_type_for_filename("readings.GeoJSON")
    'application/geo+json'
"""

from __future__ import annotations

import codecs
from dataclasses import dataclass

from cityshare.errors import UnsupportedMediaType

CSV = "text/csv"
TSV = "text/tab-separated-values"
JSON = "application/json"
NDJSON = "application/x-ndjson"
NDJSON_ALIAS = "application/ndjson"
GEOJSON = "application/geo+json"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"

SUPPORTED_MEDIA_TYPES: tuple[str, ...] = (CSV, TSV, JSON, NDJSON, NDJSON_ALIAS, GEOJSON, XLSX)
TEXT_MEDIA_TYPES = frozenset({CSV, TSV, JSON, NDJSON, NDJSON_ALIAS, GEOJSON})

# Python-specific codecs that are no real-world charset (or are an XSS vector, UTF-7).
_NOT_CHARSETS = frozenset(
    {"idna", "punycode", "unicode-escape", "raw-unicode-escape", "utf-7", "undefined", "charmap"}
)

_EXTENSIONS = {
    "csv": CSV,
    "tsv": TSV,
    "tab": TSV,
    "json": JSON,
    "ndjson": NDJSON,
    "jsonl": NDJSON,
    "geojson": GEOJSON,
    "xlsx": XLSX,
}


@dataclass(frozen=True)
class MediaType:
    """A supported media type (lower-case ``type/subtype``) and its declared charset."""

    essence: str
    charset: str | None = None


def media_type_for_filename(name: str) -> str | None:
    """The media type of a file name by its extension, or None when not supported.

    >>> media_type_for_filename("trees.csv")
    'text/csv'
    >>> media_type_for_filename("notes.txt") is None
    True
    """
    _stem, dot, extension = name.rpartition(".")
    if not dot or "/" in extension or "\\" in extension:
        return None
    return _EXTENSIONS.get(extension.strip().lower())


def unknown_extension(
    filename: str, remedy: str = "Rename the file, or send its media type in Content-Type."
) -> str:
    """What to say of a file whose extension names no format cityshare reads."""
    known = ", ".join(f".{extension}" for extension in _EXTENSIONS)
    return (
        f"cityshare cannot tell the format of {filename[:200]!r} from its name: it reads "
        f"files ending in {known}. {remedy}"
    )


def parse_media_type(value: str) -> MediaType:
    """Parse ``value`` (``type/subtype; charset=...``); UnsupportedMediaType if not readable."""
    essence, _, parameters = value.partition(";")
    essence = essence.strip().lower()
    if essence not in SUPPORTED_MEDIA_TYPES:
        raise UnsupportedMediaType(
            f"Cannot read uploads of type '{essence[:100]}'. Supported types: "
            + ", ".join(SUPPORTED_MEDIA_TYPES)
            + ".",
            supported=list(SUPPORTED_MEDIA_TYPES),
        )
    charset = _charset(parameters) if essence in TEXT_MEDIA_TYPES else None
    return MediaType(essence=essence, charset=charset)


def _charset(parameters: str) -> str | None:
    for parameter in parameters.split(";"):
        key, _, raw = parameter.partition("=")
        if key.strip().lower() == "charset":
            return text_codec(raw.strip().strip('"').strip())
    return None


def text_codec(name: str) -> str:
    """The Python codec name of a text charset; UnsupportedMediaType for anything else."""
    try:
        info = codecs.lookup(name)
        # Binary transforms (base64, zlib, rot13...) fail here or do not give text.
        decoded: object = codecs.decode(b"", info.name)
    except Exception:  # any failure means "not a text charset"
        decoded = None
    if not name or not isinstance(decoded, str) or info.name in _NOT_CHARSETS:
        raise UnsupportedMediaType(
            f"Unknown or unsupported charset '{name[:40]}'; use for example utf-8 or windows-1252."
        )
    return info.name
