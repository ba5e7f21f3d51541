"""The events adapters record for reads and refusals (writes record themselves)."""

from __future__ import annotations

from cityshare.access import Actor
from cityshare.audit.log import Event
from cityshare.audit.refusals import REFUSED

MAX_QUERY_CHARS = 2000


def data_read(
    actor: Actor,
    dataset_id: int,
    dataset: str,
    *,
    query: str,
    rows: int | None,
    version: int | None = None,
    stream_id: int | None = None,
    output: str = "json",
    grant: int | None = None,
) -> Event:
    """Someone read data: which dataset (and version or stream), what query, how many
    rows, and under which grant it ran (None: as an owner, or as a reader of open data)."""
    resource: dict[str, object] = {"dataset": dataset}
    if version is not None:
        resource["version"] = version
    if stream_id is not None:
        resource["stream_id"] = stream_id
    return Event(
        "dataset.read",
        actor,
        dataset_id=dataset_id,
        resource=resource,
        detail={
            "query": query[:MAX_QUERY_CHARS],
            "rows": rows,
            "format": output,
            "grant": grant,
        },
    )


def refused(
    actor: Actor,
    *,
    method: str,
    path: str,
    status: int,
    reason: str,
    address: str | None = None,
) -> Event:
    """A request the access policy or authentication turned away (from the client
    ``address``, when the refusal concerns credentials). Repeats are counted, not each
    appended (:mod:`cityshare.audit.refusals`)."""
    detail: dict[str, object] = {"status": status, "reason": reason[:200]}
    if address is not None:
        detail["address"] = address
    return Event(
        REFUSED,
        actor,
        outcome="hidden" if status == 404 else "deny",
        resource={"method": method, "path": path[:500]},
        detail=detail,
    )
