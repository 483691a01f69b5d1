"""The shape of the code: a pure domain, a CLI that starts fast, help with an example everywhere."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import subprocess_env

TRACKER = Path(__file__).resolve().parent.parent / "tracker"
#: the longest a module may grow (issue 16): past it, split it by what its parts do
MAX_MODULE_LINES = 450

FORBIDDEN_IN_DOMAIN = ("sqlmodel", "sqlalchemy", "typer", "rich", "matplotlib", "jsonschema", "alembic")


def _modules_after(code: str) -> set[str]:
    out = subprocess.run([sys.executable, "-c", f"{code}\nimport sys\nprint('\\n'.join(sys.modules))"],
                         capture_output=True, text=True, check=True, env=subprocess_env())
    return set(out.stdout.split())


def test_the_domain_imports_no_database_cli_or_plotting_library() -> None:
    """tracker.domain loads none of sqlmodel, sqlalchemy, typer, rich, matplotlib, jsonschema, alembic."""
    loaded = _modules_after("import tracker.domain.rules, tracker.domain.schedule, tracker.domain.checks")
    assert not {m.split(".")[0] for m in loaded} & set(FORBIDDEN_IN_DOMAIN)


def test_the_cli_does_not_load_heavy_modules_to_show_help() -> None:
    """`tracker --help` loads neither the database layer nor matplotlib."""
    loaded = _modules_after("from tracker.cli import app")
    assert not {m.split(".")[0] for m in loaded} & {"matplotlib", "sqlalchemy", "sqlmodel", "alembic", "jsonschema"}


def test_no_module_is_longer_than_450_lines() -> None:
    lengths = {str(f.relative_to(TRACKER)): len(f.read_text(encoding="utf-8").splitlines())
               for f in TRACKER.rglob("*.py")}
    assert len(lengths) > 50  # it read the package
    assert {f: n for f, n in lengths.items() if n > MAX_MODULE_LINES} == {}


def _commands() -> list[list[str]]:
    from typer.main import get_command

    from tracker.cli import app

    root = get_command(app)
    out: list[list[str]] = []

    def walk(cmd: object, path: list[str]) -> None:
        subs = getattr(cmd, "commands", None)
        if subs:
            for name, sub in subs.items():
                walk(sub, [*path, name])
        else:
            out.append(path)

    walk(root, [])
    return out


@pytest.mark.parametrize("path", _commands(), ids=lambda p: " ".join(p))
def test_every_command_has_help_with_an_example(path: list[str]) -> None:
    """Each command's --help explains it and ends with an example."""
    from typer.testing import CliRunner

    from tracker.cli import app

    r = CliRunner().invoke(app, [*path, "--help"])
    assert r.exit_code == 0, r.output
    assert "Example:" in r.stdout


def test_help_lists_the_commands_as_a_day_with_the_tool_goes() -> None:
    """`tracker --help` starts with the demo, the web page, patients and logging; every command has
    its place in HELP_ORDER (a new command is placed on purpose, not appended)."""
    from typer.main import get_command

    from tracker.cli import app
    from tracker.cli.app import HELP_ORDER

    root = get_command(app)
    listed = root.list_commands(None)  # type: ignore[attr-defined]
    assert set(listed) == set(HELP_ORDER)
    assert listed == list(HELP_ORDER)
    assert listed[:4] == ["demo", "serve", "patient", "log"]
