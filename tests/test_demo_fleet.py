"""The demo fleet: registered once with keys kept in the data folder, history backfilled."""

from __future__ import annotations

import stat
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import func, select

from cityshare.cli_support import initialise
from cityshare.demo.fleet import FLEET_FILE, KINDS, FleetDevice, ensure_fleet, readings_at
from cityshare.demo.loader import ensure_organisations
from cityshare.storage.schema import devices, observations
from cityshare.streams.keys import generate_private_key
from tests.world import make_site


def test_the_fleet_is_registered_once_and_backfilled(database_url: str, tmp_path: Path) -> None:
    site = make_site(database_url, tmp_path)
    try:
        initialise(site, "admin")
        ensure_organisations(site)
        fleet = ensure_fleet(site, "admin")
        assert len(fleet) == sum(kind.count for kind in KINDS) == 50
        again = ensure_fleet(site, "admin")
        assert [device.uid for device in again] == [device.uid for device in fleet]
        with site.engine.connect() as connection:
            assert connection.execute(select(func.count()).select_from(devices)).scalar() == 50
            stored = connection.execute(select(func.count()).select_from(observations)).scalar()
        streams = sum(kind.count * len(kind.streams) for kind in KINDS)
        assert stored == streams * 120  # one reading every 30 s for the past hour
        keys_file = tmp_path / FLEET_FILE
        assert stat.S_IMODE(keys_file.stat().st_mode) == 0o600
    finally:
        site.close()


def test_simulated_values_are_plausible() -> None:
    fleet_kinds = {kind.prefix: kind for kind in KINDS}
    assert set(fleet_kinds) == {"aq", "tc", "cp"}
    rush = datetime(2026, 11, 30, 8, 30, tzinfo=UTC)
    night = datetime(2026, 11, 30, 3, 0, tzinfo=UTC)
    counter = FleetDevice("dev-x", generate_private_key(), fleet_kinds["tc"], 0, (0.0, 0.0))
    assert readings_at(counter, rush)[0][2] > readings_at(counter, night)[0][2]
    park = FleetDevice("dev-y", generate_private_key(), fleet_kinds["cp"], 1, (0.0, 0.0))
    assert readings_at(park, night)[1][2] is False and readings_at(park, rush)[1][2] is True
