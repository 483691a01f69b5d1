"""Clinical triggers: symptoms, weight loss, bile and pancreatic ducts, patient preference and grade.

Settled in the rule book: baseline symptoms are those of visits dated up to `baseline_days` after
the protocol start (earlier visits included); the symptom rules read the latest visit only;
jaundice is `bile.obstruction`, never `symptom.new`; the weight window runs from the visit minus
`weight_window_months` calendar months (inclusive) to the visit (exclusive).
"""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

from tracker.domain.dates import add_months
from tracker.domain.measures import fmt
from tracker.domain.model import Analyte, Flag, Pathology, Severity, Symptom, Visit
from tracker.domain.rules._base import Evidence, Rule, RuleContext

VERSION = "1.1"

#: Tumour-attributable symptoms.
TUMOUR_SYMPTOMS = (Symptom.ABDOMINAL_PAIN, Symptom.BACK_PAIN, Symptom.WEIGHT_LOSS, Symptom.PANCREATITIS,
                   Symptom.GI_BLEEDING, Symptom.PALPABLE_MASS)

#: Hormone-syndrome symptoms and the tests to order (ENETS 2023 functioning-pNET guidance).
FUNCTIONAL_TESTS = {
    Symptom.HYPOGLYCAEMIA: "glucose, insulin, C-peptide and proinsulin (insulinoma)",
    Symptom.PEPTIC_ULCER: "gastrin (gastrinoma; fasting, after a proton-pump inhibitor washout)",
    Symptom.DIARRHOEA: "gastrin (gastrinoma; fasting, after a proton-pump inhibitor washout)",
    Symptom.MIGRATORY_RASH: "glucagon (glucagonoma)",
    Symptom.NEW_DIABETES: "glucagon (glucagonoma)",
    Symptom.WATERY_DIARRHOEA: "VIP (VIPoma)",
    Symptom.FLUSHING: "serotonin and 24-hour urine 5-HIAA",
    Symptom.CUSHINGOID: "cortisol and ACTH",
}


def _label(s: Symptom) -> str:
    return s.value.replace("_", " ")


def _latest_visit(ctx: RuleContext) -> Visit | None:
    return ctx.history.visits[-1] if ctx.history.visits else None


def _baseline_end(ctx: RuleContext) -> date:
    return ctx.history.patient.protocol_start + timedelta(days=int(ctx.cfg.param("baseline_days")))


def _new_symptoms(ctx: RuleContext, visit: Visit, wanted: tuple[Symptom, ...]) -> list[Symptom]:
    """Symptoms of `visit` among `wanted` that no baseline visit recorded (none at a baseline visit)."""
    cutoff = _baseline_end(ctx)
    if visit.date <= cutoff:
        return []
    baseline = {s for v in ctx.history.visits if v.date <= cutoff for s in v.symptoms}
    return [s for s in dict.fromkeys(visit.symptoms) if s in wanted and s not in baseline]


def _weight_loss(ctx: RuleContext, visit: Visit) -> tuple[str, list[Evidence]] | None:
    """Weight ≥ `weight_loss_pct` % below the highest weight in the window before the visit."""
    if visit.weight_kg is None:
        return None
    start = add_months(visit.date, -int(ctx.cfg.param("weight_window_months")))
    window = [v for v in ctx.history.visits if start <= v.date < visit.date and v.weight_kg is not None]
    top = max(window, key=lambda v: v.weight_kg or 0, default=None)
    pct = ctx.dec("weight_loss_pct")
    if top is None or top.weight_kg is None or 100 * (top.weight_kg - visit.weight_kg) < pct * top.weight_kg:
        return None
    lost = round(100 * (top.weight_kg - visit.weight_kg) / top.weight_kg, 1)
    text = (f"weight {fmt(visit.weight_kg)} kg is {fmt(lost)} % below {fmt(top.weight_kg)} kg of "
            f"{top.date.isoformat()} (threshold ≥ {fmt(pct)} % within {ctx.cfg.param('weight_window_months')} "
            "months)")
    return text, [(top.ref, top.date)]


def _symptom_new(ctx: RuleContext) -> list[Flag]:
    visit = _latest_visit(ctx)
    if visit is None or visit.date <= _baseline_end(ctx):
        return []
    new = _new_symptoms(ctx, visit, TUMOUR_SYMPTOMS)
    parts = [_label(s) for s in new]
    evidence: list[Evidence] = [(visit.ref, visit.date)]
    loss = None if Symptom.WEIGHT_LOSS in new else _weight_loss(ctx, visit)
    if loss is not None:
        parts.append(loss[0])
        evidence += loss[1]
    if not parts:
        return []
    return [ctx.flag(f"New symptom at the visit of {visit.date.isoformat()}, not present at baseline: "
                     f"{'; '.join(parts)}.", evidence, "a tumour-attributable symptom not present at baseline")]


def _symptom_functional(ctx: RuleContext) -> list[Flag]:
    visit = _latest_visit(ctx)
    new = _new_symptoms(ctx, visit, tuple(FUNCTIONAL_TESTS)) if visit else []
    if visit is None or not new:
        return []
    tests = "; ".join(dict.fromkeys(FUNCTIONAL_TESTS[s] for s in new))
    return [ctx.flag(f"Symptoms of a hormone syndrome at the visit of {visit.date.isoformat()}: "
                     f"{', '.join(_label(s) for s in new)}. Order: {tests}.", [(visit.ref, visit.date)],
                     "a hormone-syndrome symptom not present at baseline")]


