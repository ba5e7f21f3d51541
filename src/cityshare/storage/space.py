"""Disk space: the free-space guard of uploads, and a full disk told from other failures.

A full disk shows itself in three ways: an ``OSError`` with ``ENOSPC`` or ``EDQUOT``
while a file is written (the upload spool), SQLite's ``SQLITE_FULL`` ("database or disk
is full"), and PostgreSQL's SQLSTATE ``53100`` ``disk_full`` ("could not extend file"),
raised by the driver or wrapped by SQLAlchemy. :func:`is_disk_full` recognises each;
:func:`disk_full_refused` turns them into :class:`~cityshare.errors.InsufficientStorage`
(507), whose detail says that nothing was changed and what an administrator should do.

The guard (:class:`SpaceGuard`) keeps uploads from filling the disk in the first place:
an upload whose declared length would leave less than ``min_free`` bytes free on the disk
of the upload spool or of a SQLite store is refused before its body is read
(:meth:`SpaceGuard.check`), and one without a declared length is stopped as it spools,
once that line is crossed (:class:`SpoolMeter`). The figure is
``CITYSHARE_LIMIT_MIN_FREE_BYTES``; 0 turns the guard off.

    >>> guard = SpaceGuard(min_free=1024**3, folders=(Path("/srv/cityshare"),))
    >>> guard.check(declared=5 * 1024**2)  # raises InsufficientStorage when it would not fit
"""

from __future__ import annotations

import errno
import logging
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.engine import make_url

from cityshare.errors import CityshareError, InsufficientStorage

log = logging.getLogger("cityshare.storage")

DISK_FULL_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT})
SQLITE_FULL = 13  # SQLite's primary result code; an extended code keeps it in its low byte
POSTGRES_DISK_FULL = "53100"
# How the drivers word it when no code comes with the error.
DISK_FULL_MESSAGES = ("database or disk is full", "could not extend file", "no space left")
# A spool with no declared length is checked again after this many bytes.
CHECK_EVERY_BYTES = 8 * 1024**2
_CHAIN_DEPTH = 8

DISK_FULL_DETAIL = (
    "The server's disk is full, so nothing was changed: this request was not stored, and "
    "a dataset keeps serving its previous version. The site's administrators need to free "
    "space (or add some) on the disk of the data folder or the database; try again once "
    "they have."
)


def is_disk_full(error: BaseException) -> bool:
    """Whether ``error`` (or what it wraps: SQLAlchemy's ``orig``, its cause or context)
    says that a disk is full."""
    current: BaseException | None = error
    for _ in range(_CHAIN_DEPTH):
        if current is None:
            return False
        wrapped = getattr(current, "orig", None)
        if _says_disk_full(current) or (
            isinstance(wrapped, BaseException) and _says_disk_full(wrapped)
        ):
            return True
        current = current.__cause__ or current.__context__
    return False


def _says_disk_full(error: BaseException) -> bool:
    if isinstance(error, OSError) and error.errno in DISK_FULL_ERRNOS:
        return True
    code = getattr(error, "sqlite_errorcode", None)
    if isinstance(code, int) and code & 0xFF == SQLITE_FULL:
        return True
    if getattr(error, "sqlstate", None) == POSTGRES_DISK_FULL:
        return True
    text = str(error).lower()
    return any(message in text for message in DISK_FULL_MESSAGES)


@contextmanager
def disk_full_refused() -> Iterator[None]:
    """Raise :class:`~cityshare.errors.InsufficientStorage` for a full disk met inside
    the block (logged in one line); every other error passes through unchanged."""
    try:
        yield
    except CityshareError:
        raise
    except Exception as error:
        if not is_disk_full(error):
            raise
        log.warning("A write failed, the disk is full: %s", _first_line(error))
        raise InsufficientStorage(DISK_FULL_DETAIL) from error


def _first_line(error: BaseException) -> str:
    wrapped = getattr(error, "orig", None) or error
    return (str(wrapped).splitlines() or [type(wrapped).__name__])[0][:200]


