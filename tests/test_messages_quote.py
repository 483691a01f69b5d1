"""What a message repeats (issue 15 item 3, README "Privacy and safety").

A message quotes what the person typed on this command line, cut to 80 characters; it never
repeats a value read from the database (a void reason, a birth year, a stored size, a leaving
date, a protocol id, the label of a patient named by id) nor a whole field of a file: a stored
value is named by its record and field, a line of a refused file by its location.
"""

from __future__ import annotations

import json
import re
import sqlite3
from pathlib import Path

import pytest

from tests.conftest import EXAMPLES, Cli
from tracker.text import QUOTE_LIMIT

AS_OF = "2026-11-22"
MARKER = "MARKER-7Q"


@pytest.fixture
def enrolled(sqlite_url: str) -> Cli:
    """One patient, P-1 (born 1960), on the small protocol from 2025-01-10."""
    cli = Cli(sqlite_url)
    r = cli("patient", "add", "P-1", "--birth-year", "1960", "--sex", "female", "--diagnosis-date", "2024-12-01",
            "--setting", "small_nf", "--start", "2025-01-10", "--as-of", AS_OF)
    assert r.exit_code == 0, r.output
    return cli


def refused_without(cli: Cli, *args: str, hidden: str) -> str:
    """Run a command that must be refused; `hidden` appears nowhere in what it prints."""
    r = cli(*args)
    assert r.exit_code == 1, r.output
    assert "Traceback" not in r.output
    assert hidden not in r.stdout and hidden not in r.stderr, r.stderr
    return r.stderr


def longest_run(text: str, char: str) -> int:
    return max((len(m) for m in re.findall(f"{re.escape(char)}+", text)), default=0)


def test_no_message_about_a_voided_record_repeats_its_void_reason(enrolled: Cli) -> None:
    reason = f"entered on the wrong patient {MARKER}"
    assert enrolled("log", "lab", "P-1", "--date", "2025-03-01", "--analyte", "CgA", "--value", "80", "--unit",
                    "ng/mL", "--as-of", AS_OF).exit_code == 0
    assert enrolled("void", "P-1", "lab", "1", "--reason", reason).exit_code == 0
    said = refused_without(enrolled, "void", "P-1", "lab", "1", "--reason", "again", hidden=MARKER)
    assert "lab #1 is already void" in said
    said = refused_without(enrolled, "amend", "P-1", "lab", "1", "--set", "value=85", "--reason", "typo",
                           "--as-of", AS_OF, hidden=MARKER)
    assert "lab #1 was voided" in said
    refused_without(enrolled, "verify", "P-1", "lab", "1", "--reason", "checked", "--as-of", AS_OF, hidden=MARKER)
    assert MARKER in enrolled("history", "P-1", "--voided").stdout  # the history itself shows it


def test_a_date_before_the_birth_year_does_not_repeat_the_stored_birth_year(enrolled: Cli) -> None:
    said = refused_without(enrolled, "log", "visit", "P-1", "--date", "1950-05-01", "--as-of", AS_OF, hidden="1960")
    assert "1950-05-01 is before the patient's birth year" in said


def test_a_size_jump_question_names_the_last_scan_not_its_stored_size(enrolled: Cli) -> None:
    assert enrolled("log", "scan", "P-1", "--date", "2025-03-10", "--modality", "MRI", "--lesion",
                    "P1:pancreas:23mm", "--as-of", AS_OF).exit_code == 0
    said = refused_without(enrolled, "log", "scan", "P-1", "--date", "2025-09-10", "--modality", "MRI", "--lesion",
                           "P1:pancreas:2.1mm", "--as-of", AS_OF, hidden="23")
    assert "than at the last scan (scan #1). Was it 21 mm?" in said
    assert "2025-03-10" not in said


def test_an_amendment_of_another_field_does_not_ask_again_about_a_confirmed_stored_value(enrolled: Cli) -> None:
    """A lab value confirmed at entry is not put to the person again (quoting it) when the date is corrected."""
    assert enrolled("log", "lab", "P-1", "--date", "2025-03-10", "--analyte", "CgA", "--value", "5000000", "--unit",
                    "ng/mL", "--confirm", "--as-of", AS_OF).exit_code == 0
    r = enrolled("amend", "P-1", "lab", "1", "--set", "date=2025-03-11", "--reason", "typo", "--as-of", AS_OF)
    assert r.exit_code == 0, r.output
    assert "5000000" not in r.stderr


