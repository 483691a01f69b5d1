"""Moving a SQLite history to the clinic server (export, then import) keeps what was done about
the flags: acknowledgements (by whom, when), snoozes and which flags were already shown (issue 19
item 6). Against the real PostgreSQL server the tests start (tests/conftest.py)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests.conftest import EXAMPLES, Cli
from tracker.jsonio.schemacheck import load_schema

AS_OF = "2026-11-22"


def _flags(cli: Cli) -> dict[str, dict[str, Any]]:
    r = cli("flags", "--all", "--as-of", AS_OF, "--snoozed", "--format", "json")
    assert r.exit_code == 0, r.output
    return {f["key"]: f for f in json.loads(r.stdout)}


def test_export_then_import_keeps_acknowledgements_snoozes_and_seen_flags(
        make_cli: Callable[[str], Cli], sqlite_url: str, db_url: str, tmp_path: Path) -> None:
    laptop = make_cli(sqlite_url)
    for f in [*sorted(EXAMPLES.glob("syn-*.json")), EXAMPLES / "labs.csv"]:
        assert laptop("import", str(f), "--as-of", AS_OF).exit_code == 0
    assert laptop("worklist", "--as-of", AS_OF).exit_code == 0  # every flag shown once
    for args in (("flag", "ack", "SYN-GROWING", "growth.absolute", "--reason", "on the board list"),
                 ("flag", "snooze", "SYN-GROWING", "overdue", "imaging", "--until", "2026-12-20",
                  "--reason", "booked")):
        assert laptop(*args, "--as-of", AS_OF).exit_code == 0
    before = _flags(laptop)
    out = tmp_path / "all.json"
    assert laptop("export", "--all", "--out", str(out)).exit_code == 0
    from jsonschema import Draft202012Validator, FormatChecker

    Draft202012Validator(load_schema("patient.schema.json"), format_checker=FormatChecker()).validate(
        json.loads(out.read_text()))
    server = make_cli(db_url)
    r = server("import", str(out), "--as-of", AS_OF)
    assert r.exit_code == 0, r.output
    after = _flags(server)
    assert after == before
    ack = next(f for f in after.values() if f["rule_id"] == "growth.absolute")
    assert ack["acknowledged_by"] == "test-user" and not ack["new"]
    assert any(f["snoozed_until"] == "2026-12-20" for f in after.values())
    assert not any(f["new"] for f in after.values())
    # safe to run twice: nothing added the second time, and the export is the same
    assert server("import", str(out), "--as-of", AS_OF).exit_code == 0
    assert _flags(server) == before
    again = tmp_path / "again.json"
    assert server("export", "--all", "--out", str(again)).exit_code == 0
    assert json.loads(again.read_text()) == json.loads(out.read_text())


def test_a_review_that_cannot_be_read_is_refused_and_nothing_is_written(make_cli: Callable[[str], Cli], db_url: str,
                                                                         tmp_path: Path) -> None:
    doc = json.loads((EXAMPLES / "syn-growing.json").read_text())
    doc["flag_reviews"] = [{"flag_key": "growth.absolute|scan:1/P1,scan:3/P1", "action": "acknowledge", "until": None,
                            "severity_at_review": "action", "reason": "r", "user": "anna", "at": "yesterday"}]
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(doc))
    cli = make_cli(db_url)
    r = cli("import", str(bad), "--as-of", AS_OF)
    assert r.exit_code == 1 and "flag_reviews" in r.stderr and "Traceback" not in r.output, r.output
    assert json.loads(cli("patient", "list", "--format", "json").stdout) == []
