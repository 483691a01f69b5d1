"""Domain -> JSON: canonical patient documents (sorted keys, ISO dates, records in date order,
numbers exact, UTF-8), so an export is itself an importable file and diffs stay stable."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import date, datetime, timezone
from decimal import Decimal
from typing import Any

from tracker.domain import model as dm
from tracker.domain.model import Record
from tracker.jsonio.documents import LIST_KEYS


def review_doc(r: Any) -> dict[str, Any]:
    """A stored flag review (models.FlagReview) as a `flag_reviews` entry."""
    return {"flag_key": r.flag_key, "action": r.action, "until": r.until.isoformat() if r.until else None,
            "severity_at_review": r.severity_at_review, "reason": r.reason, "user": r.user,
            "at": utc_text(r.at)}


def seen_doc(r: Any) -> dict[str, Any]:
    """A stored flag-log row (models.FlagLog) as a `flags_seen` entry."""
    return {"flag_key": r.flag_key, "rule_id": r.rule_id, "severity": r.severity, "date": r.date.isoformat(),
            "message": r.message, "evidence": r.evidence.split(",") if r.evidence else [], "threshold": r.threshold,
            "source": r.source, "rule_version": r.rule_version, "first_seen_at": utc_text(r.first_seen_at),
            "first_seen_as_of": r.first_seen_as_of.isoformat()}


def utc_text(t: datetime) -> str:
    """A stored time (naive on SQLite, which keeps UTC) as ISO 8601 UTC."""
    return (t.replace(tzinfo=timezone.utc) if t.tzinfo is None else t.astimezone(timezone.utc)).isoformat()


# ----------------------------------------------------------------- domain -> JSON


def num(d: Decimal | None) -> int | float | None:
    """Decimals as JSON numbers: integers stay integers; others use the shortest exact repr."""
    if d is None:
        return None
    return int(d) if d == d.to_integral_value() else float(d)


def _prov_doc(p: dm.Provenance) -> dict[str, Any]:
    return {"source": p.source.value, "verified": p.verified, "notes": p.notes}


def patient_doc(p: dm.Patient) -> dict[str, Any]:
    return {
        "label": p.label, "birth_year": p.birth_year, "sex": p.sex.value,
        "diagnosis_date": p.diagnosis_date.isoformat(),
        "setting": p.setting.value, "syndrome": p.syndrome.value, "primary_resected": p.primary_resected,
        "t_stage": p.t_stage, "protocol": {"id": p.protocol_id, "start": p.protocol_start.isoformat()},
        "left_surveillance": (
            {"date": p.left_on.isoformat(), "reason": p.leave_reason.value if p.leave_reason else "treatment"}
            if p.left_on else None
        ),
        **_prov_doc(p.provenance),
    }


def record_doc(r: Record, voided_reason: str | None = None) -> dict[str, Any]:
    base: dict[str, Any] = {"date": r.date.isoformat(), **_prov_doc(r.provenance), "voided_reason": voided_reason}
    if isinstance(r, dm.Visit):
        return {**base, "symptoms": sorted(s.value for s in r.symptoms), "symptom_other": r.symptom_other,
                "weight_kg": num(r.weight_kg), "performance_status": r.performance_status, "on_ppi": r.on_ppi,
                "wants_to_leave": r.wants_to_leave}
    if isinstance(r, dm.LabResult):
        return {**base, "analyte": r.analyte.value, "analyte_other": r.analyte_other, "value": num(r.value),
                "unit": r.unit, "lab": r.lab, "assay": r.assay, "specimen": r.specimen.value,
                "upper_limit": num(r.upper_limit), **({"comparator": r.comparator} if r.comparator else {})}
    if isinstance(r, dm.ImagingStudy):
        return {**base, "modality": r.modality.value, "mpd_mm": num(r.mpd_mm), "cbd_mm": num(r.cbd_mm),
                "lesions": [{"lesion": x.lesion, "site": x.site.value, "longest_mm": num(x.longest_mm),
                             "short_axis_mm": num(x.short_axis_mm),
                             "other_dims_mm": [num(o) for o in x.other_dims_mm], "is_new": x.is_new,
                             "pet_avid": x.pet_avid} for x in r.lesions]}
    return {**base, "ki67_pct": num(r.ki67_pct), "mitoses_per_2mm2": num(r.mitoses_per_2mm2),
            "grade": r.grade.value if r.grade else None}


def history_doc(p: dm.Patient, records: Sequence[tuple[str, Record, str | None]]) -> dict[str, Any]:
    """The canonical document of one patient (records in date order)."""
    doc: dict[str, Any] = {"schema_version": 1, "patient": patient_doc(p)}
    if p.synthetic:
        doc["synthetic"] = True
    for kind, key in LIST_KEYS.items():
        rows = [(r.date, record_doc(r, v)) for k, r, v in records if k == kind]
        rows.sort(key=lambda t: t[0])
        # records of one date in the order of their canonical JSON text (computed for ties only)
        out: list[dict[str, Any]] = []
        i = 0
        while i < len(rows):
            j = i + 1
            while j < len(rows) and rows[j][0] == rows[i][0]:
                j += 1
            group = [d for _, d in rows[i:j]]
            if len(group) > 1:
                group.sort(key=lambda d: json.dumps(d, sort_keys=True))
            out += group
            i = j
        doc[key] = out
    return doc


def dumps(obj: Any) -> str:
    """Canonical JSON: sorted keys, two-space indent, UTF-8 characters kept, final newline."""
    return json.dumps(obj, sort_keys=True, indent=2, ensure_ascii=False, default=_default) + "\n"


def _default(o: Any) -> Any:
    if isinstance(o, Decimal):
        return num(o)
    if isinstance(o, date):
        return o.isoformat()
    raise TypeError(f"cannot write {type(o).__name__} as JSON")