def _jaundice(ctx: RuleContext) -> list[Flag]:
    visit = _latest_visit(ctx)
    if visit is None or Symptom.JAUNDICE not in visit.symptoms:
        return []
    return [ctx.flag(f"Jaundice reported at the visit of {visit.date.isoformat()}.", [(visit.ref, visit.date)],
                     "jaundice")]


def _bilirubin_with_dilated_cbd(ctx: RuleContext) -> list[Flag]:
    bili = next(reversed(ctx.measures.labs_by_analyte.get(Analyte.BILIRUBIN, ())), None)
    if bili is None or bili.upper_limit is None or not bili.above_limit(bili.upper_limit):
        return []
    cbd, days = ctx.dec("cbd_dilated_mm"), int(ctx.cfg.param("window_days"))
    scan = next((s for s in reversed(ctx.history.scans) if s.cbd_mm is not None and s.cbd_mm >= cbd
                 and abs((s.date - bili.date).days) <= days), None)
    if scan is None or scan.cbd_mm is None:
        return []
    return [ctx.flag(
        f"Bilirubin {bili.value_text} {bili.unit} ({bili.date.isoformat()}) is above its upper limit "
        f"{fmt(bili.upper_limit)}, with a common bile duct of {fmt(scan.cbd_mm)} mm on the {scan.modality.value} "
        f"of {scan.date.isoformat()}; threshold: bilirubin above the upper limit and bile duct ≥ {fmt(cbd)} mm "
        f"within {days} days.", [(bili.ref, bili.date), (scan.ref, scan.date)], f"≥ {fmt(cbd)} mm")]


def _bile_obstruction(ctx: RuleContext) -> list[Flag]:
    return _jaundice(ctx) + _bilirubin_with_dilated_cbd(ctx)


def _duct_dilated(ctx: RuleContext) -> list[Flag]:
    """Reads the latest scan that records the main duct (a scan without the measure says nothing)."""
    scan = next((s for s in reversed(ctx.history.scans) if s.mpd_mm is not None), None)
    limit = ctx.dec("mpd_dilated_mm")
    if scan is None or scan.mpd_mm is None or scan.mpd_mm < limit:
        return []
    return [ctx.flag(f"Main pancreatic duct {fmt(scan.mpd_mm)} mm upstream of the tumour on the "
                     f"{scan.modality.value} of {scan.date.isoformat()}; threshold ≥ {fmt(limit)} mm.",
                     [(scan.ref, scan.date)], f"≥ {fmt(limit)} mm")]


def _patient_preference(ctx: RuleContext) -> list[Flag]:
    visit = _latest_visit(ctx)
    if visit is None or not visit.wants_to_leave:
        return []
    return [ctx.flag(f"At the visit of {visit.date.isoformat()} the patient asked to leave surveillance.",
                     [(visit.ref, visit.date)], None)]


def _graded(ctx: RuleContext) -> list[Pathology]:
    return [p for p in ctx.history.pathology if p.ki67_pct is not None]


def _grade_high(ctx: RuleContext) -> list[Flag]:
    reports = _graded(ctx)
    limit = ctx.dec("ki67_high_pct")
    if not reports or (reports[-1].ki67_pct or 0) <= limit:
        return []
    p = reports[-1]
    return [ctx.flag(f"Ki-67 {fmt(p.ki67_pct or 0)} % on the pathology of {p.date.isoformat()} (G3); "
                     f"threshold > {fmt(limit)} %.", [(p.ref, p.date)], f"> {fmt(limit)} %")]


def _grade_rise(ctx: RuleContext) -> list[Flag]:
    reports = _graded(ctx)
    if len(reports) < 2:
        return []
    prev, cur = reports[-2], reports[-1]
    before, now = prev.ki67_pct or Decimal(0), cur.ki67_pct or Decimal(0)
    crossed = [c for c in (Decimal(str(x)) for x in ctx.cfg.param("ki67_cutoffs_pct")) if before < c <= now]
    if not crossed:
        return []
    cuts = " and ".join(f"{fmt(c)} %" for c in crossed)
    return [ctx.flag(f"Ki-67 rose from {fmt(before)} % ({prev.date.isoformat()}) to {fmt(now)} % "
                     f"({cur.date.isoformat()}), crossing {cuts}; threshold ≥ {cuts}.",
                     [(prev.ref, prev.date), (cur.ref, cur.date)], f"≥ {cuts}")]


RULES = (
    Rule("symptom.new", Severity.ACTION, VERSION, _symptom_new),
    Rule("symptom.functional", Severity.ACTION, VERSION, _symptom_functional),
    Rule("bile.obstruction", Severity.ACTION, VERSION, _bile_obstruction),
    Rule("duct.dilated", Severity.ACTION, VERSION, _duct_dilated),
    Rule("patient.preference", Severity.ACTION, VERSION, _patient_preference),
    Rule("grade.high", Severity.ACTION, VERSION, _grade_high),
    Rule("grade.rise", Severity.WATCH, VERSION, _grade_rise),
)
