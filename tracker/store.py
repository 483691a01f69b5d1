"""Every query and insert: the Store converts table rows to domain records and back.

The Store takes a Session and never commits or opens one (services own the transaction).
Histories are loaded in bulk: a fixed number of queries whatever the number of patients.
"""

from __future__ import annotations

import json
import re
import sqlite3
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import replace
from datetime import date, datetime, timezone
from decimal import Decimal
from operator import attrgetter, itemgetter
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy import delete, func, insert
from sqlmodel import Session, col, select

from tracker import chain, jsonio
from tracker import models as m
from tracker.domain import model as dm
from tracker.domain.model import Record, kind_of, natural_key
from tracker.domain.recist import lesion_label
from tracker.errors import NotFoundError
from tracker.text import quoted

T = TypeVar("T")

#: how many go together: the values of one `IN (...)` query here, the patients of one chunk of an
#: import (services.files) or of an evaluation (services.surveillance)
CHUNK = 500

#: record kind as the user names it -> table
KINDS: dict[str, type[Any]] = {
    "visit": m.Visit,
    "lab": m.LabResult,
    "scan": m.ImagingStudy,
    "pathology": m.Pathology,
}


def _dec(s: str | None) -> Decimal | None:
    return None if s is None else Decimal(s)


def _s(d: Decimal | None) -> str | None:
    return None if d is None else str(d)


def _prov(row: Any) -> dm.Provenance:
    return dm.Provenance(source=dm.Source(row.source), verified=row.verified, notes=row.notes)


def _prov_cols(p: dm.Provenance) -> dict[str, Any]:
    return {"source": p.source.value, "verified": p.verified, "notes": p.notes}


# ----------------------------------------------------------------- row -> domain


def patient_from_row(r: m.Patient | sa.Row[Any]) -> dm.Patient:
    """A patient from its ORM object or a Core row of the patient table (the same attributes)."""
    return dm.Patient(
        id=r.id, label=r.label, birth_year=r.birth_year, sex=dm.Sex(r.sex), diagnosis_date=r.diagnosis_date,
        setting=dm.Setting(r.setting), syndrome=dm.Syndrome(r.syndrome), primary_resected=r.primary_resected,
        t_stage=r.t_stage, protocol_id=r.protocol_id, protocol_start=r.protocol_start, left_on=r.left_on,
        leave_reason=dm.LeaveReason(r.leave_reason) if r.leave_reason else None, provenance=_prov(r),
        synthetic=r.synthetic,
    )


def visit_from_row(r: m.Visit) -> dm.Visit:
    return dm.Visit(
        id=r.id, date=r.date, symptoms=tuple(dm.Symptom(s) for s in r.symptoms.split(",") if s),
        symptom_other=r.symptom_other, weight_kg=_dec(r.weight_kg), performance_status=r.performance_status,
        on_ppi=r.on_ppi, wants_to_leave=r.wants_to_leave, provenance=_prov(r),
    )


def lab_from_row(r: m.LabResult) -> dm.LabResult:
    return dm.LabResult(
        id=r.id, date=r.date, analyte=dm.Analyte(r.analyte), analyte_other=r.analyte_other,
        value=Decimal(r.value), unit=r.unit, lab=r.lab, assay=r.assay, specimen=dm.Specimen(r.specimen),
        upper_limit=_dec(r.upper_limit), comparator=r.comparator, provenance=_prov(r),
    )


def scan_from_row(r: m.ImagingStudy, lesions: Sequence[dm.LesionMeasurement]) -> dm.ImagingStudy:
    """A scan row with its lesions (already domain objects, in lesion-label order: `Store._lesions`)."""
    return dm.ImagingStudy(
        id=r.id, date=r.date, modality=dm.Modality(r.modality), mpd_mm=_dec(r.mpd_mm), cbd_mm=_dec(r.cbd_mm),
        lesions=tuple(lesions), provenance=_prov(r),
    )


def pathology_from_row(r: m.Pathology) -> dm.Pathology:
    return dm.Pathology(
        id=r.id, date=r.date, ki67_pct=_dec(r.ki67_pct), mitoses_per_2mm2=_dec(r.mitoses_per_2mm2),
        grade=dm.Grade(r.grade) if r.grade else None, provenance=_prov(r),
    )


# ----------------------------------------------------------------- domain -> columns


def patient_columns(p: dm.Patient) -> dict[str, Any]:
    return {
        "label": p.label, "birth_year": p.birth_year, "sex": p.sex.value, "diagnosis_date": p.diagnosis_date,
        "setting": p.setting.value, "syndrome": p.syndrome.value, "primary_resected": p.primary_resected,
        "t_stage": p.t_stage, "protocol_id": p.protocol_id, "protocol_start": p.protocol_start,
        "left_on": p.left_on, "leave_reason": p.leave_reason.value if p.leave_reason else None,
        "synthetic": p.synthetic, **_prov_cols(p.provenance),
    }


