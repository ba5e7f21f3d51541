"""Validation of dataset metadata fields (beyond what a JSON schema can say)."""

from __future__ import annotations

import math
from datetime import date
from typing import Any

from cityshare.errors import BadRequest
from cityshare.names import check_licence

VISIBILITIES = ("open", "shared", "private")
UPDATE_FREQUENCIES = (
    "continuous",
    "hourly",
    "daily",
    "weekly",
    "monthly",
    "quarterly",
    "annually",
    "irregular",
    "never",
)
MAX_TAGS = 50
MAX_TAG_CHARS = 100
_GEOMETRY_TYPES = ("Point", "MultiPoint", "Polygon", "MultiPolygon", "LineString")


def check_visibility(value: str) -> str:
    """Return a valid visibility."""
    if value not in VISIBILITIES:
        raise BadRequest(
            f"Unknown visibility {value[:40]!r}: use open, shared or private.",
            parameter="visibility",
        )
    return value


def check_tags(tags: list[str]) -> list[str]:
    """Return tags trimmed and de-duplicated, in order."""
    if len(tags) > MAX_TAGS:
        raise BadRequest(f"At most {MAX_TAGS} tags.", parameter="tags")
    cleaned: list[str] = []
    for tag in tags:
        text = tag.strip()
        if not text or len(text) > MAX_TAG_CHARS:
            raise BadRequest(
                f"Tags must be 1-{MAX_TAG_CHARS} characters; got {tag[:40]!r}.",
                parameter="tags",
            )
        if text not in cleaned:
            cleaned.append(text)
    return cleaned


def check_update_frequency(value: str | None) -> str | None:
    """Return a known update frequency (or None)."""
    if value is not None and value not in UPDATE_FREQUENCIES:
        raise BadRequest(
            f"Unknown update frequency {value[:40]!r}: use one of {', '.join(UPDATE_FREQUENCIES)}.",
            parameter="update_frequency",
        )
    return value


def check_spatial(value: dict[str, Any] | None) -> dict[str, Any] | None:
    """Return a GeoJSON geometry with finite WGS84 coordinates (or None)."""
    if value is None:
        return None
    if value.get("type") not in _GEOMETRY_TYPES or "coordinates" not in value:
        raise BadRequest(
            "spatial must be a GeoJSON geometry (Point, Polygon, MultiPolygon, ...) "
            "with coordinates in WGS84 longitude/latitude.",
            parameter="spatial",
        )
    for longitude, latitude in _positions(value["coordinates"], depth=0):
        if not (-180 <= longitude <= 180 and -90 <= latitude <= 90):
            raise BadRequest(
                f"spatial coordinate ({longitude}, {latitude}) is outside WGS84 range.",
                parameter="spatial",
            )
    return {"type": value["type"], "coordinates": value["coordinates"]}


def _positions(coordinates: Any, depth: int) -> list[tuple[float, float]]:
    if depth > 4 or not isinstance(coordinates, list) or not coordinates:
        raise BadRequest("spatial has malformed coordinates.", parameter="spatial")
    if all(isinstance(item, int | float) for item in coordinates):
        if len(coordinates) < 2 or not all(math.isfinite(item) for item in coordinates):
            raise BadRequest("spatial has a non-finite or short position.", parameter="spatial")
        return [(float(coordinates[0]), float(coordinates[1]))]
    found: list[tuple[float, float]] = []
    for item in coordinates:
        found.extend(_positions(item, depth + 1))
        if len(found) > 10_000:
            raise BadRequest("spatial has too many positions (max 10 000).", parameter="spatial")
    return found


def check_temporal(start: str | None, end: str | None) -> tuple[str | None, str | None]:
    """Return an ISO date range with start ≤ end."""
    parsed = [_iso_date(value, name) for value, name in ((start, "start"), (end, "end"))]
    if parsed[0] and parsed[1] and parsed[0] > parsed[1]:
        raise BadRequest("temporal start is after its end.", parameter="temporal")
    return start, end


def _iso_date(value: str | None, name: str) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value[:10])
    except ValueError:
        raise BadRequest(
            f"temporal {name} {value[:40]!r} is not an ISO 8601 date (YYYY-MM-DD).",
            parameter="temporal",
        ) from None


def clean_metadata(values: dict[str, Any]) -> dict[str, Any]:
    """Validate every metadata field present in ``values``; return storable columns."""
    out: dict[str, Any] = {}
    for key, value in values.items():
        out.update(_clean_field(key, value))
    return out


REQUIRED = frozenset({"title", "tags", "visibility"})


def _clean_field(key: str, value: Any) -> dict[str, Any]:
    if value is None and key in REQUIRED:
        raise BadRequest(f"{key} cannot be null.", parameter=key)
    if key == "description":
        return {"description": "" if value is None else str(value)[:100_000]}
    if key == "title":
        text = str(value).strip()
        if not text or len(text) > 300:
            raise BadRequest("title must be 1-300 characters.", parameter="title")
        return {"title": text}
    if key == "tags":
        return {"tags": check_tags(list(value))}
    if key == "licence":
        return {"licence": check_licence(value)}
    if key == "visibility":
        return {"visibility": check_visibility(value)}
    if key == "update_frequency":
        return {"update_frequency": check_update_frequency(value)}
    if key == "spatial":
        return {"spatial": check_spatial(value)}
    if key == "temporal":
        temporal = value or {}
        start, end = check_temporal(temporal.get("start"), temporal.get("end"))
        return {"temporal_start": start, "temporal_end": end}
    raise BadRequest(f"{key!r} cannot be set here.", parameter=key)
