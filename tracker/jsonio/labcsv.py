"""The lab-results CSV: its header checked, each row read into a lab result of a known patient,
every problem named by its line and column."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from datetime import date
from typing import Any

from tracker.domain import model as dm
from tracker.domain.checks import Problems, check_record
from tracker.domain.dates import parse_iso_date
from tracker.domain.units import (
    normalize_unit,
    parse_analyte,
    parse_decimal,
    parse_lab_value,
)
from tracker.errors import ValidationError
from tracker.jsonio.documents import exact
from tracker.text import quoted

# ----------------------------------------------------------------- CSV

LAB_CSV_COLUMNS = ["patient", "date", "analyte", "value", "unit", "lab", "assay", "specimen", "upper_limit",
                   "source", "verified", "notes"]


def lab_csv_labels(text: str) -> set[str]:
    """The patient labels a lab-results CSV names (as `parse_lab_csv` reads them; a text that
    cannot be read names none, and `parse_lab_csv` says what is wrong with it)."""
    labels: set[str] = set()
    try:
        for row in csv.DictReader(io.StringIO(text)):
            labels.add((row.get("patient") or "").strip())
    except csv.Error:
        pass  # the labels up to the line that cannot be read
    return labels


def parse_lab_csv(text: str, *, today: date, patients: dict[str, dm.Patient]
                  ) -> list[tuple[dm.Patient, dm.LabResult]]:
    """Lab results from CSV (header row required); every problem reported as `row N, column`."""
    reader = csv.DictReader(io.StringIO(text))
    try:
        header = list(reader.fieldnames or [])
    except csv.Error as exc:
        raise ValidationError(f"the CSV header cannot be read: {exc}", "FILE") from None
    repeated = sorted({c for c in header if header.count(c) > 1})
    if repeated:
        raise ValidationError(f"the CSV header names column(s) {', '.join(repeated)} twice; keep one", "header")
    missing = [c for c in ("patient", "date", "analyte", "value", "unit") if c not in header]
    if missing:
        raise ValidationError(f"the CSV header lacks column(s) {', '.join(missing)}; expected "
                              f"{','.join(LAB_CSV_COLUMNS)}", "header")
    unknown = [c for c in header if c not in LAB_CSV_COLUMNS]
    problems: Problems = [("header", f"unknown column {quoted(c)}; expected {','.join(LAB_CSV_COLUMNS)}")
                          for c in unknown]
    out: list[tuple[dm.Patient, dm.LabResult]] = []
    seen: dict[tuple[Any, ...], int] = {}
    width = len(header)
    for n, row in enumerate(_csv_rows(reader), start=2):
        here = f"row {n}"
        fields = width + len(row.get(None) or []) - sum(v is None for v in row.values())  # type: ignore[call-overload]
        if fields != width:
            problems.append((here, f"has {fields} fields, the header has {width}; check for a missing or extra "
                                   "comma (quote a value that contains a comma)"))
            continue
        p = patients.get((row.get("patient") or "").strip())
        if p is None:
            problems.append((f"{here}, patient", f"no patient {quoted(row.get('patient'))}; add the patient first "
                                                 "(tracker patient add) or fix the label"))
            continue
        try:
            r = _lab_from_row(row)
        except ValidationError as exc:
            problems += [(f"{here}, {f}", m) for f, m in exc.problems]
            continue
        except ValueError as exc:
            problems.append((here, str(exc)))
            continue
        problems += [(f"{here}, {f}", m) for f, m in check_record(r, p, today=today)]
        key = (p.label, r.date, r.analyte, r.analyte_other, r.specimen)
        if key in seen:
            problems.append((here, f"duplicates row {seen[key]} (same patient, analyte and date)"))
        seen[key] = n
        out.append((p, r))
    if problems:
        raise ValidationError(problems)
    return out


def _csv_rows(reader: csv.DictReader[str]) -> Iterator[dict[str, Any]]:
    """The rows of `reader`; a CSV the csv module cannot read is one clear error with its line."""
    try:
        yield from reader
    except csv.Error as exc:
        raise ValidationError(f"the CSV cannot be read at line {reader.reader.line_num}: {exc}", "FILE") from None


def _lab_from_row(row: dict[str, str]) -> dm.LabResult:
    try:
        when = parse_iso_date(row["date"])
    except ValueError:
        raise ValidationError(f"{quoted(row['date'])} is not a date that exists; write YYYY-MM-DD", "date") from None
    analyte = parse_analyte(row["analyte"])
    upper = (row.get("upper_limit") or "").strip()
    specimen = (row.get("specimen") or "serum").strip() or "serum"
    try:
        spec = dm.Specimen(specimen)
    except ValueError:
        raise ValidationError(f"{quoted(specimen)} is not a specimen; use serum, plasma, urine_24h or whole_blood",
                              "specimen") from None
    comparator, value = parse_lab_value(row["value"], "value")
    return dm.LabResult(
        date=when, analyte=analyte, value=exact(value), comparator=comparator,
        unit=normalize_unit(analyte, row["unit"]), lab=(row.get("lab") or "").strip(),
        assay=(row.get("assay") or "").strip(), specimen=spec,
        upper_limit=exact(parse_decimal(upper, "upper_limit")) if upper else None,
        provenance=dm.Provenance(source=dm.Source((row.get("source") or "import").strip() or "import"),
                                 verified=(row.get("verified") or "").strip().lower() in ("1", "true", "yes"),
                                 notes=(row.get("notes") or "").strip()),
    )