#: the columns of each record table that `record_values` fills, in that order (the patient id,
#: voided reason and id are the caller's; lesions of a scan are rows of their own)
RECORD_COLUMNS: dict[str, tuple[str, ...]] = {
    "visit": ("date", "source", "verified", "notes", "symptoms", "symptom_other", "weight_kg",
              "performance_status", "on_ppi", "wants_to_leave"),
    "lab": ("date", "source", "verified", "notes", "analyte", "analyte_other", "value", "unit", "lab", "assay",
            "specimen", "upper_limit", "comparator"),
    "scan": ("date", "source", "verified", "notes", "modality", "mpd_mm", "cbd_mm"),
    "pathology": ("date", "source", "verified", "notes", "ki67_pct", "mitoses_per_2mm2", "grade"),
}
LESION_COLUMNS = ("lesion", "site", "longest_mm", "short_axis_mm", "other_dims_mm", "is_new", "pet_avid")


def _visit_values(r: dm.Visit) -> tuple[Any, ...]:
    p = r.provenance
    return (r.date, p.source._value_, p.verified, p.notes, ",".join(sorted(s._value_ for s in r.symptoms)),
            r.symptom_other, _s(r.weight_kg), r.performance_status, r.on_ppi, r.wants_to_leave)


def _lab_values(r: dm.LabResult) -> tuple[Any, ...]:
    p = r.provenance
    return (r.date, p.source._value_, p.verified, p.notes, r.analyte._value_, r.analyte_other, str(r.value),
            r.unit, r.lab, r.assay, r.specimen._value_, _s(r.upper_limit), r.comparator)


def _scan_values(r: dm.ImagingStudy) -> tuple[Any, ...]:
    p = r.provenance
    return (r.date, p.source._value_, p.verified, p.notes, r.modality._value_, _s(r.mpd_mm), _s(r.cbd_mm))


def _pathology_values(r: dm.Pathology) -> tuple[Any, ...]:
    p = r.provenance
    return (r.date, p.source._value_, p.verified, p.notes, _s(r.ki67_pct), _s(r.mitoses_per_2mm2),
            r.grade._value_ if r.grade else None)


_VALUES: dict[type, Callable[[Any], tuple[Any, ...]]] = {
    dm.Visit: _visit_values, dm.LabResult: _lab_values, dm.ImagingStudy: _scan_values, dm.Pathology: _pathology_values,
}


def record_values(r: Record) -> tuple[Any, ...]:
    """A record's values for `RECORD_COLUMNS[kind]` (a tuple: an import makes a million; enum
    members' `_value_` is a plain attribute, `.value` a slower property)."""
    return _VALUES[type(r)](r)


def record_columns(r: Record) -> dict[str, Any]:
    """Columns of a record's own table, by name."""
    return dict(zip(RECORD_COLUMNS[kind_of(r)], record_values(r), strict=True))


def lesion_values(x: dm.LesionMeasurement) -> tuple[Any, ...]:
    return (x.lesion, x.site._value_, _s(x.longest_mm), _s(x.short_axis_mm),
            ",".join(str(o) for o in x.other_dims_mm), x.is_new, x.pet_avid)


def lesion_columns(x: dm.LesionMeasurement) -> dict[str, Any]:
    return dict(zip(LESION_COLUMNS, lesion_values(x), strict=True))


def now_utc() -> datetime:
    return datetime.now(timezone.utc)


#: ids are INTEGER columns: on PostgreSQL a larger number is an error, not a missing row
_MAX_ID = 2**31 - 1


def _possible_id(i: int) -> bool:
    return 0 < i <= _MAX_ID


