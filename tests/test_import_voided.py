"""Voided records count nowhere, and re-importing a file never brings a voided record back
(on SQLite and PostgreSQL)."""

from __future__ import annotations

import json
from typing import Any

from tests.conftest import EXAMPLES, Cli

AS_OF = "2026-11-22"
GROWING = EXAMPLES / "syn-growing.json"


def rules(cli: Cli) -> set[str]:
    r = cli("flags", "SYN-GROWING", "--as-of", AS_OF, "--format", "json")
    assert r.exit_code == 0, r.output
    return {f["rule_id"] for f in json.loads(r.stdout)}


def history(cli: Cli, *args: str) -> list[dict[str, Any]]:
    r = cli("history", "SYN-GROWING", "--format", "json", *args)
    assert r.exit_code == 0, r.output
    return json.loads(r.stdout)


def schedule(cli: Cli) -> list[dict[str, Any]]:
    r = cli("schedule", "SYN-GROWING", "--as-of", AS_OF, "--format", "json")
    assert r.exit_code == 0, r.output
    return json.loads(r.stdout)


def test_reimporting_a_file_never_brings_a_voided_record_back(cli: Cli) -> None:
    """import syn-growing.json, void lab 3, import it again: the voided result stays voided, is
    reported as "voided here, not imported again", and marker.rise does not fire again."""
    assert cli("import", str(GROWING), "--as-of", AS_OF).exit_code == 0
    assert "marker.rise" in rules(cli)
    assert cli("void", "SYN-GROWING", "lab", "3", "--reason", "entered for the wrong patient").exit_code == 0
    assert "marker.rise" not in rules(cli)
    r = cli("import", str(GROWING), "--as-of", AS_OF)
    assert r.exit_code == 0, r.output
    assert "0 record(s) added" in r.stderr and "1 voided here, not imported again" in r.stderr
    assert "marker.rise" not in rules(cli)
    assert [x["id"] for x in history(cli) if x["kind"] == "lab"] == [1, 2]


def test_a_voided_scan_counts_for_no_flag_nadir_fit_or_schedule(cli: Cli) -> None:
    """Voiding the last scan (P1 17 mm): no growth flag reads it, and the imaging it completed is
    due again as if it had not been done."""
    assert cli("import", str(GROWING), "--as-of", AS_OF).exit_code == 0
    before = schedule(cli)
    assert {"growth.absolute", "growth.rate"} <= rules(cli)
    assert cli("void", "SYN-GROWING", "scan", "3", "--reason", "wrong patient").exit_code == 0
    assert not {"growth.absolute", "growth.rate", "growth.relative"} & rules(cli)
    imaging = next(i for i in schedule(cli) if i["kind"] == "imaging")
    assert imaging["due_date"] < next(i for i in before if i["kind"] == "imaging")["due_date"]
    assert "2025-07-08" in imaging["reason"]
