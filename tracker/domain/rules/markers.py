"""Marker rise and marker doubling time.

`marker.rise` compares the latest two results of each analyte in `analytes`. When the pair differs
in unit, assay, lab or specimen no rise is computed (`data.assay_change` says so). A rise is
`> rel_rise_pct` % AND a latest value `> abs_floor_ng_ml` in ng/mL or µg/L (one unit for every
rule: a pair switching between them is compared directly); in other units the
floor is the latest result's own upper reference limit, and without one only the relative part
is judged (the message says so). Both comparisons are strict and exact.

A result with a comparator is below or above its number: a `< x` result
can end a rise (as the latest result it is no rise) and never starts one (as the earlier result
the size of the rise is unknown), and neither can a `> x` earlier result; a `> x` latest result
rises at least as much as x does, so it is judged at x.
"""

from __future__ import annotations

from decimal import Decimal

from tracker.domain.measures import CONTEXT_ANALYTES, MarkerMeasures, fmt, near
from tracker.domain.model import Flag, LabResult, Severity
from tracker.domain.rules._base import Rule, RuleContext
from tracker.domain.units import NG_PER_ML_EQUIVALENT, analyte_name

VERSION = "1.1"


def latest_pair(ctx: RuleContext, analyte: str) -> tuple[LabResult, LabResult] | None:
    """The latest two results of an analyte (by `series_key[0]`), oldest first."""
    rs = ctx.measures.labs_by_series_analyte.get(analyte, ())
    return (rs[-2], rs[-1]) if len(rs) > 1 else None


def _floor(ctx: RuleContext, r: LabResult) -> Decimal | None:
    return ctx.dec("abs_floor_ng_ml") if r.unit in NG_PER_ML_EQUIVALENT else r.upper_limit


def _rise(ctx: RuleContext, prev: LabResult, cur: LabResult) -> Flag | None:
    pct, floor = ctx.dec("rel_rise_pct"), _floor(ctx, cur)
    if prev.comparator or cur.below:
        return None
    if prev.series_key != cur.series_key or prev.value <= 0 or 100 * (cur.value - prev.value) <= pct * prev.value:
        return None
    if floor is not None and cur.value <= floor:
        return None
    rise = near(100 * (cur.value - prev.value) / prev.value, [pct])
    above = (f" to above {fmt(floor)} {cur.unit}" if floor is not None
             else " (no upper limit recorded: relative rise only)")
    name = analyte_name(cur.analyte, cur.analyte_other)
    return ctx.flag(
        f"{name} rose from {fmt(prev.value)}{'' if prev.unit == cur.unit else ' ' + prev.unit} to "
        f"{cur.value_text} {cur.unit} ({prev.date.isoformat()} to "
        f"{cur.date.isoformat()}, same assay): +{rise} %; threshold > {fmt(pct)} %{above}. Check "
        "confounders and repeat.", [(prev.ref, prev.date), (cur.ref, cur.date)], f"> {fmt(pct)} %")


def _marker_rise(ctx: RuleContext) -> list[Flag]:
    out = []
    for analyte in ctx.cfg.param("analytes"):
        pair = latest_pair(ctx, str(analyte))
        flag = _rise(ctx, *pair) if pair else None
        if flag is not None:
            out.append(flag)
    return out


def is_marker(m: MarkerMeasures) -> bool:
    return m.analyte not in {a.value for a in CONTEXT_ANALYTES}


def current_markers(ctx: RuleContext) -> list[MarkerMeasures]:
    """Marker series (context labs excluded) that hold their analyte's latest result."""
    latest = {analyte: rs[-1].ref for analyte, rs in ctx.measures.labs_by_series_analyte.items()}
    return [m for m in ctx.measures.markers if is_marker(m) and m.points[-1][2] == latest[m.analyte]]


def _marker_doubling(ctx: RuleContext) -> list[Flag]:
    limit = ctx.dec("marker_doubling_months")
    out = []
    for m in current_markers(ctx):
        if m.doubling_months is not None and m.doubling_months < float(limit):
            points = [p for p in m.points if p[2] in m.fitted]
            first, last = points[0], points[-1]
            out.append(ctx.flag(
                f"{m.analyte.replace('_', ' ')} doubles every {near(m.doubling_months, [limit])} months "
                f"(log-linear fit of "
                f"{len(points)} results, {first[0].isoformat()} to {last[0].isoformat()}, {m.unit}); threshold "
                f"< {fmt(limit)} months.", [(ref, d) for d, _, ref in points], f"< {fmt(limit)} months"))
    return out


RULES = (
    Rule("marker.rise", Severity.WATCH, VERSION, _marker_rise),
    Rule("marker.doubling", Severity.WATCH, VERSION, _marker_doubling),
)
