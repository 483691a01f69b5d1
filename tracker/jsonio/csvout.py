"""CSV output: cells a spreadsheet cannot run as formulas, and the long CSV of a history
(one row per value)."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Sequence
from typing import Any

from tracker.domain import model as dm
from tracker.domain.model import Record

_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_PLAIN_NUMBER = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?")


def csv_cell(value: Any) -> Any:
    """A value as a CSV cell that a spreadsheet shows and never runs: text starting with `=`, `+`,
    `-`, `@`, a tab or a carriage return gets a leading `'`; numbers (and text that is a plain
    number, such as "-3.5") stay numbers; None is an empty cell."""
    if value is None:
        return ""
    if isinstance(value, str) and value.startswith(_FORMULA_START) and not _PLAIN_NUMBER.fullmatch(value):
        return "'" + value
    return value


def to_csv(rows: Sequence[dict[str, Any]], columns: Sequence[str]) -> str:
    """Every CSV the tool writes: a header, then the rows' `columns`, each cell through `csv_cell`."""
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=list(columns), extrasaction="ignore", lineterminator="\n")
    w.writeheader()
    for r in rows:
        w.writerow({k: csv_cell(r.get(k)) for k in columns})
    return buf.getvalue()


HISTORY_CSV_COLUMNS = ["patient", "kind", "id", "date", "item", "value", "unit", "detail", "source", "verified",
                       "voided_reason", "notes"]


def history_csv_rows(p: dm.Patient, records: Sequence[tuple[str, Record, str | None]]) -> list[dict[str, Any]]:
    """One row per measured value, for spreadsheets (long format)."""
    rows: list[dict[str, Any]] = []
    for kind, r, voided in records:
        base = {"patient": p.label, "kind": kind, "id": r.id, "date": r.date.isoformat(),
                "source": r.provenance.source.value, "verified": r.provenance.verified,
                "voided_reason": voided, "notes": r.provenance.notes}
        for item, value, unit, detail in _values(r):
            rows.append({**base, "item": item, "value": value, "unit": unit, "detail": detail})
    return rows


def _values(r: Record) -> list[tuple[str, Any, str, str]]:
    if isinstance(r, dm.Visit):
        out: list[tuple[str, Any, str, str]] = [
            ("symptoms", ";".join(s.value for s in r.symptoms) or "none", "", r.symptom_other)]
        if r.weight_kg is not None:
            out.append(("weight", r.weight_kg, "kg", ""))
        if r.on_ppi:
            out.append(("on_ppi", "yes", "", ""))
        if r.wants_to_leave:
            out.append(("wants_to_leave", "yes", "", ""))
        return out
    if isinstance(r, dm.LabResult):
        detail = f"{r.assay} {r.lab} {r.specimen.value}".strip()
        return [(r.analyte.value, r.value_text, r.unit,
                 f"{detail}; ULN {r.upper_limit}" if r.upper_limit else detail)]
    if isinstance(r, dm.ImagingStudy):
        out = [(f"lesion {x.lesion}", x.longest_mm if x.longest_mm is not None else x.short_axis_mm, "mm",
                f"{r.modality.value} {x.site.value}{' new' if x.is_new else ''}") for x in r.lesions]
        out += [(n, v, "mm", r.modality.value) for n, v in (("mpd", r.mpd_mm), ("cbd", r.cbd_mm)) if v is not None]
        return out
    return [("ki67", r.ki67_pct, "%", r.grade.value if r.grade else "")]
