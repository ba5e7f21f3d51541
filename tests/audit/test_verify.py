"""The verifier (cityshare.audit.verify) names the entry someone changed with SQL: each
column of a stored row, its links, and the head."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from cityshare.access import Actor
from cityshare.audit.chain import GENESIS, content_hash, link
from cityshare.audit.log import Event, record
from cityshare.site import Site
from tests.audit.helpers import head, run_sql, stored, verdict
from tests.world import make_site

BOB = Actor(user_id=5, username="bob")
ENTRIES = 8


@pytest.fixture
def logged(database_url: str, tmp_path: Path) -> Iterator[Site]:
    """A site whose log holds exactly ``ENTRIES`` entries."""
    opened = make_site(database_url, tmp_path)
    assert head(opened) == (0, GENESIS)
    record(
        opened,
        *(Event("dataset.read", BOB, dataset_id=2, detail={"n": n}) for n in range(ENTRIES)),
    )
    yield opened
    opened.close()


def test_an_empty_log_verifies(site: Site) -> None:
    found = verdict(site)
    assert (found.ok, found.entries, found.head_seq, found.head_hash) == (True, 0, 0, GENESIS)


def test_a_whole_log_verifies_up_to_its_head(logged: Site) -> None:
    found = verdict(logged)
    assert (found.ok, found.entries, found.broken_at, found.problem) == (True, ENTRIES, None, None)
    assert found.head_hash == stored(logged, ENTRIES)["hash"]


EDIT = "UPDATE audit_log SET {} WHERE seq = 5"


@pytest.mark.parametrize(
    ("statement", "values", "named"),
    [
        pytest.param(EDIT.format("action = 'grant.create'"), {}, "action", id="action"),
        pytest.param(EDIT.format("outcome = 'deny'"), {}, "outcome", id="outcome"),
        pytest.param(EDIT.format("user_id = 6"), {}, "user_id", id="user"),
        pytest.param(EDIT.format("user_id = NULL"), {}, "user_id", id="user-removed"),
        pytest.param(EDIT.format("dataset_id = NULL"), {}, "dataset_id", id="dataset"),
        pytest.param(EDIT.format('"at" = :at'), {"at": "2020-01-01 00:00:00"}, "at", id="time"),
    ],
)
def test_a_lookup_column_edited_with_sql_is_named(
    logged: Site, statement: str, values: dict[str, str], named: str
) -> None:
    run_sql(logged, statement, **values)
    found = verdict(logged)
    assert (found.ok, found.broken_at, found.entries) == (False, 5, 4)
    assert found.problem == f"entry 5: its {named} column differs from its hashed content: edited"


def test_edited_content_is_named(logged: Site) -> None:
    edited = str(stored(logged, 3)["content"]).replace('"n":2', '"n":7')
    run_sql(logged, "UPDATE audit_log SET content = :content WHERE seq = 3", content=edited)
    found = verdict(logged)
    assert (found.ok, found.broken_at) == (False, 3)
    assert found.problem == "entry 3 does not match its hash: it was edited"


def test_an_edited_link_is_named(logged: Site) -> None:
    run_sql(logged, "UPDATE audit_log SET prev_hash = :value WHERE seq = 6", value="ab" * 32)
    found = verdict(logged)
    assert (found.ok, found.broken_at) == (False, 6)
    assert "entry 6 does not follow entry 5" in str(found.problem)


def test_a_deleted_first_entry_is_named(logged: Site) -> None:
    run_sql(logged, "DELETE FROM audit_log WHERE seq = 1")
    found = verdict(logged)
    assert (found.ok, found.broken_at, found.entries) == (False, 1, 0)
    assert found.problem == "entry 1 is missing (the next entry is 2): deleted"


def test_an_edited_head_is_caught(logged: Site) -> None:
    run_sql(logged, "UPDATE audit_head SET seq = :seq WHERE id = 1", seq=ENTRIES + 1)
    found = verdict(logged)
    assert (found.ok, found.broken_at) == (False, ENTRIES + 1)
    assert f"ends at entry {ENTRIES} but its head says {ENTRIES + 1}" in str(found.problem)


@pytest.mark.parametrize("forged", ["not json", "{}", '{"at": 5}'], ids=["text", "empty", "at"])
def test_a_rehashed_entry_that_is_no_audit_entry_is_named(logged: Site, forged: str) -> None:
    previous = str(stored(logged, 5)["prev_hash"])
    digest = content_hash(forged)
    run_sql(
        logged,
        "UPDATE audit_log SET content = :content, content_hash = :digest, hash = :hash "
        "WHERE seq = 5",
        content=forged,
        digest=digest,
        hash=link(previous, digest),
    )
    found = verdict(logged)
    assert not found.ok and found.broken_at in (5, 6)


def test_the_verifier_changes_nothing(logged: Site) -> None:
    run_sql(logged, "UPDATE audit_log SET outcome = 'deny' WHERE seq = 2")
    before = [stored(logged, seq) for seq in range(1, ENTRIES + 1)], head(logged)
    verdict(logged)
    assert ([stored(logged, seq) for seq in range(1, ENTRIES + 1)], head(logged)) == before
