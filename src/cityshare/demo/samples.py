"""Deterministic sample datasets for ``cityshare demo``, set in the fictional city of Northbridge.

Each dataset is generated from its own seeded :class:`random.Random` (no global random
state), so two runs with the same ``scale`` write byte-identical files. ``temporal_start``
and ``temporal_end`` describe the data at ``scale=1.0``; smaller scales cover fewer hours.
"""

from __future__ import annotations

import csv
import json
import math
import random
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, NamedTuple

CSV = "text/csv"
GEOJSON = "application/geo+json"
CENTRE = (-1.55, 53.80)
BBOX = (-1.65, 53.74, -1.45, 53.86)
"""City area as (min longitude, min latitude, max longitude, max latitude), WGS84."""

Row = dict[str, str | int | float | None]


@dataclass(frozen=True)
class SampleDataset:
    """Catalogue metadata for one generated sample file."""

    name: str
    title: str
    description: str
    tags: tuple[str, ...]
    licence: str
    organisation: str
    visibility: str
    update_frequency: str
    filename: str
    media_type: str
    spatial: dict[str, Any] | None
    temporal_start: str | None
    temporal_end: str | None


def city_area() -> dict[str, Any]:
    """Return a fresh GeoJSON Polygon covering the Northbridge bounding box."""
    x0, y0, x1, y1 = BBOX
    return {"type": "Polygon", "coordinates": [[[x0, y0], [x1, y0], [x1, y1], [x0, y1], [x0, y0]]]}


# fmt: off
ORGANISATIONS: tuple[tuple[str, str, str], ...] = (
    ("northbridge-council", "Northbridge City Council",
     "The local authority for Northbridge: parking, street lighting, planning and other "
     "council services."),
    ("northbridge-transport", "Northbridge Transport Partnership",
     "Runs the city's traffic monitoring network, bus priority corridors and the bike share "
     "scheme."),
    ("northbridge-environment", "Northbridge Environmental Observatory",
     "Operates the city's air quality monitoring stations and publishes environmental sensor "
     "data."),
)

SAMPLES: tuple[SampleDataset, ...] = (
    SampleDataset(
        name="traffic-counts", title="Hourly traffic counts at city junctions",
        description="Hourly vehicle counts by class from induction loops and radar counters at 12 "
        "major junctions across Northbridge. Each row covers one junction approach for one hour, "
        "timestamped in UTC. Occasional detector outages leave the counts empty.",
        tags=("transport", "traffic", "sensors", "cycling"), licence="CC-BY-4.0",
        organisation="northbridge-transport", visibility="open", update_frequency="hourly",
        filename="traffic-counts.csv", media_type=CSV, spatial=city_area(),
        temporal_start="2024-03-04", temporal_end="2024-05-02",
    ),
    SampleDataset(
        name="air-quality", title="Hourly air quality readings",
        description="Hourly mean concentrations of NO2, PM2.5, PM10 and ozone in micrograms per "
        "cubic metre from 8 roadside, urban background and suburban monitoring stations in "
        "Northbridge. Readings are provisional and not ratified; missing readings are left empty.",
        tags=("environment", "air-quality", "pollution", "sensors"), licence="CC-BY-4.0",
        organisation="northbridge-environment", visibility="open", update_frequency="hourly",
        filename="air-quality.csv", media_type=CSV, spatial=city_area(),
        temporal_start="2024-04-01", temporal_end="2024-04-30",
    ),
    SampleDataset(
        name="bike-share-stations", title="Bike share docking stations",
        description="Locations and live status of the Northbridge bike share docking stations. "
        "The snapshot lists capacity, available bikes and e-bikes per station, as reported by "
        "the docks themselves.",
        tags=("transport", "cycling", "bike-share", "realtime"), licence="ODbL-1.0",
        organisation="northbridge-transport", visibility="open", update_frequency="continuous",
        filename="bike-share-stations.geojson", media_type=GEOJSON, spatial=city_area(),
        temporal_start="2024-05-02", temporal_end="2024-05-02",
    ),
    SampleDataset(
        name="car-parks", title="Council car parks",
        description="Council-run car parks in Northbridge with their address, number of spaces, "
        "disabled bays, electric vehicle charging points, hourly tariff and opening hours. "
        "Compiled from the parking services asset register.",
        tags=("transport", "parking", "ev-charging"), licence="OGL-UK-3.0",
        organisation="northbridge-council", visibility="open", update_frequency="quarterly",
        filename="car-parks.csv", media_type=CSV, spatial=city_area(),
        temporal_start=None, temporal_end=None,
    ),
    SampleDataset(
        name="street-lighting-faults", title="Street lighting fault reports",
        description="Street lighting faults reported by residents and night patrols in "
        "Northbridge, with ward, street, type of fault and repair status. The fix date is "
        "empty while a fault is still outstanding. Shared with maintenance contractors.",
        tags=("street-lighting", "maintenance", "public-realm"), licence="OGL-UK-3.0",
        organisation="northbridge-council", visibility="shared", update_frequency="daily",
        filename="street-lighting-faults.csv", media_type=CSV, spatial=city_area(),
        temporal_start="2023-01-01", temporal_end="2024-04-30",
    ),
    SampleDataset(
        name="council-staff-directory", title="Council staff directory",
        description="Internal directory of Northbridge City Council staff with department, "
        "role, telephone extension and email address. For council use only.",
        tags=("council", "staff", "directory"), licence="OGL-UK-3.0",
        organisation="northbridge-council", visibility="private", update_frequency="monthly",
        filename="council-staff-directory.csv", media_type=CSV, spatial=None,
        temporal_start=None, temporal_end=None,
    ),
)

