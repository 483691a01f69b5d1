"""Flags, schedules, the worklist and protocols through the CLI, on SQLite and PostgreSQL.

The examples are synthetic: SYN-GROWING is the worked example 12 → 14 → 17 mm (clinical-evidence §9).
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator, FormatChecker

from tests.conftest import EXAMPLES, Cli
from tracker.jsonio.schemacheck import load_schema

AS_OF = "2026-11-22"


@pytest.fixture
def loaded(cli: Cli) -> Cli:
    """The three synthetic example patients and the lab CSV."""
    for f in [*sorted(EXAMPLES.glob("syn-*.json")), EXAMPLES / "labs.csv"]:
        r = cli("import", str(f), "--as-of", AS_OF)
        assert r.exit_code == 0, r.output
    return cli


def flags(cli: Cli, *args: str) -> list[dict[str, Any]]:
    r = cli("flags", *args, "--format", "json")
    assert r.exit_code == 0, r.output
    return json.loads(r.stdout)  # type: ignore[no-any-return]


def validate(doc: Any, schema: str) -> None:
    Draft202012Validator(load_schema(schema), format_checker=FormatChecker()).validate(doc)


def test_flags_follow_the_worked_example_as_of_twelve_months(loaded: Cli) -> None:
    """At 12 months (17 mm) growth.absolute (action), growth.relative and growth.rate (watch) fire; not size."""
    ids = {f["rule_id"] for f in flags(loaded, "SYN-GROWING", "--as-of", "2026-01-20")}
    assert {"growth.absolute", "growth.relative", "growth.rate"} <= ids
    assert "size.threshold" not in ids


def test_flags_as_of_six_months_see_only_the_evidence_up_to_then(loaded: Cli) -> None:
    """At 6 months (14 mm, +2 mm) no growth flag fires: later scans do not count."""
    ids = {f["rule_id"] for f in flags(loaded, "SYN-GROWING", "--as-of", "2025-07-20")}
    assert not ids & {"growth.absolute", "growth.relative", "growth.rate"}


def test_flag_json_matches_its_schema_and_lists_action_first(loaded: Cli) -> None:
    """Every flag has the fields of schemas/flag.schema.json; action flags come first."""
    rows = flags(loaded, "--all", "--as-of", AS_OF)
    validate(rows, "flag.schema.json")
    ranks = {"action": 0, "watch": 1, "info": 2}
    for patient in {r["patient"] for r in rows}:
        sev = [ranks[r["severity"]] for r in rows if r["patient"] == patient]
        assert sev == sorted(sev)


def test_flags_are_new_once_then_remembered(loaded: Cli) -> None:
    """A flag not seen before is marked new; the next evaluation shows it as seen; --history keeps it."""
    first = flags(loaded, "SYN-GROWING", "--as-of", AS_OF)
    assert all(f["new"] for f in first)
    second = flags(loaded, "SYN-GROWING", "--as-of", AS_OF)
    assert not any(f["new"] for f in second)
    hist = json.loads(loaded("flags", "SYN-GROWING", "--history", "--format", "json").stdout)
    assert {h["key"] for h in hist} == {f["key"] for f in first}


def test_acknowledge_keeps_a_flag_and_snooze_hides_a_watch_flag(loaded: Cli) -> None:
    """Acknowledged flags stay listed; a snoozed watch flag hides until its date; action flags cannot be snoozed."""
    r = loaded("flag", "ack", "SYN-GROWING", "growth.absolute", "--reason", "on the board list", "--as-of", AS_OF)
    assert r.exit_code == 0, r.output
    rows = {f["rule_id"]: f for f in flags(loaded, "SYN-GROWING", "--as-of", AS_OF)}
    assert rows["growth.absolute"]["acknowledged"] is True
    r = loaded("flag", "snooze", "SYN-GROWING", "marker.rise", "--until", "2027-01-15", "--reason", "repeat off PPI",
               "--as-of", AS_OF)
    assert r.exit_code == 0, r.output
    assert "marker.rise" not in {f["rule_id"] for f in flags(loaded, "SYN-GROWING", "--as-of", AS_OF)}
    assert "marker.rise" in {f["rule_id"] for f in flags(loaded, "SYN-GROWING", "--as-of", "2027-01-15")}
    r = loaded("flag", "snooze", "SYN-GROWING", "growth.absolute", "--until", "2027-01-01", "--reason", "x",
               "--as-of", AS_OF)
    assert r.exit_code == 1 and "only watch flags can be snoozed" in r.stderr
    r = loaded("flag", "ack", "SYN-GROWING", "growth.absolute", "--reason", "", "--as-of", AS_OF)
    assert r.exit_code == 1 and "--reason" in r.stderr


def test_the_schedule_states_why_imaging_was_brought_forward(loaded: Cli) -> None:
    """An open watch/action flag brings imaging to 3 months after its evidence, and says which flag."""
    r = loaded("schedule", "SYN-GROWING", "--as-of", "2026-02-01", "--format", "json")
    assert r.exit_code == 0, r.output
    rows = json.loads(r.stdout)
    for row in rows:
        validate(row, "due-item.schema.json")
    imaging = next(r for r in rows if r["kind"] == "imaging")
    assert imaging["due_date"] == "2026-04-08"
    assert imaging["escalated_by"] and imaging["escalated_by"] in imaging["reason"]


def test_a_patient_who_left_has_nothing_due_and_no_current_flags(loaded: Cli) -> None:
    """From the leaving date nothing falls due and the current flag list is empty; history keeps the log."""
    flags(loaded, "SYN-GROWING", "--as-of", AS_OF)
    r = loaded("patient", "leave", "SYN-GROWING", "--date", "2026-03-01", "--reason", "treatment", "--as-of", AS_OF)
    assert r.exit_code == 0, r.output
    assert json.loads(loaded("schedule", "SYN-GROWING", "--as-of", AS_OF, "--format", "json").stdout) == []
    assert flags(loaded, "SYN-GROWING", "--as-of", AS_OF) == []
    assert json.loads(loaded("flags", "SYN-GROWING", "--history", "--format", "json").stdout)


def test_the_worklist_puts_tumour_board_flags_first_then_overdue(loaded: Cli) -> None:
    """The worklist merges action flags and due items, most urgent first, and filters by status."""
    r = loaded("worklist", "--as-of", AS_OF, "--format", "json")
    assert r.exit_code == 0, r.output
    rows = json.loads(r.stdout)
    order = ["tumour_board", "overdue", "due", "due_soon", "not_due"]
    statuses = [order.index(x["status"]) for x in rows]
    assert statuses == sorted(statuses) and statuses[0] == 0
    assert any(x["status"] == "overdue" and x["patient"] == "SYN-GROWING" for x in rows)
    only = json.loads(loaded("worklist", "--as-of", AS_OF, "--status", "overdue", "--format", "json").stdout)
    assert only and {x["status"] for x in only} == {"overdue"}
    text = loaded("worklist", "--as-of", AS_OF, "--format", "csv").stdout
    assert next(csv.DictReader(io.StringIO(text)))["status"] == "tumour_board"
    assert any(x["what"] == "chromogranin_a" for x in rows)  # data keep the code...


def test_tables_name_a_lab_as_people_write_it(loaded: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    """...and the tables a nurse reads say "chromogranin A" (the JSON and CSV keep the code)."""
    monkeypatch.setenv("COLUMNS", "200")  # no wrapping inside the name
    for args in (("worklist", "--as-of", AS_OF), ("schedule", "SYN-GROWING", "--as-of", AS_OF)):
        r = loaded(*args)
        assert r.exit_code == 0, r.output
        assert "chromogranin A" in r.stdout and "chromogranin_a" not in r.stdout


def test_the_worklist_calendar_has_stable_uids(loaded: Cli) -> None:
    """Two exports of the worklist calendar carry the same event UIDs."""
    from icalendar import Calendar

    def uids(as_of: str) -> set[str]:
        r = loaded("worklist", "--as-of", as_of, "--within", "400", "--format", "ics")
        assert r.exit_code == 0, r.output
        return {str(e["UID"]) for e in Calendar.from_ical(r.stdout).walk("VEVENT")}

    assert uids(AS_OF) and uids(AS_OF) == uids("2026-11-25")


def test_a_refused_review_and_a_schedule_leave_flags_new(loaded: Cli, tmp_path: Path) -> None:
    """Only showing flags marks them seen: a refused ack (typo, a mere prefix of a rule id, a bad
    --until) or printing the schedule leaves every flag new."""
    for args in [("flag", "ack", "SYN-GROWING", "growth.absolut", "--reason", "typo"),
                 ("flag", "ack", "SYN-GROWING", "growth", "--reason", "a prefix is not a rule id"),
                 ("flag", "snooze", "SYN-GROWING", "marker.rise", "--until", "2030-01-01", "--reason", "too far"),
                 ("flag", "ack", "SYN-GROWING", "growth.absolute", "--reason", " ")]:
        r = loaded(*args, "--as-of", AS_OF)
        assert r.exit_code == 1 and "Traceback" not in r.output, r.output
    assert loaded("schedule", "SYN-GROWING", "--as-of", AS_OF).exit_code == 0
    out = str(tmp_path / "size.png")
    assert loaded("plot", "SYN-GROWING", "--kind", "size", "--out", out, "--as-of", AS_OF).exit_code == 0
    shown = flags(loaded, "SYN-GROWING", "--as-of", AS_OF)
    assert shown and all(f["new"] for f in shown)


def test_the_reviewed_flag_counts_as_seen(loaded: Cli) -> None:
    """Acknowledging a flag before listing flags logs it as seen; the others stay new."""
    r = loaded("flag", "ack", "SYN-GROWING", "growth.absolute", "--reason", "seen in clinic", "--as-of", AS_OF)
    assert r.exit_code == 0, r.output
    rows = {f["rule_id"]: f for f in flags(loaded, "SYN-GROWING", "--as-of", AS_OF)}
    assert rows["growth.absolute"]["new"] is False and rows["growth.absolute"]["acknowledged"] is True
    assert rows["growth.relative"]["new"] is True


def test_far_dates_are_refused_not_crashed_on(loaded: Cli) -> None:
    """A --within of millions of days or an as-of beyond the calendar the tool works in is one sentence."""
    for args, words in [(("worklist", "--within", "3000000"), "between 0 and 3660 days"),
                        (("worklist", "--as-of", "9999-12-31"), "outside the years 1900 to 2199"),
                        (("worklist", "--as-of", ""), "is empty"),
                        (("flags", "--all", "--as-of", "20261122"), "YYYY-MM-DD")]:
        r = loaded(*args)
        assert r.exit_code == 1 and words in r.stderr and "Traceback" not in r.output, r.output
    r = loaded("worklist", "--as-of", "2199-12-31", "--format", "json")
    assert r.exit_code == 0, r.output


def test_bad_worklist_and_schedule_options_are_refused(loaded: Cli) -> None:
    """An unknown status, a bad as-of date or an unknown patient: one sentence, exit 1."""
    for args, words in [
        (("worklist", "--status", "late"), "unknown status 'late'"),
        (("worklist", "--as-of", "2026-13-01"), "not a date that exists"),
        (("schedule", "SYN-NOBODY"), "no patient 'SYN-NOBODY'"),
        (("flags",), "name one patient or pass --all"),
    ]:
        r = loaded(*args)
        assert r.exit_code == 1 and words in r.stderr, r.output


def test_protocol_preview_validate_and_show(cli: Cli, tmp_path: Path) -> None:
    """A protocol can be previewed before enrolment, exported, validated and its rules read with sources."""
    r = cli("protocol", "preview", "pnet-small-nf", "--start", "2025-08-31", "--years", "2", "--format", "json")
    assert r.exit_code == 0, r.output
    dates = [x["due_date"] for x in json.loads(r.stdout) if x["kind"] == "imaging"]
    assert dates[0] == "2026-02-28"
    doc = cli("protocol", "show", "pnet-small-nf", "--format", "json").stdout
    mine = tmp_path / "mine.json"
    mine.write_text(doc.replace('"size_max_mm": 20', '"size_max_mm": 10').replace('"pnet-small-nf"', '"mine"'))
    r = cli("protocol", "validate", str(mine))
    assert r.exit_code == 0 and r.stdout.strip() == "mine 1.0", r.output
    broken = tmp_path / "broken.json"
    broken.write_text(doc.replace('"interval_months": 6', '"interval_months": "six"'))
    r = cli("protocol", "validate", str(broken))
    assert r.exit_code == 1 and "interval_months" in r.stderr
    assert "size.threshold" in cli("protocol", "show", "pnet-small-nf").stdout


def test_measures_report_growth_and_not_evaluable_reasons(loaded: Cli) -> None:
    """Measures show change since nadir and the growth rate, and say why a rate is not evaluable."""
    rows = json.loads(loaded("measures", "SYN-GROWING", "--format", "json").stdout)
    p1 = next(r for r in rows if r["what"] == "lesion P1")
    assert p1["change_nadir"] == "+5 mm (+41.7 %)" and p1["rate"] == "5.04 mm/year"
    early = json.loads(loaded("measures", "SYN-GROWING", "--as-of", "2025-02-01", "--format", "json").stdout)
    assert "not evaluable" in next(r for r in early if r["what"] == "lesion P1")["notes"]
