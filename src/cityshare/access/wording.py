"""Refusals in people's words: who may do what was asked, and how to get there.

No message names an internal action ("dataset.visibility"); each says what the action does
(its ``phrase``), who may do it, and what the caller is: "Only admins of northbridge-council
can change who can see this dataset; you are an editor."
"""

from __future__ import annotations

from cityshare.access.actions import Action, Role, Rule
from cityshare.access.actor import Actor

_WHO = {
    Role.MEMBER: "members",
    Role.EDITOR: "editors and admins",
    Role.ADMIN: "admins",
}
_ARTICLE = {Role.MEMBER: "a member", Role.EDITOR: "an editor", Role.ADMIN: "an admin"}
_HOW_TO_GET_ONE = "Create one on your account page or with POST /api/v1/tokens."


def sign_in_needed(action: Action | None) -> str:
    """The refusal for an anonymous caller."""
    purpose = f" to {action.phrase}" if action is not None else ""
    return f"Sign in{purpose}: send an API token as 'Authorization: Bearer <token>'."


def scope_missing(actor: Actor, action: Action) -> str:
    """The refusal for a token without the scope ``action`` needs."""
    held = ", ".join(sorted(actor.scopes)) or "none"
    return (
        f"Your token may not {action.phrase}: that needs a token with the '{action.scope}' "
        f"scope, and yours has {held}. {_HOW_TO_GET_ONE}"
    )


def not_allowed(
    actor: Actor, action: Action | None, organisation_id: int | None, organisation: str | None
) -> str:
    """The refusal for a signed-in caller whom the action's rule does not allow."""
    if action is None:
        return "This cannot be done here."
    owner = organisation or "the organisation that owns it"
    rule = action.rule
    if rule is Rule.ROLE and action.role is not None:
        who = _WHO[action.role]
        return f"Only {who} of {owner} can {action.phrase}; {_you(actor, organisation_id)}."
    if rule is Rule.VISIBILITY_DATA:
        return (
            f"Only members of {owner} and holders of a grant can {action.phrase}. "
            "Ask its owner for access: on the dataset's page, or with POST "
            "/api/v1/datasets/<name>/access-requests."
        )
    if rule is Rule.SELF:
        return f"Only the account's own user or a site administrator can {action.phrase}."
    if rule is Rule.OWN_DEVICE:
        return (
            f"Only the device that feeds it, with readings signed by its key, can {action.phrase}."
        )
    return f"Only site administrators can {action.phrase}."


def writes_pseudonyms(action: Action) -> str:
    """The refusal for a grantee who reads a dataset as pseudonyms and would write it."""
    return (
        "You read this dataset's pseudonymised columns under a grant, so you may not "
        f"{action.phrase}: written values would give away what the pseudonyms hide. "
        "Ask the dataset's owner for a grant without pseudonyms, or for no write."
    )


def _you(actor: Actor, organisation_id: int | None) -> str:
    role = actor.role_in(organisation_id) if organisation_id is not None else None
    return f"you are {_ARTICLE[role]}" if role is not None else "you are not a member"