COLUMNS: Mapping[str, tuple[str, ...]] = {
    "traffic-counts": ("junction_id", "junction_name", "counted_at", "direction", "cars", "vans",
                       "buses", "hgvs", "cyclists", "longitude", "latitude"),
    "air-quality": ("station_id", "station_name", "measured_at", "no2_ugm3", "pm25_ugm3",
                    "pm10_ugm3", "o3_ugm3", "longitude", "latitude"),
    "bike-share-stations": ("station_id", "name", "capacity", "bikes_available",
                            "e_bikes_available", "is_operational", "last_reported"),
    "car-parks": ("car_park_id", "name", "address", "postcode", "total_spaces", "disabled_spaces",
                  "ev_charging_points", "tariff_per_hour_gbp", "opening_hours", "longitude",
                  "latitude"),
    "street-lighting-faults": ("report_id", "reported_on", "ward", "street", "fault_type",
                               "status", "fixed_on"),
    "council-staff-directory": ("staff_id", "name", "department", "role", "phone_extension",
                                "email"),
}
"""Column names of each CSV sample, and property names of the GeoJSON sample."""

STREETS = ("Kirkgate", "Wellington Road", "Briggate", "Market Street", "Station Approach",
           "Canal Wharf", "Albion Place", "Victoria Road", "Mill Lane", "Chapel Street",
           "Park Row", "Infirmary Street", "Tower Hill", "Quarry Lane", "Bridge End", "Northgate",
           "Eastgate", "Westgate", "Southgate", "Foundry Street", "Boar Lane", "Swinegate",
           "Harbour Road", "Cathedral Close")
LANDMARKS = ("Town Hall", "Central Station", "University", "Royal Infirmary", "Corn Exchange",
             "Arena", "Canal Basin", "Museum", "Bus Station", "Riverside Park")
WARDS = ("Castlegate", "Riverside", "Millbank", "Northfield", "Eastmoor", "Westwood",
         "Southbrook", "Hillcrest")
JUNCTIONS = ("Kirkgate / Briggate", "Northgate Roundabout", "Wellington Road / Mill Lane",
             "Station Approach Gyratory", "Victoria Road / Park Row", "Eastgate / Harbour Road",
             "Bridge End Junction", "Westgate / Foundry Street", "Quarry Lane / Tower Hill",
             "Southgate Interchange", "Boar Lane / Swinegate",
             "Canal Wharf / Albion Place")
STATIONS = (("AQ01", "Kirkgate Roadside", "roadside"),
            ("AQ02", "Northgate Roundabout", "roadside"),
            ("AQ03", "Station Approach", "roadside"), ("AQ04", "Town Hall Square", "urban"),
            ("AQ05", "Riverside Park", "urban"), ("AQ06", "Millbank School", "urban"),
            ("AQ07", "Hillcrest", "suburban"), ("AQ08", "Westwood Reservoir", "suburban"))
# (background, traffic-driven) NO2 in µg/m³ per station type.
NO2_LEVELS = {"roadside": (30.0, 35.0), "urban": (18.0, 16.0), "suburban": (10.0, 6.0)}
WEEKDAY_PROFILE = (0.15, 0.08, 0.05, 0.05, 0.1, 0.3, 0.7, 1.4, 1.6, 1.0, 0.85, 0.9, 0.95, 0.9,
                   0.95, 1.1, 1.4, 1.6, 1.1, 0.75, 0.55, 0.45, 0.35, 0.25)