class Store:
    """All database access for one session."""

    def __init__(self, session: Session) -> None:
        self.s = session

    # ------------------------------------------------------------- patients
    def patient_row(self, ref: str) -> m.Patient:
        """A patient by label, or by internal id ("12" or "#12")."""
        row = self.s.exec(select(m.Patient).where(m.Patient.label == ref)).first()
        if row is None and re.fullmatch(r"#?[0-9]{1,10}", ref) and _possible_id(int(ref.lstrip("#"))):
            row = self.s.get(m.Patient, int(ref.lstrip("#")))
        if row is None:
            raise NotFoundError(self._unknown_patient(ref))
        return row

    def _unknown_patient(self, ref: str) -> str:
        import difflib

        labels = list(self.s.exec(select(m.Patient.label)).all())
        near = difflib.get_close_matches(ref, labels, n=1)
        hint = f"; did you mean {quoted(near[0])}?" if near else "; run `tracker patient list` to see labels"
        return f"no patient {quoted(ref)}{hint}"

    def patient(self, ref: str) -> dm.Patient:
        return patient_from_row(self.patient_row(ref))

    def patient_for_update(self, ref: str) -> dm.Patient:
        """The patient, read after their row is locked (see `lock_patients`): for a command that
        checks what is stored before it writes."""
        row = self.patient_row(ref)
        self.s.refresh(row, with_for_update=True)  # lock, then reload: the ORM row is what an edit updates
        return patient_from_row(row)

    def patients(self, *, include_left: bool = True) -> list[dm.Patient]:
        """Every patient by label (Core rows: no ORM object per patient)."""
        t = m.Patient.__table__  # type: ignore[attr-defined]
        q = sa.select(t).order_by(t.c.label)
        if not include_left:
            q = q.where(t.c.left_on.is_(None))
        self.s.flush()
        prov = _Provenances()
        return [_patient_tuple(r, prov) for r in self.s.connection().execute(q)]

    def patients_labelled(self, labels: Iterable[str]) -> dict[str, dm.Patient]:
        """The stored patients among these labels, by label (a query per `CHUNK` labels)."""
        self.s.flush()
        return {p.label: p for p in self._patients_among("label", sorted(set(labels)))}

    def label_exists(self, label: str) -> bool:
        return self.s.exec(select(m.Patient.id).where(m.Patient.label == label)).first() is not None

    def add_patient(self, p: dm.Patient) -> dm.Patient:
        row = m.Patient(**patient_columns(p))
        self.s.add(row)
        self.s.flush()
        return replace(p, id=row.id)

    def update_patient(self, p: dm.Patient) -> None:
        assert p.id is not None
        row = self.s.get(m.Patient, p.id)
        assert row is not None
        for k, v in patient_columns(p).items():
            setattr(row, k, v)
        self.s.add(row)
        self.s.flush()

    # ------------------------------------------------------------- records
    def add_record(self, patient_id: int, r: Record, *, voided_reason: str | None = None) -> Record:
        table = KINDS[kind_of(r)]
        row = table(patient_id=patient_id, voided_reason=voided_reason, **record_columns(r))
        self.s.add(row)
        self.s.flush()
        if isinstance(r, dm.ImagingStudy):
            self.s.add_all([m.LesionMeasurement(study_id=row.id, **lesion_columns(x)) for x in r.lesions])
            self.s.flush()
        return replace(r, id=row.id)

    def add_patients_bulk(self, patients: Sequence[dm.Patient]) -> list[dm.Patient]:
        """Insert many patients in one statement; returns them with their ids."""
        if not patients:
            return []
        conn = self.s.connection()
        stmt = insert(m.Patient).returning(col(m.Patient.id), sort_by_parameter_order=True)
        ids = [row[0] for row in conn.execute(stmt, [patient_columns(p) for p in patients])]
        return [replace(p, id=i) for p, i in zip(patients, ids, strict=True)]

    def add_records_bulk(self, items: Sequence[tuple[int, Record, str | None]]
                         ) -> list[tuple[int, Record, str | None]]:
        """Insert many records with executemany, a few statements whatever their number.

        `items` are (patient id, record, voided reason); returns them with each record's new id,
        in the same order. On SQLite the ids are given here, following the largest stored one
        (what SQLite itself would choose; the transaction holds the write lock from its start,
        `db._sqlite_on_begin`), and rows go to the driver as tuples; elsewhere the database
        gives them (`RETURNING`)."""
        conn = self.s.connection()
        by_type: dict[type, list[int]] = defaultdict(list)
        for n, item in enumerate(items):
            by_type[type(item[1])].append(n)
        out = list(items)
        sqlite = conn.dialect.name == "sqlite"
        for cls, positions in by_type.items():
            kind = kind_of(items[positions[0]][1])
            table = KINDS[kind]
            if sqlite:  # one pass: each row, and each record with its id
                first = _next_id(conn, table)
                values, rows = _VALUES[cls], []
                for i, n in enumerate(positions, first):
                    pid, r, v = items[n]
                    rows.append((i, pid, v, *values(r)))
                    out[n] = (pid, with_id(r, i), v)
                _insert_rows(conn, table, ("id", "patient_id", "voided_reason", *RECORD_COLUMNS[kind]), rows)
            else:
                stmt = insert(table).returning(col(table.id), sort_by_parameter_order=True)
                new_ids = [row[0] for row in conn.execute(stmt, [
                    {"patient_id": pid, "voided_reason": v, **record_columns(r)}
                    for pid, r, v in (items[n] for n in positions)])]
                for n, i in zip(positions, new_ids, strict=True):
                    pid, r, v = items[n]
                    out[n] = (pid, with_id(r, i), v)
            if kind == "scan":
                _insert_rows(conn, m.LesionMeasurement, ("study_id", *LESION_COLUMNS),
                             [(out[n][1].id, *lesion_values(x)) for n in positions
                              for x in out[n][1].lesions])  # type: ignore[union-attr]
        return out

    def record_row(self, kind: str, record_id: int) -> Any:
        table = KINDS.get(kind)
        row = self.s.get(table, record_id) if table is not None and _possible_id(record_id) else None
        if row is None:
            raise NotFoundError(
                f"no {kind} record #{record_id}; run `tracker history PATIENT` to see record ids"
            )
        return row

    def replace_record(self, kind: str, record_id: int, r: Record) -> None:
        """Overwrite a record's values in place (the caller audits before and after)."""
        row = self.record_row(kind, record_id)
        for k, v in record_columns(r).items():
            setattr(row, k, v)
        self.s.add(row)
        if isinstance(r, dm.ImagingStudy):
            for old in self.s.exec(select(m.LesionMeasurement).where(m.LesionMeasurement.study_id == record_id)):
                self.s.delete(old)
            self.s.flush()
            self.s.add_all([m.LesionMeasurement(study_id=record_id, **lesion_columns(x)) for x in r.lesions])
        self.s.flush()

    def void_record(self, kind: str, record_id: int, reason: str) -> None:
        row = self.record_row(kind, record_id)
        row.voided_reason = reason
        self.s.add(row)
        self.s.flush()

    def lock_record_patient(self, kind: str, record_id: int) -> None:
        """Lock the patient of a record before the record is read to be changed (see `lock_patients`)."""
        table = KINDS.get(kind)
        pid = (self.s.connection().execute(sa.select(table.__table__.c.patient_id)
                                           .where(table.__table__.c.id == record_id)).scalar()
               if table is not None and _possible_id(record_id) else None)
        if pid is None:
            self.record_row(kind, record_id)  # raises the not-found error
            return
        self.lock_patients([pid])

    def record(self, kind: str, record_id: int) -> tuple[int, Record, str | None]:
        """(patient id, record, voided reason)."""
        row = self.record_row(kind, record_id)
        lesions = self._lesions([record_id]).get(record_id, []) if kind == "scan" else []
        return row.patient_id, self._to_domain(kind, row, lesions), row.voided_reason

    def _to_domain(self, kind: str, row: Any, lesions: Sequence[dm.LesionMeasurement] = ()) -> Record:
        if kind == "visit":
            return visit_from_row(row)
        if kind == "lab":
            return lab_from_row(row)
        if kind == "scan":
            return scan_from_row(row, lesions)
        return pathology_from_row(row)

    def _lesions(self, study_ids: Iterable[int] | None, patient_ids: Sequence[int] | None = None
                 ) -> dict[int, list[dm.LesionMeasurement]]:
        """Lesions by study id, in lesion-label order (Core tuples, no ORM object per row)."""
        t = _T["lesion"]
        q = sa.select(*(t.c[n] for n in _COLS["lesion"]))
        if patient_ids is not None:
            st = _T["scan"]
            q = q.join(st, st.c.id == t.c.study_id).where(st.c.patient_id.in_(list(patient_ids)))
        elif study_ids is not None:
            q = q.where(t.c.study_id.in_(list(study_ids)))
        out: dict[int, list[dm.LesionMeasurement]] = defaultdict(list)
        for study_id, *rest in self.s.connection().execute(q):
            out[study_id].append(_lesion_tuple(*rest))
        for group in out.values():
            group.sort(key=lesion_label)
        return out

    def all_records(self, patient_ids: Sequence[int] | None = None
                    ) -> dict[int, list[tuple[str, Record, str | None]]]:
        """Every record (voided too) of the given patients, or all: (kind, record, voided reason),
        by patient, in date order. Five queries whatever the number of patients; rows come as
        plain tuples (SQLAlchemy Core) and become domain records directly."""
        out: dict[int, list[tuple[str, Record, str | None]]] = defaultdict(list)
        lesions = self._lesions(None, patient_ids) if patient_ids is not None else self._lesions(None)
        conn = self.s.connection()
        prov = _Provenances()
        for kind in KINDS:
            t = _T[kind]
            q = sa.select(*(t.c[n] for n in _COLS[kind]))
            if patient_ids is not None:
                q = q.where(t.c.patient_id.in_(list(patient_ids)))
            build = _BUILD[kind]
            for row in conn.execute(q):
                out[row[1]].append((kind, build(row, prov(row[4], row[5], row[6]), lesions), row[3]))
        for recs in out.values():
            recs.sort(key=_record_order)
        return out

    def histories(self, patients: Sequence[dm.Patient]) -> list[dm.PatientHistory]:
        """Histories (active records only) of these patients, loaded in bulk."""
        ids = [p.id for p in patients if p.id is not None]
        recs = self.all_records(ids if len(ids) <= CHUNK else None)
        return [history_from_records(p, recs.get(p.id or -1, [])) for p in patients]

    def history(self, p: dm.Patient) -> dm.PatientHistory:
        return self.histories([p])[0]

    def find_same(self, patient_id: int, r: Record) -> tuple[int, Record] | None:
        """An active record with the same natural key, if one is stored."""
        table = KINDS[kind_of(r)]
        q = select(table).where(table.patient_id == patient_id, table.date == r.date,
                                col(table.voided_reason).is_(None))
        rows = list(self.s.exec(q))
        for row in rows:
            lesions = self._lesions([row.id]).get(row.id, []) if table is m.ImagingStudy else []
            stored = self._to_domain(kind_of(r), row, lesions)
            if natural_key(stored) == natural_key(r):
                return row.id, stored
        return None

    def record_counts(self) -> dict[str, int]:
        out = {"patient": self.s.exec(select(func.count()).select_from(m.Patient)).one()}
        for kind, table in KINDS.items():
            out[kind] = self.s.exec(select(func.count()).select_from(table)).one()
        return out

    # ------------------------------------------------------------- audit
    def audit(self, *, user: str, action: str, entity: str, entity_id: int | None, patient_id: int | None,
              reason: str = "", before: dict[str, Any] | None = None, after: dict[str, Any] | None = None) -> None:
        """An audit event, appended to the hash chain when the transaction commits (`tracker.chain`)."""
        self.audit_many([{"user": user, "action": action, "entity": entity, "entity_id": entity_id,
                          "patient_id": patient_id, "reason": reason, "before": before, "after": after}])

    def audit_many(self, events: Sequence[dict[str, Any]]) -> None:
        """Many audit events at once (an import): the keyword arguments of `audit`, one dict each."""
        at = now_utc()
        chain.queue(self.s, "audit_event", [
            {"at": at, "user": e["user"], "action": e["action"], "entity": e["entity"], "entity_id": e["entity_id"],
             "patient_id": e["patient_id"], "reason": e.get("reason", ""), "before": _json(e.get("before")),
             "after": _json(e.get("after"))} for e in events])

    def audit_rows(self, patient_id: int | None) -> list[m.AuditEvent]:
        q = select(m.AuditEvent).order_by(col(m.AuditEvent.id))
        if patient_id is not None:
            q = q.where(m.AuditEvent.patient_id == patient_id)
        return list(self.s.exec(q))

    # ------------------------------------------------------------- flags
    def flag_rows(self, patient_ids: Sequence[int] | None = None) -> list[m.FlagLog]:
        q = select(m.FlagLog).order_by(col(m.FlagLog.patient_id), col(m.FlagLog.id))
        if patient_ids is not None:
            q = q.where(col(m.FlagLog.patient_id).in_(patient_ids))
        return list(self.s.exec(q))

    def flag_keys(self, patient_ids: Sequence[int] | None = None) -> list[tuple[int, str]]:
        """(patient id, flag key) of every logged flag: plain tuples, one query."""
        q = select(col(m.FlagLog.patient_id), col(m.FlagLog.flag_key))
        if patient_ids is not None:
            q = q.where(col(m.FlagLog.patient_id).in_(patient_ids))
        return [(pid, key) for pid, key in self.s.connection().execute(q)]

    def lock_patients(self, ids: Sequence[int]) -> dict[int, dm.Patient]:
        """Hold these patients' rows until the transaction ends (PostgreSQL `SELECT ... FOR UPDATE`,
        in id order; SQLite has no row locks and serialises writers itself), and return them as
        read after the lock, by id.

        Taken before a patient's records are read to compute a state that will be cached, and
        before a command compares what it will write with what is stored: a concurrent write to
        the same patient (a new record or review takes a key-share lock on the patient row
        through its foreign key; a patient edit or amendment takes this lock) waits until the
        state is stored, and its trigger then empties it, so a cached state is never older than
        the records or the patient's details. A transaction that locks several patients must
        first call `one_bulk_command`."""
        return {p.id: p for p in self._patients_among("id", sorted(ids), lock=True) if p.id is not None}

    def _patients_among(self, column: str, values: Sequence[Any], *, lock: bool = False) -> list[dm.Patient]:
        """The patients whose `column` is one of `values`, a query per `CHUNK` values, in id order
        within each (`lock`: `SELECT ... FOR UPDATE`)."""
        conn = self.s.connection()
        t = m.Patient.__table__  # type: ignore[attr-defined]
        out: list[dm.Patient] = []
        for i in range(0, len(values), CHUNK):
            q = sa.select(t).where(t.c[column].in_(values[i:i + CHUNK])).order_by(t.c.id)
            out += [patient_from_row(r) for r in conn.execute(q.with_for_update() if lock else q)]
        return out

    def one_bulk_command(self) -> None:
        """Commands that lock many patients (a worklist or `flags --all`, an import) run one at a
        time (PostgreSQL transaction advisory lock; SQLite writers already do): two of them
        locking patient rows in different orders would deadlock. A command about one patient
        locks that patient's row only, so it never waits for more than the patients it shares."""
        conn = self.s.connection()
        if conn.dialect.name == "postgresql":
            conn.execute(sa.text("SELECT pg_advisory_xact_lock(7243002)"))

    def put_states(self, rows: Sequence[dict[str, Any]]) -> None:
        """Store computed patient states (replacing any row of those patients)."""
        conn = self.s.connection()
        ids = [r["patient_id"] for r in rows]
        for i in range(0, len(ids), CHUNK):
            conn.execute(delete(m.PATIENT_STATE).where(m.PATIENT_STATE.c.patient_id.in_(ids[i:i + CHUNK])))
        conn.execute(insert(m.PATIENT_STATE), list(rows))

    def states(self, as_of: date, patient_id: int | None = None) -> list[tuple[int, str, str]]:
        """(patient id, cache key, computed) of the stored states that hold on `as_of` (their
        `valid_from` is on or before it), of one patient or of all."""
        t = m.PATIENT_STATE
        q = sa.select(t.c.patient_id, t.c.cache_key, t.c.computed).where(
            sa.or_(t.c.valid_from.is_(None), t.c.valid_from <= as_of))
        if patient_id is not None:
            q = q.where(t.c.patient_id == patient_id)
        return [(r[0], r[1], r[2]) for r in self.s.connection().execute(q)]

    def calendar_events(self, feed: str) -> list[dict[str, Any]]:
        """What a calendar feed was last given (migration 0005), one dict per event."""
        t = m.CALENDAR_EVENT
        q = sa.select(*[c for c in t.c if c.name != "feed"]).where(t.c.feed == feed).order_by(t.c.uid)
        return [dict(r._mapping) for r in self.s.connection().execute(q)]

    def put_calendar_events(self, feed: str, rows: Sequence[dict[str, Any]]) -> None:
        """Replace what a calendar feed was given by these events."""
        conn = self.s.connection()
        conn.execute(delete(m.CALENDAR_EVENT).where(m.CALENDAR_EVENT.c.feed == feed))
        if rows:
            conn.execute(insert(m.CALENDAR_EVENT), [{"feed": feed, **r} for r in rows])

    def add_flag_rows(self, rows: Sequence[dict[str, Any]]) -> None:
        """Append flag-log rows (column dicts), one executemany. A flag another command logged
        meanwhile (seen in its own view at the same moment) is left as that command logged it."""
        _insert_many(self.s.connection(), m.FlagLog, rows, skip_duplicates=True)

    def reviews(self, patient_ids: Sequence[int] | None = None) -> list[m.FlagReview]:
        q = select(m.FlagReview).order_by(col(m.FlagReview.id))
        if patient_ids is not None:
            q = q.where(col(m.FlagReview.patient_id).in_(patient_ids))
        return list(self.s.exec(q))

    def add_review(self, row: m.FlagReview) -> None:
        """A flag review, appended to its hash chain when the transaction commits (`tracker.chain`)."""
        chain.queue(self.s, "flag_review", [row.model_dump(include=set(chain.FIELDS["flag_review"]))])


