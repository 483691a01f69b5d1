"""FHIR R4 import into one named patient, and the mCODE-shaped export (docs/fhir.md).

The import has the guarantees of every import (services.files): the whole file is read and
checked first, every problem is reported with its location, nothing is written on any problem,
and what is written goes through the same writer (bulk inserts, the audit event, the state
cache). A record already stored (the same source resource, or the same analyte, date, value and
unit; the same scan sizes; the same Ki-67) is skipped, so a re-synced download adds nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import date
from pathlib import Path
from typing import Any

from tracker import jsonio
from tracker.config import Settings
from tracker.db import transaction
from tracker.domain import model as dm
from tracker.domain.checks import check_patient, check_record
from tracker.errors import ValidationError
from tracker.fhir import files, reader
from tracker.fhir.content import FhirContent, ImagingReport
from tracker.services.protocols import all_protocols
from tracker.store import Record, Store


@dataclass
class FhirImportSummary:
    records_added: int = 0
    records_unchanged: int = 0  # already stored, or given twice in the file
    skipped: int = 0  # resources not about pNET surveillance
    patient_created: bool = False
    reports: list[ImagingReport] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def is_fhir(text: str) -> bool:
    """A JSON object (or NDJSON line) naming a `resourceType`: FHIR, not a tracker document."""
    head = text.lstrip()[:4096]  # a Bundle with sorted keys names its own resourceType last
    return head.startswith("{") and ('"resourceType"' in head or '"resourceType"' in text[-4096:])


def read_file(text: str, name: str) -> FhirContent:
    """The file's content; a file that is not FHIR, or any problem in it, raises ValidationError."""
    items = files.resources(text, name)
    if items is None:
        what = "is JSON but not FHIR (no resourceType)" if text.lstrip()[:1] in ("{", "[") else "is not FHIR JSON"
        raise ValidationError(f"{name} {what}; give a FHIR R4 Bundle, a resource or NDJSON, or import a "
                              "tracker file without --patient", "FILE")
    content = reader.read(items)
    if content.problems:
        raise ValidationError(content.problems)
    return content


def _same(r: Record) -> tuple[Any, ...]:
    """What makes an imported record the one already stored, whatever its notes and source."""
    if isinstance(r, dm.LabResult):
        return ("lab", r.date, r.analyte, r.analyte_other, r.value, r.unit, r.comparator)
    if isinstance(r, dm.ImagingStudy):
        return ("scan", r.date, r.modality, r.lesions)
    if isinstance(r, dm.Pathology):
        return ("pathology", r.date, r.ki67_pct)
    return ("visit", r.date)


def import_fhir(settings: Settings, path: Path, *, label: str, create: bool, today: date) -> FhirImportSummary:
    """Import a FHIR file into patient `label` (created from the file when `create`)."""
    from tracker.services.files import _Writer  # the writer every import uses

    text = jsonio.read_text(path)
    content = read_file(text, path.name)
    summary = FhirImportSummary(skipped=content.skipped, reports=content.reports, notes=content.notes)
    with transaction(settings) as s:
        st = Store(s)
        known = all_protocols()
        writer = _Writer(st, settings.user, path.name, today=today, protocols=known, compare_details=False)
        writer.load([label])
        patient = writer.existing.get(label)
        problems: list[tuple[str, str]] = []
        if patient is None:
            if not create:
                raise ValidationError(f"no patient '{label}'; add the patient first (tracker patient add), or pass "
                                      "--create to make one from the file", "--patient")
            patient = _new_patient(label, content, today=today, known=set(known))
            summary.patient_created = True
        elif content.sex is not None and patient.sex is dm.Sex.UNKNOWN and content.sex is not dm.Sex.UNKNOWN:
            patient = _take_sex(st, settings.user, patient, content.sex, path.name)
        stored = st.all_records([patient.id]).get(patient.id, []) if patient.id is not None else []
        seen = {_same(r): kind for kind, r, _ in stored}
        notes = {r.provenance.notes for _, r, _ in stored if r.provenance.notes.startswith("FHIR ")}
        records: list[tuple[str, Record, str | None]] = []
        for kind, items in (("lab", content.labs), ("scan", content.scans), ("pathology", content.pathology),
                            ("visit", content.visits)):
            for where, r in items:
                if _same(r) in seen or (r.provenance.notes and r.provenance.notes in notes):
                    summary.records_unchanged += 1
                    continue
                problems += check_record(r, patient, today=today, allow_future=False, prefix=where)
                seen[_same(r)] = kind
                records.append((kind, r, None))
        problems += _one_a_day(records, content)
        if problems:
            raise ValidationError(problems)
        ip = jsonio.ImportedPatient(patient, tuple(records), "(document)")
        writer.add([(ip, jsonio.dumps(jsonio.history_doc(patient, records)).strip())], problems)
        if problems:
            raise ValidationError(problems)  # the transaction rolls back: nothing is written
        summary.records_added = writer.summary.records_added
        summary.records_unchanged += writer.summary.records_unchanged
        return summary