WEEKEND_PROFILE = (0.25, 0.18, 0.12, 0.08, 0.07, 0.1, 0.2, 0.35, 0.55, 0.75, 0.9, 1.0, 1.05, 1.0,
                   0.95, 0.9, 0.85, 0.8, 0.7, 0.6, 0.5, 0.45, 0.4, 0.3)
OPENING_HOURS = ("Mon-Sat 07:00-19:00", "Mon-Sun 06:00-22:00", "Mon-Fri 07:30-18:30", "24 hours")
POSTCODE_LETTERS = "ABDEFGHJLNPQRSTUWXYZ"
FAULT_TYPES = ("Lamp out", "Day burner", "Flickering", "Damaged column", "Cable fault",
               "Door missing", "Knocked down")
FAULT_WEIGHTS = (45, 15, 18, 8, 6, 5, 3)
FAULT_STATUSES = ("Open", "In progress", "Fixed", "No fault found")
DEPARTMENTS = (
    ("Chief Executive's Office", ("Executive Assistant", "Policy Officer", "Strategy Manager")),
    ("Highways and Transport", ("Highways Engineer", "Traffic Signals Technician",
                                "Street Lighting Inspector", "Transport Planner")),
    ("Environment and Parks", ("Air Quality Officer", "Parks Officer",
                               "Waste Services Supervisor")),
    ("Planning and Regeneration", ("Planning Officer", "Principal Planner",
                                   "Conservation Officer")),
    ("Housing", ("Housing Officer", "Tenancy Support Worker", "Repairs Coordinator")),
    ("Finance", ("Accountant", "Payroll Officer", "Revenues Assistant")),
    ("Digital and Data", ("Data Engineer", "GIS Analyst", "Service Desk Analyst", "Head of Data")),
    ("Customer Services", ("Customer Services Advisor", "Team Leader", "Complaints Officer")),
)
FIRST_NAMES = ("Amelia", "Oliver", "Priya", "Mohammed", "Grace", "Tomasz", "Aisha", "James",
               "Chloe", "Daniel", "Niamh", "Kwame", "Sophie", "Ravi", "Hannah", "Liam", "Fatima",
               "George", "Zara", "Callum", "Ella", "Joseph", "Mei", "Rhys")
LAST_NAMES = ("Smith", "Khan", "Okafor", "Walsh", "Patel", "Nowak", "Hughes", "O'Neill", "Ahmed",
              "Clarke", "Brennan", "Wright", "Chen", "Mensah", "Taylor", "Hussain", "Murphy",
              "Evans", "Kaur", "Robinson", "Singh", "Fletcher")
TRAFFIC_START = datetime(2024, 3, 4, tzinfo=UTC)
AIR_START = datetime(2024, 4, 1, tzinfo=UTC)
BIKE_SNAPSHOT = datetime(2024, 5, 2, 8, 30, tzinfo=UTC)
FAULT_START, FAULT_END = date(2023, 1, 1), date(2024, 4, 30)
# fmt: on


class _Junction(NamedTuple):
    junction_id: str
    name: str
    direction: str
    cars_per_hour: float
    cyclists_per_hour: float
    point: tuple[float, float]


def _scaled(full: int, scale: float, minimum: int = 10) -> int:
    """Scale a full-size count, never going below ``minimum``."""
    return max(minimum, round(full * scale))


def _iso(moment: datetime) -> str:
    """Format a UTC datetime as ISO 8601 with a ``Z`` suffix."""
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _count(rng: random.Random, mean: float) -> int:
    """Draw a non-negative, roughly Poisson-distributed count around ``mean``."""
    return max(0, round(rng.gauss(mean, math.sqrt(mean) + 0.08 * mean)))


def _point(rng: random.Random, spread_lon: float, spread_lat: float) -> tuple[float, float]:
    """Draw a (longitude, latitude) near the centre, clamped inside the city bbox."""
    lon = min(max(rng.gauss(CENTRE[0], spread_lon), BBOX[0] + 0.005), BBOX[2] - 0.005)
    lat = min(max(rng.gauss(CENTRE[1], spread_lat), BBOX[1] + 0.005), BBOX[3] - 0.005)
    return round(lon, 6), round(lat, 6)