def _next_id(conn: Any, table: Any) -> int:
    return int(conn.exec_driver_sql(f"SELECT COALESCE(MAX(id), 0) + 1 FROM {table.__tablename__}").scalar())


def _insert_many(conn: Any, table: Any, rows: Sequence[dict[str, Any]], *, skip_duplicates: bool = False) -> None:
    """executemany of rows given as dicts (all with the same keys); see `_insert_rows`."""
    if rows:
        cols = tuple(rows[0])
        get = itemgetter(*cols)
        _insert_rows(conn, table, cols, [get(r) for r in rows] if len(cols) > 1 else [(get(r),) for r in rows],
                     skip_duplicates=skip_duplicates)


def _insert_rows(conn: Any, table: Any, cols: Sequence[str], rows: Sequence[Sequence[Any]], *,
                 skip_duplicates: bool = False) -> None:
    """executemany of rows given as value tuples for `cols`. On SQLite straight to the driver
    (dates as the ISO text SQLAlchemy's SQLite DATE type stores), which skips per-row parameter
    processing; elsewhere through SQLAlchemy Core."""
    if not rows:
        return
    if conn.dialect.name != "sqlite":
        dicts = [dict(zip(cols, r, strict=True)) for r in rows]
        if skip_duplicates:
            from sqlalchemy.dialects.postgresql import insert as pg_insert

            conn.execute(pg_insert(table).on_conflict_do_nothing(), dicts)
        else:
            conn.execute(insert(table), dicts)
        return
    verb = "INSERT OR IGNORE" if skip_duplicates else "INSERT"
    sql = (f'{verb} INTO {table.__tablename__} ({", ".join(f"{chr(34)}{c}{chr(34)}" for c in cols)}) '
           f'VALUES ({", ".join("?" * len(cols))})')
    conn.exec_driver_sql(sql, rows)  # dates become text through the adapters registered below


