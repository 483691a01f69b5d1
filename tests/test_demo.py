"""`tracker demo`: the synthetic examples in a database of their own, as they stood on a date."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

from tests.conftest import Cli


def demo(tmp_path: Path, as_of: str) -> tuple[Any, Path]:
    out = tmp_path / "demo"
    result = Cli(f"sqlite:///{tmp_path / 'real.db'}")("demo", "--as-of", as_of, "--out", str(out))
    assert result.exit_code == 0, result.output
    return result, out


def stored(out: Path, sql: str) -> list[tuple[Any, ...]]:
    conn = sqlite3.connect(out / "demo.db")
    try:
        return conn.execute(sql).fetchall()
    finally:
        conn.close()


def test_the_demo_shows_worklist_flags_and_writes_plots_in_its_own_folder(tmp_path: Path) -> None:
    result, out = demo(tmp_path, "2026-11-22")
    assert "As of 2026-11-22." in result.stderr  # every example record is on or before it
    for section in ("== Patients", "== Worklist as of 2026-11-22", "== Flags", "== Plots and reports"):
        assert section in result.stdout
    assert "ACTION SYN-GROWING     growth.absolute" in result.stdout
    written = [Path(line) for line in result.stdout.split("== Plots and reports\n")[1].splitlines()]
    assert written and all(p.is_file() and p.parent.is_relative_to(out) for p in written)
    assert not (tmp_path / "real.db").exists()  # never the user's database
    assert stored(out, "SELECT label FROM patient ORDER BY label") == [
        ("SYN-GROWING",), ("SYN-METASTATIC",), ("SYN-STABLE",)]


def test_an_earlier_date_shows_the_examples_as_they_stood_then(tmp_path: Path) -> None:
    result, out = demo(tmp_path, "2026-02-15")
    assert "As of 2026-02-15; 12 example record(s) dated after it left out." in result.stderr
    for table in ("visit", "lab_result", "imaging_study", "pathology"):
        assert stored(out, f"SELECT count(*) FROM {table} WHERE date > '2026-02-15'") == [(0,)]
    # the metastatic patient's CT of 2026-06-01 (a new liver lesion) had not happened yet
    assert "spread.distant" not in result.stdout and "growth.tgr" in result.stdout
    # and running the demo again starts afresh
    again, _ = demo(tmp_path, "2026-11-22")
    assert "spread.distant" in again.stdout


def test_a_date_before_any_example_patient_is_an_empty_demo_not_an_error(tmp_path: Path) -> None:
    result, out = demo(tmp_path, "2020-01-01")
    assert "none: no example patient had been enrolled by 2020-01-01" in result.stdout
    assert "Try:" not in result.stderr  # no hint naming a patient that is not there
    assert stored(out, "SELECT count(*) FROM patient") == [(0,)]
    assert stored(out, "SELECT count(*) FROM lab_result") == [(0,)]  # lab rows of absent patients left out too
