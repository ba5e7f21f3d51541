"""The audit chain: every kind of tampering is caught, and checkpoints pin the history."""

from __future__ import annotations

import json
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from sqlalchemy import Connection, delete, select, update
from typer.testing import CliRunner

from cityshare import keys
from cityshare.access import Actor
from cityshare.audit.chain import GENESIS, canonical, content_hash, link
from cityshare.audit.checkpoint import (
    load_or_create_signing_key,
    make_checkpoint,
    verify_checkpoint,
)
from cityshare.audit.checkpoint_folder import check_checkpoints, checkpoint_files, write_checkpoint
from cityshare.audit.log import Event, record
from cityshare.audit.schedule import CheckpointRefused, take_checkpoint
from cityshare.audit.verify import verify_chain
from cityshare.cli.app import app
from cityshare.site import Site
from cityshare.storage.schema import audit_head, audit_log
from tests.audit.helpers import signing_key
from tests.world import make_site

ALICE = Actor(user_id=7, username="alice", token_id=3)


@pytest.fixture
def site(database_url: str, tmp_path: Path) -> Iterator[Site]:
    """A site with 20 audit entries."""
    opened = make_site(database_url, tmp_path)
    for number in range(20):
        record(
            opened,
            Event(
                "dataset.read",
                ALICE,
                dataset_id=number % 3,
                detail={"rows": number, "query": "junction=J1"},
            ),
        )
    yield opened
    opened.close()


def verdict(site: Site) -> tuple[bool, int | None, str]:
    with site.engine.connect() as connection:
        found = verify_chain(connection)
    return found.ok, found.broken_at, found.problem or ""


def tamper(site: Site, statement: object) -> None:
    with site.writer.begin() as connection:
        connection.execute(statement)  # type: ignore[call-overload]


def row(site: Site, seq: int) -> dict[str, object]:
    with site.engine.connect() as connection:
        return dict(
            connection.execute(select(audit_log).where(audit_log.c.seq == seq)).one()._mapping
        )


def test_an_untouched_log_verifies(site: Site) -> None:
    assert verdict(site) == (True, None, "")
    first = row(site, 1)
    assert first["prev_hash"] == GENESIS
    assert json.loads(str(first["content"]))["actor"]["username"] == "alice"


def test_one_changed_byte_is_caught(site: Site) -> None:
    content = str(row(site, 7)["content"]).replace('"rows":6', '"rows":5')
    tamper(site, update(audit_log).where(audit_log.c.seq == 7).values(content=content))
    assert verdict(site)[:2] == (False, 7)
    assert "edited" in verdict(site)[2]


def test_a_changed_lookup_column_is_caught(site: Site) -> None:
    tamper(site, update(audit_log).where(audit_log.c.seq == 4).values(dataset_id=99))
    assert verdict(site)[:2] == (False, 4)


def test_an_edit_with_recomputed_hashes_breaks_the_next_link(site: Site) -> None:
    content = str(row(site, 9)["content"]).replace("J1", "J2")
    digest = content_hash(content)
    new_hash = link(str(row(site, 9)["prev_hash"]), digest)
    tamper(
        site,
        update(audit_log)
        .where(audit_log.c.seq == 9)
        .values(content=content, content_hash=digest, hash=new_hash),
    )
    assert verdict(site)[:2] == (False, 10)


def test_a_deleted_entry_is_caught(site: Site) -> None:
    tamper(site, delete(audit_log).where(audit_log.c.seq == 12))
    ok, broken, problem = verdict(site)
    assert (ok, broken) == (False, 12) and "deleted" in problem


def test_two_swapped_entries_are_caught(site: Site) -> None:
    a, b = row(site, 5), row(site, 6)
    fields = ("content", "prev_hash", "content_hash", "hash", "action", "dataset_id", "at")
    tamper(site, update(audit_log).where(audit_log.c.seq == 5).values({f: b[f] for f in fields}))
    tamper(site, update(audit_log).where(audit_log.c.seq == 6).values({f: a[f] for f in fields}))
    assert verdict(site)[:2] == (False, 5)


def test_an_inserted_entry_is_caught(site: Site) -> None:
    with site.writer.begin() as connection:
        for seq in range(20, 10, -1):
            connection.execute(update(audit_log).where(audit_log.c.seq == seq).values(seq=seq + 1))
        forged = dict(row_in(connection, 10))
        forged["seq"] = 11
        connection.execute(audit_log.insert().values(forged))
        connection.execute(update(audit_head).values(seq=21))
    assert not verdict(site)[0]
    assert verdict(site)[1] == 11