#: How SQLAlchemy's SQLite DATE and DATETIME types store values; rows written straight to the
#: driver by `_insert_many` are adapted the same way (SQLAlchemy's own statements hand the driver
#: text already, so these adapters never change what it writes).
sqlite3.register_adapter(date, date.isoformat)
sqlite3.register_adapter(datetime, lambda v: v.replace(tzinfo=None).isoformat(" ", timespec="microseconds"))


# ----------------------------------------------------------------- Core tuples -> domain (bulk loads)

_T = {"visit": m.Visit.__table__, "lab": m.LabResult.__table__, "scan": m.ImagingStudy.__table__,  # type: ignore[attr-defined]
      "pathology": m.Pathology.__table__, "lesion": m.LesionMeasurement.__table__}  # type: ignore[attr-defined]
_BASE = ("id", "patient_id", "date", "voided_reason", "source", "verified", "notes")
#: the columns each bulk load selects, in tuple order
_COLS: dict[str, tuple[str, ...]] = {
    "visit": (*_BASE, "symptoms", "symptom_other", "weight_kg", "performance_status", "on_ppi", "wants_to_leave"),
    "lab": (*_BASE, "analyte", "analyte_other", "value", "unit", "lab", "assay", "specimen", "upper_limit",
            "comparator"),
    "scan": (*_BASE, "modality", "mpd_mm", "cbd_mm"),
    "pathology": (*_BASE, "ki67_pct", "mitoses_per_2mm2", "grade"),
    "lesion": ("study_id", "lesion", "site", "longest_mm", "short_axis_mm", "other_dims_mm", "is_new", "pet_avid"),
}


