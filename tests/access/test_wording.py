"""Refusals in people's words (issue 19, part 5): no message names an internal action;
each says who may do what was asked, and what the caller is."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

import cityshare
from cityshare.access import (
    ACTIONS,
    ANONYMOUS,
    Actor,
    DatasetResource,
    OrganisationResource,
    SiteResource,
    StreamResource,
    UserResource,
    ensure_allowed,
)
from cityshare.access.actions import PHRASES, Action, Role
from cityshare.access.actor import ALL_SCOPES
from cityshare.access.policy import Resource
from cityshare.errors import CityshareError, Forbidden, NotFound, Unauthorized

SOURCE = Path(cityshare.__file__).parent
# A dotted lower-case name such as "dataset.create" (file names such as "counts.csv" and
# hosts aside: those are words people use).
DOTTED = re.compile(r"\b[a-z]{2,}(?:-[a-z]+)*\.[a-z]{2,}(?:[.-][a-z]+)*\b")
PEOPLE_SAY = re.compile(r"\b\w+\.(csv|json|xlsx|geojson|ttl|rdf|jsonld|md|html|txt|zip)\b")

ORG = 1
RESOURCES: dict[str, Resource] = {
    "site": SiteResource(),
    "organisation": OrganisationResource(id=ORG, name="northbridge-council"),
    "user": UserResource(id=99),
    "dataset": DatasetResource(
        id=5, organisation_id=ORG, visibility="shared", organisation_name="northbridge-council"
    ),
    "stream": StreamResource(id=7, device_id=3),
}
CALLERS = {
    "anonymous": ANONYMOUS,
    "read-only token": Actor(user_id=10, username="u", roles={ORG: Role.ADMIN}),
    "member": Actor(user_id=10, username="u", scopes=ALL_SCOPES, roles={ORG: Role.MEMBER}),
    "editor": Actor(user_id=10, username="u", scopes=ALL_SCOPES, roles={ORG: Role.EDITOR}),
    "outsider": Actor(user_id=11, username="o", scopes=ALL_SCOPES, roles={2: Role.ADMIN}),
}


def refusal(caller: Actor, action: Action) -> str | None:
    """The message ``caller`` gets for ``action`` on its kind of resource, if refused."""
    try:
        ensure_allowed(caller, action.name, RESOURCES[action.resource])
    except (Forbidden, Unauthorized, NotFound) as error:
        return error.detail
    return None


def names_an_action(message: str) -> bool:
    """Whether ``message`` shows an internal action name or any dotted identifier."""
    words = PEOPLE_SAY.sub("", message)
    return any(name in message for name in ACTIONS) or DOTTED.search(words) is not None


@pytest.mark.parametrize("caller", sorted(CALLERS))
@pytest.mark.parametrize("action", sorted(ACTIONS))
def test_every_refusal_is_in_peoples_words(caller: str, action: str) -> None:
    message = refusal(CALLERS[caller], ACTIONS[action])
    if message is None:
        return
    assert not names_an_action(message), message
    assert message[0].isupper() and message.endswith("."), message


def test_every_action_has_its_words() -> None:
    assert set(PHRASES) == set(ACTIONS)
    assert all(action.phrase and "." not in action.phrase for action in ACTIONS.values())


def test_a_role_refusal_says_who_may_and_what_you_are() -> None:
    message = refusal(CALLERS["editor"], ACTIONS["dataset.visibility"])
    assert message == (
        "Only admins of northbridge-council can change who can see this dataset (make it "
        "open, shared or private); you are an editor."
    )
    outsider = refusal(CALLERS["outsider"], ACTIONS["dataset.update"])
    assert outsider is not None and outsider.endswith("; you are not a member.")
    assert "editors and admins of northbridge-council" in outsider


def test_a_scope_refusal_says_which_scope_and_how_to_get_it() -> None:
    message = refusal(CALLERS["read-only token"], ACTIONS["dataset.delete"])
    assert message is not None
    assert "needs a token with the 'admin' scope, and yours has read." in message
    assert "POST /api/v1/tokens" in message


def test_anonymous_callers_are_told_to_sign_in_for_what_they_asked() -> None:
    message = refusal(ANONYMOUS, ACTIONS["dataset.create"])
    assert message is not None
    assert message.startswith("Sign in to publish datasets for this organisation:")


def test_reading_rows_says_how_to_ask_for_access() -> None:
    message = refusal(CALLERS["outsider"], ACTIONS["dataset.read"])
    assert message is not None and "access-requests" in message


def test_the_detector_finds_an_action_name() -> None:
    assert names_an_action("You may not dataset.create here.")
    assert names_an_action("Your token lacks the scope needed to stream.ingest.")
    assert not names_an_action("Upload a .csv file, e.g. counts.csv.")


def _error_names() -> set[str]:
    """The names of every error class a service may raise."""
    found, todo = set(), [CityshareError]
    while todo:
        cls = todo.pop()
        found.add(cls.__name__)
        todo.extend(cls.__subclasses__())
    return found


def _message_templates() -> list[tuple[str, str]]:
    """Every string given to an error's constructor anywhere in the source, with where."""
    errors = _error_names()
    templates = []
    for path in sorted(SOURCE.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)):
                continue
            if node.func.id not in errors or not node.args:
                continue
            where = f"{path.relative_to(SOURCE)}:{node.lineno}"
            templates.extend((where, text) for text in _texts(node.args[0]))
    return templates


def _texts(node: ast.expr) -> list[str]:
    """The literal parts of a message expression; a placeholder is shown as {name}."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return [node.value]
    if isinstance(node, ast.JoinedStr):
        parts = [
            part.value if isinstance(part, ast.Constant) else "{" + ast.unparse(part.value) + "}"
            for part in node.values
        ]
        return ["".join(str(part) for part in parts)]
    if isinstance(node, ast.BinOp):
        return _texts(node.left) + _texts(node.right)
    return []


def test_no_error_message_template_names_an_action() -> None:
    """A template with an action's name in it, or a placeholder for one, fails."""
    templates = _message_templates()
    assert len(templates) > 100  # the walk found the messages
    placeholder = re.compile(r"\{[^}]*action[^}]*\}")
    bad = [
        (where, text)
        for where, text in templates
        if any(name in text for name in ACTIONS) or placeholder.search(text)
    ]
    assert bad == []
