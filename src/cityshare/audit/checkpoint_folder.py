"""A folder of signed checkpoints outside the database: one new file each, never replaced.

``cityshare serve`` adds a file on a schedule and at shutdown (:mod:`cityshare.audit.schedule`);
``cityshare audit verify`` checks the log against every file in the folder
(:func:`check_checkpoints`) and names the latest. A file is written under a temporary name
and then hard-linked to its final name, which fails when that name exists: a checkpoint is
never half-written and never overwritten. Names sort by the entry they pin, then by time:
``audit-checkpoint-000000001234-20261207T175150Z.json``.

>>> document = make_checkpoint(connection, site_signing_key(site))  # doctest: +SKIP
>>> path = write_checkpoint(folder, document)  # doctest: +SKIP
>>> check_checkpoints(connection, checkpoint_files(folder), public_key).ok  # doctest: +SKIP
True
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
from sqlalchemy import Connection, select

from cityshare.audit.checkpoint import head_problem, read_checkpoint, signature_problem
from cityshare.storage.schema import audit_log

PREFIX = "audit-checkpoint-"
_LOOKUP_CHUNK = 500  # sequence numbers per query when comparing many checkpoints


@dataclass(frozen=True)
class Checked:
    """One checkpoint file and what it says (``seq`` is -1 when it says nothing usable)."""

    path: Path
    document: dict[str, Any]
    problem: str | None = None

    @property
    def seq(self) -> int:
        """The entry the checkpoint pins."""
        seq = self.document.get("seq")
        return seq if type(seq) is int else -1

    @property
    def at(self) -> str:
        """When the checkpoint was taken, as it says."""
        return str(self.document.get("at", "an unknown time"))


@dataclass(frozen=True)
class CheckpointsVerdict:
    """The log checked against checkpoint files: all agree (``ok``), or the first that fails."""

    checked: tuple[Checked, ...]

    @property
    def failed(self) -> Checked | None:
        """The failing checkpoint that pins the earliest entry (an unreadable file first)."""
        return next((item for item in self.checked if item.problem is not None), None)

    @property
    def ok(self) -> bool:
        """True when every checkpoint is genuine and the log agrees with each."""
        return self.failed is None

    def vouched_before(self, failed: Checked) -> Checked | None:
        """The latest checkpoint before ``failed`` that still holds: the log is unchanged up
        to its entry, so a rewrite lies after it."""
        holding = [item for item in self.checked if item.problem is None and item.seq < failed.seq]
        return holding[-1] if holding else None


def file_name(document: dict[str, Any]) -> str:
    """The file name of a checkpoint: the entry it pins, then when it was taken."""
    moment = str(document["at"]).replace("-", "").replace(":", "")
    return f"{PREFIX}{int(document['seq']):012d}-{moment}.json"


def checkpoint_files(folder: Path) -> list[Path]:
    """The checkpoint files in ``folder``, oldest entry first (none if there is no folder)."""
    if not folder.is_dir():
        return []
    return sorted(path for path in folder.glob(f"{PREFIX}*.json") if path.is_file())


def write_checkpoint(folder: Path, document: dict[str, Any]) -> Path:
    """Write ``document`` to a new read-only file in ``folder`` and return its path.

    An existing file is never replaced: the same checkpoint again (same entry, hash and
    time, so the same signature) returns the existing file; another one under that name
    raises :class:`FileExistsError`.
    """
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / file_name(document)
    data = orjson.dumps(document, option=orjson.OPT_INDENT_2) + b"\n"
    temporary = folder / f".{path.name}.{secrets.token_hex(6)}.tmp"
    try:
        with temporary.open("xb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        temporary.chmod(0o444)
        try:
            os.link(temporary, path)
        except FileExistsError:
            if path.read_bytes() != data:
                raise FileExistsError(f"{path} holds another checkpoint; not replaced") from None
    finally:
        temporary.unlink(missing_ok=True)
    _sync_folder(folder)
    return path


def latest_checkpoint(folder: Path) -> Checked | None:
    """The newest checkpoint file in ``folder`` and its content, unchecked."""
    files = checkpoint_files(folder)
    return Checked(files[-1], read_checkpoint(files[-1])) if files else None


def check_checkpoints(
    connection: Connection, paths: Iterable[Path], site_public_key: str
) -> CheckpointsVerdict:
    """Check each file's signature, and that the log still holds its hash at its entry."""
    loaded = [Checked(path, read_checkpoint(path)) for path in paths]
    signed = [
        Checked(item.path, item.document, signature_problem(item.document, site_public_key))
        for item in loaded
    ]
    stored = _stored_hashes(connection, [item.seq for item in signed if item.problem is None])
    checked = [
        item
        if item.problem is not None
        else Checked(item.path, item.document, head_problem(item.document, stored.get(item.seq)))
        for item in signed
    ]
    checked.sort(key=lambda item: (item.seq, item.at, item.path.name))
    return CheckpointsVerdict(tuple(checked))


def _stored_hashes(connection: Connection, seqs: Sequence[int]) -> dict[int, str]:
    wanted = sorted(set(seqs))
    found: dict[int, str] = {}
    for start in range(0, len(wanted), _LOOKUP_CHUNK):
        chunk = wanted[start : start + _LOOKUP_CHUNK]
        rows = connection.execute(
            select(audit_log.c.seq, audit_log.c.hash).where(audit_log.c.seq.in_(chunk))
        )
        found.update({int(row.seq): str(row.hash) for row in rows})
    return found


def _sync_folder(folder: Path) -> None:
    """Make the new name durable (the file's bytes already are)."""
    descriptor = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