class _Provenances:
    """One shared (frozen) Provenance per distinct (source, verified, notes) of a load."""

    def __init__(self) -> None:
        self.seen: dict[tuple[str, bool, str], dm.Provenance] = {}

    def __call__(self, source: str, verified: bool, notes: str) -> dm.Provenance:
        key = (source, verified, notes)
        p = self.seen.get(key)
        if p is None:
            p = self.seen[key] = dm.Provenance(source=dm.Source(source), verified=verified, notes=notes)
        return p




def _patient_tuple(r: Any, prov: _Provenances) -> dm.Patient:
    """`patient_from_row` for a bulk load (every patient of a worklist), built with `dm.assemble`."""
    return dm.assemble(dm.Patient, {
        "label": r.label, "birth_year": r.birth_year, "sex": dm.SEX_OF[r.sex], "diagnosis_date": r.diagnosis_date,
        "setting": dm.SETTING_OF[r.setting], "protocol_id": r.protocol_id, "protocol_start": r.protocol_start,
        "syndrome": dm.SYNDROME_OF[r.syndrome], "primary_resected": r.primary_resected, "t_stage": r.t_stage,
        "left_on": r.left_on, "leave_reason": dm.LEAVE_REASON_OF[r.leave_reason] if r.leave_reason else None,
        "provenance": prov(r.source, r.verified, r.notes), "synthetic": r.synthetic, "id": r.id})


