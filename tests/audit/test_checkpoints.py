"""Signed checkpoints (cityshare.audit.checkpoint and .checkpoint_folder): they verify with
the site's key and fail with any other, and pin the log to the hash they signed."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from cityshare import keys
from cityshare.access import Actor
from cityshare.audit.checkpoint import (
    FORMAT,
    head_problem,
    make_checkpoint,
    read_checkpoint,
    signature_problem,
    verify_checkpoint,
)
from cityshare.audit.checkpoint_folder import (
    check_checkpoints,
    checkpoint_files,
    file_name,
    latest_checkpoint,
    write_checkpoint,
)
from cityshare.audit.log import Event, record
from cityshare.site import Site
from tests.audit.helpers import head, public_key, run_sql, signing_key
from tests.world import make_site

CAROL = Actor(user_id=4, username="carol")
ANOTHER_KEY = keys.generate_private_key()


@pytest.fixture
def logged(database_url: str, tmp_path: Path) -> Iterator[Site]:
    """A site whose log holds six entries."""
    opened = make_site(database_url, tmp_path)
    record(opened, *(Event("dataset.read", CAROL, detail={"n": n}) for n in range(6)))
    yield opened
    opened.close()


def checkpoint(site: Site, key: Any = None) -> dict[str, Any]:
    with site.engine.connect() as connection:
        return make_checkpoint(connection, key or signing_key(site))


def verify(site: Site, document: dict[str, Any], public: str | None = None) -> str | None:
    with site.engine.connect() as connection:
        return verify_checkpoint(connection, document, public or public_key(site))


def test_a_checkpoint_signs_the_head_with_the_sites_key(logged: Site) -> None:
    document = checkpoint(logged)
    assert (document["format"], document["seq"], document["hash"]) == (FORMAT, *head(logged))
    assert document["at"].endswith("Z") and document["public_key"] == public_key(logged)
    assert len(base64.b64decode(document["signature"])) == 64
    assert verify(logged, document) is None


def test_a_checkpoint_keeps_verifying_as_the_log_grows(logged: Site) -> None:
    document = checkpoint(logged)
    record(logged, Event("dataset.read", CAROL))
    assert verify(logged, document) is None


def test_a_checkpoint_of_an_empty_log_verifies(site: Site) -> None:
    document = checkpoint(site)
    assert document["seq"] == 0 and verify(site, document) is None


def test_a_checkpoint_fails_with_another_key(logged: Site) -> None:
    genuine = checkpoint(logged)
    other = keys.public_key_text(ANOTHER_KEY)
    assert verify(logged, genuine, other) == (
        "the checkpoint was signed by another key than this site's"
    )
    forged = checkpoint(logged, ANOTHER_KEY)  # a statement someone else signed
    assert verify(logged, forged) == "the checkpoint was signed by another key than this site's"
    assert verify(logged, forged, other) is None  # it is genuine only for that key


def test_a_checkpoint_claiming_the_sites_key_with_another_signature_is_altered(
    logged: Site,
) -> None:
    forged = {**checkpoint(logged, ANOTHER_KEY), "public_key": public_key(logged)}
    assert verify(logged, forged) == "the checkpoint's signature is not valid: the file was altered"


@pytest.mark.parametrize(
    "change",
    [
        pytest.param({"seq": 3}, id="seq"),
        pytest.param({"hash": "0" * 64}, id="hash"),
        pytest.param({"at": "2020-01-01T00:00:00Z"}, id="time"),
    ],
)
def test_an_edited_statement_breaks_the_signature(logged: Site, change: dict[str, Any]) -> None:
    altered = {**checkpoint(logged), **change}
    assert (
        verify(logged, altered) == "the checkpoint's signature is not valid: the file was altered"
    )


@pytest.mark.parametrize(
    "change",
    [
        pytest.param({"format": "something/1"}, id="format"),
        pytest.param({"seq": "6"}, id="seq-as-text"),
        pytest.param({"signature": "not base64!"}, id="signature"),
        pytest.param({"signature": None}, id="no-signature"),
    ],
)
def test_a_document_that_is_no_checkpoint_is_named(change: dict[str, Any]) -> None:
    document = {
        "format": FORMAT,
        "seq": 6,
        "hash": "a" * 64,
        "at": "2026-12-08T00:00:00Z",
        "public_key": keys.public_key_text(ANOTHER_KEY),
        "signature": base64.b64encode(bytes(64)).decode(),
        **change,
    }
    problem = signature_problem(document, keys.public_key_text(ANOTHER_KEY))
    assert problem == "the checkpoint file is not a cityshare audit checkpoint"
    assert signature_problem({}, "key") == problem


def test_a_rewritten_entry_fails_the_checkpoint(logged: Site) -> None:
    document = checkpoint(logged)
    run_sql(logged, "UPDATE audit_log SET hash = :hash WHERE seq = 6", hash="f" * 64)
    assert verify(logged, document) == "entry 6 differs from the checkpoint: the log was rewritten"


def test_a_cut_log_fails_the_checkpoint(logged: Site) -> None:
    document = checkpoint(logged)
    run_sql(logged, "DELETE FROM audit_log WHERE seq > 4")
    assert verify(logged, document) == "entry 6 of the checkpoint is gone: the log was cut short"


def test_head_problems_compare_the_stored_hash() -> None:
    document = {"seq": 5, "hash": "ab" * 32}
    assert head_problem(document, "ab" * 32) is None
    assert head_problem({"seq": 0, "hash": "x"}, None) is None  # nothing to pin
    assert "cut short" in str(head_problem(document, None))
    assert "rewritten" in str(head_problem(document, "cd" * 32))


def test_checkpoint_files_are_named_by_entry_then_time(tmp_path: Path) -> None:
    document = {"seq": 1234, "at": "2026-12-07T17:51:50Z"}
    assert file_name(document) == "audit-checkpoint-000000001234-20261207T175150Z.json"
    assert checkpoint_files(tmp_path / "missing") == []
    assert latest_checkpoint(tmp_path / "missing") is None


def test_the_folder_is_checked_file_by_file(logged: Site, tmp_path: Path) -> None:
    folder = tmp_path / "checkpoints"
    first = write_checkpoint(folder, checkpoint(logged))
    record(logged, Event("dataset.read", CAROL))
    second = write_checkpoint(folder, checkpoint(logged))
    (folder / "notes.txt").write_text("not a checkpoint")
    assert checkpoint_files(folder) == [first, second]
    latest = latest_checkpoint(folder)
    assert latest is not None and (latest.path, latest.seq) == (second, 7)
    with logged.engine.connect() as connection:
        assert check_checkpoints(connection, checkpoint_files(folder), public_key(logged)).ok
        other = check_checkpoints(
            connection, checkpoint_files(folder), keys.public_key_text(ANOTHER_KEY)
        )
    assert not other.ok and other.failed is not None and other.failed.path == first


def test_an_unreadable_file_fails_first(logged: Site, tmp_path: Path) -> None:
    folder = tmp_path / "checkpoints"
    good = write_checkpoint(folder, checkpoint(logged))
    broken = folder / "audit-checkpoint-000000000009-20261207T000000Z.json"
    broken.write_text("{not json")
    assert read_checkpoint(broken) == {}
    with logged.engine.connect() as connection:
        found = check_checkpoints(connection, checkpoint_files(folder), public_key(logged))
    failed = found.failed
    assert failed is not None and failed.path == broken and failed.seq == -1
    assert failed.problem == "the checkpoint file is not a cityshare audit checkpoint"
    assert [item.path for item in found.checked] == [broken, good]


def test_a_json_list_is_no_checkpoint(tmp_path: Path) -> None:
    path = tmp_path / "list.json"
    path.write_text("[1, 2]")
    assert read_checkpoint(path) == {}
