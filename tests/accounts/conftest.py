"""Fixtures of the accounts services' tests: a site of people, on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest

from cityshare.site import Site
from tests.accounts.people import People, build_people


@pytest.fixture
def people(site: Site) -> People:
    """Two organisations, a user of every role, a loner and the site administrator."""
    return build_people(site)
