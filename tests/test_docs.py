"""The documentation keeps up with the code.

Every CLI command (with its options), every setting and every HTTP route has its place
in ``docs/``; nothing documented there is stale; and every local link in README.md and
docs/*.md points to a file (and heading) that exists.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import pytest
import typer

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
MARKDOWN_FILES = [ROOT / "README.md", *sorted(DOCS.glob("*.md"))]

_FENCE = re.compile(r"^(```|~~~)")
_LINK = re.compile(r"(?<!!)\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
_IMAGE = re.compile(r"!\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
_REFERENCE = re.compile(r"^\s{0,3}\[[^\]]+\]:\s*<?(\S+?)>?(?:\s+.*)?$")
_SCHEME = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*:")


def prose_lines(path: Path) -> Iterator[str]:
    """The lines of a Markdown file outside fenced code blocks."""
    fenced = False
    for line in path.read_text(encoding="utf-8").splitlines():
        if _FENCE.match(line.lstrip()):
            fenced = not fenced
            continue
        if not fenced:
            yield line


def headings(path: Path, level: int) -> list[str]:
    """The text of every heading of exactly ``level`` in ``path`` (outside code)."""
    marker = "#" * level + " "
    return [line[len(marker) :].strip() for line in prose_lines(path) if line.startswith(marker)]


def sections(path: Path, level: int) -> dict[str, str]:
    """Each heading of ``level`` with the text up to the next heading of that level or above."""
    found: dict[str, str] = {}
    current: str | None = None
    pattern = re.compile(rf"^#{{1,{level}}} ")
    for line in prose_lines(path):
        if pattern.match(line):
            current = line.split(" ", 1)[1].strip() if line.startswith("#" * level + " ") else None
            if current is not None:
                found[current] = ""
            continue
        if current is not None:
            found[current] += line + "\n"
    return found


def slug(heading: str) -> str:
    """The anchor GitHub gives a heading (without the -1, -2 suffixes of duplicates)."""
    text = re.sub(r"[`*_~]|\[([^\]]*)\]\([^)]*\)", lambda m: m.group(1) or "", heading)
    text = re.sub(r"[^\w\- ]", "", text.strip().lower())
    return text.replace(" ", "-")


def anchors(path: Path) -> set[str]:
    """Every heading anchor of a Markdown file, duplicates numbered as GitHub does."""
    seen: dict[str, int] = {}
    result: set[str] = set()
    for line in prose_lines(path):
        match = re.match(r"^#{1,6} (.+?)\s*#*\s*$", line)
        if not match:
            continue
        base = slug(match.group(1))
        count = seen.get(base, 0)
        seen[base] = count + 1
        result.add(base if count == 0 else f"{base}-{count}")
    return result


# --- (1) the command line ---------------------------------------------------------------


# Typer builds click commands (recent Typer versions with a vendored copy of click), so
# commands and parameters are recognised by what they have, not by their class.


def cli_commands() -> dict[str, Any]:
    """Every runnable command of the ``cityshare`` app by its path (``org create``)."""
    from cityshare.cli.app import app

    root = typer.main.get_command(app)
    found: dict[str, Any] = {}

    def walk(command: Any, path: tuple[str, ...]) -> None:
        children = getattr(command, "commands", None)
        if children:
            for name, child in children.items():
                walk(child, (*path, name))
        else:
            found[" ".join(path)] = command

    walk(root, ())
    return found


def long_options(command: Any) -> set[str]:
    """The long option names of a command (``--scopes``), without --help."""
    names: set[str] = set()
    for parameter in command.params:
        if parameter.param_type_name == "option":
            names.update(
                option
                for option in (*parameter.opts, *parameter.secondary_opts)
                if option.startswith("--") and option != "--help"
            )
    return names


def arguments(command: Any) -> list[str]:
    """The positional arguments of a command, as shown in usage lines (``TOKEN_ID``)."""
    return [str(p.name).upper() for p in command.params if p.param_type_name == "argument"]


def test_the_cli_walk_finds_the_commands() -> None:
    commands = cli_commands()
    assert {"init", "serve", "demo", "publish", "org create", "token revoke"} <= set(commands)


def test_every_command_has_a_heading_in_cli_md() -> None:
    documented = set(headings(DOCS / "cli.md", 2))
    missing = [path for path in cli_commands() if f"cityshare {path}" not in documented]
    assert not missing, f"docs/cli.md lacks '## cityshare …' headings for: {missing}"


def test_every_option_is_documented_under_its_command() -> None:
    text = sections(DOCS / "cli.md", 2)
    missing: list[str] = []
    for path, command in cli_commands().items():
        body = text.get(f"cityshare {path}", "")
        missing.extend(f"{path} {option}" for option in long_options(command) if option not in body)
        missing.extend(f"{path} {name}" for name in arguments(command) if f"`{name}`" not in body)
    assert not missing, f"docs/cli.md does not describe: {missing}"


def test_global_options_are_documented() -> None:
    from cityshare.cli.app import app

    body = (DOCS / "cli.md").read_text(encoding="utf-8")
    options = long_options(typer.main.get_command(app))
    assert {"--data-dir", "--database-url", "--version"} <= options
    assert not [option for option in options if option not in body]


def test_no_stale_command_headings() -> None:
    commands = set(cli_commands())
    stale = [
        heading
        for heading in headings(DOCS / "cli.md", 2)
        if heading.startswith("cityshare ") and heading.removeprefix("cityshare ") not in commands
    ]
    assert not stale, f"docs/cli.md documents commands that do not exist: {stale}"


# --- (2) settings -----------------------------------------------------------------------


def setting_variables() -> set[str]:
    """The environment variable of every setting of Settings and Limits."""
    from cityshare.config import Limits, Settings

    names = set()
    for model in (Settings, Limits):
        prefix = str(model.model_config.get("env_prefix", ""))
        for field_name, info in model.model_fields.items():
            nested = isinstance(info.annotation, type) and issubclass(info.annotation, Limits)
            if model is Settings and nested:
                continue
            names.add(f"{prefix}{field_name}".upper())
    return names


def settings_table_rows() -> dict[str, str]:
    """Rows of the tables in settings.md whose first cell is a `CITYSHARE_…` variable."""
    rows = {}
    for line in prose_lines(DOCS / "settings.md"):
        match = re.match(r"^\|\s*`(CITYSHARE_[A-Z0-9_]+)`\s*\|(.*)$", line)
        if match:
            rows[match.group(1)] = match.group(2)
    return rows


def test_the_settings_walk_finds_the_settings() -> None:
    names = setting_variables()
    assert {"CITYSHARE_DATA_DIR", "CITYSHARE_LIMIT_MAX_UPLOAD_BYTES"} <= names
    assert "CITYSHARE_LIMITS" not in names


def test_every_setting_is_in_the_settings_table() -> None:
    rows = settings_table_rows()
    missing = sorted(name for name in setting_variables() if name not in rows)
    assert not missing, f"docs/settings.md has no table row for: {missing}"


def default_texts(default: object) -> set[str]:
    """Ways a default may be written: ``10000``, ``10 000``, ``10.0``, ``10``."""
    texts = {str(default)}
    if isinstance(default, int):
        texts.add(f"{default:_}".replace("_", " "))
    if isinstance(default, float) and default.is_integer():
        texts.add(str(int(default)))
    return texts


def test_every_setting_row_gives_its_default() -> None:
    from cityshare.config import Limits, Settings

    rows = settings_table_rows()
    wrong = []
    for model in (Settings, Limits):
        prefix = str(model.model_config.get("env_prefix", ""))
        for field_name, info in model.model_fields.items():
            default = info.default
            if not isinstance(default, int | float | str | Path) or isinstance(default, bool):
                continue
            row = rows.get(f"{prefix}{field_name}".upper(), "")
            if not any(f"`{text}`" in row for text in default_texts(default)):
                wrong.append(f"{prefix}{field_name}".upper())
    assert not wrong, f"docs/settings.md does not give the default of: {wrong}"


def test_no_stale_settings() -> None:
    stale = sorted(set(settings_table_rows()) - setting_variables())
    assert not stale, f"docs/settings.md lists settings that do not exist: {stale}"


# --- (3) HTTP routes --------------------------------------------------------------------


def walk_routes(routes: Iterable[Any]) -> set[str]:
    """``METHOD path`` of routes, HEAD left out. Recent FastAPI versions keep included
    routers as one entry each, whose routes come from ``effective_route_contexts()``."""
    found: set[str] = set()
    for route in routes:
        included = getattr(route, "effective_route_contexts", None)
        if included is not None:
            found |= walk_routes(included())
            continue
        path, methods = getattr(route, "path", None), getattr(route, "methods", None)
        if path is not None:
            found.update(f"{method} {path}" for method in methods or () if method != "HEAD")
    return found


@pytest.fixture
def app_routes(tmp_path: Path) -> Iterator[set[str]]:
    """``METHOD path`` of every route of the app (HEAD left out)."""
    from cityshare.app import create_app
    from cityshare.config import Settings
    from cityshare.runtime import Runtime, open_site

    site = open_site(Settings(data_dir=tmp_path, secret_key="x"))
    try:
        app = create_app(Runtime(site))
        found = walk_routes(app.routes)
        # The walk must see at least what the OpenAPI document describes.
        described = {
            f"{method.upper()} {path}"
            for path, operations in app.openapi()["paths"].items()
            for method in operations
        }
        assert described <= found, f"the route walk missed {sorted(described - found)}"
        yield found
    finally:
        site.close()


def api_headings() -> set[str]:
    """``METHOD path`` of every ``### METHOD /path`` heading in api.md."""
    methods = ("GET", "POST", "PUT", "PATCH", "DELETE")
    return {
        heading.replace("`", "")
        for heading in headings(DOCS / "api.md", 3)
        if heading.replace("`", "").split(" ", 1)[0] in methods
    }


