"""Fixtures: the test tables, created on each engine."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine

from tests.query.data import GEO_SCHEMA, PEOPLE_SCHEMA, Dataset, create, geo_rows, people_rows


@pytest.fixture
def people(engine: Engine) -> Dataset:
    """250 rows of every scalar type with a longitude/latitude point."""
    return create(engine, "dsv_1", PEOPLE_SCHEMA, people_rows())


@pytest.fixture
def geo(engine: Engine) -> Dataset:
    """40 rows with a geojson field (points, polygons, one NULL)."""
    return create(engine, "dsv_2", GEO_SCHEMA, geo_rows())
