"""The flag engine: every rule of the rule catalogue, run as protocol data says.

    flags = evaluate_flags(history, protocol, as_of=date(2026, 1, 8))

A rule is a small check over a `RuleContext`; which rules run, their thresholds and their cited
sources all come from the protocol. Flags describe the current state of the data dated up to
`as_of`: each rule reads the latest relevant evidence. Pure: standard library and
`tracker.domain` only; the clock is never read.

Modules by theme: `growth` (small-tumour growth), `response` (RECIST, TGR, Gao), `clinical`
(symptoms, ducts, preference, grade), `spread`, `markers`, `dataquality` (+ `entry`).
`schedule.overdue` is raised by the schedule module, never here.
"""

from __future__ import annotations

from datetime import date

from tracker.domain.model import Flag, PatientHistory
from tracker.domain.protocol import SurveillanceProtocol
from tracker.domain.rules import clinical, dataquality, growth, markers, response, spread
from tracker.domain.rules._base import Measures, Rule, RuleContext
from tracker.domain.rules.entry import mark_unconfirmed, unconfirmed_values

__all__ = ["RULES", "RULE_IDS", "Rule", "RuleContext", "evaluate_flags", "rule_source"]

#: Every rule this engine runs, in catalogue order.
RULES: tuple[Rule, ...] = (
    *growth.RULES, *response.RULES, *clinical.RULES, *spread.RULES, *markers.RULES, *dataquality.RULES,
)

#: Every rule id of the catalogue, including `schedule.overdue` (raised by the schedule module).
RULE_IDS: frozenset[str] = frozenset({r.id for r in RULES} | {"schedule.overdue"})


def evaluate_flags(history: PatientHistory, protocol: SurveillanceProtocol, *, as_of: date) -> list[Flag]:
    """The current flags of one patient on `as_of`, most urgent and most recent first.

    Uses only records dated up to `as_of`; none once the patient has left surveillance
    (`left_on` on or before `as_of`); only the rules the protocol enables."""
    if history.patient.has_left(as_of):
        return []
    known = history.up_to(as_of)
    ctx = RuleContext(history=known, protocol=protocol, as_of=as_of, measures=Measures(known, protocol))
    flags = [f for rule in RULES if (cfg := protocol.rule(rule.id)).enabled for f in rule.check(ctx.bind(rule, cfg))]
    doubtful = unconfirmed_values(known, protocol, [(m.lesion, m.points) for m in ctx.measures.lesions])
    if doubtful:  # a flag that rests on an unconfirmed value says so
        flags = [mark_unconfirmed(f, doubtful) for f in flags]
    return sorted(flags, key=Flag.sort_key)


def rule_source(protocol: SurveillanceProtocol, rule_id: str) -> str:
    """The citation a protocol gives for a rule ("" when the protocol does not list it)."""
    return protocol.rule(rule_id).source
