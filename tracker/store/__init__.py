"""Every query and insert: the Store converts table rows to domain records and back.

The Store works on one SQLAlchemy Core connection inside a transaction (`db.transaction`) and
never commits or opens one (services own the transaction). Histories are loaded in bulk: a
fixed number of queries whatever the number of patients. How each kind maps to its columns is
written once, in `tracker.store.mapping`.
"""

from __future__ import annotations

import json
import re
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import replace
from datetime import date, datetime, timezone
from decimal import Decimal
from typing import Any

import sqlalchemy as sa

from tracker import chain, jsonio
from tracker import models as m
from tracker.domain import model as dm
from tracker.domain.model import Record, natural_key
from tracker.domain.recist import lesion_label
from tracker.errors import NotFoundError
from tracker.store.history import Stored, history_from_records, merged_history, record_order, with_id
from tracker.store.mapping import (
    BY_TYPE,
    KINDS,
    LESION_WRITTEN,
    PATIENT_SELECTED,
    Provenances,
    lesion_from_row,
    lesion_values,
    patient_columns,
    patient_from_row,
)
from tracker.store.rows import insert_many, insert_rows, next_id
from tracker.text import quoted

__all__ = ["CHUNK", "Record", "Store", "Stored", "history_from_records", "import_event_after", "merged_history",
           "now_utc"]

#: how many go together: the values of one `IN (...)` query here, the patients of one chunk of an
#: import (services.files) or of an evaluation (services.surveillance)
CHUNK = 500


def now_utc() -> datetime:
    return datetime.now(timezone.utc)


#: ids are INTEGER columns: on PostgreSQL a larger number is an error, not a missing row
_MAX_ID = 2**31 - 1


def _possible_id(i: int) -> bool:
    return 0 < i <= _MAX_ID


_P = m.PATIENT
_PATIENT_SELECT = sa.select(*(_P.c[n] for n in PATIENT_SELECTED))
_LESIONS = m.LESION_MEASUREMENT
_LESION_SELECT = sa.select(_LESIONS.c.study_id, *(_LESIONS.c[n] for n in LESION_WRITTEN))