# The loaders build records with `dm.assemble` (a cold worklist loads every record);
# tests/test_store.py checks them against the constructors.

def _visit_tuple(r: Any, prov: dm.Provenance, _lesions: Any) -> dm.Visit:
    return dm.assemble(dm.Visit, {
        "date": r[2], "symptoms": tuple(dm.SYMPTOM_OF[s] for s in r[7].split(",") if s), "symptom_other": r[8],
        "weight_kg": _dec(r[9]), "performance_status": r[10], "on_ppi": r[11], "wants_to_leave": r[12],
        "provenance": prov, "id": r[0]})


def _lab_tuple(r: Any, prov: dm.Provenance, _lesions: Any) -> dm.LabResult:
    return dm.assemble(dm.LabResult, {
        "date": r[2], "analyte": dm.ANALYTE_OF[r[7]], "value": Decimal(r[9]), "unit": r[10], "lab": r[11],
        "assay": r[12], "specimen": dm.SPECIMEN_OF[r[13]], "upper_limit": _dec(r[14]), "analyte_other": r[8],
        "comparator": r[15], "provenance": prov, "id": r[0]})


def _scan_tuple(r: Any, prov: dm.Provenance, lesions: dict[int, list[dm.LesionMeasurement]]) -> dm.ImagingStudy:
    return dm.assemble(dm.ImagingStudy, {
        "date": r[2], "modality": dm.MODALITY_OF[r[7]], "lesions": tuple(lesions.get(r[0], ())), "mpd_mm": _dec(r[8]),
        "cbd_mm": _dec(r[9]), "provenance": prov, "id": r[0]})


