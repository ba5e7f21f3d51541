"""A generated catalogue of many datasets, for the search benchmarks.

Titles, descriptions, tags and columns are drawn from a smart-city vocabulary with a
fixed seed, so every run searches the same catalogue. The rows go straight into the
catalogue tables in bulk (creating 100 000 datasets one by one through the service,
each audited, would take most of the run); the search index is then built by
``reindex_all``, the very code the migration and the services use.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import insert, select

TOPICS = [
    ("traffic counts", ["transport", "traffic", "roads"], ["junction_id", "vehicle_count"]),
    ("air quality", ["environment", "air-quality", "health"], ["station", "no2", "pm10"]),
    ("bike share stations", ["transport", "cycling", "mobility"], ["station", "bikes"]),
    ("car park occupancy", ["transport", "parking"], ["car_park", "spaces_free"]),
    ("bus punctuality", ["transport", "bus", "public-transport"], ["route", "delay_s"]),
    ("street lighting", ["energy", "lighting", "assets"], ["lamp_id", "wattage"]),
    ("waste collection", ["waste", "environment", "services"], ["round", "tonnes"]),
    ("flood gauge levels", ["environment", "water", "flooding"], ["gauge", "level_m"]),
    ("footfall", ["economy", "retail", "people"], ["sensor", "people_count"]),
    ("noise levels", ["environment", "noise", "health"], ["site", "laeq_db"]),
    ("planning applications", ["planning", "housing", "buildings"], ["reference", "status"]),
    ("energy consumption", ["energy", "buildings", "climate"], ["building", "kwh"]),
    ("tree inventory", ["environment", "trees", "green-space"], ["tree_id", "species"]),
    ("road works", ["transport", "roads", "works"], ["permit", "street"]),
    ("school places", ["education", "schools"], ["school", "places"]),
    ("electric vehicle chargers", ["transport", "energy", "ev"], ["charger", "kw"]),
]
PLACES = [
    "Quayside", "Haymarket", "Jesmond", "Gosforth", "Byker", "Heaton", "Fenham", "Walker",
    "Elswick", "Benwell", "Kenton", "Denton", "Westerhope", "Walkergate", "Ouseburn",
    "Arthur's Hill", "Sandyford", "Shieldfield", "Spital Tongues", "Wingrove",
]  # fmt: skip
CADENCES = ["Hourly", "Daily", "Weekly", "Monthly", "Live", "Annual"]
LICENCES = ["CC-BY-4.0", "OGL-UK-3.0", "ODbL-1.0", "CC0-1.0", "CC-BY-SA-4.0", "PDDL-1.0"]
VISIBILITIES = ["open"] * 7 + ["shared"] * 2 + ["private"]
ORGANISATIONS = 20
WORDS = sorted(
    {word.lower() for topic, _, _ in TOPICS for word in topic.split()}
    | {place.lower().split()[0] for place in PLACES}
    | {cadence.lower() for cadence in CADENCES}
)


def generate(site: Any, count: int, progress: Callable[[int], None] | None = None) -> int:
    """Add ``count`` datasets spread over ORGANISATIONS organisations; index them all."""
    from cityshare.search.index import reindex_all
    from cityshare.storage.schema import dataset_versions, datasets, organisations, users

    rng = random.Random(20261204)
    now = datetime(2026, 12, 1)
    with site.writer.begin() as connection:
        admin_id = connection.execute(select(users.c.id)).scalars().first()
        organisation_ids = _organisations(connection, organisations, now)
        batch: list[dict[str, Any]] = []
        for number in range(count):
            batch.append(_dataset(rng, number, organisation_ids, admin_id, now))
            if len(batch) == 5000 or number == count - 1:
                connection.execute(insert(datasets), batch)
                batch = []
                if progress:
                    progress(number + 1)
        rows = connection.execute(select(datasets.c.id, datasets.c.name, datasets.c.kind)).all()
        connection.execute(
            insert(dataset_versions),
            [_version(row, rng, admin_id, now) for row in rows if row.kind == "table"],
        )
    with site.writer.begin() as connection:
        return reindex_all(connection)


def _organisations(connection: Any, organisations: Any, now: datetime) -> list[int]:
    connection.execute(
        insert(organisations),
        [
            {"name": f"authority-{n}", "title": f"{PLACES[n]} Authority", "description": "",
             "created_at": now}
            for n in range(ORGANISATIONS)
        ],
    )  # fmt: skip
    names = [f"authority-{n}" for n in range(ORGANISATIONS)]
    return list(
        connection.execute(select(organisations.c.id).where(organisations.c.name.in_(names)))
        .scalars()
        .all()
    )


def _dataset(
    rng: random.Random, number: int, organisation_ids: list[int], admin_id: int, now: datetime
) -> dict[str, Any]:
    topic, tags, _columns = rng.choice(TOPICS)
    place = rng.choice(PLACES)
    cadence = rng.choice(CADENCES)
    year = rng.randint(2015, 2026)
    title = f"{cadence} {topic} in {place} {year}"
    modified = now - timedelta(minutes=rng.randint(0, 5_000_000))
    return {
        "name": f"{topic.replace(' ', '-')}-{place.lower().replace(' ', '-').replace(chr(39), '')}"
        f"-{year}-{number}",
        "title": title,
        "description": f"{cadence} {topic} recorded across {place}, published by the "
        f"council's {rng.choice(['data', 'smart city', 'transport', 'environment'])} team.",
        "tags": [*rng.sample(tags, k=rng.randint(1, len(tags))), str(year)],
        "licence": rng.choice(LICENCES),
        "organisation_id": rng.choice(organisation_ids),
        "visibility": rng.choice(VISIBILITIES),
        "kind": "sensor" if cadence == "Live" else "table",
        "update_frequency": cadence.lower(),
        "current_version": None if cadence == "Live" else 1,
        "created_by": admin_id,
        "created_at": modified,
        "modified_at": modified,
    }


def _version(row: Any, rng: random.Random, admin_id: int, now: datetime) -> dict[str, Any]:
    topic = next(t for t in TOPICS if row.name.startswith(t[0].replace(" ", "-")))
    fields = [{"name": name, "type": "string"} for name in topic[2]]
    if rng.random() < 0.3:
        fields.append({"name": "location", "type": "geojson"})
    return {
        "dataset_id": row.id,
        "number": 1,
        "table_name": f"dsv_{row.id}_1",
        "schema": {"fields": fields},
        "row_count": 0,
        "media_type": "text/csv",
        "byte_size": 0,
        "sha256": "0" * 64,
        "created_by": admin_id,
        "created_at": now,
    }
