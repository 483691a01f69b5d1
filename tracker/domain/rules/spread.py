"""Spread: suspicious regional nodes and new distant lesions.

- `spread.node`: a regional node (site `regional_node`) whose latest CT/MRI/EUS short axis is
  ≥ `node_short_axis_mm`, or whose latest avidity report (any scan) says avid. It fires whether or
  not the node was there at baseline.
- `spread.distant`: a lesion at a distant site (`DISTANT_SITES`, distant nodes included) that a scan
  marks new (`is_new`). Our choice where the rule book is silent: only the explicit mark counts (a
  lesion first recorded later without the mark is reported by `data.implausible` instead), and the
  flag stays current from that scan on, cited by the measurement that marked it, so the same
  flag is not raised again at each later scan.
"""

from __future__ import annotations

from tracker.domain.measures import fmt
from tracker.domain.model import DISTANT_SITES, Flag, Severity, Site
from tracker.domain.rules._base import Evidence, Rule, RuleContext, size_text

VERSION = "1.0"


def _avidity(ctx: RuleContext, name: str) -> Evidence | None:
    """The latest scan that reports the node's avidity, when it says avid."""
    reports = [(s, m) for s in ctx.history.scans for m in s.lesions if m.lesion == name and m.pet_avid is not None]
    if not reports or not reports[-1][1].pet_avid:
        return None
    s = reports[-1][0]
    return (s.lesion_ref(name), s.date)


def _spread_node(ctx: RuleContext) -> list[Flag]:
    limit = ctx.dec("node_short_axis_mm")
    out = []
    for m in ctx.measures.lesions:
        if m.site is not Site.REGIONAL_NODE:
            continue
        parts, evidence = [], []
        if m.latest is not None and m.latest.mm >= limit:
            parts.append(f"short axis {size_text(m.latest)}")
            evidence.append((m.latest.ref, m.latest.date))
        avid = _avidity(ctx, m.lesion)
        if avid is not None:
            parts.append(f"SSTR-PET avid ({avid[1].isoformat()})")
            evidence.append(avid)
        if parts:
            out.append(ctx.flag(f"Regional lymph node {m.lesion}: {' and '.join(parts)}; threshold short axis "
                                f"≥ {fmt(limit)} mm or PET avid.", evidence, f"≥ {fmt(limit)} mm or avid"))
    return out


def _spread_distant(ctx: RuleContext) -> list[Flag]:
    out = []
    marked: set[str] = set()
    for s in ctx.history.scans:
        for m in s.lesions:
            if m.is_new and m.site in DISTANT_SITES and m.lesion not in marked:
                marked.add(m.lesion)
                out.append(ctx.flag(
                    f"New lesion {m.lesion} in the {m.site.value.replace('_', ' ')} on the {s.modality.value} of "
                    f"{s.date.isoformat()}; threshold: any new distant lesion.",
                    [(s.lesion_ref(m.lesion), s.date)], "any new distant lesion"))
    return out


RULES = (
    Rule("spread.node", Severity.ACTION, VERSION, _spread_node),
    Rule("spread.distant", Severity.ACTION, VERSION, _spread_distant),
)
