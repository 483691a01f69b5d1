"""Metastatic protocol: RECIST 1.1 progression, tumour growth rate and Gao risk factors.

TGR is float arithmetic (exp and log); its threshold is compared with a documented tolerance of
1e-9 %/month so that a value computed as 0.7999999999 counts as 0.8.
"""

from __future__ import annotations

from tracker.domain.dates import months_between
from tracker.domain.measures import RecistPoint, fmt, pct_text, tgr_pct_per_month
from tracker.domain.model import Flag, Severity, Site
from tracker.domain.recist import is_progression
from tracker.domain.rules._base import Evidence, Rule, RuleContext

VERSION = "1.1"
TGR_TOLERANCE = 1e-9


def _point_text(p: RecistPoint) -> str:
    total = p.sum_mm if p.sum_mm is not None else p.measured_mm
    return f"{fmt(total or 0)} mm ({p.modality.value}, {p.date.isoformat()})"


def _point_ev(p: RecistPoint) -> list[Evidence]:
    return [(r, p.date) for r in (p.scan_ref, *p.refs)]


def _sum_progression(ctx: RuleContext) -> list[Flag]:
    series = ctx.measures.recist
    last = series[-1] if len(series) > 1 else None
    if last is None or last.measured_mm is None or last.nadir_mm is None:
        return []
    rel, absolute = ctx.dec("rel_pct"), ctx.dec("abs_mm")
    if not is_progression(last.measured_mm, last.nadir_mm, rel, absolute):
        return []
    nadir = next(p for p in series if p.sum_mm == last.nadir_mm)
    rise = last.measured_mm - last.nadir_mm
    what = "RECIST target sum"
    if last.missing:
        what = (f"Sum of the RECIST targets measured (target{'s' if len(last.missing) > 1 else ''} "
                f"{', '.join(last.missing)} not measured)")
    return [ctx.flag(
        f"{what} rose from its nadir {_point_text(nadir)} to {_point_text(last)}: "
        f"{pct_text(last.pct_from_nadir or 0, rel)} and +{fmt(rise)} mm (progressive disease); "
        f"threshold ≥ {fmt(rel)} % and ≥ {fmt(absolute)} mm.",
        _point_ev(nadir) + _point_ev(last), f"≥ {fmt(rel)} % and ≥ {fmt(absolute)} mm")]


def _new_lesion_progression(ctx: RuleContext) -> list[Flag]:
    base = ctx.measures.recist_baseline
    after = base.date if base else ctx.history.patient.protocol_start
    out = []
    for s in ctx.history.scans:
        new = [m.lesion for m in s.lesions if m.is_new]
        if s.date > after and new:
            out.append(ctx.flag(
                f"New lesion{'s' if len(new) > 1 else ''} {', '.join(new)} on the {s.modality.value} of "
                f"{s.date.isoformat()}: RECIST progressive disease; threshold: any new lesion.",
                [(s.lesion_ref(n), s.date) for n in new], "any new lesion"))
    return out


def _recist_progression(ctx: RuleContext) -> list[Flag]:
    return _sum_progression(ctx) + _new_lesion_progression(ctx)


def _growth_tgr(ctx: RuleContext) -> list[Flag]:
    series = ctx.measures.recist
    if len(series) < 2:
        return []
    p0, p1 = series[-2], series[-1]
    if p0.sum_mm is None or p1.sum_mm is None or p0.sum_mm <= 0 or p1.date <= p0.date:
        return []
    limit, floor = ctx.dec("tgr_pct_per_month"), ctx.dec("noise_floor_mm")
    tgr = tgr_pct_per_month(float(p0.sum_mm), float(p1.sum_mm), months_between(p0.date, p1.date))
    if p1.sum_mm - p0.sum_mm < floor or tgr < float(limit) - TGR_TOLERANCE:
        return []
    return [ctx.flag(
        f"RECIST target sum grew from {_point_text(p0)} to {_point_text(p1)}: tumour growth rate "
        f"{tgr:.2f} %/month; threshold ≥ {fmt(limit)} %/month when the sum changed by at least "
        f"{fmt(floor)} mm.", _point_ev(p0) + _point_ev(p1), f"≥ {fmt(limit)} %/month")]


def _risk_gao(ctx: RuleContext) -> list[Flag]:
    scan = ctx.measures.last_sizing_scan
    if scan is None:
        return []
    limit = ctx.dec("liver_met_axis_mm")
    evidence: list[Evidence] = [(scan.ref, scan.date)]
    factors = []
    liver = [m for m in ctx.measures.lesions if m.site is Site.LIVER and m.latest is not None]
    largest = max(liver, key=lambda m: m.latest.mm if m.latest else 0, default=None)
    if largest is not None and largest.latest is not None and largest.latest.mm > limit:
        factors.append(f"largest liver metastasis {largest.lesion} {fmt(largest.latest.mm)} mm "
                       f"({largest.latest.date.isoformat()}) > {fmt(limit)} mm")
        evidence.append((largest.latest.ref, largest.latest.date))
    patient = ctx.history.patient
    if not patient.primary_resected:
        factors.append("primary tumour not resected")
    if (patient.t_stage or "").upper()[:2] in {"T3", "T4"}:
        factors.append(f"stage {patient.t_stage}")
    if not factors:
        return []
    return [ctx.flag(f"Gao 2020 risk factor{'s' if len(factors) > 1 else ''} at the {scan.modality.value} of "
                     f"{scan.date.isoformat()}: {'; '.join(factors)}. Keep imaging 3-monthly while it persists.",
                     evidence, f"liver metastasis > {fmt(limit)} mm, unresected primary, T3–T4")]


RULES = (
    Rule("recist.progression", Severity.ACTION, VERSION, _recist_progression),
    Rule("growth.tgr", Severity.WATCH, VERSION, _growth_tgr),
    Rule("risk.gao", Severity.WATCH, VERSION, _risk_gao),
)
