"""Entry-level checks behind `data.confounder` and `data.implausible`.

`data.confounder` (choices where the rule book is silent are marked "ours"):
- for each analyte that `marker.rise` watches (chromogranin A by default), the latest two results;
- a proton-pump inhibitor at the time of a result: the latest visit on or before it within
  `ppi_window_days` records one;
- renal impairment (ours): the latest eGFR on or before the result within `renal_window_days` is
  below `egfr_low`, or the latest creatinine in that window is above its own upper limit.

`data.implausible` (watch: "check this entry" on the worklist; it never brings imaging forward),
while a record involved is not verified:
- a ×`jump_factor` (or larger) change between consecutive CT/MRI/EUS sizes of a lesion, either way,
  which suggests cm entered as mm or the reverse;
- a lab value outside the analyte's plausible range in its unit (the units table);
- a record dated in a year before the patient's birth year;
- a lesion first recorded more than `baseline_days` after the baseline scan (the first scan on or
  after the protocol start) without being marked new: either a new lesion not marked as such, or
  a relabelled old one.
"""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal
from itertools import pairwise

from tracker.domain.measures import SizePoint, fmt
from tracker.domain.model import Analyte, Flag, LabResult, PatientHistory, Record
from tracker.domain.protocol import SurveillanceProtocol
from tracker.domain.rules._base import Evidence, RuleContext, ev, param_or, size_text
from tracker.domain.units import SIZE_JUMP_FACTOR, analyte_name, implausible_lab, is_size_jump


def _ppi(ctx: RuleContext, r: LabResult) -> tuple[str, Evidence] | None:
    days = int(ctx.cfg.param("ppi_window_days"))
    visit = next((v for v in reversed(ctx.history.visits) if v.date <= r.date), None)
    if visit is None or (r.date - visit.date).days > days or not visit.on_ppi:
        return None
    return f"on a proton-pump inhibitor (visit of {visit.date.isoformat()})", (visit.ref, visit.date)


def _renal(ctx: RuleContext, r: LabResult, analyte: Analyte) -> tuple[str, Evidence] | None:
    days = int(ctx.cfg.param("renal_window_days"))
    lab = next((x for x in reversed(ctx.measures.labs_by_analyte.get(analyte, ()))
                if x.date <= r.date and (r.date - x.date).days <= days), None)
    if lab is None:
        return None
    if analyte is Analyte.EGFR:
        low = ctx.dec("egfr_low")
        bad, what = lab.below_limit(low), f"eGFR {fmt(lab.value)} below {fmt(low)}"
    else:
        bad = lab.above_limit(lab.upper_limit)
        what = f"creatinine {fmt(lab.value)} {lab.unit} above its upper limit {fmt(lab.upper_limit or 0)}"
    return (f"renal impairment ({what}, {lab.date.isoformat()})", (lab.ref, lab.date)) if bad else None


def _confounded(ctx: RuleContext, r: LabResult) -> Flag | None:
    found = [c for c in (_ppi(ctx, r), _renal(ctx, r, Analyte.EGFR), _renal(ctx, r, Analyte.CREATININE)) if c]
    if not found:
        return None
    name = analyte_name(r.analyte, r.analyte_other)
    return ctx.flag(f"{name} {fmt(r.value)} {r.unit} of {r.date.isoformat()} was measured "
                    f"{' and '.join(text for text, _ in found)}: it may read falsely high.",
                    [(r.ref, r.date), *(e for _, e in found)], None)


def data_confounder(ctx: RuleContext) -> list[Flag]:
    analytes = param_or(ctx.protocol.rule("marker.rise"), "analytes", [Analyte.CHROMOGRANIN_A.value])
    out = []
    for analyte in analytes:
        for r in ctx.measures.labs_by_series_analyte.get(analyte, [])[-2:]:
            flag = _confounded(ctx, r)
            if flag is not None:
                out.append(flag)
    return out


def _jumps(ctx: RuleContext) -> list[Flag]:
    factor = ctx.dec("jump_factor")
    verified = _verified(ctx.history)
    return [
        ctx.flag(f"Lesion {m.lesion} went from {size_text(a)} to {size_text(b)}, a ×{fmt(factor)} or larger "
                 "change: check whether a size was entered in cm instead of mm, then verify the scan.",
                 ev([a, b]), f"×{fmt(factor)}")
        for m in ctx.measures.lesions for a, b in pairwise(m.points)
        if is_size_jump(a.mm, b.mm, factor) and not (verified[_record(a.ref)] and verified[_record(b.ref)])
    ]


