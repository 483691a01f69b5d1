"""Patient documents -> domain: each document of a file read into a patient and their records,
validated against the schema first, then every value checked; all problems come back together."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timezone
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from typing import Any

from tracker.domain import model as dm
from tracker.domain.checks import Problems, check_patient, check_record
from tracker.domain.dates import parse_iso_date
from tracker.domain.model import Record
from tracker.domain.recist import lesion_label
from tracker.domain.units import (
    normalize_unit,
    parse_analyte,
    parse_decimal,
    who_grade,
    without_trailing_zeros,
)
from tracker.errors import ValidationError
from tracker.jsonio.schemacheck import location, schema_problems
from tracker.text import quoted

#: the key of each record list in a patient document, by record kind
LIST_KEYS = {"visit": "visits", "lab": "labs", "scan": "scans", "pathology": "pathology"}


# ----------------------------------------------------------------- JSON -> domain


@dataclass(frozen=True)
class ImportedPatient:
    patient: dm.Patient
    records: tuple[tuple[str, Record, str | None], ...]  # (kind, record, voided reason)
    where: str  # location of the document in the file, for messages
    #: the document's flag reviews and flag-log rows (`flag_reviews`, `flags_seen`), as column
    #: values of flag_review and flag_log without the patient id
    reviews: tuple[dict[str, Any], ...] = ()
    seen: tuple[dict[str, Any], ...] = ()


#: what the flag log and flag reviews of a patient document hold (schemas/patient.schema.json)
FLAG_REVIEW_FIELDS = ("flag_key", "action", "until", "severity_at_review", "reason", "user", "at")
FLAG_SEEN_FIELDS = ("flag_key", "rule_id", "severity", "date", "message", "evidence", "threshold", "source",
                    "rule_version", "first_seen_at", "first_seen_as_of")


def review_from_doc(d: dict[str, Any]) -> dict[str, Any]:
    """A `flag_reviews` entry as flag_review column values."""
    return {**{k: d[k] for k in FLAG_REVIEW_FIELDS}, "until": parse_iso_date(d["until"]) if d["until"] else None,
            "at": _utc(d["at"])}


def seen_from_doc(d: dict[str, Any]) -> dict[str, Any]:
    """A `flags_seen` entry as flag_log column values."""
    return {**{k: d[k] for k in FLAG_SEEN_FIELDS}, "date": parse_iso_date(d["date"]),
            "evidence": ",".join(d["evidence"]), "first_seen_at": _utc(d["first_seen_at"]),
            "first_seen_as_of": parse_iso_date(d["first_seen_as_of"])}


def _utc(text: str) -> datetime:
    t = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return t.replace(tzinfo=timezone.utc) if t.tzinfo is None else t.astimezone(timezone.utc)


def exact(v: Any) -> Decimal:
    """A JSON number or numeric string as a Decimal without spurious trailing zeros."""
    if type(v) is int and 0 <= v < 10 ** 12:  # the common case, already exact and in range
        return Decimal(v)
    d = parse_decimal(v, "value")
    try:
        return without_trailing_zeros(d)
    except InvalidOperation:  # more digits than a decimal context holds (1e999)
        raise ValidationError(f"{quoted(v)} is too large a number", "value") from None


def _prov(d: dict[str, Any], default: dm.Source) -> dm.Provenance:
    return _provenance(d.get("source", default._value_), bool(d.get("verified", False)), str(d.get("notes", "")))


@lru_cache(maxsize=4096)
def _provenance(source: str, verified: bool, notes: str) -> dm.Provenance:
    """Provenance values are few (most records share one): made once each, shared (immutable)."""
    return dm.Provenance(source=dm.Source(source), verified=verified, notes=notes)


def _member(enum: Any, by_value: dict[Any, Any], value: Any) -> Any:
    """`enum(value)` (the same ValueError for an unknown value), a dict lookup for a known one."""
    try:
        return by_value[value]
    except (KeyError, TypeError):
        return enum(value)


def patient_from_doc(d: dict[str, Any], source: dm.Source, *, synthetic: bool = False) -> dm.Patient:
    """The patient of a document's `patient` object; `synthetic`: the document says so."""
    left = d.get("left_surveillance") or {}
    return dm.Patient(
        label=d["label"], birth_year=int(d["birth_year"]), sex=dm.Sex(d["sex"]),
        diagnosis_date=date.fromisoformat(d["diagnosis_date"]), setting=dm.Setting(d["setting"]),
        syndrome=dm.Syndrome(d.get("syndrome", "none")), primary_resected=bool(d.get("primary_resected", False)),
        t_stage=d.get("t_stage"), protocol_id=d["protocol"]["id"],
        protocol_start=date.fromisoformat(d["protocol"]["start"]),
        left_on=date.fromisoformat(left["date"]) if left else None,
        leave_reason=dm.LeaveReason(left["reason"]) if left else None, provenance=_prov(d, source),
        synthetic=synthetic,
    )


