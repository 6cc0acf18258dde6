"""The apps' layers (README, "Layout"): grids < grievances < notifications < dispatch,
mediation, duplicates < desk < evaluation, pwa.

The import contracts live in pyproject.toml ([tool.importlinter]); this runs them, so that an
import of a higher app by a lower one, or two modules that import each other (even through
others, even inside a function), fails the suite. It also keeps any one app from growing
over a third of the app code.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from importlinter import cli

ROOT = Path(__file__).resolve().parent.parent
APPS = [
    "grids",
    "grievances",
    "notifications",
    "dispatch",
    "mediation",
    "duplicates",
    "desk",
    "evaluation",
    "pwa",
]


def test_the_import_contracts_hold(capsys, monkeypatch):
    monkeypatch.chdir(ROOT)
    config = str(ROOT / "pyproject.toml")
    code = cli.lint_imports(config_filename=config, no_cache=True, no_logo=True)
    output = capsys.readouterr().out
    assert code == cli.EXIT_STATUS_SUCCESS, output


def _lines(folder: Path) -> int:
    return sum(
        len(path.read_text(encoding="utf-8").splitlines())
        for path in folder.rglob("*.py")
        if "migrations" not in path.parts and "tests" not in path.parts
    )


@pytest.mark.parametrize("app", APPS)
def test_no_app_holds_more_than_a_third_of_the_code(app):
    sizes = {name: _lines(ROOT / name) for name in [*APPS, "config"]}
    total = sum(sizes.values())
    assert sizes[app] <= total / 3, f"{app}: {sizes[app]} of {total} lines of app code"
