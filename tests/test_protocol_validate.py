"""`tracker protocol validate` refuses a protocol whose parameters mean nothing, naming the place."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import Cli

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize(("rule_id", "name", "value"), [
    ("bile.obstruction", "window_days", "abc"), ("size.threshold", "size_max_mm", -20),
    ("marker.rise", "analytes", "chromogranin_a"),
])
def test_a_bad_parameter_is_one_sentence_with_its_location(sqlite_url: str, tmp_path: Path, rule_id: str, name: str,
                                                          value: object) -> None:
    doc = json.loads((ROOT / "tracker" / "protocols" / "pnet-small-nf.json").read_text("utf-8"))
    doc["id"] = "mine"
    doc["rules"][rule_id]["params"][name] = value
    path = tmp_path / "mine.json"
    path.write_text(json.dumps(doc), "utf-8")
    r = Cli(sqlite_url)("protocol", "validate", str(path))
    assert r.exit_code == 1 and "Traceback" not in r.output
    assert f"mine.json: rules.{rule_id}.params.{name}" in r.stderr and r.stdout == ""