# The record readers below build records with `dm.assemble` (an import reads a million of them);
# tests/test_readers.py checks that they equal records made by the constructors.

def visit_from_doc(d: dict[str, Any], source: dm.Source) -> dm.Visit:
    g = d.get
    weight = g("weight_kg")
    return dm.assemble(dm.Visit, {
        "date": date.fromisoformat(d["date"]),
        "symptoms": tuple(sorted(_member(dm.Symptom, dm.SYMPTOM_OF, s) for s in g("symptoms", ()))),
        "symptom_other": g("symptom_other", ""), "weight_kg": None if weight is None else exact(weight),
        "performance_status": g("performance_status"), "on_ppi": bool(g("on_ppi", False)),
        "wants_to_leave": bool(g("wants_to_leave", False)), "provenance": _prov(d, source), "id": None,
    })


def lab_from_doc(d: dict[str, Any], source: dm.Source) -> dm.LabResult:
    g = d.get
    analyte = parse_analyte(d["analyte"])
    upper = g("upper_limit")
    return dm.assemble(dm.LabResult, {
        "date": date.fromisoformat(d["date"]), "analyte": analyte, "value": exact(d["value"]),
        "unit": normalize_unit(analyte, d["unit"]), "lab": g("lab", ""), "assay": g("assay", ""),
        "specimen": _member(dm.Specimen, dm.SPECIMEN_OF, g("specimen", "serum")),
        "upper_limit": None if upper is None else exact(upper), "analyte_other": g("analyte_other", ""),
        "comparator": g("comparator") or "", "provenance": _prov(d, source), "id": None,
    })


def _lesion_from_doc(x: dict[str, Any]) -> dm.LesionMeasurement:
    g = x.get
    longest, short = g("longest_mm"), g("short_axis_mm")
    return dm.assemble(dm.LesionMeasurement, {
        "lesion": x["lesion"], "site": _member(dm.Site, dm.SITE_OF, x["site"]),
        "longest_mm": None if longest is None else exact(longest),
        "short_axis_mm": None if short is None else exact(short),
        "other_dims_mm": tuple(exact(o) for o in g("other_dims_mm", ())), "is_new": bool(g("is_new", False)),
        "pet_avid": g("pet_avid"),
    })


def scan_from_doc(d: dict[str, Any], source: dm.Source) -> dm.ImagingStudy:
    g = d.get
    lesions = [_lesion_from_doc(x) for x in g("lesions", ())]
    if len(lesions) > 1:
        lesions.sort(key=lesion_label)
    mpd, cbd = g("mpd_mm"), g("cbd_mm")
    return dm.assemble(dm.ImagingStudy, {
        "date": date.fromisoformat(d["date"]), "modality": _member(dm.Modality, dm.MODALITY_OF, d["modality"]),
        "lesions": tuple(lesions), "mpd_mm": None if mpd is None else exact(mpd),
        "cbd_mm": None if cbd is None else exact(cbd), "provenance": _prov(d, source), "id": None,
    })


def pathology_from_doc(d: dict[str, Any], source: dm.Source) -> dm.Pathology:
    ki67, mitoses = d.get("ki67_pct"), d.get("mitoses_per_2mm2")
    ki67 = None if ki67 is None else exact(ki67)
    mitoses = None if mitoses is None else exact(mitoses)
    grade = dm.Grade(d["grade"]) if d.get("grade") else who_grade(ki67, mitoses)
    return dm.Pathology(date=date.fromisoformat(d["date"]), ki67_pct=ki67, mitoses_per_2mm2=mitoses, grade=grade,
                        provenance=_prov(d, source))


READERS: dict[str, Callable[..., Any]] = {
    "visit": visit_from_doc, "lab": lab_from_doc, "scan": scan_from_doc, "pathology": pathology_from_doc,
}


