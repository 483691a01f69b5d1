"""Data-quality flags (info): what the reader must know before trusting a number;
`data.implausible` is watch ("check this entry"), and never brings imaging forward.

- `data.modality_change`: a lesion's latest size is compared (with its previous size or nadir)
  across CT, MRI and EUS.
- `data.within_noise`: once per lesion whose latest change against its previous scan is under
  `noise_floor_mm` (nodes included: their change is shown too).
- `data.assay_change`: the latest two results of a tumour marker differ in unit, assay, lab or
  specimen (context labs such as bilirubin and kidney tests are left out).
- `data.insufficient`: only for what the protocol asks for: a growth rate (`growth.rate` on), a
  TGR (`growth.tgr` on), a marker doubling time (`marker.doubling` on); and for any lesion not
  sized at the latest CT/MRI/EUS scan after it was sized before.
"""

from __future__ import annotations

from datetime import date

from tracker.domain.measures import CONTEXT_ANALYTES, LesionMeasures, fmt, rate_evaluable
from tracker.domain.model import Flag, Severity
from tracker.domain.rules._base import Rule, RuleContext, ev, size_text
from tracker.domain.rules.entry import data_confounder, data_implausible
from tracker.domain.rules.markers import current_markers, latest_pair

VERSION = "1.1"


def _modality_change(ctx: RuleContext) -> list[Flag]:
    out = []
    for m in ctx.measures.lesions:
        if not m.modalities_differ or m.latest is None:
            continue
        other = [p for p in m.compared() if p.modality != m.latest.modality]
        shown = ", ".join(size_text(p) for p in other)
        out.append(ctx.flag(f"Lesion {m.lesion}: {size_text(m.latest)} is compared with {shown}; sizes from "
                            "different modalities differ, read the change with care.", ev([*other, m.latest]), None))
    return out


def _within_noise(ctx: RuleContext) -> list[Flag]:
    floor = ctx.dec("noise_floor_mm")
    return [
        ctx.flag(f"Lesion {m.lesion} changed by {fmt(m.change_prev_mm or 0)} mm from {size_text(m.previous)} to "
                 f"{size_text(m.latest)}: stable within measurement error (< {fmt(floor)} mm).",
                 ev([m.previous, m.latest]), f"< {fmt(floor)} mm")
        for m in ctx.measures.lesions
        if m.previous is not None and m.latest is not None and m.change_prev_mm is not None
        and abs(m.change_prev_mm) < floor
    ]


def _assay_change(ctx: RuleContext) -> list[Flag]:
    out = []
    names = ("unit", "assay", "lab", "specimen")
    for analyte in ctx.measures.labs_by_series_analyte:
        pair = latest_pair(ctx, analyte)
        if pair is None or analyte in {a.value for a in CONTEXT_ANALYTES} or pair[0].series_key == pair[1].series_key:
            continue
        prev, cur = pair
        diffs = [f"{n} {a or '(none)'} → {b or '(none)'}" for n, a, b in
                 zip(names, prev.series_key[1:], cur.series_key[1:], strict=True) if a != b]
        out.append(ctx.flag(
            f"{analyte.replace('_', ' ')} results of {prev.date.isoformat()} and {cur.date.isoformat()} differ in "
            f"{'; '.join(diffs)}: they are not compared.", [(prev.ref, prev.date), (cur.ref, cur.date)], None))
    return out


def _rate_insufficient(ctx: RuleContext) -> list[Flag]:
    cfg = ctx.protocol.rule("growth.rate")
    if not cfg.enabled:
        return []
    out = []
    for m in ctx.measures.pancreatic:
        reason = rate_evaluable(m.points, int(cfg.param("min_scans")), int(cfg.param("min_span_months")))
        if reason:
            out.append(ctx.flag(f"Lesion {m.lesion}: {reason}.", ev(m.points), None))
    return out


def _missing_at_latest(ctx: RuleContext) -> list[Flag]:
    scan = ctx.measures.last_sizing_scan
    if scan is None:
        return []
    return [
        ctx.flag(f"Lesion {m.lesion} was not sized at the {scan.modality.value} of {scan.date.isoformat()} (last "
                 f"size {size_text(m.latest)}): its change is not evaluable.",  # type: ignore[arg-type]  # set: _not_sized
                 [*ev([m.latest]), (scan.ref, scan.date)], None)
        for m in ctx.measures.lesions if _not_sized(m, scan.date)
    ]


def _not_sized(m: LesionMeasures, when: date) -> bool:
    return m.latest is not None and m.latest.date < when


def _tgr_insufficient(ctx: RuleContext) -> list[Flag]:
    if not ctx.protocol.enabled("growth.tgr"):
        return []
    series = ctx.measures.recist
    base = ctx.measures.recist_baseline
    if base is None:
        return []
    if not series or not series[0].targets:
        return [ctx.flag(f"Tumour growth rate not evaluable: no measurable target lesion on the baseline "
                         f"{base.modality.value} of {base.date.isoformat()}.", [(base.ref, base.date)], None)]
    if len(series) == 1:
        return [ctx.flag("Tumour growth rate not evaluable: 1 RECIST scan, 2 needed.",
                         [(series[0].scan_ref, series[0].date)], None)]
    bad = [p for p in series[-2:] if p.sum_mm is None]
    return [ctx.flag(f"Tumour growth rate not evaluable: not every target lesion was sized on the "
                     f"{p.modality.value} of {p.date.isoformat()}.", [(p.scan_ref, p.date)], None) for p in bad]


def _doubling_insufficient(ctx: RuleContext) -> list[Flag]:
    if not ctx.protocol.enabled("marker.doubling"):
        return []
    return [
        ctx.flag(f"{m.analyte.replace('_', ' ')}: {m.not_evaluable[0]}.", [(ref, d) for d, _, ref in m.points], None)
        for m in current_markers(ctx) if m.doubling_months is None and m.not_evaluable
        and m.not_evaluable[0].startswith("doubling time not evaluable")
    ]


def _insufficient(ctx: RuleContext) -> list[Flag]:
    return _rate_insufficient(ctx) + _missing_at_latest(ctx) + _tgr_insufficient(ctx) + _doubling_insufficient(ctx)


RULES = (
    Rule("data.modality_change", Severity.INFO, VERSION, _modality_change),
    Rule("data.assay_change", Severity.INFO, VERSION, _assay_change),
    Rule("data.confounder", Severity.INFO, VERSION, data_confounder),
    Rule("data.insufficient", Severity.INFO, VERSION, _insufficient),
    Rule("data.within_noise", Severity.INFO, VERSION, _within_noise),
    Rule("data.implausible", Severity.WATCH, "2.0", data_implausible),  # watch, never escalates
)