def _one_a_day(records: list[tuple[str, Record, str | None]], content: FhirContent) -> list[tuple[str, str]]:
    """Two different results of one analyte on one day (or two scans of one modality) in the
    file: the tracker keeps one a day, so the file must say which."""
    where = {id(r): w for items in (content.labs, content.scans, content.pathology, content.visits) for w, r in items}
    first: dict[tuple[Any, ...], str] = {}
    out = []
    for kind, r, _ in records:
        key = dm.natural_key(r)
        if key in first:
            out.append((where[id(r)], f"a second, different {kind} for {r.date} ({first[key]} is the other); "
                                      "the tracker keeps one a day: remove one from the file"))
        else:
            first[key] = where[id(r)]
    return out


def _new_patient(label: str, content: FhirContent, *, today: date, known: set[str]) -> dm.Patient:
    """A patient made from the file: birth year and sex from its Patient, the diagnosis date from
    its primary pNET Condition, and the protocol from the tracker's extension (an export) or the
    default of `tracker patient add`, starting at the diagnosis."""
    missing = [what for what, v in (("Patient with a birth date", content.birth_year),
                                    ("pNET Condition (ICD-10 C25.4) with its onset date", content.diagnosis_date))
               if v is None]
    if missing:
        raise ValidationError(f"the file holds no {' and no '.join(missing)}, which a new patient needs; add the "
                              "patient with `tracker patient add` and import again without --create", "--create")
    assert content.birth_year is not None and content.diagnosis_date is not None
    extra = content.surveillance
    try:
        setting = dm.Setting(extra.get("setting", "small_nf"))
        start = date.fromisoformat(extra["start"]) if extra.get("start") else content.diagnosis_date
    except ValueError:
        raise ValidationError("the file's surveillance extension is not one the tracker wrote; add the patient "
                              "with `tracker patient add` instead", "--create") from None
    protocol = extra.get("protocol") or ("pnet-metastatic-ww" if setting is dm.Setting.METASTATIC else "pnet-small-nf")
    if protocol not in known:
        raise ValidationError(f"protocol '{protocol}' not found; known: {', '.join(sorted(known))}", "--create")
    p = dm.Patient(label=label, birth_year=content.birth_year, sex=content.sex or dm.Sex.UNKNOWN,
                   diagnosis_date=content.diagnosis_date, setting=setting, protocol_id=protocol,
                   protocol_start=start, provenance=dm.Provenance(source=dm.Source.IMPORT))
    found = check_patient(p, today=today, prefix="patient")
    if found:
        raise ValidationError(found)
    return p


def _take_sex(st: Store, user: str, p: dm.Patient, sex: dm.Sex, filename: str) -> dm.Patient:
    """Our sex is unknown and the file gives it: take it, as an audited amendment."""
    after = replace(p, sex=sex)
    st.update_patient(after)
    st.audit(user=user, action="amend", entity="patient", entity_id=p.id, patient_id=p.id,
             reason=f"sex taken from {filename}", before=jsonio.patient_doc(p), after=jsonio.patient_doc(after))
    return after


def export_fhir(settings: Settings, ref: str, *, today: date) -> str:
    """The mCODE-shaped FHIR R4 Bundle of one patient, with the flags open on `today`."""
    from tracker.fhir import writer
    from tracker.services import surveillance

    (view,) = surveillance.views(settings, ref, as_of=today, record=False)
    flags = [fv.flag for fv in view.flags]
    return jsonio.dumps(writer.bundle(view.history, flags, today=today))
