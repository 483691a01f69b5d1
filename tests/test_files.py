"""Import and export on SQLite and PostgreSQL: round trips, idempotence, all-or-nothing."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import EXAMPLES, Cli
from tracker import db
from tracker.config import Settings
from tracker.db import session_scope
from tracker.store import Store

AS_OF = ["--as-of", "2027-12-31"]
JSON_EXAMPLES = sorted(EXAMPLES.glob("syn-*.json"))


def counts(url: str) -> dict[str, int]:
    with session_scope(Settings(db_url=url, user="test-user")) as s:
        st = Store(s)
        return {**st.record_counts(), "audit": len(st.audit_rows(None))}


def load_examples(cli: Cli) -> None:
    for path in JSON_EXAMPLES:
        result = cli("import", str(path), *AS_OF)
        assert result.exit_code == 0, result.stderr
    result = cli("import", str(EXAMPLES / "labs.csv"), *AS_OF)
    assert result.exit_code == 0, result.stderr


def export_all(cli: Cli, out: Path) -> bytes:
    result = cli("export", "--all", "--out", str(out))
    assert result.exit_code == 0, result.stderr
    return out.read_bytes()


def test_export_import_export_is_byte_identical(db_factory: Callable[[], str], make_cli: Callable[[str], Cli],
                                                tmp_path: Path) -> None:
    first, second = make_cli(db_factory()), make_cli(db_factory())
    load_examples(first)
    exported = export_all(first, tmp_path / "first.json")
    assert len(json.loads(exported)["patients"]) == len(JSON_EXAMPLES)
    result = second("import", str(tmp_path / "first.json"), *AS_OF)
    assert result.exit_code == 0, result.stderr
    assert export_all(second, tmp_path / "second.json") == exported
    assert counts(first.url)["lab"] == counts(second.url)["lab"] > 0
    # one patient alone is a valid import document as well
    one = second("export", "SYN-GROWING")
    assert one.exit_code == 0 and json.loads(one.stdout)["patient"]["label"] == "SYN-GROWING"


def test_importing_the_same_file_twice_changes_nothing(cli: Cli, tmp_path: Path) -> None:
    load_examples(cli)
    before = counts(cli.url)
    exported = export_all(cli, tmp_path / "before.json")
    for path in [*JSON_EXAMPLES, EXAMPLES / "labs.csv"]:
        result = cli("import", str(path), *AS_OF)
        assert result.exit_code == 0, result.stderr
        assert " 0 record(s) added" in result.stderr
    assert counts(cli.url) == before
    assert export_all(cli, tmp_path / "after.json") == exported


def _doc(name: str) -> dict:
    return json.loads((EXAMPLES / name).read_text(encoding="utf-8"))


def test_a_bad_file_writes_nothing(cli: Cli, tmp_path: Path) -> None:
    good, bad = _doc("syn-stable.json"), _doc("syn-growing.json")
    bad["labs"][1]["date"] = "2025-02-30"
    bad["scans"][0]["modality"] = "X-RAY"
    path = tmp_path / "cohort.json"
    path.write_text(json.dumps({"schema_version": 1, "patients": [good, bad]}), encoding="utf-8")
    empty = counts(cli.url)
    result = cli("import", str(path), *AS_OF)
    assert result.exit_code == 1
    assert "patients[1].labs[1].date" in result.stderr and "patients[1].scans[0].modality" in result.stderr
    assert "Traceback" not in result.stderr
    assert counts(cli.url) == empty


def test_a_conflict_found_while_writing_rolls_back_everything(cli: Cli, tmp_path: Path) -> None:
    """Patients are inserted before the conflict is found; the transaction must take them back."""
    result = cli("import", str(EXAMPLES / "syn-growing.json"), *AS_OF)
    assert result.exit_code == 0, result.stderr
    before = counts(cli.url)
    changed = _doc("syn-growing.json")
    changed["labs"][0]["value"] = 131
    path = tmp_path / "cohort.json"
    path.write_text(json.dumps([_doc("syn-stable.json"), changed]), encoding="utf-8")
    result = cli("import", str(path), *AS_OF)
    assert result.exit_code == 1
    assert "already has a different lab" in result.stderr
    assert counts(cli.url) == before
    assert cli("patient", "show", "SYN-STABLE").exit_code == 1


def test_lab_csv_with_an_unknown_patient_writes_nothing(cli: Cli, tmp_path: Path) -> None:
    result = cli("import", str(EXAMPLES / "syn-stable.json"), *AS_OF)
    assert result.exit_code == 0, result.stderr
    before = counts(cli.url)
    text = (EXAMPLES / "labs.csv").read_text(encoding="utf-8")
    text += "SYN-NOBODY,2025-03-20,chromogranin_a,52,ng/mL,,,,,,,\n"
    path = tmp_path / "labs.csv"
    path.write_text(text, encoding="utf-8")
    result = cli("import", str(path), *AS_OF)
    assert result.exit_code == 1 and "row 5, patient" in result.stderr
    assert counts(cli.url) == before


def test_csv_export_has_one_row_per_value(cli: Cli) -> None:
    load_examples(cli)
    result = cli("export", "--all", "--format", "csv")
    assert result.exit_code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith("patient,kind,id,date,item,value")
    assert sum(1 for line in lines if ",lab," in line) == counts(cli.url)["lab"]


@pytest.mark.parametrize("example", [p.name for p in JSON_EXAMPLES])
def test_each_example_round_trips_alone(cli: Cli, example: str, tmp_path: Path) -> None:
    result = cli("import", str(EXAMPLES / example), *AS_OF)
    assert result.exit_code == 0, result.stderr
    label = _doc(example)["patient"]["label"]
    exported = cli("export", label)
    assert exported.exit_code == 0
    db.dispose_all()
    assert json.loads(exported.stdout)["patient"] == {
        **_doc(example)["patient"], **json.loads(exported.stdout)["patient"]}