def _activity(moment: datetime) -> float:
    """Relative traffic level for the hour: rush-hour peaks, quieter weekends."""
    weekday = moment.weekday()
    if weekday < 5:
        return WEEKDAY_PROFILE[moment.hour]
    return WEEKEND_PROFILE[moment.hour] * (0.85 if weekday == 6 else 1.0)


def _unique_pairs(
    rng: random.Random, first: Sequence[str], second: Sequence[str], count: int
) -> list[tuple[str, str, str]]:
    """Pick ``count`` shuffled (a, b) pairs with a suffix ("", " 2", ...) once they run out."""
    pool = [(a, b) for a in first for b in second]
    rng.shuffle(pool)
    return [
        (*pool[i % len(pool)], f" {i // len(pool) + 1}" if i >= len(pool) else "")
        for i in range(count)
    ]


def _traffic_counts(rng: random.Random, scale: float) -> list[Row]:
    """Hourly counts for every junction, one row per junction and hour."""
    junctions = [
        _Junction(
            f"J{i + 1:02d}",
            name,
            rng.choice("NSEW"),
            rng.uniform(250, 1100),
            rng.uniform(15, 110),
            _point(rng, 0.03, 0.018),
        )
        for i, name in enumerate(JUNCTIONS)
    ]
    hours = _scaled(60 * 24, scale, minimum=1)
    cycling_weather = [rng.uniform(0.45, 1.1) for _ in range(hours // 24 + 1)]
    rows: list[Row] = []
    for hour in range(hours):
        moment = TRAFFIC_START + timedelta(hours=hour)
        for junction in junctions:
            rows.append(_traffic_row(rng, junction, moment, cycling_weather[hour // 24]))
    return rows


def _traffic_row(rng: random.Random, junction: _Junction, moment: datetime, weather: float) -> Row:
    """One junction-hour; about 0.4% of rows are detector outages with empty counts."""
    level = _activity(moment)
    weekday = moment.weekday() < 5
    counts: Row = dict.fromkeys(("cars", "vans", "buses", "hgvs", "cyclists"))
    if rng.random() >= 0.004:
        cars = _count(rng, junction.cars_per_hour * level)
        bus_service = (12.0 if weekday else 7.0) * min(level, 1.0) if moment.hour >= 6 else 0.4
        counts = {
            "cars": cars,
            "vans": _count(rng, cars * 0.13),
            "buses": _count(rng, bus_service),
            "hgvs": _count(
                rng,
                junction.cars_per_hour * 0.06 * min(level * 1.3, 1.0) * (1.0 if weekday else 0.35),
            ),
            "cyclists": _count(rng, junction.cyclists_per_hour * level**1.2 * weather),
        }
    return {
        "junction_id": junction.junction_id,
        "junction_name": junction.name,
        "counted_at": _iso(moment),
        "direction": junction.direction,
        **counts,
        "longitude": junction.point[0],
        "latitude": junction.point[1],
    }


def _random_walk(
    rng: random.Random, steps: int, start: float, low: float, high: float
) -> list[float]:
    """A bounded random walk, used for day-to-day particulate levels."""
    values, value = [], start
    for _ in range(steps):
        value = min(high, max(low, value + rng.gauss(0, 2.5)))
        values.append(value)
    return values


def _air_quality(rng: random.Random, scale: float) -> list[Row]:
    """Hourly readings for every station; weather is shared city-wide per day."""
    points = [_point(rng, 0.035, 0.02) for _ in STATIONS]
    hours = _scaled(30 * 24, scale, minimum=2)
    dispersion = [rng.uniform(0.6, 1.4) for _ in range(hours // 24 + 1)]
    particles = _random_walk(rng, hours // 24 + 1, start=10.0, low=4.0, high=28.0)
    rows: list[Row] = []
    for hour in range(hours):
        moment = AIR_START + timedelta(hours=hour)
        for station, point in zip(STATIONS, points, strict=True):
            day = hour // 24
            rows.append(_air_row(rng, station, point, moment, dispersion[day], particles[day]))
    return rows


def _air_row(
    rng: random.Random,
    station: tuple[str, str, str],
    point: tuple[float, float],
    moment: datetime,
    dispersion: float,
    particles: float,
) -> Row:
    """One station-hour; each reading is missing (empty) with a 1.5% chance."""
    station_id, name, kind = station
    background, traffic = NO2_LEVELS[kind]
    no2 = max(1.0, (background + traffic * _activity(moment)) * dispersion + rng.gauss(0, 3))
    sunshine = max(0.0, math.sin(math.pi * (moment.hour - 6) / 12))
    pm25 = max(1.0, particles * (1 + 0.15 * _activity(moment)) + rng.gauss(0, 1.5))
    values = {
        "no2_ugm3": no2,
        "pm25_ugm3": pm25,
        "pm10_ugm3": pm25 * rng.uniform(1.4, 1.8) + (3.0 if kind == "roadside" else 0.0),
        "o3_ugm3": max(2.0, 62 - 0.6 * no2 + 25 * sunshine + rng.gauss(0, 4)),
    }
    readings = {key: None if rng.random() < 0.015 else round(v, 1) for key, v in values.items()}
    return {
        "station_id": station_id,
        "station_name": name,
        "measured_at": _iso(moment),
        **readings,
        "longitude": point[0],
        "latitude": point[1],
    }


def _bike_share_stations(rng: random.Random, scale: float) -> dict[str, Any]:
    """A GeoJSON FeatureCollection of docking stations with their live status."""
    pairs = _unique_pairs(rng, STREETS, LANDMARKS, _scaled(120, scale))
    features = [
        _bike_station(rng, index, f"{street} / {landmark}{suffix}")
        for index, (street, landmark, suffix) in enumerate(pairs)
    ]
    return {"type": "FeatureCollection", "name": "bike-share-stations", "features": features}


def _bike_station(rng: random.Random, index: int, name: str) -> dict[str, Any]:
    """One docking station; offline stations report no bikes and may have no last report."""
    lon, lat = _point(rng, 0.03, 0.018)
    capacity = rng.choice((12, 15, 18, 20, 24, 30, 36))
    operational = rng.random() > 0.05
    bikes = rng.randint(0, capacity) if operational else 0
    age = timedelta(seconds=rng.randint(5, 900 if operational else 3 * 86400))
    reported = None if not operational and rng.random() < 0.5 else _iso(BIKE_SNAPSHOT - age)
    properties = {
        "station_id": f"BS{index + 1:03d}",
        "name": name,
        "capacity": capacity,
        "bikes_available": bikes,
        "e_bikes_available": rng.randint(0, bikes // 2),
        "is_operational": operational,
        "last_reported": reported,
    }
    return {
        "type": "Feature",
        "id": properties["station_id"],
        "geometry": {"type": "Point", "coordinates": [lon, lat]},
        "properties": properties,
    }


def _car_parks(rng: random.Random, scale: float) -> list[Row]:
    """Council car parks; multi-storeys are larger and dearer than surface car parks."""
    kinds = ("Car Park", "Multi-Storey", "Short Stay Car Park", "Long Stay Car Park")
    pairs = _unique_pairs(rng, STREETS, kinds, _scaled(40, scale))
    return [_car_park(rng, index, *pair) for index, pair in enumerate(pairs)]


def _car_park(rng: random.Random, index: int, street: str, kind: str, suffix: str) -> Row:
    """One car park; about 8% have an unknown (empty) number of EV charging points."""
    multi = kind == "Multi-Storey"
    total = rng.randint(280, 900) if multi else rng.randint(30, 260)
    pence = rng.randint(18, 38) if multi else rng.randint(10, 26)
    letters = "".join(rng.choice(POSTCODE_LETTERS) for _ in range(2))
    lon, lat = _point(rng, 0.025, 0.015)
    return {
        "car_park_id": f"CP{index + 1:03d}",
        "name": f"{street} {kind}{suffix}",
        "address": f"{rng.randint(1, 220)} {street}, Northbridge",
        "postcode": f"NB{rng.randint(1, 12)} {rng.randint(0, 9)}{letters}",
        "total_spaces": total,
        "disabled_spaces": max(2, round(total * rng.uniform(0.04, 0.07))),
        "ev_charging_points": None if rng.random() < 0.08 else rng.choice((0, 0, 2, 4, 6, 8, 12)),
        "tariff_per_hour_gbp": f"{pence / 10:.2f}",
        "opening_hours": "24 hours" if multi and rng.random() < 0.5 else rng.choice(OPENING_HOURS),
        "longitude": lon,
        "latitude": lat,
    }


def _street_lighting_faults(rng: random.Random, scale: float) -> list[Row]:
    """Fault reports in date order, with more reports in the dark winter months."""
    days = [FAULT_START + timedelta(days=d) for d in range((FAULT_END - FAULT_START).days + 1)]
    weights = [1.0 + 0.7 * math.cos(2 * math.pi * (d.timetuple().tm_yday - 15) / 365) for d in days]
    reported = sorted(rng.choices(days, weights=weights, k=_scaled(2000, scale)))
    return [_fault(rng, index, day) for index, day in enumerate(reported)]


def _fault(rng: random.Random, index: int, reported: date) -> Row:
    """One report; recent faults are mostly still open, only fixed ones have ``fixed_on``."""
    street_index = rng.randrange(len(STREETS))
    recent = (FAULT_END - reported).days < 14
    status = rng.choices(FAULT_STATUSES, weights=(5, 3, 2, 0) if recent else (3, 2, 88, 7))[0]
    fixed = None
    if status == "Fixed":
        fixed = min(FAULT_END, reported + timedelta(days=1 + int(rng.expovariate(1 / 6))))
    return {
        "report_id": f"SLF-{reported.year}-{index + 1:05d}",
        "reported_on": reported.isoformat(),
        "ward": None if rng.random() < 0.01 else WARDS[street_index % len(WARDS)],
        "street": STREETS[street_index],
        "status": status,
        "fault_type": rng.choices(FAULT_TYPES, weights=FAULT_WEIGHTS)[0],
        "fixed_on": fixed.isoformat() if fixed else None,
    }


def _staff_directory(rng: random.Random, scale: float) -> list[Row]:
    """Staff in every department; extensions are numbered in blocks of 1000 per department."""
    count = _scaled(150, scale)
    departments = list(range(len(DEPARTMENTS)))
    departments += [rng.randrange(len(DEPARTMENTS)) for _ in range(count - len(departments))]
    extensions = [1000 * d + rng.randint(1, 40) for d in range(len(DEPARTMENTS))]
    emails: set[str] = set()
    rows: list[Row] = []
    for index, dept in enumerate(departments[:count]):
        extensions[dept] += rng.randint(1, 4)
        rows.append(_staff_member(rng, index, dept, f"{extensions[dept]:04d}", emails))
    return rows


def _staff_member(
    rng: random.Random, index: int, dept: int, extension: str, emails: set[str]
) -> Row:
    """One member of staff with a unique email address (``emails`` is updated)."""
    first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
    local = f"{first}.{last}".lower().replace("'", "")
    email, number = f"{local}@northbridge.example", 1
    while email in emails:
        number += 1
        email = f"{local}{number}@northbridge.example"
    emails.add(email)
    department, roles = DEPARTMENTS[dept]
    return {
        "staff_id": f"NBC{index + 1:04d}",
        "name": f"{first} {last}",
        "department": department,
        "role": rng.choice(roles),
        "phone_extension": extension,
        "email": email,
    }


_CSV_GENERATORS: Mapping[str, Callable[[random.Random, float], list[Row]]] = {
    "traffic-counts": _traffic_counts,
    "air-quality": _air_quality,
    "car-parks": _car_parks,
    "street-lighting-faults": _street_lighting_faults,
    "council-staff-directory": _staff_directory,
}
_GEOJSON_GENERATORS: Mapping[str, Callable[[random.Random, float], dict[str, Any]]] = {
    "bike-share-stations": _bike_share_stations,
}


def _write_sample(sample: SampleDataset, folder: Path, scale: float) -> Path:
    """Generate one sample with its own seeded generator and write it into ``folder``."""
    rng = random.Random(f"cityshare-demo/{sample.name}")
    path = folder / sample.filename
    if sample.media_type == GEOJSON:
        collection = _GEOJSON_GENERATORS[sample.name](rng, scale)
        with path.open("w", encoding="utf-8", newline="\n") as handle:
            json.dump(collection, handle, ensure_ascii=False, indent=1)
            handle.write("\n")
    else:
        rows = _CSV_GENERATORS[sample.name](rng, scale)
        with path.open("w", encoding="utf-8", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=COLUMNS[sample.name])
            writer.writeheader()
            writer.writerows(rows)
    return path


def write_samples(folder: Path, *, scale: float = 1.0) -> list[tuple[SampleDataset, Path]]:
    """Write every sample into ``folder`` (created if missing) and return (sample, path) pairs.

    ``scale`` multiplies the number of rows (hours for time series); each file keeps at least
    10 rows. The output depends only on ``scale``, so repeated runs are byte-identical.
    """
    if not (math.isfinite(scale) and scale > 0):
        raise ValueError(f"scale must be a positive number, got {scale!r}")
    folder.mkdir(parents=True, exist_ok=True)
    return [(sample, _write_sample(sample, folder, scale)) for sample in SAMPLES]
