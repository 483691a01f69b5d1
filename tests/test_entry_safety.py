"""Entry safety (rules.md §5 "Entry errors"): what a patient or nurse types is never stored as
something they did not mean.

Each test is one point of the rule book; prompts are answered through typer's prompt input with
the terminal check switched on (`terminal` fixture).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import EXAMPLES, Cli
from tests.test_cli_records import AS_OF, dump, export, refused
from tracker.domain.units import parse_decimal, parse_size_mm
from tracker.errors import ValidationError

P1 = ("patient", "add", "P-1", "--birth-year", "1960", "--sex", "female", "--diagnosis-date", "2024-12-01",
      "--setting", "small_nf", "--start", "2025-01-10", "--as-of", AS_OF)


@pytest.fixture
def enrolled(sqlite_url: str) -> Cli:
    """P-1 on the small protocol from 2025-01-10, on one SQLite file."""
    cli = Cli(sqlite_url)
    assert cli(*P1).exit_code == 0
    return cli


# ----------------------------------------------------------------------------- numbers read two ways


@pytest.mark.parametrize(("text", "both"), [("1,400", "write 1400 or 1.4"), ("70,5 kg", "write 705 kg or 70.5 kg"),
                                            ("1,4 cm", "write 14 cm or 1.4 cm")])
def test_a_number_with_a_comma_is_refused_showing_both_readings(text: str, both: str) -> None:
    """"1,400" is 1400 to some readers and 1.4 to others: refused, never guessed."""
    parse = parse_size_mm if "cm" in text else parse_decimal
    with pytest.raises(ValidationError, match=both):
        parse(text, "the value")


def test_a_point_is_the_decimal_separator() -> None:
    assert parse_decimal("1.4", "v") == parse_decimal(" 1.4 ", "v") and parse_size_mm("1.4 cm", "s") == 14


@pytest.mark.parametrize("args", [
    ("log", "lab", "P-1", "--date", "2025-03-01", "--analyte", "CgA", "--value", "1,400", "--unit", "ng/mL"),
    ("log", "lab", "P-1", "--date", "2025-03-01", "--analyte", "CgA", "--value", "80", "--unit", "ng/mL",
     "--uln", "1,02"),
    ("log", "visit", "P-1", "--date", "2025-03-01", "--weight", "70,5"),
    ("log", "scan", "P-1", "--date", "2025-03-01", "--modality", "MRI", "--lesion", "P1:pancreas:1,4cm"),
    ("log", "scan", "P-1", "--date", "2025-03-01", "--modality", "MRI", "--lesion", "P1:pancreas:14mm",
     "--mpd", "2,5mm"),
    ("log", "pathology", "P-1", "--date", "2025-03-01", "--ki67", "2,5"),
])
def test_a_comma_in_an_option_is_refused(enrolled: Cli, args: tuple[str, ...]) -> None:
    refused(enrolled, *args, "--as-of", AS_OF, field="", words="can be read two ways")


def test_a_comma_in_a_lab_csv_cell_is_refused(enrolled: Cli, tmp_path: Path) -> None:
    f = tmp_path / "labs.csv"
    f.write_text('patient,date,analyte,value,unit\nP-1,2025-03-01,CgA,"1,400",ng/mL\n')
    refused(enrolled, "import", str(f), "--as-of", AS_OF, field="row 2", words="write 1400 or 1.4")


def test_a_comma_in_a_json_string_is_refused(enrolled: Cli, tmp_path: Path) -> None:
    doc = json.loads((EXAMPLES / "syn-growing.json").read_text(encoding="utf-8"))
    doc["labs"][0]["value"] = "1,400"
    f = tmp_path / "p.json"
    f.write_text(json.dumps(doc))
    refused(enrolled, "import", str(f), "--as-of", AS_OF, field="labs[0].value", words="write 1400 or 1.4")


def test_a_comma_in_an_amendment_is_refused(enrolled: Cli) -> None:
    enrolled("log", "lab", "P-1", "--date", "2025-03-01", "--analyte", "CgA", "--value", "80", "--unit", "ng/mL",
             "--as-of", AS_OF)
    refused(enrolled, "amend", "P-1", "lab", "1", "--set", "value=1,400", "--reason", "typo", "--yes",
            "--as-of", AS_OF, field="value", words="write 1400 or 1.4")


# ----------------------------------------------------------------------------- corrections name the patient


@pytest.fixture
def terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    """The commands believe they run in a terminal (their prompts read CliRunner's input)."""
    from tracker.cli import common, entry, log, records

    for module in (common, entry, log, records):
        monkeypatch.setattr(module, "interactive", lambda: True)


@pytest.fixture
def two(enrolled: Cli) -> Cli:
    """P-1 with lab 1 and scan 1, P-2 with lab 2."""
    enrolled("patient", "add", "P-2", *P1[3:])
    for who, value in (("P-1", "80"), ("P-2", "90")):
        r = enrolled("log", "lab", who, "--date", "2025-03-01", "--analyte", "CgA", "--value", value, "--unit",
                     "ng/mL", "--as-of", AS_OF)
        assert r.exit_code == 0, r.output
        if who == "P-1":
            enrolled("log", "scan", "P-1", "--date", "2025-03-01", "--modality", "MRI", "--lesion",
                     "P1:pancreas:12mm", "--as-of", AS_OF)
    return enrolled


@pytest.mark.parametrize("args", [
    ("amend", "P-1", "lab", "2", "--set", "value=85", "--reason", "typo", "--as-of", AS_OF),
    ("void", "P-1", "lab", "2", "--reason", "wrong patient"),
    ("verify", "P-1", "lab", "2"),
])
def test_a_correction_of_another_patient_s_record_is_refused(two: Cli, args: tuple[str, ...]) -> None:
    """Record ids are global: naming the patient keeps a correction from reaching someone else's."""
    refused(two, *args, field="lab 2 is not a record of patient 'P-1'", words="tracker history P-1")


def test_verify_marks_the_record_verified_and_audits_it_as_an_amendment(two: Cli) -> None:
    r = two("verify", "P-1", "scan", "1", "--reason", "radiology report")
    assert r.exit_code == 0, r.output
    assert export(two)["scans"][0]["verified"] is True
    audit = json.loads(two("audit", "P-1", "--format", "json").stdout)
    assert (audit[-1]["action"], audit[-1]["reason"], audit[-1]["changes"]) == ("amend", "radiology report",
                                                                                 "verified: false -> true")
    refused(two, "verify", "P-1", "scan", "1", field="", words="already verified")


def test_in_a_terminal_a_correction_shows_the_record_and_asks_first(two: Cli, terminal: None) -> None:
    before = dump(two)
    r = two("amend", "P-1", "lab", "1", "--set", "value=85", "--reason", "typo", "--as-of", AS_OF, input="n\n")
    assert r.exit_code == 1 and "Nothing was written" in r.stderr
    assert "lab #1 of P-1, 2025-03-01: chromogranin A 80 ng/mL" in r.stderr and "value: 80 -> 85" in r.stderr
    assert dump(two) == before
    r = two("void", "P-1", "lab", "1", "--reason", "wrong patient", input="\n")  # the default is no
    assert r.exit_code == 1 and dump(two) == before
    r = two("amend", "P-1", "lab", "1", "--set", "value=85", "--reason", "typo", "--as-of", AS_OF, input="y\n")
    assert r.exit_code == 0, r.output
    assert export(two)["labs"][0]["value"] == 85


def test_yes_skips_the_question_for_scripts(two: Cli, terminal: None) -> None:
    r = two("void", "P-1", "lab", "1", "--reason", "wrong patient", "--yes")
    assert r.exit_code == 0 and "Void it?" not in r.output


# ----------------------------------------------------------------------------- synthetic only when it is


def test_synthetic_is_stored_from_the_document_and_said_only_then(enrolled: Cli, tmp_path: Path) -> None:
    """A patient added by hand is real: their report never says "synthetic"; an example file
    (`"synthetic": true`) is, and its export says so again."""
    assert enrolled("import", str(EXAMPLES / "syn-growing.json"), "--as-of", AS_OF).exit_code == 0
    assert export(enrolled, "SYN-GROWING")["synthetic"] is True and "synthetic" not in export(enrolled)
    for label, said in (("P-1", False), ("SYN-GROWING", True)):
        out = tmp_path / f"{label}.html"
        assert enrolled("report", label, "--out", str(out), "--as-of", AS_OF).exit_code == 0
        assert ("synthetic" in out.read_text(encoding="utf-8")) is said


def test_tracker_synth_writes_documents_that_import_as_synthetic(enrolled: Cli, tmp_path: Path) -> None:
    out = tmp_path / "cohort.json"
    assert enrolled("synth", "--patients", "2", "--out", str(out)).exit_code == 0
    assert enrolled("import", str(out), "--as-of", AS_OF).exit_code == 0
    labels = [p["label"] for p in json.loads(enrolled("patient", "list", "--format", "json").stdout)]
    synthetic = [export(enrolled, x).get("synthetic", False) for x in labels]
    assert synthetic == [x != "P-1" for x in labels]


# ----------------------------------------------------------------------------- implausible entries


def test_a_size_ten_times_smaller_than_the_last_is_refused_unless_confirmed(enrolled: Cli) -> None:
    """rules.md §5: a size ≤ 1/5 of the lesion's previous one is asked; --confirm stores it verified."""
    enrolled("log", "scan", "P-1", "--date", "2025-03-10", "--modality", "MRI", "--lesion", "P1:pancreas:12mm",
             "--as-of", AS_OF)
    args = ("log", "scan", "P-1", "--date", "2025-09-10", "--modality", "MRI", "--lesion", "P1:pancreas:1.4",
            "--as-of", AS_OF)
    refused(enrolled, *args, field="about nine times smaller than at the last scan (scan #1)",
            words="Was it 14 mm? Nothing was written; if the entry is right, give it again with --confirm")
    r = enrolled(*args, "--confirm")
    assert r.exit_code == 0, r.output
    assert export(enrolled)["scans"][1]["verified"] is True


@pytest.mark.parametrize(("before", "after", "asked"), [("12", "60", True), ("12", "59", False),
                                                         ("12", "2.4", True), ("12", "2.5", False)])
def test_the_size_question_starts_at_five_times_either_way(enrolled: Cli, before: str, after: str,
                                                            asked: bool) -> None:
    enrolled("log", "scan", "P-1", "--date", "2025-03-10", "--modality", "CT", "--lesion",
             f"P1:pancreas:{before}mm", "--as-of", AS_OF)
    r = enrolled("log", "scan", "P-1", "--date", "2025-09-10", "--modality", "MRI", "--lesion",
                 "L1:liver:9mm", "--lesion", f"P1:pancreas:{after}mm", "--as-of", AS_OF)
    assert (r.exit_code == 1 and "--confirm" in r.stderr) is asked, r.output


def test_a_lab_value_outside_the_plausible_range_is_refused_unless_confirmed(enrolled: Cli) -> None:
    """5,000,000 ng/mL chromogranin A is a slip of the unit or extra zeros: asked, not stored."""
    args = ("log", "lab", "P-1", "--date", "2025-03-10", "--analyte", "CgA", "--value", "5000000", "--unit",
            "ng/mL", "--as-of", AS_OF)
    refused(enrolled, *args, field="chromogranin A 5000000 ng/mL is far outside", words="--confirm")
    ok = enrolled("log", "lab", "P-1", "--date", "2025-03-10", "--analyte", "CgA", "--value", "200000", "--unit",
                  "ng/mL", "--as-of", AS_OF)
    assert ok.exit_code == 0, ok.output


def test_in_a_terminal_the_implausible_entry_is_asked(enrolled: Cli, terminal: None) -> None:
    enrolled("log", "scan", "P-1", "--date", "2025-03-10", "--modality", "MRI", "--lesion", "P1:pancreas:12mm",
             "--source", "clinician", "--as-of", AS_OF)
    args = ("log", "scan", "P-1", "--date", "2025-09-10", "--modality", "MRI", "--lesion", "P1:pancreas:1.4mm",
            "--source", "clinician", "--as-of", AS_OF)
    before = dump(enrolled)
    r = enrolled(*args, input="n\n")
    assert r.exit_code == 1 and "Was it 14 mm? [y/N]" in r.output and dump(enrolled) == before
    r = enrolled(*args, input="y\n")
    assert r.exit_code == 0, r.output
    assert export(enrolled)["scans"][1]["verified"] is True


def test_an_amendment_is_asked_too_and_verify_confirms(enrolled: Cli) -> None:
    enrolled("log", "lab", "P-1", "--date", "2025-03-10", "--analyte", "CgA", "--value", "80", "--unit", "ng/mL",
             "--as-of", AS_OF)
    refused(enrolled, "amend", "P-1", "lab", "1", "--set", "value=8000000", "--reason", "typo", "--yes",
            "--as-of", AS_OF, field="is far outside", words="--confirm")
    r = enrolled("amend", "P-1", "lab", "1", "--set", "value=8000000", "--reason", "typo", "--yes", "--confirm",
                 "--as-of", AS_OF)
    assert r.exit_code == 0 and export(enrolled)["labs"][0]["verified"] is True


def test_an_imported_implausible_value_is_flagged_until_verified(enrolled: Cli, tmp_path: Path) -> None:
    """Files are not asked (rules.md §5): the value is stored as given, `data.implausible` (watch)
    names it, flags that rest on it list it in `unconfirmed`; `tracker verify` clears both."""
    from tracker.jsonio.schemacheck import schema_problems

    f = tmp_path / "labs.csv"
    f.write_text("patient,date,analyte,value,unit\nP-1,2025-03-01,CgA,80,ng/mL\nP-1,2025-09-01,CgA,8000000,ng/mL\n")
    assert enrolled("import", str(f), "--as-of", AS_OF).exit_code == 0

    def flags() -> list[dict[str, Any]]:
        r = enrolled("flags", "P-1", "--format", "json", "--as-of", AS_OF)
        assert r.exit_code == 0, r.output
        got: list[dict[str, Any]] = json.loads(r.stdout)
        assert schema_problems(got, "flag.schema.json") == []
        return got

    (check,) = [x for x in flags() if x["rule_id"] == "data.implausible"]
    assert check["severity"] == "watch" and check["unconfirmed"] == ["lab:2"]
    assert any(x["rule_id"] == "marker.rise" and x["unconfirmed"] == ["lab:2"] for x in flags())
    assert enrolled("verify", "P-1", "lab", "2", "--reason", "lab print-out").exit_code == 0
    assert all(x["rule_id"] != "data.implausible" and x["unconfirmed"] == [] for x in flags())


# ----------------------------------------------------------------------------- prompts


def test_a_visit_prompt_asks_every_field_a_rule_reads_and_skip_stores_nothing(enrolled: Cli, terminal: None) -> None:
    """Only a date given: symptoms, PPI and weight are asked; "skip" leaves the weight out.
    Nothing reads as an answer the person did not give."""
    r = enrolled("log", "visit", "P-1", "--date", "2025-09-12", "--source", "patient", "--as-of", AS_OF,
                 input="abdominal pain, Jaundice\nyes\nskip\n")
    assert r.exit_code == 0, r.output
    assert "Any symptoms?" in r.stderr and "proton-pump inhibitor" in r.stderr and "Weight in kg (or skip)" in r.stderr
    v = export(enrolled)["visits"][0]
    assert (v["symptoms"], v["on_ppi"], v["weight_kg"], v["source"]) == (
        ["abdominal_pain", "jaundice"], True, None, "patient")


def test_a_visit_prompt_takes_none_and_no_as_answers_and_asks_again_after_a_mistake(enrolled: Cli,
                                                                                    terminal: None) -> None:
    r = enrolled("log", "visit", "P-1", "--date", "2025-09-12", "--source", "patient", "--as-of", AS_OF,
                 input="tummy ache\nnone\nmaybe\nno\n70,5\n70.5 kg\n")
    assert r.exit_code == 0, r.output
    assert "'tummy ache' is not on the list of symptoms" in r.stderr and "answer yes or no" in r.stderr
    assert "write 705 or 70.5" in r.stderr
    v = export(enrolled)["visits"][0]
    assert (v["symptoms"], v["on_ppi"], v["weight_kg"]) == ([], False, 70.5)


def test_a_script_without_a_terminal_is_never_asked(enrolled: Cli) -> None:
    r = enrolled("log", "visit", "P-1", "--date", "2025-09-12", "--as-of", AS_OF)
    assert r.exit_code == 0 and export(enrolled)["visits"][0]["source"] == "clinician"


def test_a_lab_prompt_asks_for_the_upper_limit_assay_and_lab_each_skippable(enrolled: Cli, terminal: None) -> None:
    r = enrolled("log", "lab", "P-1", "--as-of", AS_OF, "--source", "patient",
                 input="2025-09-12\ncga\n64\nNG/ML\n102\n\nskip\n")
    assert r.exit_code == 0, r.output
    assert "analyte" not in r.stderr.lower() and "Which test?" in r.stderr
    lab = export(enrolled)["labs"][0]
    assert (lab["analyte"], lab["value"], lab["unit"], lab["upper_limit"], lab["assay"], lab["lab"]) == (
        "chromogranin_a", 64, "ng/mL", 102, "", "")


def test_a_scan_prompt_takes_several_lesions_each_size_with_its_unit(enrolled: Cli, terminal: None) -> None:
    """The known labels are offered; a size without mm or cm is asked again; an empty line ends."""
    enrolled("log", "scan", "P-1", "--date", "2025-03-10", "--modality", "MRI", "--lesion", "P1:pancreas:12mm",
             "--source", "clinician", "--as-of", AS_OF)
    r = enrolled("log", "scan", "P-1", "--date", "2025-09-12", "--modality", "mri", "--source", "patient",
                 "--as-of", AS_OF, input="p1\n13\n1.3 cm\nN1\nregional node\n8mm\n\n")
    assert r.exit_code == 0, r.output
    assert "known: P1" in r.stderr and "LABEL:SITE:SIZE" not in r.stderr
    assert "the size of P1: '13' has no unit; write 13 mm or 13 cm" in r.stderr
    lesions = export(enrolled)["scans"][1]["lesions"]
    assert [(x["lesion"], x["longest_mm"], x["short_axis_mm"]) for x in lesions] == [("N1", None, 8), ("P1", 13, None)]


def test_no_at_the_another_lesion_question_ends_the_list(enrolled: Cli, terminal: None) -> None:
    """"n" answers the question "Another lesion?"; it never becomes a lesion called N."""
    r = enrolled("log", "scan", "P-1", "--date", "2025-03-10", "--modality", "MRI", "--source", "patient",
                 "--as-of", AS_OF, input="P1\npancreas\n12 mm\nn\n")
    assert r.exit_code == 0, r.output
    assert [x["lesion"] for x in export(enrolled)["scans"][0]["lesions"]] == ["P1"]


def test_who_entered_it_is_asked_once_or_taken_from_the_setting(enrolled: Cli, terminal: None,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    r = enrolled("log", "pathology", "P-1", "--date", "2025-03-01", "--ki67", "2", "--as-of", AS_OF,
                 input="patient\n")
    assert r.exit_code == 0 and r.stderr.count("Who is entering this") == 1, r.output
    monkeypatch.setenv("TRACKER_SOURCE", "patient")
    r = enrolled("log", "visit", "P-1", "--date", "2025-09-12", "--no-symptoms", "--no-ppi", "--weight", "70",
                 "--as-of", AS_OF)
    assert r.exit_code == 0 and "Who is entering" not in r.output
    doc = export(enrolled)
    assert (doc["pathology"][0]["source"], doc["visits"][0]["source"]) == ("patient", "patient")


def test_the_report_marks_values_the_patient_entered_unverified(enrolled: Cli, tmp_path: Path) -> None:
    enrolled("log", "lab", "P-1", "--date", "2025-09-12", "--analyte", "CgA", "--value", "64", "--unit", "ng/mL",
             "--source", "patient", "--as-of", AS_OF)
    out = tmp_path / "r.html"
    assert enrolled("report", "P-1", "--out", str(out), "--as-of", AS_OF).exit_code == 0
    assert "chromogranin A: 64 ng/mL (2025-09-12) [entered by the patient, not verified]" in out.read_text()


def test_a_bad_date_says_the_form_and_names_the_date(enrolled: Cli) -> None:
    refused(enrolled, "log", "visit", "P-1", "--date", "31/12/2025", field="the date: '31/12/2025'",
            words="use YYYY-MM-DD, for example 2025-12-31")


def test_in_a_real_terminal_a_bare_log_visit_asks_and_stores_only_what_was_said(tmp_path: Path) -> None:
    """The whole path through a pseudo-terminal (no test switch): the person is asked who they
    are, the date (again, after 31/12/2025), symptoms, PPI and weight (again, after 70,5)."""
    import os
    import pty
    import subprocess
    import sys

    env = {**os.environ, "TRACKER_HOME": str(tmp_path), "TRACKER_USER": "test-user"}
    env.pop("TRACKER_SOURCE", None)
    tracker = [sys.executable, "-m", "tracker"]
    subprocess.run([*tracker, *P1[:3], *P1[3:], "--source", "patient"], env=env, check=True, capture_output=True)
    leader, follower = pty.openpty()
    answers = "patient\n31/12/2025\n2025-09-12\nback pain\nno\n70,5\nskip\n"
    proc = subprocess.Popen([*tracker, "log", "visit", "P-1", "--as-of", AS_OF], env=env, stdin=follower,
                            stdout=follower, stderr=follower, close_fds=True)
    os.close(follower)
    os.write(leader, answers.encode())
    out = b""
    while True:
        try:
            chunk = os.read(leader, 4096)
        except OSError:  # the terminal closed with the program
            break
        if not chunk:
            break
        out += chunk
    assert proc.wait(timeout=60) == 0, out
    text = out.decode()
    assert "use YYYY-MM-DD, for example 2025-12-31" in text and "write 705 or 70.5" in text
    done = subprocess.run([*tracker, "export", "P-1"], env=env, check=True, capture_output=True, text=True)
    visit = json.loads(done.stdout)["visits"][0]
    assert (visit["symptoms"], visit["on_ppi"], visit["weight_kg"], visit["source"]) == (
        ["back_pain"], False, None, "patient")


def test_zero_mm_means_disappeared_and_is_refused_for_a_lesion_never_seen(enrolled: Cli) -> None:
    """RECIST 1.1: a non-nodal lesion may be recorded as 0 mm when it has disappeared, so 0 mm is
    accepted only for a lesion an earlier scan shows; for any other it is refused, nothing written."""
    enrolled("log", "scan", "P-1", "--date", "2025-03-10", "--modality", "CT", "--lesion", "L1:liver:12mm",
             "--as-of", AS_OF)
    before = dump(enrolled)
    refused(enrolled, "log", "scan", "P-1", "--date", "2025-09-10", "--modality", "CT", "--lesion", "L2:liver:0mm",
            "--as-of", AS_OF, field="the size of L2", words="0 mm means L2 has disappeared, but no earlier scan")
    assert dump(enrolled) == before
    r = enrolled("log", "scan", "P-1", "--date", "2025-09-10", "--modality", "CT", "--lesion", "L1:liver:0mm",
                 "--as-of", AS_OF)
    assert r.exit_code == 0, r.output
    assert export(enrolled)["scans"][1]["lesions"][0]["longest_mm"] == 0
