"""Every JSON output validates against its schema in schemas/ (issue 19 item 3): each command
that takes --format json is run on the example patients and its output checked."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
import typer
from jsonschema import Draft202012Validator, FormatChecker

from tests.conftest import EXAMPLES, Cli
from tracker.jsonio.schemacheck import load_schema

AS_OF = "2026-11-22"
#: (command, schema, whether the output is a list of objects the schema describes one of)
OUTPUTS: list[tuple[tuple[str, ...], str, bool]] = [
    (("patient", "list"), "patient-row.schema.json", False),
    (("patient", "show", "SYN-GROWING"), "patient-row.schema.json", False),
    (("history", "SYN-GROWING", "--voided"), "history-row.schema.json", False),
    (("history", "SYN-METASTATIC"), "history-row.schema.json", False),
    (("audit",), "audit-row.schema.json", False),
    (("flags", "--all", "--as-of", AS_OF, "--snoozed"), "flag.schema.json", False),
    (("flags", "--all", "--history"), "flag-history.schema.json", False),
    (("measures", "SYN-GROWING", "--as-of", AS_OF), "measure-row.schema.json", False),
    (("measures", "SYN-METASTATIC", "--as-of", AS_OF), "measure-row.schema.json", False),
    (("schedule", "SYN-GROWING", "--as-of", AS_OF), "due-item.schema.json", True),
    (("worklist", "--as-of", AS_OF, "--within", "400"), "worklist-row.schema.json", False),
    (("protocol", "list"), "protocol-list.schema.json", False),
    (("protocol", "show", "pnet-small-nf"), "protocol.schema.json", False),
    (("protocol", "show", "pnet-metastatic-ww"), "protocol.schema.json", False),
    (("protocol", "preview", "pnet-small-nf", "--start", "2026-01-15"), "due-item.schema.json", True),
    (("export", "--all"), "patient.schema.json", False),
    (("export", "SYN-GROWING"), "patient.schema.json", False),
]


@pytest.fixture
def loaded(make_cli: Callable[[str], Cli], sqlite_url: str) -> Cli:
    """The example patients, with an acknowledged and a snoozed flag and a voided record."""
    cli = make_cli(sqlite_url)
    for f in [*sorted(EXAMPLES.glob("syn-*.json")), EXAMPLES / "labs.csv"]:
        assert cli("import", str(f), "--as-of", AS_OF).exit_code == 0
    for args in (("flag", "ack", "SYN-GROWING", "growth.absolute", "--reason", "on the board list"),
                 ("flag", "snooze", "SYN-GROWING", "overdue", "imaging", "--until", "2026-12-20", "--reason", "booked"),
                 ("log", "visit", "SYN-METASTATIC", "--date", "2026-10-01", "--weight", "60"),
                 ("void", "SYN-METASTATIC", "visit", "4", "--reason", "entered twice")):
        r = cli(*args, "--as-of", AS_OF) if args[0] == "flag" else cli(*args)
        assert r.exit_code == 0, (args, r.output)
    return cli


def validate(doc: Any, schema: str) -> None:
    Draft202012Validator(load_schema(schema), format_checker=FormatChecker()).validate(doc)


def test_every_json_output_validates_against_its_schema(loaded: Cli) -> None:
    for args, schema, each in OUTPUTS:
        r = loaded(*args, "--format", "json")
        assert r.exit_code == 0, (args, r.output)
        doc = json.loads(r.stdout)
        assert doc, args
        for part in doc if each else [doc]:
            validate(part, schema)


def test_a_worklist_row_with_extra_fields_fails_its_schema() -> None:
    """The schemas are closed: a field the schema does not name is an error (a test that can fail)."""
    row = {"patient": "P", "kind": "flag", "what": "growth.absolute", "due_date": "2026-01-08", "window_start": None,
           "window_end": None, "status": "tumour_board", "reason": "r", "escalated_by": None, "counts_from": None,
           "handle": 1, "key": "k", "new": True, "acknowledged": False, "acknowledged_by": None,
           "acknowledged_at": None, "snoozed_until": None}
    validate([row], "worklist-row.schema.json")
    with pytest.raises(Exception, match="Additional properties"):
        validate([{**row, "extra": 1}], "worklist-row.schema.json")


def _json_commands(group: Any, prefix: tuple[str, ...] = ()) -> set[tuple[str, ...]]:
    """Every (sub)command with a --format option that offers json (click, wherever typer keeps it)."""
    out: set[tuple[str, ...]] = set()
    for name, cmd in group.commands.items():
        if hasattr(cmd, "commands"):
            out |= _json_commands(cmd, (*prefix, name))
        elif any("--format" in getattr(p, "opts", ()) and "json" in _choices(p) for p in cmd.params):
            out.add((*prefix, name))
    return out


def _choices(param: Any) -> list[str]:
    """The values a --format option accepts (its enum, however this typer version holds it)."""
    kind = getattr(param, "type", None)
    if kind is not None:
        return list(getattr(kind, "choices", []))
    annotation = param.type_descriptor.annotation
    return [e.value for e in annotation] if isinstance(annotation, type) else []


def test_every_command_with_json_output_is_checked() -> None:
    """A new command with --format json must get a schema and a line in OUTPUTS."""
    from tracker.cli import app

    group = typer.main.get_command(app)
    found = _json_commands(group)
    assert ("worklist",) in found and ("patient", "list") in found
    checked = {args[:2] if args[0] in ("patient", "protocol") else args[:1] for args, _, _ in OUTPUTS}
    assert found <= checked, found - checked
