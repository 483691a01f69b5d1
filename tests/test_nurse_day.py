"""A nurse's day (issue 19): tables that fit the terminal, a worklist that remembers what was done,
and flags named by short handles."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from tests.conftest import EXAMPLES, Cli
from tracker.cli.common import table

AS_OF = "2026-11-22"
TABLES: list[tuple[tuple[str, ...], tuple[str, ...]]] = [  # (command, what must appear whole)
    (("worklist", "--as-of", AS_OF), ("SYN-GROWING", "SYN-METASTATIC", "growth.absolute", "2026-04-08")),
    (("worklist", "--as-of", AS_OF, "--within", "400"), ("SYN-GROWING", "2026-04-08")),
    (("schedule", "SYN-GROWING", "--as-of", AS_OF), ("2026-04-08", "2026-03-09", "overdue")),
    (("flags", "SYN-GROWING", "--as-of", AS_OF), ("SYN-GROWING", "growth.absolute", "2026-01-08")),
    (("flags", "--all", "--as-of", AS_OF, "--snoozed"), ("SYN-METASTATIC", "recist.progression")),
    (("flags", "--all", "--history"), ("SYN-GROWING", "growth.absolute", "2026-01-08")),
    (("measures", "SYN-GROWING", "--as-of", AS_OF), ("SYN-GROWING", "2026-01-08")),
    (("measures", "SYN-METASTATIC", "--as-of", AS_OF), ("SYN-METASTATIC",)),
    (("protocol", "show", "pnet-small-nf"), ("growth.absolute",)),
    (("protocol", "show", "pnet-metastatic-ww"), ("recist.progression",)),
    (("protocol", "list"), ("pnet-metastatic-ww", "pnet-small-nf")),
    (("history", "SYN-GROWING", "--voided"), ("2025-01-10", "2026-02-10")),
    (("audit",), ("import",)),
    (("patient", "list"), ("SYN-GROWING", "SYN-METASTATIC")),
]


@pytest.fixture
def loaded(make_cli: Callable[[str], Cli], sqlite_url: str) -> Cli:
    cli = make_cli(sqlite_url)
    for f in [*sorted(EXAMPLES.glob("syn-*.json")), EXAMPLES / "labs.csv"]:
        r = cli("import", str(f), "--as-of", AS_OF)
        assert r.exit_code == 0, r.output
    return cli


def rows(cli: Cli, *args: str) -> list[dict[str, Any]]:
    r = cli(*args, "--format", "json")
    assert r.exit_code == 0, r.output
    return json.loads(r.stdout)  # type: ignore[no-any-return]


@pytest.mark.parametrize("columns", [80, 132, 220])
def test_no_table_line_is_wider_than_the_terminal(loaded: Cli, columns: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """At COLUMNS=80 (and wider) no line of any table is wider than the terminal, and no
    patient label, date or rule id is cut in two."""
    monkeypatch.setenv("COLUMNS", str(columns))
    for args, whole in TABLES:
        r = loaded(*args)
        assert r.exit_code == 0, (args, r.output)
        lines = r.stdout.splitlines()
        assert lines, args
        widest = max(lines, key=len)
        assert len(widest) <= columns, (args, widest)
        for word in whole:
            assert word in r.stdout, (args, word)


def test_a_wide_terminal_keeps_a_worklist_row_on_one_line(loaded: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    """With room to spare, an item's row is one line (wrapping only when needed)."""
    monkeypatch.setenv("COLUMNS", "400")
    out = loaded("worklist", "--as-of", AS_OF).stdout
    assert any("SYN-METASTATIC" in line and "due_soon" in line and "brought forward" in line
               for line in out.splitlines())


def test_long_text_wraps_but_ids_and_dates_stay_whole() -> None:
    """A long reason wraps inside its column; the id, label and date columns are never broken."""
    row = {"id": 12345, "patient": "A-VERY-LONG-LABEL", "due_date": "2026-04-08", "reason": "word " * 60}
    out = table([row], ["id", "patient", "due_date", "reason"], max_width=60)
    lines = out.splitlines()
    assert max(map(len, lines)) <= 60 and len(lines) > 4
    assert "12345" in lines[2] and "A-VERY-LONG-LABEL" in lines[2] and "2026-04-08" in lines[2]


def test_a_table_too_wide_for_the_terminal_becomes_one_block_per_row() -> None:
    """Columns that cannot fit side by side are printed as 'column  value' lines, nothing cut."""
    row = {f"column_{i}": f"value-{i}-2026-01-0{i}" for i in range(1, 8)}
    out = table([row, row], list(row), max_width=50)
    assert max(map(len, out.splitlines())) <= 50
    assert out.count("column_3  value-3-2026-01-03") == 2