class Store:
    """All database access for one transaction."""

    def __init__(self, conn: sa.Connection) -> None:
        self.conn = conn

    # ------------------------------------------------------------- patients
    def _patient_id(self, ref: str) -> int:
        """A patient's id, by label or by internal id ("12" or "#12")."""
        found = self.conn.execute(sa.select(_P.c.id).where(_P.c.label == ref)).scalar()
        if found is None and re.fullmatch(r"#?[0-9]{1,10}", ref) and _possible_id(int(ref.lstrip("#"))):
            found = self.conn.execute(sa.select(_P.c.id).where(_P.c.id == int(ref.lstrip("#")))).scalar()
        if found is None:
            raise NotFoundError(self._unknown_patient(ref))
        return int(found)

    def _unknown_patient(self, ref: str) -> str:
        import difflib

        labels = list(self.conn.execute(sa.select(_P.c.label)).scalars())
        near = difflib.get_close_matches(ref, labels, n=1)
        hint = f"; did you mean {quoted(near[0])}?" if near else "; run `tracker patient list` to see labels"
        return f"no patient {quoted(ref)}{hint}"

    def patient(self, ref: str) -> dm.Patient:
        """A patient by label or by internal id ("12" or "#12"): one query for a label."""
        found = self._patients_among("label", [ref])
        return found[0] if found else self._patients_among("id", [self._patient_id(ref)])[0]

    def patient_for_update(self, ref: str) -> dm.Patient:
        """The patient, read after their row is locked (see `lock_patients`): for a command that
        checks what is stored before it writes."""
        return self._patients_among("id", [self._patient_id(ref)], lock=True)[0]

    def patients(self, *, include_left: bool = True) -> list[dm.Patient]:
        """Every patient by label."""
        q = _PATIENT_SELECT.order_by(_P.c.label)
        if not include_left:
            q = q.where(_P.c.left_on.is_(None))
        prov = Provenances()
        return [patient_from_row(r, prov) for r in self.conn.execute(q)]

    def patients_labelled(self, labels: Iterable[str]) -> dict[str, dm.Patient]:
        """The stored patients among these labels, by label (a query per `CHUNK` labels)."""
        return {p.label: p for p in self._patients_among("label", sorted(set(labels)))}

    def patient_keys(self) -> list[tuple[int, str, str, date | None]]:
        """(id, label, protocol id, leaving date) of every patient: what a worklist row shows of
        the patient row itself (the rest reaches it through the patient's cached state)."""
        q = sa.select(_P.c.id, _P.c.label, _P.c.protocol_id, _P.c.left_on)
        return [(r[0], r[1], r[2], r[3]) for r in self.conn.execute(q)]

    def label_exists(self, label: str) -> bool:
        return self.conn.execute(sa.select(_P.c.id).where(_P.c.label == label)).first() is not None

    def add_patient(self, p: dm.Patient) -> dm.Patient:
        new_id = self.conn.execute(sa.insert(_P).values(patient_columns(p)).returning(_P.c.id)).scalar_one()
        return replace(p, id=new_id)

    def update_patient(self, p: dm.Patient) -> None:
        assert p.id is not None
        self.conn.execute(sa.update(_P).where(_P.c.id == p.id).values(patient_columns(p)))

    def add_patients_bulk(self, patients: Sequence[dm.Patient]) -> list[dm.Patient]:
        """Insert many patients in one statement; returns them with their ids."""
        if not patients:
            return []
        stmt = sa.insert(_P).returning(_P.c.id, sort_by_parameter_order=True)
        ids = [row[0] for row in self.conn.execute(stmt, [patient_columns(p) for p in patients])]
        return [replace(p, id=i) for p, i in zip(patients, ids, strict=True)]

    def _patients_among(self, column: str, values: Sequence[Any], *, lock: bool = False) -> list[dm.Patient]:
        """The patients whose `column` is one of `values`, a query per `CHUNK` values, in id order
        within each (`lock`: `SELECT ... FOR UPDATE`)."""
        out: list[dm.Patient] = []
        prov = Provenances()
        for i in range(0, len(values), CHUNK):
            q = _PATIENT_SELECT.where(_P.c[column].in_(values[i:i + CHUNK])).order_by(_P.c.id)
            out += [patient_from_row(r, prov) for r in self.conn.execute(q.with_for_update() if lock else q)]
        return out

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

    def one_bulk_command(self) -> None:
        """Commands that lock many patients (a worklist or `flags --all`, an import) run one at a
        time (PostgreSQL transaction advisory lock; SQLite writers already do): two of them
        locking patient rows in different orders would deadlock. A command about one patient
        locks that patient's row only, so it never waits for more than the patients it shares."""
        if self.conn.dialect.name == "postgresql":
            self.conn.execute(sa.text("SELECT pg_advisory_xact_lock(7243002)"))

    # ------------------------------------------------------------- records
    def add_record(self, patient_id: int, r: Record, *, voided_reason: str | None = None) -> Record:
        k = BY_TYPE[type(r)]
        new_id = self.conn.execute(sa.insert(k.table).values(
            patient_id=patient_id, voided_reason=voided_reason, **k.columns(r)).returning(k.table.c.id)).scalar_one()
        if isinstance(r, dm.ImagingStudy):
            self._add_lesions(new_id, r.lesions)
        return replace(r, id=new_id)

    def _add_lesions(self, study_id: int, lesions: Iterable[dm.LesionMeasurement]) -> None:
        insert_rows(self.conn, _LESIONS, ("study_id", *LESION_WRITTEN),
                    [(study_id, *lesion_values(x)) for x in lesions])

    def add_records_bulk(self, items: Sequence[tuple[int, Record, str | None]]
                         ) -> list[tuple[int, Record, str | None]]:
        """Insert many records with executemany, a few statements whatever their number.

        `items` are (patient id, record, voided reason); returns them with each record's new id,
        in the same order. On SQLite the ids are given here, following the largest stored one
        (what SQLite itself would choose; the transaction holds the write lock from its start,
        `db._sqlite_on_begin`), and rows go to the driver as tuples; elsewhere the database
        gives them (`RETURNING`)."""
        conn = self.conn
        by_type: dict[type, list[int]] = defaultdict(list)
        for n, item in enumerate(items):
            by_type[type(item[1])].append(n)
        out = list(items)
        sqlite = conn.dialect.name == "sqlite"
        for cls, positions in by_type.items():
            k = BY_TYPE[cls]
            if sqlite:  # one pass: each row, and each record with its id
                values, rows = k.values, []
                for i, n in enumerate(positions, next_id(conn, k.table)):
                    pid, r, v = items[n]
                    rows.append((i, pid, v, *values(r)))
                    out[n] = (pid, with_id(r, i), v)
                insert_rows(conn, k.table, ("id", "patient_id", "voided_reason", *k.written), rows)
            else:
                stmt = sa.insert(k.table).returning(k.table.c.id, sort_by_parameter_order=True)
                new_ids = [row[0] for row in conn.execute(stmt, [
                    {"patient_id": pid, "voided_reason": v, **k.columns(r)}
                    for pid, r, v in (items[n] for n in positions)])]
                for n, i in zip(positions, new_ids, strict=True):
                    pid, r, v = items[n]
                    out[n] = (pid, with_id(r, i), v)
            if k.name == "scan":
                insert_rows(conn, _LESIONS, ("study_id", *LESION_WRITTEN),
                            [(out[n][1].id, *lesion_values(x)) for n in positions
                             for x in out[n][1].lesions])  # type: ignore[union-attr]
        return out

    def _kind(self, kind: str, record_id: int) -> Any:
        """The stored kind, if `record_id` can be one of its records; else not found."""
        k = KINDS.get(kind)
        if k is None or not _possible_id(record_id):
            raise _no_record(kind, record_id)
        return k

    def record(self, kind: str, record_id: int) -> tuple[int, Record, str | None]:
        """(patient id, record, voided reason)."""
        k = self._kind(kind, record_id)
        row = self.conn.execute(sa.select(*(k.table.c[n] for n in k.selected))
                                .where(k.table.c.id == record_id)).first()
        if row is None:
            raise _no_record(kind, record_id)
        lesions = self._lesions([record_id]) if kind == "scan" else {}
        return row[1], k.build(row, Provenances(), lesions), row[3]

    def replace_record(self, kind: str, record_id: int, r: Record) -> None:
        """Overwrite a record's values in place (the caller audits before and after)."""
        k = self._kind(kind, record_id)
        if self.conn.execute(sa.update(k.table).where(k.table.c.id == record_id).values(k.columns(r))).rowcount != 1:
            raise _no_record(kind, record_id)
        if isinstance(r, dm.ImagingStudy):
            self.conn.execute(sa.delete(_LESIONS).where(_LESIONS.c.study_id == record_id))
            self._add_lesions(record_id, r.lesions)

    def void_record(self, kind: str, record_id: int, reason: str) -> None:
        k = self._kind(kind, record_id)
        if self.conn.execute(sa.update(k.table).where(k.table.c.id == record_id)
                             .values(voided_reason=reason)).rowcount != 1:
            raise _no_record(kind, record_id)

    def _lesions(self, study_ids: Iterable[int] | None, patient_ids: Sequence[int] | None = None
                 ) -> dict[int, list[dm.LesionMeasurement]]:
        """Lesions by study id, in lesion-label order."""
        q = _LESION_SELECT
        if patient_ids is not None:
            st = m.IMAGING_STUDY
            q = q.join(st, st.c.id == _LESIONS.c.study_id).where(st.c.patient_id.in_(list(patient_ids)))
        elif study_ids is not None:
            q = q.where(_LESIONS.c.study_id.in_(list(study_ids)))
        out: dict[int, list[dm.LesionMeasurement]] = defaultdict(list)
        for row in self.conn.execute(q):
            out[row[0]].append(lesion_from_row(row))
        for group in out.values():
            group.sort(key=lesion_label)
        return out

    def all_records(self, patient_ids: Sequence[int] | None = None) -> dict[int, list[Stored]]:
        """Every record (voided too) of the given patients, or all: (kind, record, voided reason),
        by patient, in date order. Five queries whatever the number of patients; rows come as
        plain tuples and become domain records directly."""
        out: dict[int, list[Stored]] = defaultdict(list)
        lesions = self._lesions(None, patient_ids) if patient_ids is not None else self._lesions(None)
        prov = Provenances()
        for kind, k in KINDS.items():
            q = sa.select(*(k.table.c[n] for n in k.selected))
            if patient_ids is not None:
                q = q.where(k.table.c.patient_id.in_(list(patient_ids)))
            build = k.build
            for row in self.conn.execute(q):
                out[row[1]].append((kind, build(row, prov, lesions), row[3]))
        for recs in out.values():
            recs.sort(key=record_order)
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
        k = BY_TYPE[type(r)]
        t = k.table
        rows = list(self.conn.execute(sa.select(*(t.c[n] for n in k.selected)).where(
            t.c.patient_id == patient_id, t.c.date == r.date, t.c.voided_reason.is_(None))))
        lesions = self._lesions([row[0] for row in rows]) if k.name == "scan" and rows else {}
        prov = Provenances()
        for row in rows:
            stored = k.build(row, prov, lesions)
            if natural_key(stored) == natural_key(r):
                return row[0], stored
        return None

    def record_counts(self) -> dict[str, int]:
        out = {"patient": self.conn.execute(sa.select(sa.func.count()).select_from(_P)).scalar_one()}
        for kind, k in KINDS.items():
            out[kind] = self.conn.execute(sa.select(sa.func.count()).select_from(k.table)).scalar_one()
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
        chain.queue(self.conn, "audit_event", [
            {"at": at, "user": e["user"], "action": e["action"], "entity": e["entity"], "entity_id": e["entity_id"],
             "patient_id": e["patient_id"], "reason": e.get("reason", ""), "before": _json(e.get("before")),
             "after": _json(e.get("after"))} for e in events])

    def audit_rows(self, patient_id: int | None) -> list[sa.Row[Any]]:
        """Audit events (rows of `models.AUDIT_EVENT`, read by column name), oldest first."""
        t = m.AUDIT_EVENT
        q = sa.select(t).order_by(t.c.id)
        if patient_id is not None:
            q = q.where(t.c.patient_id == patient_id)
        return list(self.conn.execute(q))

    # ------------------------------------------------------------- flags
    def flag_rows(self, patient_ids: Sequence[int] | None = None) -> list[sa.Row[Any]]:
        """Logged flags (rows of `models.FLAG_LOG`), by patient, oldest first."""
        t = m.FLAG_LOG
        q = sa.select(t).order_by(t.c.patient_id, t.c.id)
        if patient_ids is not None:
            q = q.where(t.c.patient_id.in_(patient_ids))
        return list(self.conn.execute(q))

    def flag_keys(self, patient_ids: Sequence[int] | None = None) -> list[tuple[int, str]]:
        """(patient id, flag key) of every logged flag: plain tuples, one query."""
        t = m.FLAG_LOG
        q = sa.select(t.c.patient_id, t.c.flag_key)
        if patient_ids is not None:
            q = q.where(t.c.patient_id.in_(patient_ids))
        return [(pid, key) for pid, key in self.conn.execute(q)]

    def add_flag_rows(self, rows: Sequence[dict[str, Any]]) -> None:
        """Append flag-log rows (column dicts), one executemany. A flag another command logged
        meanwhile (seen in its own view at the same moment) is left as that command logged it."""
        insert_many(self.conn, m.FLAG_LOG, rows, skip_duplicates=True)

    def reviews(self, patient_ids: Sequence[int] | None = None) -> list[sa.Row[Any]]:
        """Flag reviews (rows of `models.FLAG_REVIEW`), oldest first."""
        t = m.FLAG_REVIEW
        q = sa.select(t).order_by(t.c.id)
        if patient_ids is not None:
            q = q.where(t.c.patient_id.in_(patient_ids))
        return list(self.conn.execute(q))

    def appended(self, name: str, after_id: int) -> tuple[int, list[tuple[int, int]]]:
        """How many rows an append-only table ("flag_review", "flag_log") holds, and the (id,
        patient id) of those after `after_id`, in id order. (On PostgreSQL a row can commit after
        one with a larger id: a caller that counted before sees it in the count.)"""
        t = {"flag_review": m.FLAG_REVIEW, "flag_log": m.FLAG_LOG}[name]
        count = self.conn.execute(sa.select(sa.func.count()).select_from(t)).scalar_one()
        q = sa.select(t.c.id, t.c.patient_id).where(t.c.id > after_id).order_by(t.c.id)
        return count, [(r[0], r[1]) for r in self.conn.execute(q)]

    def add_review(self, review: dict[str, Any]) -> None:
        """A flag review (every column but `id` and `chain_hash`), appended to its hash chain when
        the transaction commits (`tracker.chain`)."""
        chain.queue(self.conn, "flag_review", [{f: review[f] for f in chain.FIELDS["flag_review"]}])

    # ------------------------------------------------------------- cached states, calendar feeds
    def put_states(self, rows: Sequence[dict[str, Any]]) -> None:
        """Store computed patient states (replacing any row of those patients)."""
        t = m.PATIENT_STATE
        ids = [r["patient_id"] for r in rows]
        for i in range(0, len(ids), CHUNK):
            self.conn.execute(sa.delete(t).where(t.c.patient_id.in_(ids[i:i + CHUNK])))
        self.conn.execute(sa.insert(t), list(rows))

    def states(self, as_of: date, patient_id: int | None = None) -> list[tuple[int, str, str]]:
        """(patient id, cache key, computed) of the stored states that hold on `as_of` (their
        `valid_from` is on or before it), of one patient or of all."""
        t = m.PATIENT_STATE
        q = sa.select(t.c.patient_id, t.c.cache_key, t.c.computed).where(
            sa.or_(t.c.valid_from.is_(None), t.c.valid_from <= as_of))
        if patient_id is not None:
            q = q.where(t.c.patient_id == patient_id)
        return [(r[0], r[1], r[2]) for r in self.conn.execute(q)]

    def calendar_events(self, feed: str) -> list[dict[str, Any]]:
        """What a calendar feed was last given (migration 0008), one dict per event."""
        t = m.CALENDAR_EVENT
        q = sa.select(*[c for c in t.c if c.name != "feed"]).where(t.c.feed == feed).order_by(t.c.uid)
        return [dict(r._mapping) for r in self.conn.execute(q)]

    def put_calendar_events(self, feed: str, rows: Sequence[dict[str, Any]]) -> None:
        """Replace what a calendar feed was given by these events."""
        t = m.CALENDAR_EVENT
        self.conn.execute(sa.delete(t).where(t.c.feed == feed))
        if rows:
            self.conn.execute(sa.insert(t), [{"feed": feed, **r} for r in rows])


def _no_record(kind: str, record_id: int) -> NotFoundError:
    return NotFoundError(f"no {kind} record #{record_id}; run `tracker history PATIENT` to see record ids")


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