def record_from_doc(kind: str, doc: dict[str, Any], source: dm.Source) -> Record:
    """One record from its document form, checked against the schema first."""
    problems = schema_problems(doc, "patient.schema.json", definition=kind)
    if problems:
        raise ValidationError(problems)
    try:
        result: Record = READERS[kind](doc, source)
    except ValueError as exc:
        raise ValidationError(str(exc), kind) from None
    return result


def patient_documents(doc: Any) -> list[tuple[list[Any], dict[str, Any]]]:
    """The patient documents in a file (one, a list, or a cohort), each with its location."""
    if isinstance(doc, list):
        return [([i], d) for i, d in enumerate(doc)]
    if isinstance(doc, dict) and "patients" in doc:
        return [(["patients", i], d) for i, d in enumerate(doc["patients"])]
    return [([], doc)]


def parse_documents(doc: Any, *, today: date, source: dm.Source = dm.Source.IMPORT) -> list[ImportedPatient]:
    """Validate a whole (already parsed) file and convert it; raises ValidationError listing
    every problem. `import_file` streams instead, through `DocumentStream` and `DocumentParser`."""
    problems = schema_problems(doc, "patient.schema.json")
    if problems:
        raise ValidationError(problems)
    parser = DocumentParser(today=today, source=source)
    out = [ip for where, d in patient_documents(doc) if (ip := parser.parse(where, d)) is not None]
    if parser.problems:
        raise ValidationError(parser.problems)
    return out


class DocumentParser:
    """Checks and converts patient documents one at a time, gathering every problem (with its
    location) in `problems`; remembers the labels seen so that a label twice in a file is found."""

    def __init__(self, *, today: date, source: dm.Source = dm.Source.IMPORT) -> None:
        self.today = today
        self.source = source
        self.problems: Problems = []
        self.labels: set[str] = set()

    def parse(self, where: list[Any], d: Any, *, check_schema: bool = False) -> ImportedPatient | None:
        """One patient document at `where` (already schema-valid unless `check_schema`); None
        when it cannot be converted at all."""
        problems = self.problems
        if check_schema:
            found = schema_problems(d, "patient.schema.json", where, definition="patient_document")
            if found:
                problems += found
                return None
        loc = location(where)
        prefix = f"{loc}." if where else ""
        today, source = self.today, self.source
        try:
            p = patient_from_doc(d["patient"], source, synthetic=d.get("synthetic") is True)
        except (ValueError, ValidationError) as exc:
            problems.append((f"{prefix}patient", _msg(exc)))
            return None
        if p.label in self.labels:
            problems.append((f"{prefix}patient.label", f"patient {p.label} appears twice in this file"))
        self.labels.add(p.label)
        problems += check_patient(p, today=today, prefix=f"{prefix}patient")
        records: list[tuple[str, Record, str | None]] = []
        for kind, key in LIST_KEYS.items():
            seen: dict[tuple[Any, ...], str] = {}
            read = READERS[kind]
            for i, rd in enumerate(d.get(key, ())):
                try:
                    r = read(rd, source)
                except ValidationError as exc:
                    here = f"{prefix}{key}[{i}]"
                    problems += [(f"{here}.{f}" if f else here, m) for f, m in exc.problems]
                    continue
                except ValueError as exc:
                    problems.append((f"{prefix}{key}[{i}]", _msg(exc)))
                    continue
                voided = rd.get("voided_reason")
                problems += check_record(r, p, today=today, allow_future=False, prefix=f"{prefix}{key}[{i}]")
                if voided is None:
                    nk = dm.natural_key(r)
                    if nk in seen:
                        problems.append((f"{prefix}{key}[{i}]", f"duplicates {seen[nk]} (same {kind} on "
                                                                f"{r.date}); void one or merge them"))
                    seen[nk] = f"{prefix}{key}[{i}]"
                records.append((kind, r, voided))
        try:
            reviews = tuple(review_from_doc(x) for x in d.get("flag_reviews", ()))
            shown = tuple(seen_from_doc(x) for x in d.get("flags_seen", ()))
        except (KeyError, ValueError, AttributeError):
            problems.append((f"{prefix}flag_reviews", "a flag review or seen flag cannot be read; export it again "
                             "with `tracker export`"))
            reviews, shown = (), ()
        return ImportedPatient(p, tuple(records), loc, reviews, shown)


def _msg(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        return "; ".join(m for _, m in exc.problems)
    return str(exc)