def _pathology_tuple(r: Any, prov: dm.Provenance, _lesions: Any) -> dm.Pathology:
    return dm.assemble(dm.Pathology, {
        "date": r[2], "ki67_pct": _dec(r[7]), "mitoses_per_2mm2": _dec(r[8]),
        "grade": dm.GRADE_OF[r[9]] if r[9] else None, "provenance": prov, "id": r[0]})


def _lesion_tuple(lesion: str, site: str, longest: str | None, short: str | None, other: str, is_new: bool,
                  pet_avid: bool | None) -> dm.LesionMeasurement:
    return dm.assemble(dm.LesionMeasurement, {
        "lesion": lesion, "site": dm.SITE_OF[site], "longest_mm": _dec(longest), "short_axis_mm": _dec(short),
        "other_dims_mm": tuple(Decimal(x) for x in other.split(",") if x), "is_new": is_new, "pet_avid": pet_avid})


def with_id(r: Record, record_id: int) -> Record:
    """`dataclasses.replace(r, id=record_id)`, built as pickle builds one (`dm.assemble`): 0.4 µs
    instead of 3 µs, for every record of an import."""
    result: Record = dm.assemble(type(r), {**r.__dict__, "id": record_id})
    return result


def _record_order(t: tuple[str, Record, str | None]) -> tuple[date, str, int]:
    return (t[1].date, t[0], t[1].id or 0)


_BUILD: dict[str, Any] = {"visit": _visit_tuple, "lab": _lab_tuple, "scan": _scan_tuple,
                          "pathology": _pathology_tuple}


def _active_by_kind(*parts: Iterable[tuple[str, Record, str | None]]) -> dict[str, list[Any]]:
    by: dict[str, list[Any]] = defaultdict(list)
    for part in parts:
        for kind, r, voided in part:
            if voided is None:
                by[kind].append(r)
    return by


def _history(p: dm.Patient, by: dict[str, list[Any]]) -> dm.PatientHistory:
    return dm.PatientHistory(
        patient=p, visits=tuple(by["visit"]), labs=tuple(by["lab"]), scans=tuple(by["scan"]),
        pathology=tuple(by["pathology"]),
    )


def history_from_records(p: dm.Patient, recs: Iterable[tuple[str, Record, str | None]]) -> dm.PatientHistory:
    """The history (active records) of (kind, record, voided reason) triples with ids, given in
    record order (`all_records` returns them so; `merged_history` sorts)."""
    return _history(p, _active_by_kind(recs))


_DATE_ID = attrgetter("date", "id")


def merged_history(p: dm.Patient, *parts: Iterable[tuple[str, Record, str | None]]) -> dm.PatientHistory:
    """The history of records from several lists (records stored and records just added),
    each kind sorted by date then id: every record must have its id."""
    by = _active_by_kind(*parts)
    for records in by.values():
        records.sort(key=_DATE_ID)
    return _history(p, by)


def _json(d: dict[str, Any] | str | None) -> str | None:
    """An audit event's `before` or `after` as stored; a str is already that JSON text."""
    return d if d is None or isinstance(d, str) else json.dumps(d, sort_keys=True, default=_json_value,
                                                                ensure_ascii=False)


def import_event_after(records_added: int, document_json: str) -> str:
    """The `after` of an import that created a patient: `{"document": ..., "records_added": n}`
    with the patient's document as the file gives it (its JSON text, checked as JSON already;
    the audit keeps exactly what was imported, and no second serialisation is paid for it)."""
    return f'{{"document": {document_json}, "records_added": {records_added}}}'


def _json_value(o: Any) -> Any:
    """Decimals as JSON numbers (as in an export); anything else as its text."""
    return jsonio.num(o) if isinstance(o, Decimal) else str(o)
