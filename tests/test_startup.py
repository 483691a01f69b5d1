"""The one-patient commands start fast (issue 19 item 8): `tracker flags|schedule|history PATIENT`
load only what they need. Start-up is most of their time, so a heavy module imported at the top
of a CLI, service or store module (matplotlib, Alembic, a JSON-Schema compiler, the import
checker's multiprocessing, the web or calendar layers) would slow every one of them down; this
test fails the day someone adds one. The time itself is measured by benchmarks/run.py."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import subprocess_env

REPO = Path(__file__).resolve().parent.parent

#: Third-party packages a one-patient command must never load.
HEAVY = ("matplotlib", "numpy", "PIL", "alembic", "jsonschema", "fastjsonschema", "multiprocessing", "psycopg",
         "icalendar", "dateutil", "fastapi", "starlette", "uvicorn", "jinja2")
#: The tracker's own modules that only other commands need.
HEAVY_OWN = ("tracker.plots", "tracker.report", "tracker.calendar", "tracker.synthetic", "tracker.migrations",
             "tracker.services.files", "tracker.services.checker", "tracker.services.plots", "tracker.web")

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
