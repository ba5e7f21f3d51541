"""Access: who the actor is and the ONE place that decides what it may do."""

from cityshare.access.actions import ACTIONS, Action, Role, Scope
from cityshare.access.actor import ANONYMOUS, Actor, device_actor
from cityshare.access.policy import (
    DatasetResource,
    OrganisationResource,
    Resource,
    SiteResource,
    StreamResource,
    UserResource,
    allowed,
    ensure_allowed,
    ensure_may_delegate,
    reads_whole_dataset,
    seen_only_by_grant,
    visible_datasets,
    visible_rows,
)

__all__ = [
    "ACTIONS",
    "ANONYMOUS",
    "Action",
    "Actor",
    "DatasetResource",
    "OrganisationResource",
    "Resource",
    "Role",
    "Scope",
    "SiteResource",
    "StreamResource",
    "UserResource",
    "allowed",
    "device_actor",
    "ensure_allowed",
    "ensure_may_delegate",
    "reads_whole_dataset",
    "seen_only_by_grant",
    "visible_datasets",
    "visible_rows",
]