def row_in(connection: Connection, seq: int) -> dict[str, object]:
    found = connection.execute(select(audit_log).where(audit_log.c.seq == seq)).one()
    return dict(found._mapping)


def test_a_cut_tail_is_caught_by_the_head_and_by_a_checkpoint(site: Site) -> None:
    with site.engine.connect() as connection:
        checkpoint = make_checkpoint(connection, signing_key(site))
    tamper(site, delete(audit_log).where(audit_log.c.seq > 18))
    assert verdict(site)[:2] == (False, 19)
    tamper(site, update(audit_head).values(seq=18, hash=row(site, 18)["hash"]))
    assert verdict(site)[0]  # the chain itself is whole again ...
    public = keys.public_key_text(signing_key(site))
    with site.engine.connect() as connection:
        problem = verify_checkpoint(connection, checkpoint, public)
    assert problem is not None and "cut short" in problem  # ... but the checkpoint knows


def test_a_rewritten_history_fails_its_checkpoint(site: Site) -> None:
    public = keys.public_key_text(signing_key(site))
    with site.engine.connect() as connection:
        checkpoint = make_checkpoint(connection, signing_key(site))
        assert verify_checkpoint(connection, checkpoint, public) is None
    rewrite_from(site, 3)
    assert verdict(site)[0]
    with site.engine.connect() as connection:
        problem = verify_checkpoint(connection, checkpoint, public)
        assert problem is not None and "rewritten" in problem
        forged = {**checkpoint, "hash": row(site, 20)["hash"]}
        assert "altered" in str(verify_checkpoint(connection, forged, public))


def rewrite_from(site: Site, seq: int, *, last: int = 20) -> None:
    """Forge entry ``seq`` and recompute every later hash, as an insider with the DB would."""
    with site.writer.begin() as connection:
        previous = str(row_in(connection, seq - 1)["hash"])
        for current in range(seq, last + 1):
            entry = row_in(connection, current)
            content = json.loads(str(entry["content"]))
            if current == seq:
                content["detail"]["rows"] = 0
            text = canonical(content)
            digest = content_hash(text)
            new_hash = link(previous, digest)
            connection.execute(
                update(audit_log)
                .where(audit_log.c.seq == current)
                .values(content=text, prev_hash=previous, content_hash=digest, hash=new_hash)
            )
            previous = new_hash
        connection.execute(update(audit_head).values(hash=previous))


def test_concurrent_appends_keep_one_chain(site: Site) -> None:
    def append(worker: int) -> None:
        for number in range(10):
            record(site, Event("dataset.read", ALICE, detail={"worker": worker, "n": number}))

    with ThreadPoolExecutor(max_workers=4) as pool:
        list(pool.map(append, range(4)))
    ok, _, _ = verdict(site)
    assert ok
    with site.engine.connect() as connection:
        assert verify_chain(connection).entries == 60


def test_the_cli_verifies_and_checks_a_checkpoint(site: Site, tmp_path: Path) -> None:
    runner = CliRunner()
    options = ["--data-dir", str(tmp_path), "--database-url", site.settings.resolved_database_url()]
    env = {"CITYSHARE_SECRET_KEY": "test-secret-key"}
    saved = tmp_path / "checkpoint.json"
    made = runner.invoke(app, [*options, "audit", "checkpoint", "--out", str(saved)], env=env)
    assert made.exit_code == 0, made.output
    good = runner.invoke(app, [*options, "audit", "verify", "--checkpoint", str(saved)], env=env)
    assert good.exit_code == 0 and "agrees with the checkpoint" in good.output
    tamper(site, delete(audit_log).where(audit_log.c.seq == 2))
    bad = runner.invoke(app, [*options, "audit", "verify"], env=env)
    assert bad.exit_code == 1 and "BROKEN at entry 2" in bad.output


def test_a_checkpoint_file_is_never_replaced(site: Site, tmp_path: Path) -> None:
    folder = tmp_path / "checkpoints"
    with site.engine.connect() as connection:
        document = make_checkpoint(connection, signing_key(site))
    path = write_checkpoint(folder, document)
    assert write_checkpoint(folder, document) == path  # the same checkpoint: the same file
    original = path.read_bytes()
    with pytest.raises(FileExistsError):
        write_checkpoint(folder, {**document, "hash": "0" * 64})
    assert path.read_bytes() == original and not path.stat().st_mode & 0o222
    assert checkpoint_files(folder) == [path]  # no temporary file left behind


