"""The demo fleet: registered once with keys kept in the data folder, history backfilled."""

from __future__ import annotations

import stat
from datetime import UTC, datetime
from pathlib import Path

import httpx
from sqlalchemy import func, select

from cityshare.accounts.console import initialise
from cityshare.demo.fleet import (
    FLEET_FILE,
    KINDS,
    FleetDevice,
    FleetSimulator,
    ensure_fleet,
    readings_at,
)
from cityshare.demo.loader import ensure_organisations
from cityshare.keys import generate_private_key
from cityshare.storage.schema import devices, observations
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


def test_a_batch_without_an_answer_is_sent_again_unchanged() -> None:
    kinds = {kind.prefix: kind for kind in KINDS}
    device = FleetDevice("dev-z", generate_private_key(), kinds["tc"], 0, (0.0, 0.0))
    seen: list[bytes] = []
    answers = iter([503, 201, 201, 201])

    def server(request: httpx.Request) -> httpx.Response:
        seen.append(request.content)
        if len(seen) == 1:
            raise httpx.ConnectError("the server is restarting")
        return httpx.Response(next(answers))

    simulator = FleetSimulator([device], "http://demo")
    with httpx.Client(transport=httpx.MockTransport(server)) as client:
        first, later = (datetime(2026, 11, 30, 8, m, tzinfo=UTC) for m in (0, 5))
        simulator.send_round(client, first)  # no answer: kept
        assert simulator.pending() == 1
        simulator.send_round(client, later)  # the kept one: a 503, kept again; the new: stored
        assert simulator.pending() == 1
        simulator.send_round(client, later.replace(minute=10))  # the kept one stored at last
    assert simulator.pending() == 0
    assert seen[0] == seen[1] == seen[3]  # the same bytes each time (same nonce)
    assert simulator.sent == 3
