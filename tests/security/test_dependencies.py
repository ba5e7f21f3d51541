"""Finding 7: every package cityshare needs at run time is declared, not merely installed.

A hand-installed ``python-multipart`` once hid a missing dependency: a clean ``pip install
-e .`` answered every form and multipart request with 500 while the tests passed. The whole
quick start is smoke-tested in a fresh environment without the test extras by ``.ci/run``
(``scripts/smoke_quickstart.py``); these tests catch the class earlier: a module of
``src/cityshare`` importing a distribution the package does not declare.
"""

from __future__ import annotations

import ast
import re
import sys
from importlib.metadata import packages_distributions, requires
from pathlib import Path

import cityshare

SOURCE = Path(cityshare.__file__).parent
# Imported by the frameworks cityshare uses rather than by its own modules: Starlette
# parses forms and multipart bodies with python-multipart.
USED_THROUGH_FRAMEWORKS = {"python-multipart"}


def _normalised(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _declared() -> set[str]:
    """The distributions cityshare requires without extras."""
    declared = set()
    for requirement in requires("cityshare") or []:
        if "extra ==" in requirement:
            continue
        declared.add(_normalised(re.split(r"[\s<>=!~;\[]", requirement, maxsplit=1)[0]))
    return declared


def _imported_top_level_modules() -> set[str]:
    modules: set[str] = set()
    for path in SOURCE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                modules.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                modules.add(node.module.split(".")[0])
    return modules - set(sys.stdlib_module_names) - {"cityshare", "__future__"}


def test_every_imported_distribution_is_declared() -> None:
    distributions = packages_distributions()
    declared = _declared()
    undeclared = {
        module: sorted(distributions.get(module, [module]))
        for module in _imported_top_level_modules()
        if not declared & {_normalised(name) for name in distributions.get(module, [module])}
    }
    assert undeclared == {}, f"imported by src/cityshare but not declared: {undeclared}"


def test_form_parsing_is_declared() -> None:
    assert _declared() >= USED_THROUGH_FRAMEWORKS