def test_the_route_walk_finds_the_routes(app_routes: set[str]) -> None:
    assert {"GET /api/v1/datasets/{name}/rows", "GET /api/v1/openapi.json"} <= app_routes


def test_every_route_has_a_heading_in_api_md(app_routes: set[str]) -> None:
    missing = sorted(app_routes - api_headings())
    assert not missing, f"docs/api.md lacks '### METHOD path' headings for: {missing}"


def test_no_stale_route_headings(app_routes: set[str]) -> None:
    stale = sorted(api_headings() - app_routes)
    assert not stale, f"docs/api.md documents routes that do not exist: {stale}"


# --- (4) links --------------------------------------------------------------------------


def local_links(path: Path) -> Iterator[str]:
    """Targets of links and images in ``path`` that are not URLs with a scheme."""
    for line in prose_lines(path):
        line = re.sub(r"`[^`]*`", "", line)  # inline code is not a link
        targets = [*_LINK.findall(line), *_IMAGE.findall(line)]
        reference = _REFERENCE.match(line)
        if reference:
            targets.append(reference.group(1))
        for target in targets:
            if not _SCHEME.match(target) and not target.startswith("//"):
                yield target


def test_markdown_files_exist() -> None:
    names = {path.name for path in DOCS.glob("*.md")}
    expected = {
        "getting-started.md", "cli.md", "settings.md", "api.md", "query.md",
        "security.md", "architecture.md", "deployment.md",
    }  # fmt: skip
    assert expected <= names, f"missing: {sorted(expected - names)}"


@pytest.mark.parametrize("path", MARKDOWN_FILES, ids=lambda p: str(p.relative_to(ROOT)))
def test_local_links_point_to_files_that_exist(path: Path) -> None:
    broken = []
    for target in local_links(path):
        file_part, _, anchor = target.partition("#")
        destination = (path.parent / file_part).resolve() if file_part else path
        missing_anchor = bool(anchor) and destination.suffix == ".md"
        if not destination.exists() or (missing_anchor and anchor not in anchors(destination)):
            broken.append(target)
    assert not broken, f"{path.relative_to(ROOT)} has broken links: {broken}"


def test_the_link_finder_finds_links(tmp_path: Path) -> None:
    sample = tmp_path / "sample.md"
    sample.write_text(
        "See [cli](cli.md), [web](https://example.org), [top](#top) and ![x](img.png).\n"
        "```\n[not a link](nowhere.md)\n```\n[ref]: other.md\n",
        encoding="utf-8",
    )
    assert sorted(local_links(sample)) == ["#top", "cli.md", "img.png", "other.md"]
    assert slug("`GET /api/v1/datasets/{name}`") == "get-apiv1datasetsname"
    assert slug("Tokens, scopes & expiry") == "tokens-scopes--expiry"
