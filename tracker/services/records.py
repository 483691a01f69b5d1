"""Patients and their records: add, list, show, edit, leave, log, amend, void, history, audit.

Each function is one command: one transaction, every change audited (who, when, before, after).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import date
from decimal import Decimal
from typing import Any

from tracker.config import Settings
from tracker.db import transaction
from tracker.domain import model as dm
from tracker.domain.checks import check_patient, check_record, entry_questions, unseen_disappeared
from tracker.domain.units import analyte_name
from tracker.errors import ConflictError, NeedsConfirmation, NotFoundError, ValidationError
from tracker.jsonio.documents import patient_from_doc, record_from_doc
from tracker.jsonio.export import dumps, patient_doc, record_doc
from tracker.jsonio.schemacheck import schema_problems
from tracker.services.protocols import check_known
from tracker.store import Record, Store
from tracker.text import quoted


@dataclass(frozen=True)
class StoredRecord:
    kind: str
    record: Record
    voided_reason: str | None


def _raise(problems: list[tuple[str, str]]) -> None:
    if problems:
        raise ValidationError(problems)


def add_patient(settings: Settings, p: dm.Patient, *, today: date) -> dm.Patient:
    check_known(p.protocol_id)
    _raise(check_patient(p, today=today, prefix="patient"))
    with transaction(settings) as s:
        st = Store(s)
        if st.label_exists(p.label):
            raise ConflictError(f"a patient labelled {quoted(p.label)} already exists; pick another label")
        stored = st.add_patient(p)
        st.audit(user=settings.user, action="create", entity="patient", entity_id=stored.id,
                 patient_id=stored.id, after=patient_doc(stored))
        return stored


def list_patients(settings: Settings) -> list[dm.Patient]:
    with transaction(settings, read_only=True) as s:
        return Store(s).patients()


def get_patient(settings: Settings, ref: str) -> dm.Patient:
    with transaction(settings, read_only=True) as s:
        return Store(s).patient(ref)


#: the patient fields an edit may change (`patient edit --set`)
PATIENT_FIELDS = ("label", "birth_year", "sex", "diagnosis_date", "setting", "syndrome", "primary_resected", "t_stage",
                  "protocol_id", "protocol_start", "left_on", "leave_reason", "provenance")


def edit_patient(settings: Settings, ref: str, changes: dict[str, Any], *, reason: str, today: date) -> dm.Patient:
    """Amend patient fields (a protocol change applies from its new start date)."""
    return _edit_patient(settings, ref, lambda _: changes, relabels="label" in changes, reason=reason,
                         today=today)[0]


def edit_patient_fields(settings: Settings, ref: str, sets: Sequence[str], *, reason: str,
                        today: date) -> tuple[dm.Patient, list[str]]:
    """Amend patient fields given as `FIELD=VALUE` (`patient edit --set`, the names of the patient
    document: `protocol.id`), applied to the patient as stored when the change is written (read,
    checked and written in one locked transaction). Returns the patient and the fields changed."""
    given = parse_sets(sets)

    def changes(before: dm.Patient) -> dict[str, Any]:
        doc = apply_sets(patient_doc(before), given)
        _raise(schema_problems({"schema_version": 1, "patient": doc}, "patient.schema.json"))
        new = patient_from_doc(doc, before.provenance.source)
        return {k: getattr(new, k) for k in PATIENT_FIELDS if getattr(new, k) != getattr(before, k)}

    return _edit_patient(settings, ref, changes, relabels=any(k.split(".")[0] == "label" for k in given),
                         reason=reason, today=today)


def _edit_patient(settings: Settings, ref: str, make: Callable[[dm.Patient], dict[str, Any]], *, relabels: bool,
                  reason: str, today: date) -> tuple[dm.Patient, list[str]]:
    """Read the patient for update, make the changes from it, check and write them."""
    if not reason.strip():
        raise ValidationError("an amendment needs a reason", "--reason")
    with transaction(settings) as s:
        st = Store(s)
        if relabels:  # a new label may be one an import is creating: wait for imports
            st.one_bulk_command()
        before = st.patient_for_update(ref)
        changes = make(before)
        if not changes:
            raise ValidationError("nothing to change; give at least one --set FIELD=VALUE that differs", "--set")
        if "label" in changes and changes["label"] != before.label and st.label_exists(changes["label"]):
            raise ConflictError(f"a patient labelled {quoted(changes['label'])} already exists; pick another label")
        if "protocol_id" in changes:
            check_known(changes["protocol_id"])
        after = replace(before, **changes)
        _raise(check_patient(after, today=today, prefix="patient"))
        st.update_patient(after)
        st.audit(user=settings.user, action="amend", entity="patient", entity_id=before.id, patient_id=before.id,
                 reason=reason, before=patient_doc(before), after=patient_doc(after))
        return after, list(changes)


def leave_surveillance(settings: Settings, ref: str, on: date, why: dm.LeaveReason, *, note: str,
                       today: date) -> dm.Patient:
    """Record that the patient left surveillance; from that date nothing falls due."""
    with transaction(settings) as s:
        st = Store(s)
        before = st.patient_for_update(ref)
        if before.left_on is not None:
            raise ConflictError(f"patient {quoted(ref)} has already left surveillance; use `tracker patient edit` "
                                "to correct the leaving date")
        after = replace(before, left_on=on, leave_reason=why)
        _raise(check_patient(after, today=today, prefix="patient"))
        st.update_patient(after)
        st.audit(user=settings.user, action="leave", entity="patient", entity_id=before.id, patient_id=before.id,
                 reason=note or why.value, before=patient_doc(before), after=patient_doc(after))
        return after


def _asked(st: Store, pid: int, r: Record, confirm: bool, before: Record | None = None) -> Record:
    """`r` as it may be stored from a person's entry: an implausible value is
    refused with NeedsConfirmation unless `confirm`, and a confirmed one is stored verified. An
    amendment (`before`: the record as stored) is not asked again what the stored record was asked
    (a question about a value the person did not type would repeat a stored value)."""
    scans = [x for _, x, v in st.all_records([pid]).get(pid, []) if isinstance(x, dm.ImagingStudy) and v is None]
    _raise(unseen_disappeared(r, scans))
    asked_before = entry_questions(before, scans) if before is not None else []
    questions = [q for q in entry_questions(r, scans) if q not in asked_before]
    if not questions:
        return r
    if not confirm:
        raise NeedsConfirmation(questions)
    return replace(r, provenance=replace(r.provenance, verified=True))


def log_record(settings: Settings, ref: str, r: Record, *, today: date, allow_future: bool = False,
               confirm: bool = False) -> Record:
    """Add one record a person entered, after checking it; a second record with the same date
    (and lesion, analyte or modality) is refused. A value that looks like an entry error raises
    NeedsConfirmation unless `confirm` (then it is stored verified)."""
    with transaction(settings) as s:
        st = Store(s)
        p = st.patient_for_update(ref)  # two people logging the same result: the second finds the first's
        _raise(check_record(r, p, today=today, allow_future=allow_future))
        assert p.id is not None
        r = _asked(st, p.id, r, confirm)
        same = st.find_same(p.id, r)
        if same is not None:
            raise ConflictError(
                f"{dm.kind_of(r)} #{same[0]} of patient {quoted(ref)} already holds this {dm.kind_of(r)} for "
                f"{r.date}; correct it with `tracker amend {ref} {dm.kind_of(r)} {same[0]}` instead"
            )
        stored = st.add_record(p.id, r)
        st.audit(user=settings.user, action="create", entity=dm.kind_of(r), entity_id=stored.id, patient_id=p.id,
                 after=record_doc(stored))
        return stored


def history(settings: Settings, ref: str, *, include_voided: bool = False) -> tuple[dm.Patient, list[StoredRecord]]:
    with transaction(settings, read_only=True) as s:
        st = Store(s)
        p = st.patient(ref)
        recs = st.all_records([p.id or -1]).get(p.id or -1, [])
        return p, [StoredRecord(k, r, v) for k, r, v in recs if include_voided or v is None]


def _owned(st: Store, ref: str, p: dm.Patient, kind: str, record_id: int) -> tuple[Record, str | None]:
    """A record of patient `p` (record, voided reason); another patient's is refused without
    saying whose it is (ids are global: a correction must never reach the wrong patient)."""
    pid, r, voided = st.record(kind, record_id)
    if pid != p.id:
        raise NotFoundError(f"{kind} {record_id} is not a record of patient {quoted(ref)}; `tracker history {ref}` "
                            "lists their records and ids")
    return r, voided


def get_record(settings: Settings, ref: str, kind: str, record_id: int) -> tuple[dm.Patient, StoredRecord]:
    """One record of the patient `ref`; a record of another patient is not found."""
    with transaction(settings, read_only=True) as s:
        st = Store(s)
        p = st.patient(ref)
        r, v = _owned(st, ref, p, kind, record_id)
        return p, StoredRecord(kind, r, v)


def parse_sets(sets: Sequence[str]) -> dict[str, Any]:
    """`FIELD=VALUE` changes (`amend --set`, `patient edit --set`, the nurse's amend form): VALUE as
    JSON where it reads as JSON (numbers exact, `null`), else as text."""
    out: dict[str, Any] = {}
    for item in sets:
        if "=" not in item:
            raise ValidationError(f"{quoted(item)} is not FIELD=VALUE, e.g. --set weight_kg=71.5", "--set")
        key, raw = item.split("=", 1)
        try:
            value: Any = json.loads(raw, parse_float=Decimal)
        except (json.JSONDecodeError, RecursionError):  # text, however it looks (60,000 '[')
            value = raw
        out[key.strip()] = value
    return out


def apply_sets(doc: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
    """A copy of the document with FIELD=VALUE changes applied; `a.b` reaches into nested objects,
    and `lesions.P1.longest_mm` into the lesion labelled P1."""
    doc = json.loads(dumps(doc), parse_float=Decimal)
    for key, value in changes.items():
        target: Any = doc
        parts = key.split(".")
        for part in parts[:-1]:
            if isinstance(target, list):
                target = next((x for x in target if isinstance(x, dict) and x.get("lesion") == part), None)
                if target is None:
                    raise ValidationError(f"no lesion {quoted(part)} on this scan" if key.startswith("lesions.") else
                                          f"{quoted(key)} is not a field of this record", "--set")
            elif isinstance(target, dict) and isinstance(target.get(part), (dict, list)):
                target = target[part]
            else:
                raise ValidationError(f"{quoted(key)} is not a field of this record", "--set")
        if not isinstance(target, dict) or parts[-1] not in target:
            raise ValidationError(f"{quoted(key)} is not a field of this record; see `--format json` output for names",
                                  "--set")
        target[parts[-1]] = value
    return doc


def _with_sets(kind: str, old: Record, changes: dict[str, Any]) -> Record:
    doc = apply_sets(record_doc(old), changes)
    doc.pop("voided_reason", None)
    return record_from_doc(kind, doc, old.provenance.source)


def preview_amend(settings: Settings, ref: str, kind: str, record_id: int,
                  sets: Sequence[str]) -> tuple[dm.Patient, Record, str]:
    """What `amend_fields` would change, to show before asking (the patient, the record as stored
    now, the changes in one line); a bad FIELD=VALUE is refused here already. Nothing is written."""
    changes = parse_sets(sets)
    p, old = get_record(settings, ref, kind, record_id)
    new = _with_sets(kind, old.record, changes)
    return p, old.record, audit_changes(dumps(record_doc(old.record)),
                                        dumps(record_doc(new)))


def amend_fields(settings: Settings, ref: str, kind: str, record_id: int, sets: Sequence[str], *, reason: str,
                 today: date, allow_future: bool = False, confirm: bool = False) -> Record:
    """Correct fields of a record of the patient `ref`, given as `FIELD=VALUE` (`amend --set`,
    `lesions.P1.longest_mm=15`): applied to the record as stored when the change is written, in one
    locked transaction, so an amendment a colleague made meanwhile is never undone."""
    changes = parse_sets(sets)
    return _amend(settings, ref, kind, record_id, lambda old: _with_sets(kind, old, changes), reason=reason,
                  today=today, allow_future=allow_future, confirm=confirm)


def amend_record(settings: Settings, ref: str, kind: str, record_id: int, new: Record, *, reason: str,
                 today: date, allow_future: bool = False, confirm: bool = False) -> Record:
    """Replace a record of the patient `ref` by `new` (a whole record; `amend_fields` changes some
    fields); the audit trail keeps the values before and after. A value that looks like an entry
    error raises NeedsConfirmation unless `confirm` (then the record is stored verified)."""
    return _amend(settings, ref, kind, record_id, lambda _: new, reason=reason, today=today,
                  allow_future=allow_future, confirm=confirm)


def _amend(settings: Settings, ref: str, kind: str, record_id: int, make: Callable[[Record], Record], *,
           reason: str, today: date, allow_future: bool, confirm: bool) -> Record:
    """Read the record for update, make its new version from it, check and write it, audited."""
    if not reason.strip():
        raise ValidationError("an amendment needs a reason", "--reason")
    with transaction(settings) as s:
        st = Store(s)
        p = st.patient_for_update(ref)  # a concurrent change to this patient waits (or is awaited)
        old, voided = _owned(st, ref, p, kind, record_id)
        if voided is not None:
            raise ConflictError(f"{kind} #{record_id} was voided (`tracker history {ref} --voided` shows why); "
                                "log a new record instead")
        assert p.id is not None
        new = replace(make(old), id=record_id)
        _raise(check_record(new, p, today=today, allow_future=allow_future))
        new = _asked(st, p.id, new, confirm, old)
        same = st.find_same(p.id, new)
        if same is not None and same[0] != record_id:
            raise ConflictError(f"{kind} #{same[0]} already holds this {kind} for the same date")
        if new == old:
            raise ValidationError("the amendment changes nothing; give the corrected values", "options")
        st.replace_record(kind, record_id, new)
        st.audit(user=settings.user, action="amend", entity=kind, entity_id=record_id, patient_id=p.id,
                 reason=reason, before=record_doc(old), after=record_doc(new))
        return new


def verify_record(settings: Settings, ref: str, kind: str, record_id: int, *, reason: str, today: date) -> Record:
    """Mark a record of the patient `ref` verified (checked against its source document): an
    amendment of its provenance, audited like any other."""
    def verified(old: Record) -> Record:
        if old.provenance.verified:
            raise ConflictError(f"{kind} #{record_id} is already verified")
        return replace(old, provenance=replace(old.provenance, verified=True))

    return _amend(settings, ref, kind, record_id, verified, reason=reason, today=today, allow_future=True,
                  confirm=True)


def void_record(settings: Settings, ref: str, kind: str, record_id: int, *, reason: str) -> None:
    """Mark a record of the patient `ref` void: it stays in the history and the audit trail,
    rules ignore it."""
    if not reason.strip():
        raise ValidationError("voiding needs a reason", "--reason")
    with transaction(settings) as s:
        st = Store(s)
        p = st.patient_for_update(ref)  # a concurrent change to this patient waits (or is awaited)
        old, voided = _owned(st, ref, p, kind, record_id)
        if voided is not None:
            raise ConflictError(f"{kind} #{record_id} is already void; `tracker history {ref} --voided` shows why")
        st.void_record(kind, record_id, reason)
        st.audit(user=settings.user, action="void", entity=kind, entity_id=record_id, patient_id=p.id,
                 reason=reason, before=record_doc(old), after=record_doc(old, reason))


def audit_trail(settings: Settings, ref: str | None) -> list[dict[str, Any]]:
    with transaction(settings, read_only=True) as s:
        st = Store(s)
        pid = st.patient(ref).id if ref else None
        return [
            {"id": a.id, "at": a.at.isoformat(timespec="seconds"), "user": a.user, "action": a.action,
             "entity": a.entity, "entity_id": a.entity_id, "patient_id": a.patient_id, "reason": a.reason,
             "before": a.before, "after": a.after, "changes": audit_changes(a.before, a.after)}
            for a in st.audit_rows(pid)
        ]


def audit_changes(before: str | None, after: str | None) -> str:
    """What an audit event changed, in one line for a table: "value: 80 -> 85; lab: A -> B"
    for an amendment (nested fields by their path), or what was added or voided."""
    old = json.loads(before) if before else None
    new = json.loads(after) if after else None
    if old is None or new is None:
        if isinstance(new, dict) and "records_added" in new:
            return f"{new['records_added']} record(s) added"
        return "created" if new is not None else ""
    diffs: list[str] = []
    _diff(old, new, "", diffs)
    return "; ".join(diffs)


def _diff(old: Any, new: Any, path: str, out: list[str]) -> None:
    if isinstance(old, dict) and isinstance(new, dict):
        for k in sorted(set(old) | set(new)):
            _diff(old.get(k), new.get(k), f"{path}.{k}" if path else k, out)
    elif isinstance(old, list) and isinstance(new, list) and len(old) == len(new) and \
            all(isinstance(x, dict) for x in old + new):
        for i, (a, b) in enumerate(zip(old, new, strict=True)):
            _diff(a, b, f"{path}[{i}]", out)
    elif old != new:
        out.append(f"{path}: {_shown(old)} -> {_shown(new)}")


def _shown(v: Any) -> str:
    return "(none)" if v is None or v == "" or v == [] else json.dumps(v, ensure_ascii=False).strip('"')


def summarize(r: Record) -> str:
    """One line describing a record, for history tables."""
    if isinstance(r, dm.Visit):
        bits = [", ".join(s.value.replace("_", " ") for s in r.symptoms) or "no symptoms"]
        if r.weight_kg is not None:
            bits.append(f"{r.weight_kg} kg")
        if r.on_ppi:
            bits.append("on PPI")
        if r.wants_to_leave:
            bits.append("wishes to leave surveillance")
        return "; ".join(bits)
    if isinstance(r, dm.LabResult):
        uln = f" (ULN {r.upper_limit})" if r.upper_limit is not None else ""
        return f"{analyte_name(r.analyte, r.analyte_other)} {r.value_text} {r.unit}{uln} {r.assay}".strip()
    if isinstance(r, dm.ImagingStudy):
        parts = [_lesion_text(x) for x in r.lesions]
        parts += [f"MPD {r.mpd_mm} mm"] if r.mpd_mm is not None else []
        parts += [f"CBD {r.cbd_mm} mm"] if r.cbd_mm is not None else []
        return f"{r.modality.value}: " + ("; ".join(parts) or "no lesion measured")
    grade = r.grade.value if r.grade else "grade n/a"
    return f"Ki-67 {r.ki67_pct if r.ki67_pct is not None else 'n/a'} %, {grade}"


def _lesion_text(x: dm.LesionMeasurement) -> str:
    size = f"{x.longest_mm} mm" if x.longest_mm is not None else ""
    if x.short_axis_mm is not None:
        size = f"short axis {x.short_axis_mm} mm"
    extra = (" new" if x.is_new else "") + (" PET-avid" if x.pet_avid else "")
    return f"{x.lesion} ({x.site.value}) {size}{extra}".strip()


def stored_rows(p: dm.Patient, recs: Sequence[StoredRecord]) -> list[dict[str, Any]]:
    return [{"patient": p.label, "kind": r.kind, "id": r.record.id, "date": r.record.date.isoformat(),
             "summary": summarize(r.record), "source": r.record.provenance.source.value,
             "verified": r.record.provenance.verified, "voided_reason": r.voided_reason} for r in recs]
