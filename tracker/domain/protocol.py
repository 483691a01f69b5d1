"""Surveillance protocols as data: the parsed, typed form of a protocol document.

A protocol document (JSON, validated against `schemas/protocol.schema.json` by `jsonio`) names
the items to schedule, their interval phases, the windows, the escalation and every flag
rule's switch, thresholds and cited source. Code only interprets it: no clinical number lives
in code. Pure: standard library only.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from types import MappingProxyType
from typing import Any

from tracker.domain.model import ItemKind, Modality, Severity
from tracker.errors import ProtocolError
from tracker.text import quoted


@dataclass(frozen=True)
class RuleConfig:
    """One flag rule's settings in a protocol."""

    enabled: bool
    params: Mapping[str, Any]
    source: str

    def param(self, name: str) -> Any:
        try:
            return self.params[name]
        except KeyError:
            raise ProtocolError(f"rule parameter {quoted(name)} is missing from the protocol") from None

    def dec(self, name: str) -> Decimal:
        """A numeric parameter as an exact Decimal."""
        return Decimal(str(self.param(name)))


#: the settings of a rule a protocol does not list
_DISABLED = RuleConfig(enabled=False, params=MappingProxyType({}), source="")


@dataclass(frozen=True)
class Phase:
    """From `from_month` (calendar months after the protocol start) the interval is
    `interval_months`; `interval_months_if_flag_open` replaces it while a watch or action flag
    is open."""

    from_month: int
    interval_months: int
    interval_months_if_flag_open: int | None = None


@dataclass(frozen=True)
class ItemSpec:
    """One kind of scheduled item.

    `with_imaging`: "always" (due on each imaging item's date), "if_baseline_above_upper_limit"
    (only when the baseline result was above its upper limit) or None (the imaging item, which
    alone has `phases`, or a lab done only at the start).
    `analyte`: for labs, an Analyte value, or "any" for every analyte of `analytes` raised at
    baseline (an analyte with an item of its own is left to that item).
    `at_start`: due at the protocol start when no baseline result exists.
    `baseline_days`: the baseline result is the latest one on or before start + this many days.
    """

    kind: ItemKind
    label: str
    phases: tuple[Phase, ...] = ()
    completed_by: tuple[Modality, ...] = ()
    analyte: str | None = None
    analytes: tuple[str, ...] = ()
    with_imaging: str | None = None
    at_start: bool = False
    baseline_days: int = 30
    source: str = ""


@dataclass(frozen=True)
class SurveillanceProtocol:
    id: str
    version: str
    title: str
    items: tuple[ItemSpec, ...]
    rules: Mapping[str, RuleConfig]
    due_soon_days: int = 30
    grace_days: int = 30
    windows_source: str = ""
    escalation_severities: tuple[Severity, ...] = (Severity.WATCH, Severity.ACTION)
    escalation_max_months: int = 3
    escalation_source: str = ""
    description: str = ""
    raw: Mapping[str, Any] = field(default_factory=dict, compare=False, repr=False)

    def rule(self, rule_id: str) -> RuleConfig:
        """The settings of a rule; a rule the document does not list is disabled."""
        return self.rules.get(rule_id, _DISABLED)

    def enabled(self, rule_id: str) -> bool:
        return self.rule(rule_id).enabled

    def item(self, kind: ItemKind) -> ItemSpec | None:
        return next((i for i in self.items if i.kind is kind), None)


def protocol_from_dict(doc: Mapping[str, Any]) -> SurveillanceProtocol:
    """Build a protocol from a document that already passed the JSON Schema.

    Raises ProtocolError, with a sentence naming the item, for what the schema cannot express
    (phase order, exactly one imaging item) and for a phase without its interval."""
    try:
        items = tuple(_item(i) for i in doc["items"])
        rules = {
            rid: RuleConfig(
                enabled=bool(r.get("enabled", True)),
                params=dict(r.get("params", {})),
                source=str(r.get("source", "")),
            )
            for rid, r in doc.get("rules", {}).items()
        }
        windows = doc.get("windows", {})
        esc = doc.get("escalation", {})
        proto = SurveillanceProtocol(
            id=str(doc["id"]),
            version=str(doc["version"]),
            title=str(doc.get("title", doc["id"])),
            description=str(doc.get("description", "")),
            items=items,
            rules=rules,
            due_soon_days=int(windows.get("due_soon_days", 30)),
            grace_days=int(windows.get("grace_days", 30)),
            windows_source=str(windows.get("source", "")),
            escalation_severities=tuple(Severity(s) for s in esc.get("severities", ["watch", "action"])),
            escalation_max_months=int(esc.get("max_months_after_evidence", 3)),
            escalation_source=str(esc.get("source", "")),
            raw=doc,
        )
    except (KeyError, ValueError, TypeError) as exc:
        raise ProtocolError(f"protocol document is malformed: {exc}") from None
    _check_items(proto)
    return proto


WITH_IMAGING = (None, "always", "if_baseline_above_upper_limit")


def _check_items(proto: SurveillanceProtocol) -> None:
    """What the schedule needs beyond the JSON Schema: one imaging item whose phases start at
    month 0 and rise strictly, no phases on other items, a known with_imaging."""
    imaging = [i for i in proto.items if i.kind is ItemKind.IMAGING]
    if len(imaging) != 1 or not imaging[0].phases:
        raise ProtocolError(
            f"protocol {quoted(proto.id)} must have exactly one imaging item with interval phases"
        )
    for item in proto.items:
        months = [p.from_month for p in item.phases]
        if months and (months[0] != 0 or months != sorted(set(months))):
            raise ProtocolError(
                f"protocol {quoted(proto.id)}: the phases of item {quoted(item.label)} must start at month 0 "
                "and rise strictly"
            )
        if item.kind is not ItemKind.IMAGING and item.phases:
            raise ProtocolError(
                f"protocol {quoted(proto.id)}: item {quoted(item.label)} has phases; only the imaging item has "
                "its own interval, visits and labs go with each imaging"
            )
        if item.with_imaging not in WITH_IMAGING:
            raise ProtocolError(
                f"protocol {quoted(proto.id)}: item {quoted(item.label)} has with_imaging "
                f"{quoted(item.with_imaging)}; use 'always' or 'if_baseline_above_upper_limit'"
            )


def _item(d: Mapping[str, Any]) -> ItemSpec:
    label = str(d.get("label", d["kind"]))
    return ItemSpec(
        kind=ItemKind(d["kind"]),
        label=label,
        phases=tuple(_phase(label, n, p) for n, p in enumerate(d.get("phases", []), start=1)),
        completed_by=tuple(Modality(m) for m in d.get("completed_by", [])),
        analyte=d.get("analyte"),
        analytes=tuple(str(a) for a in d.get("analytes", [])),
        with_imaging=d.get("with_imaging"),
        at_start=bool(d.get("at_start", False)),
        baseline_days=int(d.get("baseline_days", 30)),
        source=str(d.get("source", "")),
    )


def _phase(label: str, n: int, p: Mapping[str, Any]) -> Phase:
    for key in ("from_month", "interval_months"):
        if key not in p:
            raise ProtocolError(f"item {quoted(label)}, phase {n}: {quoted(key)} is missing")
    interval = int(p["interval_months"])
    if interval < 1:
        raise ProtocolError(f"item {quoted(label)}, phase {n}: interval_months must be at least 1")
    flag_open = p.get("interval_months_if_flag_open")
    return Phase(
        from_month=int(p["from_month"]),
        interval_months=interval,
        interval_months_if_flag_open=None if flag_open is None else int(flag_open),
    )
