"""Growth of pancreatic lesions on the small-tumour protocol.

Only pancreatic lesions with CT/MRI/EUS sizes are judged; nodes belong to `spread.node`. Every
comparison is exact (`Decimal` sizes, `Fraction` slopes): 48 over 40 is 20 %, never 19.999… %.
"""

from __future__ import annotations

from tracker.domain.measures import LesionMeasures, fmt, rate_evaluable, size_slope
from tracker.domain.model import Flag, Severity
from tracker.domain.rules._base import Rule, RuleContext, ev, size_text

VERSION = "1.0"


def _size_threshold(ctx: RuleContext) -> list[Flag]:
    limit = ctx.dec("size_max_mm")
    return [
        ctx.flag(f"Lesion {m.lesion} measures {size_text(m.latest)}, above the {fmt(limit)} mm limit "
                 f"for surveillance; threshold > {fmt(limit)} mm.", ev([m.latest]), f"> {fmt(limit)} mm")
        for m in ctx.measures.pancreatic if m.latest is not None and m.latest.mm > limit
    ]


def _grew_text(m: LesionMeasures, what: str) -> str:
    assert m.nadir is not None and m.latest is not None
    return f"Lesion {m.lesion} grew from {size_text(m.nadir)} to {size_text(m.latest)}: {what} over its nadir"


def _growth_absolute(ctx: RuleContext) -> list[Flag]:
    limit = ctx.dec("abs_growth_mm")
    return [
        ctx.flag(f"{_grew_text(m, f'{fmt(m.change_nadir_mm)} mm')}; threshold ≥ {fmt(limit)} mm.",
                 ev([m.nadir, m.latest]), f"≥ {fmt(limit)} mm")
        for m in ctx.measures.pancreatic if m.change_nadir_mm is not None and m.change_nadir_mm >= limit
    ]


def _growth_relative(ctx: RuleContext) -> list[Flag]:
    pct, floor = ctx.dec("rel_growth_pct"), ctx.dec("noise_floor_mm")
    out = []
    for m in ctx.measures.pancreatic:
        if m.nadir is None or m.latest is None or m.change_nadir_mm is None or m.change_nadir_pct is None:
            continue
        if 100 * m.change_nadir_mm >= pct * m.nadir.mm and m.change_nadir_mm >= floor:
            what = f"+{fmt(round(m.change_nadir_pct, 1))} % ({fmt(m.change_nadir_mm)} mm)"
            out.append(ctx.flag(f"{_grew_text(m, what)}; threshold ≥ {fmt(pct)} % and at least "
                                f"{fmt(floor)} mm.", ev([m.nadir, m.latest]), f"≥ {fmt(pct)} %"))
    return out


def _growth_rate(ctx: RuleContext) -> list[Flag]:
    limit = ctx.dec("growth_rate_mm_per_yr")
    out = []
    for m in ctx.measures.pancreatic:
        if rate_evaluable(m.points, int(ctx.cfg.param("min_scans")), int(ctx.cfg.param("min_span_months"))):
            continue
        slope = m.rate_exact if m.rate_exact is not None else size_slope(m.points)
        if slope >= limit:
            first, last = m.points[0], m.points[-1]
            out.append(ctx.flag(
                f"Lesion {m.lesion} grows {float(slope):.2f} mm/year (least squares over {len(m.points)} "
                f"CT/MRI/EUS scans, {size_text(first)} to {size_text(last)}); threshold ≥ {fmt(limit)} mm/year.",
                ev(m.points), f"≥ {fmt(limit)} mm/year"))
    return out


RULES = (
    Rule("size.threshold", Severity.ACTION, VERSION, _size_threshold),
    Rule("growth.absolute", Severity.ACTION, VERSION, _growth_absolute),
    Rule("growth.relative", Severity.WATCH, VERSION, _growth_relative),
    Rule("growth.rate", Severity.WATCH, VERSION, _growth_rate),
)