def leaves_room(free: int, declared: int, min_free: int) -> bool:
    """Whether writing ``declared`` more bytes where ``free`` are free leaves at least
    ``min_free`` free (always, when ``min_free`` is 0: no guard)."""
    return min_free <= 0 or free - declared >= min_free


def free_bytes(folder: Path) -> int:
    """Bytes free to an unprivileged writer on the disk of ``folder`` (or of its nearest
    existing parent)."""
    existing = folder
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    return shutil.disk_usage(existing).free


@dataclass(frozen=True)
class SpaceGuard:
    """Refuses an upload that would leave less than ``min_free`` bytes free on the disk
    of any of ``folders`` (0: never)."""

    min_free: int
    folders: tuple[Path, ...]

    @property
    def enabled(self) -> bool:
        """Whether the guard checks anything."""
        return self.min_free > 0

    def check(self, declared: int | None) -> None:
        """Before a body is read: refuse (507) when ``declared`` more bytes (None: a
        length not declared, so only what is free now) would cross the guard."""
        for folder in self.folders if self.enabled else ():
            if not leaves_room(free_bytes(folder), declared or 0, self.min_free):
                raise InsufficientStorage(_refused_detail(declared, self.min_free))

    def meter(self) -> SpoolMeter:
        """A meter that checks the guard again as a body spools."""
        return SpoolMeter(self)


class SpoolMeter:
    """Counts the bytes written to a spool and checks the guard again every
    :data:`CHECK_EVERY_BYTES` of them: a body without a declared length (or several
    uploads at once) is stopped once it crosses the guard."""

    def __init__(self, guard: SpaceGuard) -> None:
        self._guard = guard
        self._unchecked = 0

    def wrote(self, size: int) -> None:
        """Count ``size`` bytes written; raise InsufficientStorage once past the guard."""
        if not self._guard.enabled:
            return
        self._unchecked += size
        if self._unchecked < CHECK_EVERY_BYTES:
            return
        self._unchecked = 0
        for folder in self._guard.folders:
            if not leaves_room(free_bytes(folder), 0, self._guard.min_free):
                raise InsufficientStorage(_stopped_detail(self._guard.min_free))


def space_guard(min_free: int, data_dir: Path, database_url: str) -> SpaceGuard:
    """The guard of uploads to a site: the disk of its data folder (where uploads
    spool) and, for SQLite, of its database file."""
    folders = [data_dir / "uploads"]
    url = make_url(database_url)
    if url.get_backend_name() == "sqlite" and url.database and url.database != ":memory:":
        folders.append(Path(url.database).parent)
    return SpaceGuard(min_free=min_free, folders=_one_per_disk(folders))


def _one_per_disk(folders: list[Path]) -> tuple[Path, ...]:
    chosen: dict[int, Path] = {}
    for folder in folders:
        existing = folder
        while not existing.exists() and existing != existing.parent:
            existing = existing.parent
        chosen.setdefault(existing.stat().st_dev, folder)
    return tuple(chosen.values())


def _refused_detail(declared: int | None, min_free: int) -> str:
    size = f"an upload of {declared} bytes" if declared else "an upload"
    return (
        f"The server's disk is too full for {size}: uploads must leave {min_free} bytes "
        "free (CITYSHARE_LIMIT_MIN_FREE_BYTES). Nothing was read or changed, and a dataset "
        "keeps serving its previous version. The site's administrators need to free space "
        "(or add some) on the disk of the data folder; try again once they have."
    )


def _stopped_detail(min_free: int) -> str:
    return (
        "The upload was stopped: the server's disk came within "
        f"{min_free} bytes of full (CITYSHARE_LIMIT_MIN_FREE_BYTES). Nothing was changed, "
        "and a dataset keeps serving its previous version. The site's administrators need "
        "to free space (or add some) on the disk of the data folder; try again once they "
        "have."
    )