def test_checkpoints_narrow_down_a_rewrite(site: Site, tmp_path: Path) -> None:
    folder = tmp_path / "checkpoints"
    for _ in range(3):  # checkpoints of entries 20, 25, 30
        with site.engine.connect() as connection:
            write_checkpoint(folder, make_checkpoint(connection, signing_key(site)))
        for number in range(5):
            record(site, Event("dataset.read", ALICE, detail={"n": number}))
    public = keys.public_key_text(signing_key(site))
    rewrite_from(site, 23, last=35)
    with site.engine.connect() as connection:
        checked = check_checkpoints(connection, checkpoint_files(folder), public)
    failed = checked.failed
    assert failed is not None and failed.seq == 25 and "rewritten" in str(failed.problem)
    vouched = checked.vouched_before(failed)
    assert vouched is not None and vouched.seq == 20


def test_the_schedule_signs_only_a_log_that_agrees_with_its_latest_checkpoint(
    site: Site, tmp_path: Path
) -> None:
    folder = tmp_path / "checkpoints"
    first = take_checkpoint(site, folder)
    assert first is not None and take_checkpoint(site, folder) is None  # nothing new
    record(site, Event("dataset.read", ALICE))
    rewrite_from(site, 3, last=21)
    with pytest.raises(CheckpointRefused, match="rewritten"):
        take_checkpoint(site, folder)
    assert checkpoint_files(folder) == [first]


def test_verify_warns_without_checkpoints_and_reads_the_folder(site: Site, tmp_path: Path) -> None:
    runner = CliRunner()
    options = ["--data-dir", str(tmp_path), "--database-url", site.settings.resolved_database_url()]
    env = {"CITYSHARE_SECRET_KEY": "test-secret-key"}
    bare = runner.invoke(app, [*options, "audit", "verify"], env=env)
    assert bare.exit_code == 0 and "WARNING" in bare.output and "no checkpoint" in bare.output
    written = take_checkpoint(site, tmp_path / "audit-checkpoints")
    assert written is not None
    good = runner.invoke(app, [*options, "audit", "verify"], env=env)
    assert good.exit_code == 0 and written.name in good.output and "taken at" in good.output
    rewrite_from(site, 3)
    bad = runner.invoke(app, [*options, "audit", "verify"], env=env)
    assert (
        bad.exit_code == 1 and "CHECKPOINT FAILS" in bad.output and "entries 1 to 20" in bad.output
    )
    chain = runner.invoke(app, [*options, "audit", "verify", "--no-checkpoints"], env=env)
    assert chain.exit_code == 0


def test_the_cli_never_overwrites_a_checkpoint(site: Site, tmp_path: Path) -> None:
    runner = CliRunner()
    options = ["--data-dir", str(tmp_path), "--database-url", site.settings.resolved_database_url()]
    env = {"CITYSHARE_SECRET_KEY": "test-secret-key"}
    kept = tmp_path / "kept.json"
    kept.write_text("an earlier checkpoint")
    refused = runner.invoke(app, [*options, "audit", "checkpoint", "--out", str(kept)], env=env)
    assert refused.exit_code != 0 and kept.read_text() == "an earlier checkpoint"
    folder = tmp_path / "offsite"
    folder.mkdir()
    made = runner.invoke(app, [*options, "audit", "checkpoint", "--out", str(folder)], env=env)
    assert made.exit_code == 0, made.output
    assert [path.name for path in checkpoint_files(folder)] == [
        path.name for path in folder.iterdir()
    ]
    assert len(checkpoint_files(folder)) == 1


def test_processes_starting_together_keep_one_signing_key(tmp_path: Path) -> None:
    path = tmp_path / "keys" / "site-signing-key.pem"
    with ThreadPoolExecutor(max_workers=8) as pool:
        loaded = list(pool.map(lambda _: load_or_create_signing_key(path), range(16)))
    assert len({keys.public_key_text(key) for key in loaded}) == 1
    assert path.stat().st_mode & 0o777 == 0o600
    assert [item.name for item in path.parent.iterdir()] == [path.name]  # no temporary left
