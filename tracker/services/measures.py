"""Growth and marker measures of one patient as rows for people and programs."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

from tracker.config import Settings
from tracker.db import session_scope
from tracker.domain.measures import fmt, lesion_measures, marker_measures
from tracker.domain.recist import recist_series
from tracker.services.protocols import get_protocol
from tracker.store import Store


def measure_rows(settings: Settings, ref: str, *, as_of: date) -> list[dict[str, Any]]:
    with session_scope(settings, read_only=True) as s:
        st = Store(s)
        p = st.patient(ref)
        history = st.history(p).up_to(as_of)
    protocol = get_protocol(p.protocol_id)
    rows: list[dict[str, Any]] = []
    for lm in lesion_measures(history):
        def pt(x: Any) -> str | None:
            return None if x is None else f"{fmt(x.mm)} mm ({x.modality.value}, {x.date})"
        rows.append({
            "patient": p.label, "what": f"lesion {lm.lesion}", "series": lm.site.value + (
                " (short axis)" if lm.is_node else ""),
            "latest": pt(lm.latest), "previous": pt(lm.previous), "nadir": pt(lm.nadir),
            "change_prev": _change(lm.change_prev_mm, lm.change_prev_pct),
            "change_nadir": _change(lm.change_nadir_mm, lm.change_nadir_pct),
            "rate": None if lm.rate_mm_per_year is None else f"{lm.rate_mm_per_year:.2f} mm/year",
            "tgr_pct_per_month": None if lm.tgr_pct_per_month is None else round(lm.tgr_pct_per_month, 2),
            "doubling_months": None if lm.vdt_months is None else round(lm.vdt_months, 1),
            "response": None,
            "notes": "; ".join([*(["within measurement error (< 2 mm)"] if lm.within_noise else []),
                                *(["compares different modalities"] if lm.modalities_differ else []),
                                *lm.not_evaluable]),
        })
    if protocol.enabled("recist.progression"):
        for rp in recist_series(history, protocol):
            rows.append({
                "patient": p.label, "what": "RECIST sum", "series": ", ".join(rp.targets),
                "latest": f"{fmt(rp.sum_mm) if rp.sum_mm is not None else 'NE'} mm ({rp.date})", "previous": None,
                "nadir": None if rp.nadir_mm is None else f"{fmt(rp.nadir_mm)} mm",
                "change_prev": None, "change_nadir": None, "rate": None, "tgr_pct_per_month": None,
                "doubling_months": None, "response": rp.response,
                "notes": ("new: " + ", ".join(rp.new_lesions)) if rp.new_lesions else "",
            })
    signs = {r.ref: f"{r.comparator} " for r in history.labs if r.comparator}  # "< 5 pmol/L"
    for mm in marker_measures(history):
        last = mm.points[-1] if mm.points else None
        prev = mm.points[-2] if len(mm.points) > 1 else None
        rows.append({
            "patient": p.label, "what": mm.analyte, "series": f"{mm.unit} {mm.assay} {mm.lab} {mm.specimen}".strip(),
            "latest": None if last is None else f"{signs.get(last[2], '')}{fmt(last[1])} {mm.unit} ({last[0]})",
            "previous": None if prev is None else f"{signs.get(prev[2], '')}{fmt(prev[1])} {mm.unit} ({prev[0]})",
            "nadir": None,
            "change_prev": None if mm.change_pct is None else _pct(mm.change_pct), "change_nadir": None,
            "rate": None, "tgr_pct_per_month": None,
            "doubling_months": None if mm.doubling_months is None else round(mm.doubling_months, 1),
            "response": None, "notes": "; ".join(mm.not_evaluable),
        })
    return rows


def _pct(pct: Decimal) -> str:
    """A percentage to one decimal, with its sign (display only; rules compare exact values)."""
    return f"{'+' if pct > 0 else ''}{pct.quantize(Decimal('0.1'))} %"


def _change(mm: Any, pct: Any) -> str | None:
    if mm is None:
        return None
    sign = "+" if mm > 0 else ""
    return f"{sign}{fmt(mm)} mm ({_pct(pct)})" if pct is not None else f"{sign}{fmt(mm)} mm"
