"""Import and export of whole histories.

Import validates the whole file before writing anything, then writes in one transaction and in
bulk. It only adds: a record already stored identically is skipped (so importing the same file
twice changes nothing); a record that differs from a stored one for the same date (and lesion,
analyte or modality) is a conflict, reported with its location, and nothing is written.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import date
from pathlib import Path
from typing import Any

from tracker import jsonio
from tracker.config import Settings
from tracker.db import session_scope
from tracker.domain import model as dm
from tracker.errors import ValidationError
from tracker.services.protocols import all_protocols
from tracker.store import Record, Store

Progress = Callable[[int], None]


@dataclass
class ImportSummary:
    patients_created: int = 0
    records_added: int = 0
    records_unchanged: int = 0
    patients_unchanged: int = 0
    labels: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {"patients_created": self.patients_created, "patients_unchanged": self.patients_unchanged,
                "records_added": self.records_added, "records_unchanged": self.records_unchanged}


def _fingerprint(r: Record, voided: str | None) -> str:
    return json.dumps(jsonio.record_doc(r, voided), sort_keys=True, default=str)


def import_file(settings: Settings, path: Path, *, today: date, progress: Progress | None = None) -> ImportSummary:
    """Import a JSON history (one patient, a list, or a cohort) or a lab-results CSV."""
    if path.suffix.lower() == ".csv":
        return _import_lab_csv(settings, path, today=today)
    doc = jsonio.read_json(path)
    parsed = jsonio.parse_documents(doc, today=today)
    known = all_protocols()
    unknown = [(f"{ip.where + '.' if ip.where != '(document)' else ''}patient.protocol.id",
                f"protocol '{ip.patient.protocol_id}' not found; known: {', '.join(sorted(known))}")
               for ip in parsed if ip.patient.protocol_id not in known]
    if unknown:
        raise ValidationError(unknown)
    return _write(settings, parsed, path.name, progress)


def _write(settings: Settings, parsed: Sequence[jsonio.ImportedPatient], filename: str,
           progress: Progress | None) -> ImportSummary:
    summary = ImportSummary()
    with session_scope(settings) as s:
        st = Store(s)
        existing = {p.label: p for p in st.patients()}
        stored = st.all_records([p.id for lbl, p in existing.items() if p.id is not None
                                 and lbl in {ip.patient.label for ip in parsed}]) if existing else {}
        new_patients = [ip.patient for ip in parsed if ip.patient.label not in existing]
        created = {p.label: p for p in st.add_patients_bulk(new_patients)}
        problems: list[tuple[str, str]] = []
        to_add: list[tuple[int, Record, str | None]] = []
        for ip in parsed:
            prefix = "" if ip.where == "(document)" else f"{ip.where}."
            target = created.get(ip.patient.label) or existing[ip.patient.label]
            assert target.id is not None
            if ip.patient.label in existing and jsonio.patient_doc(replace(ip.patient, id=target.id)) != \
                    jsonio.patient_doc(target):
                problems.append((f"{prefix}patient", f"patient {target.label} is already stored with other details; "
                                 "correct them with `tracker patient edit`, or fix the file"))
                continue
            have = stored.get(target.id, [])
            prints = {_fingerprint(r, v) for _, r, v in have}
            active = {dm.natural_key(r): r for _, r, v in have if v is None}
            added = 0
            for kind, r, voided in ip.records:
                if prints and _fingerprint(r, voided) in prints:  # a new patient has nothing to compare
                    summary.records_unchanged += 1
                    continue
                clash = active.get(dm.natural_key(r)) if voided is None else None
                if clash is not None:
                    problems.append((f"{prefix}{jsonio.LIST_KEYS[kind]} ({r.date})",
                                     f"{target.label} already has a different {kind} #{clash.id} for {r.date}; "
                                     f"correct it with `tracker amend {kind} {clash.id}`, or fix the file"))
                    continue
                to_add.append((target.id, r, voided))
                added += 1
            if ip.patient.label in created:
                summary.patients_created += 1
                summary.labels.append(target.label)
            elif added == 0:
                summary.patients_unchanged += 1
            if added or ip.patient.label in created:
                st.audit(user=settings.user, action="import", entity="patient", entity_id=target.id,
                         patient_id=target.id, reason=f"import of {filename}",
                         after={"records_added": added, "document": jsonio.history_doc(
                             target, [t for t in ip.records if _fingerprint(t[1], t[2]) not in prints]
                             if prints else ip.records)})
        if problems:
            raise ValidationError(problems)
        chunk = 20_000
        for i in range(0, len(to_add), chunk):
            summary.records_added += st.add_records_bulk(to_add[i:i + chunk])
            if progress:
                progress(min(chunk, len(to_add) - i))
    return summary


def _import_lab_csv(settings: Settings, path: Path, *, today: date) -> ImportSummary:
    text = jsonio.read_text(path)
    with session_scope(settings) as s:
        patients = {p.label: p for p in Store(s).patients()}
    rows = jsonio.parse_lab_csv(text, today=today, patients=patients)
    by_patient: dict[str, list[tuple[str, Record, str | None]]] = {}
    for p, r in rows:
        by_patient.setdefault(p.label, []).append(("lab", r, None))
    parsed = [jsonio.ImportedPatient(patients[lbl], tuple(recs), "(document)") for lbl, recs in by_patient.items()]
    return _write(settings, parsed, path.name, None)


def export(settings: Settings, ref: str | None, *, fmt: str) -> str:
    """Canonical JSON (importable) or a long CSV of one patient or all."""
    with session_scope(settings) as s:
        st = Store(s)
        patients = [st.patient(ref)] if ref else st.patients()
        recs = st.all_records([p.id for p in patients if p.id is not None] if ref else None)
    if fmt == "csv":
        rows = [row for p in patients for row in jsonio.history_csv_rows(p, recs.get(p.id or -1, []))]
        return jsonio.to_csv(rows, jsonio.HISTORY_CSV_COLUMNS)
    docs = [jsonio.history_doc(p, recs.get(p.id or -1, [])) for p in patients]
    if ref:
        return jsonio.dumps(docs[0])
    return jsonio.dumps({"schema_version": 1, "patients": docs})
