"""Protocol documents: the JSON Schema and the typed protocol built from it."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from tests.factories import history, patient
from tracker.domain.model import ItemKind, Modality
from tracker.domain.protocol import protocol_from_dict
from tracker.domain.schedule import compute_schedule, preview_schedule
from tracker.errors import ProtocolError

ROOT = Path(__file__).resolve().parents[2]
BUILT_IN = sorted((ROOT / "tracker" / "protocols").glob("*.json"))


def load(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text(encoding="utf-8"))


def validator(name: str) -> Draft202012Validator:
    schema = load(ROOT / "schemas" / name)
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema)


def small() -> dict[str, Any]:
    return copy.deepcopy(load(ROOT / "tracker" / "protocols" / "pnet-small-nf.json"))


def messages(doc: dict[str, Any]) -> list[str]:
    return [e.message for e in validator("protocol.schema.json").iter_errors(doc)]


def test_two_built_in_protocols() -> None:
    """The tool ships the small and the metastatic protocol."""
    assert [p.name for p in BUILT_IN] == ["pnet-metastatic-ww.json", "pnet-small-nf.json"]


@pytest.mark.parametrize("path", BUILT_IN, ids=lambda p: p.stem)
def test_built_in_protocols_validate(path: Path) -> None:
    """Each built-in protocol is valid against schemas/protocol.schema.json."""
    assert messages(load(path)) == []


@pytest.mark.parametrize("path", BUILT_IN, ids=lambda p: p.stem)
def test_built_in_protocols_load(path: Path) -> None:
    """Each built-in protocol loads, with one imaging item whose phases start at month 0."""
    proto = protocol_from_dict(load(path))
    imaging = proto.item(ItemKind.IMAGING)
    assert imaging is not None and imaging.phases[0].from_month == 0
    assert {Modality.CT, Modality.MRI, Modality.EUS} == set(imaging.completed_by)


def test_metastatic_any_marker_lists_markers() -> None:
    """The metastatic 'any raised marker' item lists tumour markers, not bilirubin or kidney tests."""
    proto = protocol_from_dict(load(ROOT / "tracker" / "protocols" / "pnet-metastatic-ww.json"))
    (spec,) = [i for i in proto.items if i.analyte == "any"]
    assert "pancreastatin" in spec.analytes and not {"bilirubin", "creatinine", "egfr"} & set(spec.analytes)


#: Subschemas that constrain fields defined elsewhere rather than define them.
CONSTRAINTS = frozenset({"if", "contains", "not", "prefixItems"})


def _described(node: Any, where: str) -> Iterator[str]:
    """Paths of schema properties that lack a description."""
    if isinstance(node, dict):
        for name, sub in node.get("properties", {}).items():
            if "description" not in sub:
                yield f"{where}/{name}"
        for key, sub in node.items():
            if key not in CONSTRAINTS:
                yield from _described(sub, f"{where}/{key}")
    elif isinstance(node, list):
        for n, sub in enumerate(node):
            yield from _described(sub, f"{where}/{n}")


@pytest.mark.parametrize("name", ["protocol.schema.json", "due-item.schema.json"])
def test_every_schema_field_is_described(name: str) -> None:
    """Every field of a schema carries a description."""
    schema = load(ROOT / "schemas" / name)
    assert "description" in schema and list(_described(schema, "")) == []


def test_missing_interval_is_rejected_by_schema() -> None:
    """A phase without interval_months is rejected by the schema, naming the field."""
    doc = small()
    del doc["items"][0]["phases"][1]["interval_months"]
    assert messages(doc) == ["'interval_months' is a required property"]


def test_missing_interval_is_rejected_by_loader() -> None:
    """A phase without interval_months is rejected by the loader with the item and phase named."""
    doc = small()
    del doc["items"][0]["phases"][1]["interval_months"]
    with pytest.raises(ProtocolError, match=r"item 'imaging \(MRI preferred; CT or EUS accepted\)', "
                       r"phase 2: 'interval_months' is missing"):
        protocol_from_dict(doc)


def test_phases_not_starting_at_zero_are_rejected() -> None:
    """Phases that do not start at month 0 are rejected by the schema and the loader."""
    doc = small()
    doc["items"][0]["phases"][0]["from_month"] = 3
    (message,) = messages(doc)
    assert "does not contain items matching" in message
    with pytest.raises(ProtocolError, match="must start at month 0 and rise strictly"):
        protocol_from_dict(doc)


def test_phases_out_of_order_are_rejected() -> None:
    """Phases whose months do not rise strictly are rejected by the loader."""
    doc = small()
    doc["items"][0]["phases"][2]["from_month"] = 12
    with pytest.raises(ProtocolError, match="rise strictly"):
        protocol_from_dict(doc)


def test_protocol_without_imaging_is_rejected() -> None:
    """A protocol without an imaging item is rejected: the schedule hangs on imaging."""
    doc = small()
    doc["items"] = doc["items"][1:]
    assert any("contain" in m for m in messages(doc))
    with pytest.raises(ProtocolError, match="exactly one imaging item"):
        protocol_from_dict(doc)


def test_visit_with_own_phases_is_rejected() -> None:
    """Only the imaging item has its own interval; a visit with phases is rejected."""
    doc = small()
    doc["items"][1]["phases"] = [{"from_month": 0, "interval_months": 6}]
    assert messages(doc)
    with pytest.raises(ProtocolError, match="only the imaging item"):
        protocol_from_dict(doc)


def test_unknown_with_imaging_is_rejected() -> None:
    """An unknown with_imaging value is rejected with the allowed values named."""
    doc = small()
    doc["items"][1]["with_imaging"] = "sometimes"
    assert messages(doc)
    with pytest.raises(ProtocolError, match="use 'always' or 'if_baseline_above_upper_limit'"):
        protocol_from_dict(doc)


def test_due_rows_validate_against_due_item_schema() -> None:
    """Schedule and preview rows are valid against schemas/due-item.schema.json."""
    proto = protocol_from_dict(small())
    items = compute_schedule(history(patient()), proto, [], as_of=date(2025, 9, 1))
    items += preview_schedule(proto, date(2025, 1, 10), years=3)
    check = validator("due-item.schema.json")
    assert [e.message for i in items for e in check.iter_errors(i.to_json())] == []
