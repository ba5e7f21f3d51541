"""Finding 13: a rewrite of the audit log, hashes and all, no longer passes `audit verify`.

Someone with write access to the database can edit an early entry and recompute every hash
after it, so the chain itself is whole again. ``cityshare serve`` now signs the chain's head
on a schedule into a folder outside the database, and ``cityshare audit verify`` checks the
log against those checkpoints by default.
"""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

from sqlalchemy import select, update

from cityshare.audit.chain import canonical, content_hash, link
from cityshare.site import Site
from cityshare.storage.schema import audit_head, audit_log
from tests.e2e.conftest import cityshare_env, run_cli, start_server
from tests.security.conftest import Served, ServeFactory

REWRITTEN = 2  # an early entry: made by the world's set-up, long before any checkpoint


def checkpoint_folder(served: Served) -> Path:
    """Where the server writes its checkpoints by default."""
    return Path(served.server.env["CITYSHARE_DATA_DIR"]) / "audit-checkpoints"


def checkpoints(folder: Path) -> list[Path]:
    """The checkpoint files in ``folder``, oldest first."""
    return sorted(folder.glob("*.json")) if folder.is_dir() else []


def head_seq(site: Site) -> int:
    with site.engine.connect() as connection:
        return int(connection.execute(select(audit_head.c.seq)).scalar_one())


def wait_for_checkpoint(folder: Path, *, covering: int, seconds: float = 60) -> Path:
    """The first checkpoint file that pins entry ``covering`` or a later one."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        for path in checkpoints(folder):
            if json.loads(path.read_text())["seq"] >= covering:
                return path
        time.sleep(0.2)
    raise AssertionError(f"no checkpoint of entry {covering} or later appeared in {folder}")


def make_activity(served: Served, *, seconds: float = 60) -> int:
    """Audited reads, as the server's users would make them; the log's head once the
    server has appended them (it queues reads for a moment)."""
    before = head_seq(served.world.site)
    # Reads only: a refusal repeated within a minute is only counted, and appended when
    # the minute ends (cityshare.audit.refusals), which would keep the head waiting.
    with served.client("admin") as admin:
        for _ in range(6):
            assert admin.get("/api/v1/datasets/private-counts/rows").status_code == 200
    deadline = time.monotonic() + seconds
    while (head := head_seq(served.world.site)) < before + 6 and time.monotonic() < deadline:
        time.sleep(0.1)
    return head


def rewrite_history(site: Site, seq: int) -> None:
    """Edit entry ``seq`` and recompute every later hash and the head, in one transaction
    holding the head's lock, as an insider with write access to the database would."""
    with site.writer.begin() as connection:
        connection.execute(select(audit_head).with_for_update()).one()
        rows = connection.execute(
            select(audit_log).where(audit_log.c.seq >= seq - 1).order_by(audit_log.c.seq)
        ).all()
        previous = str(rows[0].hash)
        for row in rows[1:]:
            content = json.loads(row.content)
            if row.seq == seq:
                content["detail"] = {**content["detail"], "forged": True}
            text = canonical(content)
            digest = content_hash(text)
            new_hash = link(previous, digest)
            connection.execute(
                update(audit_log)
                .where(audit_log.c.seq == row.seq)
                .values(content=text, prev_hash=previous, content_hash=digest, hash=new_hash)
            )
            previous = new_hash
        connection.execute(update(audit_head).values(hash=previous))


def test_a_rewritten_history_fails_the_servers_checkpoints(serve: ServeFactory) -> None:
    served = serve(CITYSHARE_AUDIT_CHECKPOINT_SECONDS="1")
    site, env, folder = served.world.site, served.server.env, checkpoint_folder(served)
    first = wait_for_checkpoint(folder, covering=make_activity(served))
    first_bytes = first.read_bytes()
    later = wait_for_checkpoint(folder, covering=make_activity(served))
    assert later != first and first.read_bytes() == first_bytes  # a new file; the old one kept

    whole = run_cli(env, "audit", "verify")
    assert whole.returncode == 0, whole.stdout + whole.stderr
    named = re.search(r"checkpoint (audit-checkpoint-[0-9]+-[0-9TZ]+\.json) \(entry", whole.stdout)
    assert named is not None and "taken at" in whole.stdout, whole.stdout
    assert (folder / named[1]).is_file() and named[1] >= later.name  # the latest one

    rewrite_history(site, REWRITTEN)
    chain_only = run_cli(env, "audit", "verify", "--no-checkpoints")
    assert chain_only.returncode == 0  # the chain alone is whole again: the attack works ...
    broken = run_cli(env, "audit", "verify")
    assert broken.returncode == 1, broken.stdout  # ... but not against the checkpoints
    earliest = checkpoints(folder)[0]  # the one the server took at start: the first to differ
    assert "rewritten" in broken.stdout and earliest.name in broken.stdout
    assert f"entries 1 to {json.loads(earliest.read_text())['seq']}" in broken.stdout

    for path in checkpoints(folder):
        if path != first:
            path.unlink()  # every other checkpoint lost, the latest included: one older one
    older_only = run_cli(env, "audit", "verify")
    assert older_only.returncode == 1 and first.name in older_only.stdout
    assert "rewritten" in older_only.stdout

    explicit = run_cli(env, "audit", "verify", "--checkpoint", str(first))
    assert explicit.returncode == 1 and "rewritten" in explicit.stdout


def test_without_checkpoints_verify_warns(serve: ServeFactory) -> None:
    served = serve(CITYSHARE_AUDIT_CHECKPOINT_SECONDS="0")
    make_activity(served)
    result = run_cli(served.server.env, "audit", "verify")
    assert result.returncode == 0
    assert "no checkpoint" in result.stdout.lower()
    assert not checkpoints(checkpoint_folder(served))


def test_one_schedule_with_several_workers_in_the_parent(database_url: str, tmp_path: Path) -> None:
    env = cityshare_env(tmp_path / "data", database_url)
    env.update(CITYSHARE_AUDIT_CHECKPOINT_SECONDS="1", CITYSHARE_WORKERS="2")
    server = start_server(env, timeout=180)  # three processes to start
    try:
        folder = tmp_path / "data" / "audit-checkpoints"
        wait_for_checkpoint(folder, covering=0)
        holder = (folder / ".schedule.lock").read_text().strip()
        # The parent that started the workers, never a worker.
        assert holder == str(server.process.pid)
    finally:
        server.process.terminate()
        server.process.wait(timeout=60)


def test_a_clean_shutdown_takes_a_last_checkpoint(serve: ServeFactory) -> None:
    served = serve(CITYSHARE_AUDIT_CHECKPOINT_SECONDS="3600")
    make_activity(served)
    served.server.process.terminate()
    served.server.process.wait(timeout=30)
    site = served.world.site
    last = checkpoints(checkpoint_folder(served))
    assert last and json.loads(last[-1].read_text())["seq"] == head_seq(site)
    result = run_cli(served.server.env, "audit", "verify")
    assert result.returncode == 0 and last[-1].name in result.stdout
