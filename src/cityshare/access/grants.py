"""Grants as the access policy sees them: the live terms of a data sharing agreement.

The sharing service (:mod:`cityshare.sharing`) stores and changes grants; the
authentication step loads the live grants of a user (made to them or to one of their
organisations) into the :class:`~cityshare.access.Actor`, and the policy decides with
them. A grant ends at its expiry without anyone acting: every decision compares the
expiry with the clock.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

PERMISSIONS = ("read", "write")


@dataclass(frozen=True)
class GrantTerms:
    """What one grant allows: on which dataset, until when, which columns and rows.

    ``columns`` None means every public column; personal and sensitive columns are
    reached only when named. ``row_filter`` holds query-language pairs
    (``("district", "north")``, ``("cars__gte", "10")``) every query is bounded by.
    """

    id: int
    dataset_id: int
    permissions: frozenset[str]
    expires_at: datetime
    to_user: bool = False
    columns: tuple[str, ...] | None = None
    row_filter: tuple[tuple[str, str], ...] = ()
    min_group_size: int | None = None
    pseudonymised: tuple[str, ...] = ()

    def is_live(self, now: datetime | None = None) -> bool:
        """True until the grant's expiry (a revoked grant is never loaded)."""
        return (now or _utcnow()) < self.expires_at

    def allows(self, permission: str, now: datetime | None = None) -> bool:
        """True when the grant is live and carries ``permission``."""
        return permission in self.permissions and self.is_live(now)


def pick_grant(
    grants: Iterable[GrantTerms], dataset_id: int, permission: str = "read"
) -> GrantTerms | None:
    """The grant a request on ``dataset_id`` runs under: a live grant with ``permission``,
    one made to the user before one made to their organisation, the newest first.

    No grant writes for a reader of pseudonyms: who reads a dataset's values as
    pseudonyms under any live grant cannot write it, or they would write chosen values
    and read back their pseudonyms (see :func:`reads_pseudonyms`).
    """
    now = _utcnow()
    live = [grant for grant in grants if grant.dataset_id == dataset_id and grant.is_live(now)]
    if permission == "write" and reads_pseudonyms(live, dataset_id):
        return None
    candidates = [grant for grant in live if permission in grant.permissions]
    if not candidates:
        return None
    return max(candidates, key=lambda grant: (grant.to_user, grant.id))


def reads_pseudonyms(grants: Iterable[GrantTerms], dataset_id: int) -> bool:
    """Whether some live grant of ``grants`` delivers columns of ``dataset_id`` as pseudonyms."""
    now = _utcnow()
    return any(
        grant.dataset_id == dataset_id and grant.pseudonymised and grant.is_live(now)
        for grant in grants
    )


def _utcnow() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)
