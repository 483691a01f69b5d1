"""Plain words for the patient pages. The clinical wording (rule ids, evidence, thresholds and
sources) stays on the nurse's pages and one click away from the patient's ("the clinical wording")."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from tracker.domain import model as dm
from tracker.domain.schedule import display_what
from tracker.domain.units import analyte_name

SYMPTOMS: dict[dm.Symptom, str] = {
    dm.Symptom.ABDOMINAL_PAIN: "Pain in the belly",
    dm.Symptom.BACK_PAIN: "Back pain",
    dm.Symptom.JAUNDICE: "Yellow skin or eyes (jaundice)",
    dm.Symptom.WEIGHT_LOSS: "Losing weight without trying",
    dm.Symptom.PANCREATITIS: "Pancreatitis (inflamed pancreas)",
    dm.Symptom.GI_BLEEDING: "Blood in vomit or stool, or black stool",
    dm.Symptom.PALPABLE_MASS: "A lump you can feel in the belly",
    dm.Symptom.HYPOGLYCAEMIA: "Low blood sugar (shaky, sweaty, confused)",
    dm.Symptom.PEPTIC_ULCER: "Stomach ulcer or bad heartburn",
    dm.Symptom.DIARRHOEA: "Diarrhoea",
    dm.Symptom.WATERY_DIARRHOEA: "Large amounts of watery diarrhoea",
    dm.Symptom.FLUSHING: "Flushing (sudden red, warm face)",
    dm.Symptom.MIGRATORY_RASH: "A rash that moves around the body",
    dm.Symptom.NEW_DIABETES: "Newly found diabetes",
    dm.Symptom.CUSHINGOID: "Rounder face, weight gain on the body, easy bruising",
}

ITEMS: dict[dm.ItemKind, str] = {
    dm.ItemKind.IMAGING: "A scan",
    dm.ItemKind.VISIT: "A clinic visit",
    dm.ItemKind.LAB: "A blood test",
}

STATUS: dict[str, str] = {
    "overdue": "overdue: please contact your team",
    "due": "due now",
    "due_soon": "coming up soon",
    "not_due": "later",
    "closed": "no longer needed",
    "tumour_board": "for the tumour board",
}

#: What each rule means for a patient, in one sentence (the numbers follow for sizes).
FLAGS: dict[str, str] = {
    "size.threshold": "the tumour is now larger than 2 cm",
    "growth.absolute": "the tumour has grown",
    "growth.relative": "the tumour has grown",
    "growth.rate": "the tumour is growing steadily",
    "growth.tgr": "the tumours are growing",
    "recist.progression": "the tumours have grown or a new one was seen",
    "duct.dilated": "the main duct of the pancreas is wider than before",
    "bile.obstruction": "there may be a blockage of the bile duct",
    "symptom.new": "you reported a new symptom",
    "symptom.functional": "you reported a symptom that may come from hormones the tumour makes",
    "spread.node": "a lymph node looks enlarged",
    "spread.distant": "a new spot was seen outside the pancreas",
    "grade.high": "the tissue test shows a faster-growing tumour",
    "grade.rise": "the tissue test shows the tumour may grow faster than before",
    "marker.rise": "a blood marker has gone up",
    "marker.doubling": "a blood marker is going up quickly",
    "risk.gao": "there is a reason to keep scans every 3 months",
    "patient.preference": "you asked to stop watching and waiting",
    "schedule.overdue": "a check-up is overdue",
    "data.implausible": "one of the values entered may be a typing mistake",
}

MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
          "November", "December")


def day(d: date | None) -> str:
    """An appointment date: ISO with the weekday, e.g. 2026-04-08 (Wednesday)."""
    return f"{d.isoformat()} ({d.strftime('%A')})" if d else ""


#: what a due item is on the nurse's pages: a lab by its name ("chromogranin A"), not its code
what = display_what


def item(it: dm.DueItem) -> str:
    """What a due item is, in plain words."""
    if it.kind is dm.ItemKind.LAB:
        try:
            return f"A blood test: {analyte_name(dm.Analyte(it.what))}"
        except ValueError:
            return f"A blood test: {it.what}"
    return ITEMS.get(it.kind, it.what)


def _size(x: dm.LesionMeasurement) -> Decimal | None:
    return x.longest_mm if x.longest_mm is not None else x.short_axis_mm


def flag(f: dm.Flag, history: dm.PatientHistory) -> str:
    """One sentence for the patient: what the team should discuss, with the sizes of a growing lesion
    ("the tumour has grown from 12 mm to 17 mm since January 2025")."""
    text = FLAGS.get(f.rule_id, "something in your results")
    sizes = []
    scans = {s.id: s for s in history.scans}
    for ref in f.evidence:
        kind, _, rest = ref.partition(":")
        sid, _, lesion = rest.partition("/")
        if kind != "scan" or not lesion or not sid.isdigit() or int(sid) not in scans:
            continue
        s = scans[int(sid)]
        m = next((x for x in s.lesions if x.lesion == lesion), None)
        if m is not None and _size(m) is not None:
            sizes.append((s.date, _size(m)))
    if f.rule_id in ("marker.rise", "marker.doubling"):
        labs = {r.ref: r for r in history.labs}
        names = sorted({analyte_name(labs[e].analyte, labs[e].analyte_other) for e in f.evidence if e in labs})
        if names:  # the marker named: "chromogranin A has gone up" (a series is one analyte)
            text = text.replace("a blood marker", " and ".join(names))
    if f.rule_id.startswith("growth.") and len(sizes) >= 2 and f.rule_id != "growth.tgr":
        (d0, a), (_, b) = min(sizes), max(sizes, key=lambda x: x[0])
        # growing steadily or grown over the nadir: to a patient both say it grew, by these sizes
        text = f"{FLAGS['growth.absolute']} from {a} mm to {b} mm since {MONTHS[d0.month - 1]} {d0.year}"
    elif f.rule_id == "size.threshold" and sizes:
        text += f": it measured {max(sizes)[1]} mm"
    if f.unconfirmed and f.rule_id != "data.implausible":  # which values: the clinical wording says
        text += "; this depends on a value not yet checked"
    return text[0].upper() + text[1:] + "."


def reason(it: dm.DueItem) -> str:
    """Why an item falls when it does, in plain words."""
    if it.escalated_by:
        return f"Brought forward because {FLAGS.get(it.escalated_by, 'of a recent result')}."
    if it.kind is not dm.ItemKind.IMAGING and it.reason.startswith("with the imaging"):
        return "On the same day as your scan."
    return "Your regular check-up."


def record(r: dm.Record) -> str:
    """A stored record in plain words, for the confirmation after saving."""
    if isinstance(r, dm.LabResult):
        uln = f" (upper limit of normal {r.upper_limit} {r.unit})" if r.upper_limit is not None else ""
        return f"Blood test of {r.date.isoformat()}: {analyte_name(r.analyte, r.analyte_other)} {r.value} {r.unit}{uln}"
    if isinstance(r, dm.ImagingStudy):
        parts = [f"{x.lesion} in the {x.site.value.replace('_', ' ')}: {_size(x)} mm" if _size(x) is not None
                 else f"{x.lesion} in the {x.site.value.replace('_', ' ')}" for x in r.lesions]
        return f"{r.modality.value} scan of {r.date.isoformat()}: " + ("; ".join(parts) or "no lesion measured")
    if isinstance(r, dm.Visit):
        bits = [SYMPTOMS.get(s, s.value.replace("_", " ")).lower() for s in r.symptoms if s is not dm.Symptom.OTHER]
        bits += [r.symptom_other] if r.symptom_other else []
        text = f"Visit of {r.date.isoformat()}: " + (", ".join(bits) or "no symptoms")
        text += f"; weight {r.weight_kg} kg" if r.weight_kg is not None else ""
        return text + ("; taking a stomach-acid tablet (PPI)" if r.on_ppi else "")
    return f"Tissue test of {r.date.isoformat()}"
