"""The one-patient commands start fast (issue 19 item 8): `tracker flags|schedule|history PATIENT`
load only what they need. Start-up is most of their time, so a heavy module imported at the top
of a CLI, service or store module (matplotlib, Alembic, a JSON-Schema compiler, an ORM, the
web, FHIR or calendar layers, a table library) would slow every
one of them down; this test fails the day someone adds one. Nor does reading the command line
build pydantic schemas (typer's own coercion), or turn every command into a click command: what
tracker.cli.startup does instead gives the same values and the same refusals. The time itself is
measured by benchmarks/run.py."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import typer
from typer._coercion import build_runtime_param

from tests.conftest import subprocess_env
from tracker.cli import app
from tracker.cli.app import VALUED_OPTIONS
from tracker.cli.startup import for_argv

REPO = Path(__file__).resolve().parent.parent

#: Third-party packages a one-patient command must never load.
HEAVY = ("matplotlib", "numpy", "PIL", "alembic", "jsonschema", "fastjsonschema", "multiprocessing", "psycopg",
         "icalendar", "dateutil", "fastapi", "starlette", "uvicorn", "jinja2", "rich", "fhirclient", "sqlmodel",
         "pydantic")
#: Modules that only other commands need: the tracker's own, typer's pydantic coercion, and the
#: SQLAlchemy ORM (the store is SQLAlchemy Core).
HEAVY_OWN = ("tracker.plots", "tracker.report", "tracker.synthetic", "tracker.migrations", "tracker.services.files",
             "tracker.services.plots", "tracker.web", "tracker.fhir", "tracker.services.fhir",
             "tracker.services.feeds", "tracker.ics", "typer._adapters", "sqlalchemy.orm")

_RUN = """
import sys
from tracker.cli import main
sys.argv = ["tracker", *sys.argv[1:]]
try:
    main()
except SystemExit as exc:
    code = exc.code
print("MODULES " + " ".join(sorted(sys.modules)), file=sys.stderr)
sys.exit(code)
"""


@pytest.fixture(name="demo_db", scope="module")
def _demo_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite database holding the three synthetic example patients."""
    folder = tmp_path_factory.mktemp("startup")
    db = folder / "t.db"
    for f in sorted((REPO / "examples").glob("syn-*.json")):
        subprocess.run([sys.executable, "-m", "tracker", "--db", str(db), "--user", "t", "import", str(f)],
                       cwd=REPO, check=True, capture_output=True, env=subprocess_env(TRACKER_HOME=str(folder)))
    return db


def _loaded(db: Path, *argv: str) -> tuple[str, set[str]]:
    """What the command printed, and every module it had loaded when it ended."""
    done = subprocess.run([sys.executable, "-c", _RUN, "--db", str(db), *argv], cwd=REPO, capture_output=True,
                          text=True, check=False, env=subprocess_env(TRACKER_HOME=str(db.parent)))
    assert done.returncode == 0, done.stderr[-2000:]
    line = next(x for x in done.stderr.splitlines() if x.startswith("MODULES "))
    return done.stdout, set(line.split()[1:])


@pytest.mark.parametrize("argv", [["schedule", "SYN-GROWING", "--as-of", "2026-11-22"],
                                  ["flags", "SYN-GROWING", "--as-of", "2026-11-22"], ["history", "SYN-GROWING"],
                                  ["flags", "SYN-METASTATIC", "--format", "json", "--as-of", "2026-11-22"]],
                         ids=" ".join)
def test_a_one_patient_command_loads_no_heavy_module(demo_db: Path, argv: list[str]) -> None:
    """Run as a nurse runs it, the command loads none of the heavy packages or modules."""
    out, loaded = _loaded(demo_db, *argv)
    assert len(out.splitlines()) > 2  # it did its work: a table with rows
    heavy = {m for m in loaded if m.split(".")[0] in HEAVY}
    own = {m for m in loaded if any(m == h or m.startswith(h + ".") for h in HEAVY_OWN)}
    assert not heavy | own, f"tracker {' '.join(argv)} imported {sorted(heavy | own)}"


def test_the_check_sees_a_heavy_import(demo_db: Path) -> None:
    """The check itself can fail: drawing a plot does load matplotlib and the plot modules."""
    _, loaded = _loaded(demo_db, "plot", "SYN-GROWING", "--out", str(demo_db.parent / "g.png"), "--as-of",
                     "2026-11-22")
    assert "matplotlib" in loaded and "tracker.plots" in loaded


@pytest.mark.parametrize(("argv", "named"), [(["schedule", "P"], "schedule"),
                                             (["--db", "x.db", "--user=anna", "flags", "P"], "flags"),
                                             (["--db=x.db", "flag", "ack", "P", "1"], "flag")], ids=" ".join)
def test_typer_builds_only_the_command_that_is_run(argv: list[str], named: str) -> None:
    """After the root's options, the first word names the one command (or group) typer builds."""
    only = typer.main.get_command(for_argv(app, argv, VALUED_OPTIONS))
    assert list(only.commands) == [named]  # type: ignore[attr-defined]


@pytest.mark.parametrize("argv", [[], ["--help"], ["--version"], ["schedulez", "P"], ["--db", "schedule"]],
                         ids=" ".join)
def test_without_a_command_named_typer_sees_them_all(argv: list[str]) -> None:
    """`tracker --help` lists every command, and a mistyped one gets typer's suggestion."""
    assert for_argv(app, argv, VALUED_OPTIONS) is app


#: Values a nurse may type for any parameter: words, numbers, choices in other cases, nothing.
TYPED = ["", "x", "json", "JSON", "Csv", "MRI", "mri", "2", "07", "-1", "1.5", "２", "SYN-GROWING", "2026-11-22",
         "yes", "true"]


def _coerced(runtime: Any, param: Any, ctx: Any, value: str) -> tuple[str, Any]:
    try:
        return "value", runtime.coerce(value, param=param, ctx=ctx)
    except Exception as exc:  # the refusal, as the user reads it
        return type(exc).__name__, str(getattr(exc, "message", exc))


def test_every_parameter_takes_and_refuses_what_typers_own_coercion_does() -> None:
    """For every parameter of every command and every value in TYPED, the coercion without
    pydantic gives typer's own result, or its own refusal word for word."""
    checked = 0

    def walk(command: Any, ctx: Any) -> None:
        nonlocal checked
        for param in command.params:
            if not hasattr(param, "type_descriptor") or param.multiple or param.nargs != 1:
                continue
            own = build_runtime_param(param.type_descriptor)
            for value in TYPED:
                assert _coerced(param.get_runtime_param(), param, ctx, value) == _coerced(own, param, ctx, value), (
                    f"{command.name} {param.name} {value!r}")
                checked += 1
        for sub in getattr(command, "commands", {}).values():
            walk(sub, typer.Context(sub, parent=ctx))

    root = typer.main.get_command(app)
    walk(root, typer.Context(root))
    assert checked > 1000