def _labs_out_of_range(ctx: RuleContext) -> list[Flag]:
    out = []
    for r in ctx.history.labs:
        span = None if r.provenance.verified else implausible_lab(r.analyte, r.unit, r.value)
        if span is not None:
            out.append(ctx.flag(
                f"{analyte_name(r.analyte, r.analyte_other)} {fmt(r.value)} {r.unit} of {r.date.isoformat()} is "
                f"outside what this test gives ({fmt(span[0])} to {fmt(span[1])} {r.unit}): check the digits and "
                "the unit, then verify the result.", [(r.ref, r.date)], f"{fmt(span[0])}–{fmt(span[1])} {r.unit}"))
    return out


def _verified(h: PatientHistory) -> dict[str, bool]:
    return {s.ref: s.provenance.verified for s in h.scans}


def _record(ref: str) -> str:
    """The record of an evidence ref: "scan:3/P1" -> "scan:3"."""
    return ref.split("/", 1)[0]


def _before_birth(ctx: RuleContext) -> list[Flag]:
    h = ctx.history
    records: list[Record] = [*h.visits, *h.labs, *h.scans, *h.pathology]
    return [
        ctx.flag(f"Record {r.ref} is dated {r.date.isoformat()}, before the birth year {h.patient.birth_year}: "
                 "check the date.", [(r.ref, r.date)], None)
        for r in records if r.date.year < h.patient.birth_year
    ]


def _unmarked_late_lesions(ctx: RuleContext) -> list[Flag]:
    base = ctx.measures.recist_baseline
    if base is None:
        return []
    days = int(ctx.cfg.param("baseline_days"))
    first: dict[str, Evidence] = {}
    marked: set[str] = set()
    for s in ctx.history.scans:
        for m in s.lesions:
            first.setdefault(m.lesion, (s.lesion_ref(m.lesion), s.date))
            marked |= {m.lesion} if m.is_new else set()
    return [
        ctx.flag(f"Lesion {name} is first recorded on {when.isoformat()}, more than {days} days after the "
                 f"baseline scan of {base.date.isoformat()}, but is not marked new: mark it new or check its label.",
                 [(ref, when)], None)
        for name, (ref, when) in first.items() if (when - base.date).days > days and name not in marked
    ]


def data_implausible(ctx: RuleContext) -> list[Flag]:
    return _jumps(ctx) + _labs_out_of_range(ctx) + _before_birth(ctx) + _unmarked_late_lesions(ctx)


def unconfirmed_values(history: PatientHistory, protocol: SurveillanceProtocol,
                       lesions: list[tuple[str, tuple[SizePoint, ...]]]) -> dict[str, str]:
    """The values that look like an entry error and are not verified, by evidence
    ref, each described for a message ("scan 4, P1 1.4 mm"): both sizes of a ×`jump_factor` jump
    whose record is unverified, and labs outside their plausible range. `lesions`: each lesion's
    CT/MRI/EUS size points in date order."""
    factor = Decimal(str(param_or(protocol.rule("data.implausible"), "jump_factor", SIZE_JUMP_FACTOR)))
    verified = _verified(history)
    out: dict[str, str] = {}
    for lesion, points in lesions:
        for a, b in pairwise(points):
            if is_size_jump(a.mm, b.mm, factor):
                for p in (a, b):
                    if not verified[_record(p.ref)]:
                        out[p.ref] = f"scan {_record(p.ref).split(':')[1]}, {lesion} {fmt(p.mm)} mm"
    for r in history.labs:
        if not r.provenance.verified and implausible_lab(r.analyte, r.unit, r.value) is not None:
            out[r.ref] = f"lab {r.id}, {analyte_name(r.analyte, r.analyte_other)} {fmt(r.value)} {r.unit}"
    return out


def mark_unconfirmed(f: Flag, values: dict[str, str]) -> Flag:
    """`f` saying which unconfirmed values its evidence includes (a whole scan includes its
    lesions), and listing their refs in `unconfirmed`; `f` itself when there are none."""
    refs = [ref for ref in values if any(ref == e or ref.startswith(e + "/") for e in f.evidence)]
    if not refs:
        return f
    if f.rule_id == "data.implausible":  # its message is about these very values
        return replace(f, unconfirmed=tuple(refs))
    said = "; ".join(values[ref] for ref in refs)
    head, sep, source = f.message.rpartition(" Source: ")
    text = f"{head} Depends on an unconfirmed value: {said}.{sep}{source}" if sep else f"{f.message} " \
        f"Depends on an unconfirmed value: {said}."
    return replace(f, message=text, unconfirmed=tuple(refs))