def test_leaving_twice_does_not_repeat_the_stored_leaving_date(enrolled: Cli) -> None:
    assert enrolled("patient", "leave", "P-1", "--date", "2026-02-03", "--reason", "treatment",
                    "--as-of", AS_OF).exit_code == 0
    said = refused_without(enrolled, "patient", "leave", "P-1", "--date", "2026-04-05", "--reason", "treatment",
                           "--as-of", AS_OF, hidden="2026-02-03")
    assert "has already left surveillance" in said


def test_a_patient_named_by_id_is_not_named_by_their_stored_label(enrolled: Cli) -> None:
    assert enrolled("patient", "add", "Q-2", "--birth-year", "1970", "--sex", "male", "--diagnosis-date",
                    "2024-12-01", "--setting", "small_nf", "--start", "2025-01-10", "--as-of", AS_OF).exit_code == 0
    assert enrolled("log", "visit", "Q-2", "--date", "2025-03-01", "--as-of", AS_OF).exit_code == 0
    said = refused_without(enrolled, "amend", "#1", "visit", "1", "--set", "weight_kg=70", "--reason", "typo",
                           "--as-of", AS_OF, hidden="P-1")
    assert "visit 1 is not a record of patient '#1'" in said
    assert "Q-2" not in said


def test_a_protocol_id_read_from_the_database_is_not_repeated(enrolled: Cli) -> None:
    with sqlite3.connect(enrolled.url.split("///", 1)[1]) as conn:
        conn.execute("UPDATE patient SET protocol_id = ?", (MARKER,))
    said = refused_without(enrolled, "flags", "P-1", "--as-of", AS_OF, hidden=MARKER)
    assert "the protocol patient #1 follows is not installed" in said


@pytest.mark.parametrize("args", [
    ("log", "lab", "P-1", "--date", "2025-03-01", "--analyte", "CgA", "--unit", "ng/mL", "--value"),
    ("log", "lab", "P-1", "--date", "2025-03-01", "--value", "80", "--unit", "ng/mL", "--analyte"),
    ("log", "lab", "P-1", "--date", "2025-03-01", "--analyte", "CgA", "--value", "80", "--unit"),
    ("log", "visit", "P-1", "--date"),
    ("log", "scan", "P-1", "--date", "2025-03-10", "--modality", "MRI", "--lesion"),
    ("amend", "P-1", "visit", "1", "--reason", "typo", "--set"),
    ("flag", "ack", "P-1", "--reason", "seen", "--as-of", AS_OF),
    ("history",),
], ids=["value", "analyte", "unit", "date", "lesion", "set", "flag", "patient"])
def test_a_typed_value_of_5000_characters_is_quoted_cut_to_80(enrolled: Cli, args: tuple[str, ...]) -> None:
    assert enrolled("log", "visit", "P-1", "--date", "2025-03-01", "--as-of", AS_OF).exit_code == 0
    r = enrolled(*args, "x" * 5000)
    assert r.exit_code in (1, 2), r.output
    assert "Traceback" not in r.output
    assert 0 < longest_run(r.stderr, "x") <= QUOTE_LIMIT, r.stderr[:400]


@pytest.mark.parametrize(("where", "field", "value"), [
    ("labs[0].value", "value", "9" * 5_000_000),
    ("labs[0]", "y" * 5_000_000, 1),
], ids=["value where a number belongs", "unknown field name"])
def test_a_refused_file_never_repeats_a_5_mb_field(enrolled: Cli, tmp_path: Path, where: str, field: str,
                                                    value: object) -> None:
    doc = json.loads((EXAMPLES / "syn-growing.json").read_text())
    doc["patient"]["label"] = "NEW-1"
    doc["labs"][0][field] = value
    f = tmp_path / "big.json"
    f.write_text(json.dumps(doc))
    r = enrolled("import", str(f), "--as-of", AS_OF)
    assert r.exit_code == 1, r.output[:400]
    assert where in r.stderr and len(r.stderr) < 1000, r.stderr[:400]
    assert longest_run(r.stderr, "9") <= QUOTE_LIMIT and longest_run(r.stderr, "y") <= QUOTE_LIMIT
