"""Protocol files are validated for what they mean: every rule parameter has its type and range in
schemas/protocol.schema.json, and a bad value is refused with its location.

One validator reads the schemas as they are meant: the schemas use only keywords that the fast
validator (fastjsonschema, drafts 4–7) and the 2020-12 validator (jsonschema) both implement, and
the two agree on every schema and on a set of bad documents.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import fastjsonschema
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator, FormatChecker

from tests.test_fuzz import _paths
from tracker.domain.rules import RULE_IDS
from tracker.jsonio.schemacheck import _is_date, draft7_gaps, load_schema, schema_problems

ROOT = Path(__file__).resolve().parents[2]
PROTOCOLS = {p.stem: json.loads(p.read_text("utf-8")) for p in sorted((ROOT / "tracker" / "protocols").glob("*.json"))}
SCHEMA = load_schema("protocol.schema.json")
SCHEMAS = sorted(p.name for p in (ROOT / "schemas").glob("*.schema.json"))


def params_of(rule_id: str) -> dict[str, Any]:
    return SCHEMA["$defs"][f"params.{rule_id}"]


def every_param() -> list[tuple[str, str]]:
    return [(rid, name) for rid in sorted(RULE_IDS) for name in params_of(rid)["properties"]]


def bad_values(spec: dict[str, Any]) -> list[Any]:
    """A value of the wrong type, and the values just out of range."""
    if spec["type"] == "array":
        return ["abc", [], 5]
    out: list[Any] = ["abc", None, True]
    if "minimum" in spec:
        out.append(spec["minimum"] - (1 if spec["type"] == "integer" else 0.001))
    if "exclusiveMinimum" in spec:
        out.append(spec["exclusiveMinimum"])
    if "maximum" in spec:
        out.append(spec["maximum"] + (1 if spec["type"] == "integer" else 0.001))
    if spec["type"] == "integer":
        out.append(1.5)
    return out


def test_every_rule_has_its_parameters_typed() -> None:
    """Each rule of the catalogue has a params definition; each parameter a built-in protocol
    uses is in it, with a type, and a range for numbers."""
    for doc in PROTOCOLS.values():
        assert set(doc["rules"]) == RULE_IDS
        for rid, rule in doc["rules"].items():
            spec = params_of(rid)["properties"]
            assert set(rule["params"]) <= set(spec), rid
            for name, value in spec.items():
                assert value["type"] in {"number", "integer", "array"} and value["description"], (rid, name)
                if value["type"] != "array":
                    assert {"minimum", "exclusiveMinimum"} & set(value), (rid, name)


@pytest.mark.parametrize(("rule_id", "name"), every_param())
def test_one_bad_value_per_parameter_is_refused_with_its_location(rule_id: str, name: str) -> None:
    spec = params_of(rule_id)["properties"][name]
    for value in bad_values(spec):
        doc = copy.deepcopy(PROTOCOLS["pnet-small-nf"])
        doc["rules"][rule_id]["params"][name] = value
        problems = schema_problems(doc, "protocol.schema.json")
        assert {loc for loc, _ in problems} == {f"rules.{rule_id}.params.{name}"}, (value, problems)


@pytest.mark.parametrize(("rule_id", "value", "words"), [
    ("bile.obstruction", "abc", "not of type 'integer'"),
    ("growth.absolute", -5, "less than or equal to the minimum of 0"),
    ("grade.rise", "3, 5", "not of type 'array'"),
])
def test_the_examples_of_the_issue(rule_id: str, value: Any, words: str) -> None:
    """window_days "abc", a negative threshold and a string where a list belongs are refused."""
    doc = copy.deepcopy(PROTOCOLS["pnet-small-nf"])
    name = {"bile.obstruction": "window_days", "growth.absolute": "abs_growth_mm", "grade.rise": "ki67_cutoffs_pct"}
    doc["rules"][rule_id]["params"][name[rule_id]] = value
    ((loc, message),) = schema_problems(doc, "protocol.schema.json")
    assert loc == f"rules.{rule_id}.params.{name[rule_id]}" and words in message.replace(" ", " ")


def test_a_misspelt_or_missing_parameter_is_refused() -> None:
    doc = copy.deepcopy(PROTOCOLS["pnet-small-nf"])
    doc["rules"]["size.threshold"]["params"] = {"size_max": 20}
    locations = {loc for loc, _ in schema_problems(doc, "protocol.schema.json")}
    assert locations == {"rules.size.threshold.params"}


def test_a_rule_the_catalogue_does_not_know_keeps_free_parameters() -> None:
    doc = copy.deepcopy(PROTOCOLS["pnet-small-nf"])
    doc["rules"]["local.extra"] = {"enabled": False, "params": {"x": "y"}, "source": "a local rule (2026)"}
    assert schema_problems(doc, "protocol.schema.json") == []


# --------------------------------------------------------------------------- one reading of the schemas


@pytest.mark.parametrize("name", SCHEMAS)
def test_every_schema_uses_only_what_both_validators_implement(name: str) -> None:
    """No 2020-12 keyword that fastjsonschema ignores (prefixItems, min/maxContains, …) and no
    `$ref` with validating siblings (ignored in draft 7): the fast path checks all of it."""
    schema = load_schema(name)
    Draft202012Validator.check_schema(schema)
    assert draft7_gaps(schema) == []


def test_a_schema_with_a_gap_is_never_checked_by_the_fast_validator() -> None:
    assert draft7_gaps({"type": "array", "prefixItems": [{"const": 0}]}) == ["#/prefixItems"]
    assert draft7_gaps({"$ref": "#/$defs/x", "maximum": 3}) == ["#/$ref"]


def _fast(name: str) -> Any:
    schema = {k: v for k, v in load_schema(name).items() if k not in ("$schema", "$id")}
    return fastjsonschema.compile(schema, formats={"date": _is_date})


FAST = {name: _fast(name) for name in ("protocol.schema.json", "patient.schema.json")}
FULL = {name: Draft202012Validator(load_schema(name), format_checker=FormatChecker()) for name in FAST}
EXAMPLES = [json.loads(p.read_text("utf-8")) for p in sorted((ROOT / "examples").glob("syn-*.json"))]


def _set(doc: Any, path: tuple[Any, ...], value: Any) -> Any:
    if not path:
        return value
    doc = copy.deepcopy(doc)
    node = doc
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    return doc


def _fast_ok(name: str, doc: Any) -> bool:
    try:
        FAST[name](doc)
    except fastjsonschema.JsonSchemaException:
        return False
    return True


BAD = st.sampled_from(["abc", "", -1, 0, 1.5, -0.001, None, True, [], {}, [1], {"x": 1}, "2026-02-30", 10**9])


@settings(max_examples=400, deadline=None)
@given(st.sampled_from(["protocol.schema.json", "patient.schema.json"]), st.data())
def test_both_validators_agree_on_bad_documents(name: str, data: st.DataObject) -> None:
    """A built-in protocol or an example history with one value replaced by a bad one: the fast
    validator accepts it exactly when the 2020-12 validator does."""
    base = data.draw(st.sampled_from(list(PROTOCOLS.values()) if name == "protocol.schema.json" else EXAMPLES))
    path = data.draw(st.sampled_from(_paths(base)))
    doc = _set(base, path, data.draw(BAD))
    assert _fast_ok(name, doc) == FULL[name].is_valid(doc), path
