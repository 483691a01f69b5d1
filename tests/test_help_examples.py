"""Every --help example runs as written (issue 19 item 4): each command's 'Example:' line is
taken from its help, split at ' ; ', and run on a fresh database holding the demo patients, from
a folder that has the checkout's examples/ (as a reader of the help would)."""

from __future__ import annotations

import re
import shlex
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import typer

from tests.conftest import EXAMPLES, Cli
from tracker.cli import app

#: commands that run until they are stopped: their example is run by their own tests
#: (tests/test_web_serve.py starts `tracker serve` and stops it)
RUN_UNTIL_STOPPED = {("serve",)}


def _commands(group: Any, prefix: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], Any]]:
    for name, cmd in group.commands.items():
        if hasattr(cmd, "commands"):
            yield from _commands(cmd, (*prefix, name))
        else:
            yield (*prefix, name), cmd


def examples() -> list[Any]:
    out = []
    for path, cmd in _commands(typer.main.get_command(app)):
        found = re.search(r"Example: (.*)$", " ".join((cmd.help or "").split()))
        marks = [pytest.mark.skip(reason="runs until stopped; started by its own tests")] \
            if path in RUN_UNTIL_STOPPED else []
        out.append(pytest.param(path, found.group(1) if found else None, id=" ".join(path), marks=marks))
    return out


@pytest.fixture
def demo(make_cli: Callable[[str], Cli], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Cli:
    """The demo patients in a fresh database; the working folder holds examples/; HOME is tmp."""
    work = tmp_path / "work"
    shutil.copytree(EXAMPLES, work / "examples")
    monkeypatch.chdir(work)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    (tmp_path / "home" / "backups").mkdir(parents=True)
    cli = make_cli(f"sqlite:///{tmp_path / 'demo.db'}")
    for f in [*sorted(EXAMPLES.glob("syn-*.json")), EXAMPLES / "labs.csv"]:
        assert cli("import", str(f)).exit_code == 0
    return cli


@pytest.mark.parametrize(("path", "example"), examples())
def test_the_help_example_runs_as_written(demo: Cli, path: tuple[str, ...], example: str | None) -> None:
    assert example is not None, f"tracker {' '.join(path)} --help has no 'Example:' line"
    for part in example.split(" ; "):
        words = shlex.split(part)
        target = None
        if ">" in words:
            words, target = words[:words.index(">")], words[words.index(">") + 1]
        assert words[0] == "tracker", part
        words = [str(Path(w).expanduser()) if w.startswith("~/") else w for w in words[1:]]
        assert tuple(words[:len(path)]) == path or part != example.split(" ; ")[-1] or len(example.split(" ; ")) > 1
        r = demo(*words)
        assert r.exit_code == 0, f"{part}\n{r.output}"
        assert "Traceback" not in r.output
        if target is not None:
            Path(target).write_text(r.stdout, encoding="utf-8")
            assert Path(target).stat().st_size > 0, part


@pytest.mark.parametrize(("path", "example"), examples())
def test_the_help_shows_the_example_on_one_line(path: tuple[str, ...], example: str | None,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """In an 80-column terminal the example is printed whole on one line, so it can be copied as is."""
    from typer.testing import CliRunner

    monkeypatch.setenv("COLUMNS", "80")
    r = CliRunner().invoke(app, [*path, "--help"])
    assert r.exit_code == 0, r.output
    assert any(line.strip() == f"Example: {example}" for line in r.stdout.splitlines()), r.stdout
