"""Growth and marker measures of one patient as rows for people and programs.

Every number carries its unit, and a value on the near side of one of the protocol's thresholds
is never printed as the threshold (`tracker.domain.measures.near`). TGR and the volume doubling
time model a lesion's volume as a sphere of its diameter (V ∝ D³); the marker doubling time is a
log-linear fit of the marker's values. Doubling times beyond 10 years print as "> 10 years".
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

from tracker.config import Settings
from tracker.db import transaction
from tracker.domain.measures import (
    LesionMeasures,
    MarkerMeasures,
    RecistPoint,
    SizePoint,
    fmt,
    lesion_measures,
    marker_measures,
    near,
    pct_text,
    rate_evaluable,
    recist_series,
)
from tracker.domain.protocol import SurveillanceProtocol
from tracker.services.protocols import get_protocol
from tracker.store import Store

#: A doubling time longer than this many months prints as "> 10 years".
LONG_DOUBLING_MONTHS = 120
VOLUME_MODEL = "volume ∝ diameter³"


def measure_rows(settings: Settings, ref: str, *, as_of: date) -> list[dict[str, Any]]:
    with transaction(settings, read_only=True) as s:
        st = Store(s)
        p = st.patient(ref)
        history = st.history(p).up_to(as_of)
    protocol = get_protocol(p.protocol_id)
    rows = [_lesion_row(p.label, lm, protocol) for lm in lesion_measures(history)]
    if protocol.enabled("recist.progression"):
        rows += [_recist_row(p.label, rp, protocol) for rp in recist_series(history, protocol)]
    signs = {r.ref: f"{r.comparator} " for r in history.labs if r.comparator}  # "< 5 pmol/L"
    rows += [_marker_row(p.label, mm, protocol, signs) for mm in marker_measures(history)]
    return rows


def _param(protocol: SurveillanceProtocol, rule_id: str, name: str) -> Any:
    """A threshold of the protocol, or None where the protocol does not set it."""
    return protocol.rule(rule_id).params.get(name)


def _limits(*values: Any) -> list[Decimal]:
    return [Decimal(str(v)) for v in values if v is not None]


def _row(label: str, what: str, series: str, **values: Any) -> dict[str, Any]:
    row = {"patient": label, "what": what, "series": series, "latest": None, "previous": None, "nadir": None,
           "change_prev": None, "change_nadir": None, "rate": None, "tgr_pct_per_month": None,
           "doubling_months": None, "response": None, "notes": ""}
    row.update(values)
    return row


def _size(x: SizePoint | None) -> str | None:
    return None if x is None else f"{fmt(x.mm)} mm ({x.modality.value}, {x.date})"


def _lesion_row(label: str, lm: LesionMeasures, protocol: SurveillanceProtocol) -> dict[str, Any]:
    rel = _limits(_param(protocol, "growth.relative", "rel_growth_pct"))
    rate_limit = _limits(_param(protocol, "growth.rate", "growth_rate_mm_per_yr"))
    tgr_limit = _limits(_param(protocol, "growth.tgr", "tgr_pct_per_month"))
    min_scans = int(_param(protocol, "growth.rate", "min_scans") or 3)
    min_span = int(_param(protocol, "growth.rate", "min_span_months") or 6)
    rate_ok = rate_evaluable(lm.points, min_scans, min_span) is None
    return _row(
        label, f"lesion {lm.lesion}", lm.site.value + (" (short axis)" if lm.is_node else ""),
        latest=_size(lm.latest), previous=_size(lm.previous), nadir=_size(lm.nadir),
        change_prev=_change(lm.change_prev_mm, lm.change_prev_pct, rel),
        change_nadir=_change(lm.change_nadir_mm, lm.change_nadir_pct, rel),
        rate=f"{near(lm.rate_mm_per_year, rate_limit, 2)} mm/year" if rate_ok and lm.rate_mm_per_year is not None
        else None,
        tgr_pct_per_month=None if lm.tgr_pct_per_month is None
        else f"{near(lm.tgr_pct_per_month, tgr_limit, 2)} %/month ({VOLUME_MODEL})",
        doubling_months=None if lm.vdt_months is None
        else f"{_months(lm.vdt_months)}, lesion volume ({VOLUME_MODEL})",
        notes="; ".join([*(["within measurement error (< 2 mm)"] if lm.within_noise else []),
                         *(["compares different modalities"] if lm.modalities_differ else []),
                         *lm.not_evaluable]),
    )


def _recist_row(label: str, rp: RecistPoint, protocol: SurveillanceProtocol) -> dict[str, Any]:
    rel = _limits(_param(protocol, "recist.progression", "rel_pct"))
    pr = [-x for x in _limits(_param(protocol, "recist.progression", "pr_pct"))]
    notes = [f"baseline: {rp.baseline_ref} ({rp.baseline_date})"]
    if not rp.targets:
        notes.append("no measurable target lesion at baseline")
    else:
        notes.append("targets: " + ", ".join(rp.targets))
        if rp.pct_from_baseline is not None and rp.nadir_mm is not None:
            notes.append(f"{pct_text(rp.pct_from_baseline, pr[0] if pr else None)} from baseline")
    if rp.missing:
        notes.append(f"not measured: {', '.join(rp.missing)}"
                     + (f" (measured targets {fmt(rp.measured_mm)} mm)" if rp.measured_mm is not None else ""))
    if rp.new_lesions:
        notes.append("new: " + ", ".join(rp.new_lesions))
    if rp.sum_mm is not None:
        latest = f"{fmt(rp.sum_mm)} mm ({rp.modality.value}, {rp.date})"
    else:
        latest = f"{'not evaluable' if rp.targets else 'no sum'} ({rp.modality.value}, {rp.date})"
    change_nadir = None
    if rp.nadir_mm is not None and rp.pct_from_nadir is not None:
        value = rp.sum_mm if rp.sum_mm is not None else rp.measured_mm
        if value is not None and (rp.sum_mm is not None or rp.response == "PD"):
            change_nadir = _change(value - rp.nadir_mm, rp.pct_from_nadir, rel)
    return _row(
        label, "RECIST sum", ", ".join(rp.targets) or "no targets", latest=latest,
        nadir=None if rp.nadir_mm is None else f"{fmt(rp.nadir_mm)} mm",
        change_nadir=change_nadir, response=rp.response, notes="; ".join(notes),
    )


def _marker_row(label: str, mm: MarkerMeasures, protocol: SurveillanceProtocol,
                signs: dict[str, str]) -> dict[str, Any]:
    """`signs`: the comparator ("< ") of each result that has one, by record ref."""
    rise = _limits(_param(protocol, "marker.rise", "rel_rise_pct"))
    last = mm.points[-1] if mm.points else None
    prev = mm.points[-2] if len(mm.points) > 1 else None
    return _row(
        label, mm.analyte, f"{mm.unit} {mm.assay} {mm.lab} {mm.specimen}".strip(),
        latest=None if last is None else f"{signs.get(last[2], '')}{fmt(last[1])} {mm.unit} ({last[0]})",
        previous=None if prev is None else f"{signs.get(prev[2], '')}{fmt(prev[1])} {mm.unit} ({prev[0]})",
        change_prev=None if mm.change_pct is None else pct_text(mm.change_pct, rise[0] if rise else None),
        doubling_months=None if mm.doubling_months is None
        else f"{_months(mm.doubling_months)}, marker (log-linear fit)",
        notes="; ".join(mm.not_evaluable),
    )


def _months(months: float) -> str:
    """'14.2 months', or '> 10 years' beyond 120 months."""
    return "> 10 years" if months > LONG_DOUBLING_MONTHS else f"{months:.1f} months"


def _change(mm: Decimal | None, pct: Decimal | None, limits: list[Decimal]) -> str | None:
    if mm is None:
        return None
    sign = "+" if mm > 0 else ""
    if pct is None:
        return f"{sign}{fmt(mm)} mm"
    return f"{sign}{fmt(mm)} mm ({pct_text(pct, limits[0] if limits else None)})"
