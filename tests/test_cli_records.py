"""The record commands as a user meets them: patient, log, history, amend, void, audit, import.

Bad input gets one sentence naming the field, exit code 1, and the database exactly as before.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import EXAMPLES, Cli

AS_OF = "2026-11-22"


@pytest.fixture
def lite(sqlite_url: str) -> Cli:
    """The CLI on one SQLite file."""
    return Cli(sqlite_url)


@pytest.fixture
def enrolled(lite: Cli) -> Cli:
    """A database with one patient, P-1, on the small protocol from 2025-01-10."""
    r = lite("patient", "add", "P-1", "--birth-year", "1960", "--sex", "female", "--diagnosis-date", "2024-12-01",
             "--setting", "small_nf", "--start", "2025-01-10", "--as-of", AS_OF)
    assert r.exit_code == 0, r.output
    return lite


def dump(cli: Cli) -> list[str]:
    """Every row of every table, to prove a refused command changed nothing."""
    path = cli.url.split("///", 1)[1]
    with sqlite3.connect(path) as conn:
        return list(conn.iterdump())


def refused(cli: Cli, *args: str, field: str, words: str) -> None:
    before = dump(cli)
    r = cli(*args)
    assert r.exit_code == 1, r.output
    assert field in r.stderr and words in r.stderr, r.stderr
    assert r.stdout == ""
    assert "Traceback" not in r.output
    assert dump(cli) == before


def history(cli: Cli, label: str = "P-1") -> list[dict[str, Any]]:
    r = cli("history", label, "--format", "json", "--voided")
    assert r.exit_code == 0, r.output
    return json.loads(r.stdout)  # type: ignore[no-any-return]


def export(cli: Cli, label: str = "P-1") -> dict[str, Any]:
    r = cli("export", label)
    assert r.exit_code == 0, r.output
    return json.loads(r.stdout)  # type: ignore[no-any-return]


# ----------------------------------------------------------------------------- entering records


def test_every_record_type_can_be_logged_and_comes_back(enrolled: Cli) -> None:
    """A visit, a lab result, a scan and a pathology report logged by command come back field for field."""
    cmds = [
        ("log", "visit", "P-1", "--date", "2025-01-10", "--symptom", "back_pain", "--weight", "71.5", "--ppi",
         "--ps", "1", "--notes", "synthetic"),
        ("log", "lab", "P-1", "--date", "2025-01-10", "--analyte", "CgA", "--value", "85.5", "--unit", "µg/L",
         "--assay", "KRYPTOR", "--lab", "Lab A", "--uln", "102", "--specimen", "plasma"),
        ("log", "scan", "P-1", "--date", "2025-01-10", "--modality", "MRI", "--lesion", "P1:pancreas:1.4cm",
         "--lesion", "N1:regional_node:8mm:avid", "--mpd", "2.5mm", "--verified"),
        ("log", "pathology", "P-1", "--date", "2025-01-20", "--ki67", "3.5", "--mitoses", "1"),
    ]
    for c in cmds:
        r = enrolled(*c, "--as-of", AS_OF)
        assert r.exit_code == 0, r.output
    doc = export(enrolled)
    visit, lab, scan, path = doc["visits"][0], doc["labs"][0], doc["scans"][0], doc["pathology"][0]
    assert (visit["symptoms"], visit["weight_kg"], visit["on_ppi"], visit["performance_status"]) == (
        ["back_pain"], 71.5, True, 1)
    assert (lab["analyte"], lab["value"], lab["unit"], lab["upper_limit"], lab["specimen"]) == (
        "chromogranin_a", 85.5, "ug/L", 102, "plasma")
    assert scan["lesions"] == [
        {"lesion": "N1", "site": "regional_node", "longest_mm": None, "short_axis_mm": 8, "other_dims_mm": [],
         "is_new": False, "pet_avid": True},
        {"lesion": "P1", "site": "pancreas", "longest_mm": 14, "short_axis_mm": None, "other_dims_mm": [],
         "is_new": False, "pet_avid": None},
    ]
    assert scan["mpd_mm"] == 2.5 and scan["verified"] is True
    assert (path["ki67_pct"], path["grade"]) == (3.5, "G2")


def test_centimetres_are_stored_as_millimetres(enrolled: Cli) -> None:
    """`1.4 cm` is stored as 14 mm."""
    enrolled("log", "scan", "P-1", "--date", "2025-07-01", "--modality", "CT", "--lesion", "P1:pancreas:1.4 cm",
             "--as-of", AS_OF)
    assert export(enrolled)["scans"][0]["lesions"][0]["longest_mm"] == 14


def test_file_import_then_export_gives_the_same_history(enrolled: Cli, tmp_path: Path) -> None:
    """An example file imported and exported again is the same document (apart from `synthetic`)."""
    src = json.loads((EXAMPLES / "syn-growing.json").read_text())
    r = enrolled("import", str(EXAMPLES / "syn-growing.json"), "--as-of", AS_OF)
    assert r.exit_code == 0, r.output
    out = export(enrolled, "SYN-GROWING")
    for key in ("visits", "labs", "scans", "pathology"):
        assert len(out[key]) == len(src[key])
        for got, want in zip(out[key], src[key], strict=True):
            assert {k: got[k] for k in want if k != "lesions"} == {k: v for k, v in want.items() if k != "lesions"}
    assert [s["lesions"][0]["longest_mm"] for s in out["scans"]] == [12, 14, 17]
    assert [x["value"] for x in out["labs"]] == [x["value"] for x in src["labs"]]
    assert out["patient"] == {**src["patient"], "left_surveillance": None}


def test_importing_the_same_file_twice_changes_nothing(enrolled: Cli) -> None:
    """A second import of the same file adds nothing."""
    f = str(EXAMPLES / "syn-stable.json")
    assert enrolled("import", f, "--as-of", AS_OF).exit_code == 0
    before = dump(enrolled)
    r = enrolled("import", f, "--as-of", AS_OF)
    assert r.exit_code == 0 and "0 record(s) added" in r.stderr
    after = [line for line in dump(enrolled) if "audit_event" not in line]
    assert after == [line for line in before if "audit_event" not in line]


# ----------------------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    ("args", "field", "words"),
    [
        (("log", "visit", "P-1", "--date", "2025-02-30"), "the date", "not a date that exists"),
        (("log", "visit", "P-1", "--date", "2027-01-01"), "date", "in the future"),
        (("log", "visit", "P-1", "--date", "1950-05-01"), "date", "before the patient's birth year"),
        (("log", "scan", "P-1", "--date", "2025-03-01", "--modality", "MRI", "--lesion", "P1:pancreas:-4mm"),
         "--lesion", "above 0 mm"),
        (("log", "scan", "P-1", "--date", "2025-03-01", "--modality", "MRI", "--lesion", "P1:pancreas:250mm"),
         "--lesion", "not a plausible size"),
        (("log", "scan", "P-1", "--date", "2025-03-01", "--modality", "MRI", "--lesion", "P1:pancraes:12mm"),
         "--lesion", "did you mean 'pancreas'"),
        (("log", "lab", "P-1", "--date", "2025-03-01", "--analyte", "CgA", "--value", "80", "--unit", "mmol/L"),
         "the unit of chromogranin A", "does not fit chromogranin_a"),
        (("log", "lab", "P-1", "--date", "2025-03-01", "--analyte", "chromogranine", "--value", "80", "--unit",
          "ng/mL"), "the test", "did you mean 'chromogranin_a'"),
        (("log", "lab", "P-1", "--date", "2025-03-01", "--analyte", "CgA", "--value", "-3", "--unit", "ng/mL"),
         "value", "cannot be negative"),
        (("log", "visit", "P-2", "--date", "2025-03-01"), "no patient 'P-2'", "did you mean 'P-1'"),
        (("log", "pathology", "P-1", "--date", "2025-03-01", "--ki67", "140"), "ki67_pct", "0 to 100"),
        (("log", "visit", "P-1"), "--date", "required"),
        (("log", "visit", "P-1", "--date", "20250301"), "the date", "YYYY-MM-DD, for example 2025-12-31"),
        (("log", "visit", "P-1", "--date", "2099-01-01", "--allow-future"), "date", "more than a year after today"),
        (("log", "lab", "P-1", "--date", "2025-03-01", "--analyte", "glucose", "--value", "5000000000", "--unit",
          "mmol/L"), "value", "not a plausible lab value"),
        (("log", "lab", "P-1", "--date", "2025-03-01", "--analyte", "CgA", "--value", "1e30", "--unit", "ng/mL"),
         "the chromogranin A result", "out of range"),
        (("log", "lab", "P-1", "--date", "2025-03-01", "--analyte", "CgA", "--value", "1e400", "--unit", "ng/mL"),
         "the chromogranin A result", "out of range"),
        (("log", "lab", "P-1", "--date", "2025-03-01", "--analyte", "CgA", "--value", "80.00000000000000001",
          "--unit", "ng/mL"), "the chromogranin A result", "significant digits"),
        (("log", "lab", "P-1", "--date", "2025-03-01", "--analyte", "CgA", "--value", "80", "--unit", "ng/mL",
          "--uln", "1e9"), "upper_limit", "not a plausible upper reference limit"),
        (("log", "pathology", "P-1", "--date", "2025-03-01", "--ki67", "25", "--grade", "G1"), "grade",
         "contradicts Ki-67 25 %"),
        (("log", "pathology", "P-1", "--date", "2025-03-01", "--ki67", "1", "--mitoses", "1", "--grade", "G2"),
         "grade", "G1 per WHO 2019"),
        (("log", "pathology", "P-1", "--date", "2025-03-01", "--mitoses", "5000"), "mitoses_per_2mm2", "0 to 1000"),
        (("log", "scan", "P-1", "--date", "2025-03-01", "--modality", "XR", "--lesion", "P1:pancreas:12mm"),
         "--modality", "'XR' is not one of"),
        (("patient", "add", "P 2", "--birth-year", "1960", "--sex", "female", "--diagnosis-date", "2024-12-01",
          "--setting", "small_nf", "--start", "2025-01-10"), "patient.label", "no spaces"),
        (("patient", "add", "12", "--birth-year", "1960", "--sex", "female", "--diagnosis-date", "2024-12-01",
          "--setting", "small_nf", "--start", "2025-01-10"), "patient.label", "only digits"),
        (("patient", "add", "P" * 65, "--birth-year", "1960", "--sex", "female", "--diagnosis-date", "2024-12-01",
          "--setting", "small_nf", "--start", "2025-01-10"), "patient.label", "at most 64"),
        (("patient", "add", "P-2", "--birth-year", "1960", "--sex", "female", "--diagnosis-date", "2024-12-01",
          "--setting", "small_nf", "--start", "2025-01-10", "--t-stage", "T9"), "patient.t_stage", "not a T stage"),
        (("patient", "add", "P-2", "--birth-year", "1960", "--sex", "female", "--diagnosis-date", "2024-12-01",
          "--setting", "small_nf", "--start", "9999-12-31"), "patient.protocol_start", "more than a year after"),
        (("patient", "edit", "P-1", "--set", "t_stage=T2", "--reason", " "), "--reason", "needs a reason"),
    ],
)
def test_bad_input_is_refused_with_one_sentence_and_nothing_written(enrolled: Cli, args: tuple[str, ...],
                                                                     field: str, words: str) -> None:
    """Each bad value names its field and the fix, exits 1 and leaves the database as it was."""
    refused(enrolled, *args, "--as-of", AS_OF, field=field, words=words)


def test_a_grade_alone_is_enough_for_a_pathology_report(enrolled: Cli) -> None:
    """A report that states only the grade is logged as it stands; a higher grade than one value
    gives is allowed (the unrecorded other value may set it)."""
    r = enrolled("log", "pathology", "P-1", "--date", "2025-03-01", "--grade", "G2", "--as-of", AS_OF)
    assert r.exit_code == 0, r.output
    r = enrolled("log", "pathology", "P-1", "--date", "2025-04-01", "--ki67", "2", "--grade", "G2", "--as-of", AS_OF)
    assert r.exit_code == 0, r.output
    grades = [h["summary"] for h in history(enrolled) if h["kind"] == "pathology"]
    assert len(grades) == 2 and all("G2" in g for g in grades), grades


def test_a_future_date_is_accepted_when_allowed(enrolled: Cli) -> None:
    """--allow-future lets a planned entry through."""
    r = enrolled("log", "visit", "P-1", "--date", "2027-01-01", "--allow-future", "--as-of", AS_OF)
    assert r.exit_code == 0, r.output


def test_a_second_record_for_the_same_date_is_a_duplicate(enrolled: Cli) -> None:
    """Two visits on one day are refused; the message points to amend."""
    assert enrolled("log", "visit", "P-1", "--date", "2025-03-01", "--as-of", AS_OF).exit_code == 0
    refused(enrolled, "log", "visit", "P-1", "--date", "2025-03-01", "--as-of", AS_OF, field="visit #1",
            words="tracker amend P-1 visit 1")


def test_a_duplicate_lesion_on_one_scan_is_refused(enrolled: Cli) -> None:
    """The same lesion label twice on one scan is an entry error."""
    refused(enrolled, "log", "scan", "P-1", "--date", "2025-03-01", "--modality", "MRI", "--lesion",
            "P1:pancreas:12mm", "--lesion", "P1:pancreas:13mm", "--as-of", AS_OF, field="lesions[1].lesion",
            words="listed twice")


def test_a_malformed_file_is_refused(enrolled: Cli, tmp_path: Path) -> None:
    """Broken JSON names the line and column and writes nothing."""
    bad = tmp_path / "bad.json"
    bad.write_text('{"schema_version": 1, "patient": ')
    refused(enrolled, "import", str(bad), field="bad.json", words="not valid JSON (line 1")


def test_a_wrong_schema_file_reports_every_problem_with_its_location(enrolled: Cli, tmp_path: Path) -> None:
    """Every problem of a file is listed with its location, and nothing is written."""
    doc = json.loads((EXAMPLES / "syn-growing.json").read_text())
    doc["visits"][1]["date"] = "2025-02-30"
    doc["scans"][2]["lesions"][0]["longest_mm"] = -3
    doc["labs"][0]["unit"] = "mmol/L"
    doc["labs"][1]["colour"] = "red"
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(doc))
    before = dump(enrolled)
    r = enrolled("import", str(bad), "--as-of", AS_OF)
    assert r.exit_code == 1
    assert "visits[1].date" in r.stderr and "labs[1]" in r.stderr and "colour" in r.stderr
    assert "scans[2].lesions[0].longest_mm" in r.stderr
    assert dump(enrolled) == before
    doc["labs"][1].pop("colour")
    doc["visits"][1]["date"] = "2025-07-08"
    doc["scans"][2]["lesions"][0]["longest_mm"] = 17
    bad.write_text(json.dumps(doc))
    r = enrolled("import", str(bad), "--as-of", AS_OF)
    assert r.exit_code == 1
    assert "labs[0].unit" in r.stderr and "does not fit" in r.stderr
    assert dump(enrolled) == before


def test_lab_csv_rows_with_missing_or_extra_fields_are_named(enrolled: Cli, tmp_path: Path) -> None:
    """A row with a field too few or too many is reported by row, never dropped or half-read."""
    f = tmp_path / "labs.csv"
    f.write_text("patient,date,analyte,value,unit\nP-1,2025-03-01,CgA,80\nP-1,2025-04-01,CgA,80,ng/mL,x\n"
                 "P-1,2025-05-01,CgA,80,ng/mL\n")
    refused(enrolled, "import", str(f), "--as-of", AS_OF, field="row 2", words="row 3: has 6 fields, the header has 5")


@pytest.mark.parametrize("target", ["folder", "not-a-database"])
def test_a_folder_or_a_foreign_file_is_one_sentence(enrolled: Cli, tmp_path: Path, target: str) -> None:
    """Importing a folder, or pointing --db at a file that is not a database, is one clear error."""
    if target == "folder":
        refused(enrolled, "import", str(tmp_path), "--as-of", AS_OF, field="FILE", words="is a folder")
        return
    other = tmp_path / "notes.db"
    other.write_text("shopping list\n")
    r = Cli(f"sqlite:///{other}")("patient", "list")
    assert r.exit_code == 1 and "not a tracker database" in r.stderr and "Traceback" not in r.output
    assert other.read_text() == "shopping list\n"


def test_an_export_to_a_full_disk_leaves_the_old_file_whole(enrolled: Cli, tmp_path: Path) -> None:
    """Writing to a full device is one sentence; an existing export is never left half-written."""
    r = enrolled("export", "P-1", "--out", "/dev/full")
    assert r.exit_code == 1 and "No space left on device" in r.stderr and "Traceback" not in r.output
    out = tmp_path / "p1.json"
    assert enrolled("export", "P-1", "--out", str(out)).exit_code == 0
    first = out.read_text()
    assert enrolled("export", "P-1", "--out", str(tmp_path / "missing" / "p1.json")).exit_code == 1
    assert out.read_text() == first and not [p for p in tmp_path.iterdir() if p.name.startswith(".p1.json")]


@pytest.mark.parametrize(("name", "text", "words"), [
    ("wide.csv", "patient," + "x" * 200_000 + "\n", "the CSV header cannot be read"),
    ("twice.csv", "patient,date,analyte,value,value,unit\n", "names column(s) value twice"),
    ("big.json", "[" + "9" * 5000 + "]", "cannot be read as JSON"),
    ("deep.json", "[" * 100_000 + "]" * 100_000, "cannot be read as JSON"),
])
def test_files_the_parsers_choke_on_are_one_sentence(enrolled: Cli, tmp_path: Path, name: str, text: str,
                                                     words: str) -> None:
    """A field beyond the csv module's limit, a repeated column, a 5,000-digit number, arrays
    nested 100,000 deep: one sentence, never a traceback."""
    f = tmp_path / name
    f.write_text(text)
    refused(enrolled, "import", str(f), "--as-of", AS_OF, field="FILE" if "json" in name or "wide" in name
            else "header", words=words)


def test_root_usage_errors_are_one_sentence(enrolled: Cli) -> None:
    """An unknown global option or --db without its value: one line, exit code 1."""
    from typer.testing import CliRunner

    from tracker.cli import app

    for args in (["--bogus"], ["--db"]):
        r = CliRunner().invoke(app, args)
        assert r.exit_code == 1 and r.stderr.startswith("Error: ") and "Usage:" not in r.stderr, r.output


def test_lab_csv_errors_name_the_row(enrolled: Cli, tmp_path: Path) -> None:
    """A lab CSV with a bad unit and an unknown patient reports both rows."""
    f = tmp_path / "labs.csv"
    f.write_text("patient,date,analyte,value,unit\nP-1,2025-03-01,CgA,80,mmol/L\nP-9,2025-03-01,CgA,80,ng/mL\n")
    refused(enrolled, "import", str(f), "--as-of", AS_OF, field="row 2, unit", words="row 3, patient")


# ----------------------------------------------------------------------------- amend, void, audit


def test_amend_keeps_the_old_value_in_the_audit_trail(enrolled: Cli) -> None:
    """An amendment changes the value and the audit shows who, why, before and after."""
    enrolled("log", "scan", "P-1", "--date", "2025-03-01", "--modality", "MRI", "--lesion", "P1:pancreas:12mm",
             "--as-of", AS_OF)
    r = enrolled("amend", "P-1", "scan", "1", "--set", "lesions.P1.longest_mm=13", "--reason", "radiology addendum",
                 "--as-of", AS_OF)
    assert r.exit_code == 0, r.output
    assert export(enrolled)["scans"][0]["lesions"][0]["longest_mm"] == 13
    audit = json.loads(enrolled("audit", "P-1", "--format", "json").stdout)
    amend = next(a for a in audit if a["action"] == "amend")
    assert amend["user"] == "test-user" and amend["reason"] == "radiology addendum"
    assert '"longest_mm": 12' in amend["before"] and '"longest_mm": 13' in amend["after"]
    assert amend["changes"] == "lesions[0].longest_mm: 12 -> 13"
    table = enrolled("audit", "P-1").stdout
    assert "lesions[0].longest_mm: 12 -> 13" in table and "Amended scan #1 of P-1 (2025-03-01)" in r.stderr


def test_amend_refuses_a_bad_value(enrolled: Cli) -> None:
    """An amendment is checked like a new entry."""
    enrolled("log", "lab", "P-1", "--date", "2025-03-01", "--analyte", "CgA", "--value", "80", "--unit", "ng/mL",
             "--as-of", AS_OF)
    refused(enrolled, "amend", "P-1", "lab", "1", "--set", "unit=mmol/L", "--reason", "typo", "--as-of", AS_OF,
            field="unit", words="does not fit")
    refused(enrolled, "amend", "P-1", "lab", "1", "--set", "colour=red", "--reason", "typo", "--as-of", AS_OF,
            field="--set", words="not a field")


def test_an_amendment_made_meanwhile_by_someone_else_is_not_undone(enrolled: Cli,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """`amend` shows the record as read, but applies --set to the record as stored when it writes
    (read, checked and written in one locked transaction): a colleague's amendment made in between
    stands, and ours is added to it, not written over it."""
    from tracker.config import Settings
    from tracker.services import records

    enrolled("log", "lab", "P-1", "--date", "2025-03-01", "--analyte", "CgA", "--value", "80", "--unit", "ng/mL",
             "--as-of", AS_OF)
    real = records.get_record

    def read_then_colleague_amends(settings: Settings, ref: str, kind: str, record_id: int) -> Any:
        seen = real(settings, ref, kind, record_id)
        colleague = Settings(db_url=settings.db_url, user="colleague")
        records.amend_fields(colleague, ref, kind, record_id, ["lab=Lab B"], reason="lab name",
                             today=seen[1].record.date)
        return seen

    monkeypatch.setattr(records, "get_record", read_then_colleague_amends)
    before = export(enrolled)["labs"][0]
    r = enrolled("amend", "P-1", "lab", "1", "--set", "value=85", "--reason", "typo", "--as-of", AS_OF)
    assert r.exit_code == 0, r.output
    assert export(enrolled)["labs"][0] == {**before, "lab": "Lab B", "value": 85}  # both changes stand
    trail = [a for a in json.loads(enrolled("audit", "P-1", "--format", "json").stdout) if a["action"] == "amend"]
    assert [(a["user"], a["changes"]) for a in trail] == [("colleague", "lab: (none) -> Lab B"),
                                                          ("test-user", "value: 80 -> 85")]


def test_an_empty_as_of_is_refused_by_every_command_with_the_same_sentence(enrolled: Cli) -> None:
    """One date parser for all: `patient add --as-of ""` took today, `flags --as-of ""` refused."""
    sentence = "is empty; give a date as YYYY-MM-DD, or leave the option out for today"
    for args in (("patient", "add", "P-2", "--birth-year", "1960", "--sex", "female", "--diagnosis-date",
                  "2025-01-01", "--setting", "small_nf", "--start", "2025-01-10"),
                 ("log", "visit", "P-1", "--date", "2025-03-01", "--no-symptoms", "--no-ppi"),
                 ("flags", "P-1"), ("worklist",)):
        refused(enrolled, *args, "--as-of", "", field="--as-of", words=sentence)


def test_void_hides_a_record_from_rules_but_never_deletes_it(enrolled: Cli) -> None:
    """A voided record stays in the history (with --voided) and in the audit."""
    enrolled("log", "visit", "P-1", "--date", "2025-03-01", "--as-of", AS_OF)
    assert enrolled("void", "P-1", "visit", "1", "--reason", "wrong patient").exit_code == 0
    rows = history(enrolled)
    assert rows[0]["voided_reason"] == "wrong patient"
    plain = json.loads(enrolled("history", "P-1", "--format", "json").stdout)
    assert plain == []
    refused(enrolled, "void", "P-1", "visit", "1", "--reason", "again", field="already void",
            words="tracker history P-1 --voided")


def test_the_audit_trail_cannot_be_rewritten(enrolled: Cli) -> None:
    """The database refuses to update or delete audit rows."""
    path = enrolled.url.split("///", 1)[1]
    with sqlite3.connect(path) as conn, pytest.raises(sqlite3.DatabaseError, match="append-only"):
        conn.execute("UPDATE audit_event SET user = 'someone else'")


def test_patient_edit_changes_the_protocol_with_a_reason(enrolled: Cli) -> None:
    """A protocol change is an amendment of the patient, audited."""
    r = enrolled("patient", "edit", "P-1", "--set", "protocol.id=pnet-metastatic-ww", "--set",
                 "protocol.start=2026-01-05", "--reason", "liver metastases", "--as-of", AS_OF)
    assert r.exit_code == 0, r.output
    shown = json.loads(enrolled("patient", "show", "P-1", "--format", "json").stdout)[0]
    assert (shown["protocol"], shown["protocol_start"]) == ("pnet-metastatic-ww", "2026-01-05")
    refused(enrolled, "patient", "edit", "P-1", "--set", "protocol.id=nope", "--reason", "x", "--as-of", AS_OF,
            field="protocol 'nope' not found", words="tracker protocol list")


def test_leaving_surveillance_is_recorded_once(enrolled: Cli) -> None:
    """Leaving is an event with a date and reason; a second one is refused."""
    r = enrolled("patient", "leave", "P-1", "--date", "2026-03-01", "--reason", "treatment", "--as-of", AS_OF)
    assert r.exit_code == 0, r.output
    refused(enrolled, "patient", "leave", "P-1", "--date", "2026-04-01", "--reason", "death", "--as-of", AS_OF,
            field="already left", words="tracker patient edit")


def test_patient_list_formats(enrolled: Cli) -> None:
    """Listings are tables for people and JSON or CSV for programs."""
    assert enrolled("patient", "list").stdout.splitlines()[0].startswith("id")
    assert json.loads(enrolled("patient", "list", "--format", "json").stdout)[0]["label"] == "P-1"
    assert enrolled("patient", "list", "--format", "csv").stdout.splitlines()[1].startswith("1,P-1,1960")


def test_a_terminal_user_is_asked_for_what_is_missing_and_asked_again_after_a_mistake(
        lite: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    """In a terminal, missing values are prompted for, and a bad answer is explained and asked again."""
    monkeypatch.setattr("tracker.cli.common.interactive", lambda: True)
    answers = "smal\nsmall_nf\n1961\nfemale\n2025-02-30\n2025-02-20\n2025-03-01\n"
    r = lite("patient", "add", "P-9", "--as-of", AS_OF, input=answers)
    assert r.exit_code == 0, r.output
    assert "'smal' is not one of small_nf" in r.stderr and "not a date that exists" in r.stderr
    shown = json.loads(lite("patient", "show", "P-9", "--format", "json").stdout)[0]
    assert (shown["diagnosis_date"], shown["protocol_start"]) == ("2025-02-20", "2025-03-01")


def test_an_export_file_is_readable_by_its_owner_only(enrolled: Cli, tmp_path: Path) -> None:
    """Exports hold patient data: the file is created with mode 0600."""
    out = tmp_path / "p1.json"
    r = enrolled("export", "P-1", "--out", str(out))
    assert r.exit_code == 0, r.output
    assert out.stat().st_mode & 0o777 == 0o600
    assert json.loads(out.read_text())["patient"]["label"] == "P-1"
    r = enrolled("export", "P-1", "--out", str(tmp_path / "missing" / "x.json"))
    assert r.exit_code == 1 and "cannot write" in r.stderr
