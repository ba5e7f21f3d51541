"""Appending to the audit log (cityshare.audit.log and .chain): each entry is canonical
JSON, hashed and linked to the one before, and commits or rolls back with its change."""

from __future__ import annotations

import hashlib
import json
from datetime import datetime

import pytest

from cityshare.access import ANONYMOUS, Actor, device_actor
from cityshare.audit.chain import GENESIS, canonical, content_hash, link
from cityshare.audit.log import Event, actor_summary, append, audit, entry_content, record
from cityshare.site import Site
from tests.audit.helpers import content, head, stored, verdict

ALICE = Actor(user_id=7, username="alice", token_id=3)


def test_canonical_text_is_sorted_compact_utf8() -> None:
    text = canonical({"b": 1, "a": {"z": "µg/m³", "y": [1, 2]}})
    assert text == '{"a":{"y":[1,2],"z":"µg/m³"},"b":1}'
    assert canonical({"a": {"y": [1, 2], "z": "µg/m³"}, "b": 1}) == text


def test_hashes_are_sha256_of_the_content_and_of_the_link() -> None:
    digest = content_hash("{}")
    assert digest == hashlib.sha256(b"{}").hexdigest()
    assert link(GENESIS, digest) == hashlib.sha256(bytes(32) + bytes.fromhex(digest)).hexdigest()
    assert link(digest, digest) != link(GENESIS, digest)


def test_appended_entries_are_numbered_hashed_and_linked(site: Site) -> None:
    start, start_hash = head(site)
    seqs = record(
        site,
        Event("dataset.read", ALICE, dataset_id=4, resource={"dataset": "d"}, detail={"rows": 2}),
        Event("grant.create", ALICE, outcome="allow", dataset_id=4),
    )
    assert seqs == [start + 1, start + 2]
    first, second = stored(site, start + 1), stored(site, start + 2)
    assert first["prev_hash"] == (start_hash if start else GENESIS)
    assert first["content_hash"] == content_hash(str(first["content"]))
    assert first["hash"] == link(str(first["prev_hash"]), str(first["content_hash"]))
    assert second["prev_hash"] == first["hash"]
    assert head(site) == (start + 2, second["hash"])
    said = content(site, start + 1)
    assert canonical(said) == first["content"]  # stored as the exact bytes hashed
    assert (said["seq"], said["action"], said["outcome"], said["dataset_id"]) == (
        start + 1,
        "dataset.read",
        "allow",
        4,
    )
    assert (said["resource"], said["detail"]) == ({"dataset": "d"}, {"rows": 2})
    assert (first["action"], first["user_id"], first["dataset_id"]) == ("dataset.read", 7, 4)
    assert verdict(site).ok


def test_an_events_own_time_is_kept(site: Site) -> None:
    moment = datetime(2026, 3, 4, 5, 6, 7, 891011)
    [seq] = record(site, Event("dataset.read", ALICE, at=moment))
    assert stored(site, seq)["at"] == moment
    assert content(site, seq)["at"] == "2026-03-04T05:06:07.891011Z"


@pytest.mark.parametrize(
    ("who", "summary"),
    [
        pytest.param(None, {"kind": "system"}, id="system"),
        pytest.param(ANONYMOUS, {"kind": "anonymous"}, id="anonymous"),
        pytest.param(device_actor(12), {"kind": "device", "device_id": 12}, id="device"),
        pytest.param(
            Actor(user_id=1, username="root", is_site_admin=True),
            {
                "kind": "user",
                "user_id": 1,
                "username": "root",
                "token_id": None,
                "site_admin": True,
            },
            id="site-admin",
        ),
    ],
)
def test_the_log_says_who_acted(who: Actor | None, summary: dict[str, object]) -> None:
    assert actor_summary(who) == summary
    assert entry_content(1, Event("x", who), datetime(2026, 1, 1))["actor"] == summary


def test_an_unknown_outcome_is_refused_and_nothing_is_appended(site: Site) -> None:
    before = head(site)
    with pytest.raises(ValueError, match="unknown audit outcome 'maybe'"):
        record(site, Event("dataset.read", ALICE), Event("dataset.read", ALICE, outcome="maybe"))
    assert head(site) == before


def test_nothing_to_append_changes_nothing(site: Site) -> None:
    before = head(site)
    with site.writer.begin() as connection:
        assert append(connection, []) == []
    assert head(site) == before


def test_an_audited_change_commits_with_its_entry(site: Site) -> None:
    start, _ = head(site)
    with site.writer.begin() as connection:
        audit(connection, ALICE, "grant.revoke", dataset_id=3, dataset="counts", grant=9)
    said = content(site, start + 1)
    assert (said["action"], said["dataset_id"]) == ("grant.revoke", 3)
    assert (said["resource"], said["detail"]) == ({"dataset": "counts", "grant": 9}, {})


def test_a_change_that_rolls_back_leaves_no_entry(site: Site) -> None:
    before = head(site)
    with pytest.raises(RuntimeError), site.writer.begin() as connection:
        audit(connection, ALICE, "grant.create", dataset_id=3, detail={"purpose": "x"})
        raise RuntimeError("the change failed after its entry was appended")
    assert head(site) == before
    assert verdict(site).ok


def test_entries_appended_one_by_one_form_one_chain(site: Site) -> None:
    for number in range(12):
        record(site, Event("dataset.read", ALICE, detail={"n": number}))
    found = verdict(site)
    assert found.ok and found.entries == head(site)[0] and found.head_hash == head(site)[1]
    assert json.loads(str(stored(site, found.entries)["content"]))["detail"] == {"n": 11}