def test_csv_and_json_do_not_depend_on_the_terminal(loaded: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    """--format csv|json are the same at any width."""
    loaded("worklist", "--as-of", AS_OF)  # the flags are no longer new after this
    outs = []
    for columns in ("40", "300"):
        monkeypatch.setenv("COLUMNS", columns)
        outs.append([loaded("worklist", "--as-of", AS_OF, "--format", f).stdout for f in ("csv", "json")])
    assert outs[0] == outs[1]


def test_flags_and_worklist_show_the_same_handle_and_ack_takes_it(loaded: Cli) -> None:
    """The tumour-board row of the worklist carries the flag's number from `tracker flags`;
    `flag ack PATIENT N` acknowledges that flag, and every output then says by whom and when."""
    flag = next(f for f in rows(loaded, "flags", "SYN-GROWING", "--as-of", AS_OF) if f["rule_id"] == "growth.absolute")
    board = next(r for r in rows(loaded, "worklist", "--as-of", AS_OF)
                 if r["patient"] == "SYN-GROWING" and r["status"] == "tumour_board")
    assert board["handle"] == flag["handle"] and board["key"] == flag["key"] and board["acknowledged"] is False
    table_out = loaded("flags", "SYN-GROWING", "--as-of", AS_OF).stdout
    assert f"#{flag['handle']}  ACTION  SYN-GROWING  growth.absolute" in table_out
    r = loaded("flag", "ack", "SYN-GROWING", str(flag["handle"]), "--reason", "on the board list", "--as-of", AS_OF)
    assert r.exit_code == 0, r.output
    board = next(r for r in rows(loaded, "worklist", "--as-of", AS_OF) if r["key"] == flag["key"])
    assert board["acknowledged"] is True and board["acknowledged_by"] == "test-user"
    assert board["acknowledged_at"].startswith("20")
    csv_text = loaded("worklist", "--as-of", AS_OF, "--format", "csv").stdout
    header, *lines = csv_text.splitlines()
    assert "acknowledged_by" in header and any("test-user" in line for line in lines)
    worklist_table = loaded("worklist", "--as-of", AS_OF).stdout
    assert "acknowledged" in worklist_table and "by test-user" in worklist_table and " UTC" in worklist_table
    assert "acknowledged by test-user 20" in loaded("flags", "SYN-GROWING", "--as-of", AS_OF).stdout


def test_overdue_kind_names_the_overdue_flag_and_snoozing_it_is_shown(loaded: Cli) -> None:
    """`flag snooze PATIENT overdue imaging` snoozes the imaging's overdue flag; the overdue row
    of the worklist says until when, and `flags` says how many snoozed flags it hides."""
    r = loaded("flag", "snooze", "SYN-GROWING", "overdue", "imaging", "--until", "2026-12-20",
               "--reason", "MRI booked", "--as-of", AS_OF)
    assert r.exit_code == 0, r.output
    row = next(r for r in rows(loaded, "worklist", "--as-of", AS_OF)
               if r["patient"] == "SYN-GROWING" and r["kind"] == "imaging")
    assert row["status"] == "overdue" and row["snoozed_until"] == "2026-12-20" and row["handle"] is not None
    r = loaded("flags", "SYN-GROWING", "--as-of", AS_OF)
    assert "1 snoozed flag not shown; --snoozed lists it." in r.stderr
    assert "snoozed until 2026-12-20" in loaded("flags", "SYN-GROWING", "--as-of", AS_OF, "--snoozed").stdout
    worklist_table = loaded("worklist", "--as-of", AS_OF).stdout
    assert "snoozed until" in worklist_table and "2026-12-20" in worklist_table


def test_an_unknown_or_ambiguous_handle_is_one_sentence(loaded: Cli) -> None:
    """A number no flag has, or 'overdue lab' when several labs are overdue, is refused plainly."""
    before = loaded("flags", "--all", "--history", "--format", "json").stdout
    r = loaded("flag", "ack", "SYN-GROWING", "99", "--reason", "x", "--as-of", AS_OF)
    assert r.exit_code == 1 and "no current flag '99' for SYN-GROWING" in r.stderr and "Traceback" not in r.output
    r = loaded("flag", "ack", "SYN-GROWING", "overdue", "scan", "--reason", "x", "--as-of", AS_OF)
    assert r.exit_code == 1 and "no current flag 'overdue scan'" in r.stderr
    assert loaded("flags", "--all", "--history", "--format", "json").stdout == before
