"""Import and export of whole histories.

Import reads a file as a stream of patient documents and checks and writes them chunk by chunk,
all in one transaction: any problem anywhere rolls the whole import back, and every problem in
the file is reported. It only adds: a record already stored identically is skipped (so importing
the same file twice changes nothing); a record that differs from a stored one for the same date
(and lesion, analyte or modality) is a conflict, reported with its location, and nothing is
written.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import date
from pathlib import Path
from typing import Any

from tracker.config import Settings
from tracker.db import transaction
from tracker.domain import model as dm
from tracker.domain.model import kind_of
from tracker.domain.protocol import SurveillanceProtocol
from tracker.errors import ValidationError
from tracker.jsonio.csvout import HISTORY_CSV_COLUMNS, history_csv_rows, to_csv
from tracker.jsonio.documents import LIST_KEYS, DocumentParser, ImportedPatient
from tracker.jsonio.export import dumps, history_doc, patient_doc, record_doc, review_doc, seen_doc, utc_text
from tracker.jsonio.labcsv import lab_csv_labels, parse_lab_csv
from tracker.jsonio.reading import read_text
from tracker.jsonio.schemacheck import schema_problems
from tracker.jsonio.stream import DocumentStream
from tracker.services import no_cycle_collection, surveillance
from tracker.services.protocols import all_protocols
from tracker.store import CHUNK, Record, Store, import_event_after, merged_history

Progress = Callable[[int, int], None]  # (characters read, characters in the file)


@dataclass
class ImportSummary:
    patients_created: int = 0
    records_added: int = 0
    records_unchanged: int = 0
    #: records of the file that match a record voided here: skipped, never brought back
    records_voided_here: int = 0
    patients_unchanged: int = 0
    labels: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {"patients_created": self.patients_created, "patients_unchanged": self.patients_unchanged,
                "records_added": self.records_added, "records_unchanged": self.records_unchanged,
                "records_voided_here": self.records_voided_here}


def _fingerprint(r: Record, voided: str | None) -> str:
    return json.dumps(record_doc(r, voided), sort_keys=True, default=str)


@no_cycle_collection()
def import_file(settings: Settings, path: Path, *, today: date, progress: Progress | None = None) -> ImportSummary:
    """Import a JSON history (one patient, a list, or a cohort) or a lab-results CSV.

    A JSON file is read as a stream of patient documents, in chunks of `CHUNK` (memory stays
    bounded by a chunk, plus the file's text, whatever the size of the cohort): each chunk is
    checked, compared with what is stored and (while no problem has been found) written, all in
    one transaction. Any problem anywhere rolls the whole import back, after the rest of the file
    has still been checked, so that every problem is reported at once. `progress(done, total)`
    is told how much of the file has been read."""
    if path.suffix.lower() == ".csv":
        return _import_lab_csv(settings, path, today=today)
    text = read_text(path)
    from tracker.services.fhir import is_fhir  # a portal download names no patient of ours

    if is_fhir(text):
        raise ValidationError(f"{path.name} is a FHIR file; name the patient it belongs to with --patient LABEL",
                              "--patient")
    parser = DocumentParser(today=today)
    known = all_protocols()
    with transaction(settings) as s:
        st = Store(s)
        writer = _Writer(st, settings.user, path.name, today=today, protocols=known)
        stream = DocumentStream(text, path.name)
        _read(stream, parser, writer, progress)
        if stream.wrapper is not None:
            parser.problems += schema_problems(stream.wrapper, "patient.schema.json",
                                                      definition="cohort_document")
        if parser.problems:
            raise ValidationError(parser.problems)  # the transaction rolls back: nothing is written
        if progress:
            progress(len(text), len(text))
        return writer.summary


def _read(stream: DocumentStream, parser: DocumentParser, writer: _Writer,
          progress: Progress | None) -> None:
    """Check and convert the documents of `stream` and give them to `writer` chunk by chunk; the
    problems found go to `parser.problems`."""
    known = writer.protocols
    chunk: list[tuple[ImportedPatient, str]] = []
    for where, d in stream:
        ip = parser.parse(where, d, check_schema=True)
        if ip is not None:
            if ip.patient.protocol_id not in known:
                parser.problems.append((f"{ip.where + '.' if where else ''}patient.protocol.id",
                                        f"protocol '{ip.patient.protocol_id}' not found; known: "
                                        f"{', '.join(sorted(known))}"))
            chunk.append((ip, stream.text_of_last()))
        if len(chunk) == CHUNK:
            writer.add(chunk, parser.problems)
            chunk = []
            if progress:
                progress(stream.position, len(stream.text))
    writer.add(chunk, parser.problems)


class _Writer:
    """Writes checked patients chunk by chunk: new patients and records in bulk, records already
    stored identically skipped, a record that differs from a stored one a problem. The patients
    written have their state evaluated as of `today` and cached (services.surveillance), so that
    the next worklist does not evaluate them again."""

    def __init__(self, st: Store, user: str, filename: str, *, today: date,
                 protocols: dict[str, SurveillanceProtocol], compare_details: bool = True) -> None:
        st.one_bulk_command()
        self.st = st
        self.compare_details = compare_details  # a lab CSV names stored patients; it has no details
        self.user = user
        self.filename = filename
        self.today = today
        self.protocols = protocols
        self.summary = ImportSummary()
        #: stored patients met so far (`load`), by label; and the labels this import has created
        self.existing: dict[str, dm.Patient] = {}
        self.created: set[str] = set()

    def load(self, labels: Iterable[str]) -> None:
        """Read the stored patients among these labels (not those this import created: a label
        given twice in a file is a problem of its own, and the second document is not compared)."""
        self.existing.update(self.st.patients_labelled(
            label for label in labels if label not in self.existing and label not in self.created))

    def add(self, chunk: Sequence[tuple[ImportedPatient, str]], problems: list[tuple[str, str]]) -> None:
        """Compare `chunk` (each patient with its document's text) with the database (conflicts go
        to `problems`) and write it while `problems` is empty."""
        if not chunk:
            return
        self.load(ip.patient.label for ip, _ in chunk)
        st, summary, existing = self.st, self.summary, self.existing
        old = [existing[ip.patient.label] for ip, _ in chunk if ip.patient.label in existing]
        old_ids = [p.id for p in old if p.id is not None]
        # what is stored for them cannot change until this import ends; compare with them as
        # they are now (a patient renamed meanwhile frees the old label)
        locked = st.lock_patients(old_ids)
        renamed = set()
        for p in old:
            now = locked.get(p.id or -1)
            if now is None or now.label != p.label:
                renamed.add(p.label)
            else:
                existing[p.label] = now
        stored = st.all_records(old_ids) if old else {}
        write = not problems
        new_patients = [ip.patient for ip, _ in chunk if ip.patient.label not in existing]
        created = {p.label: p for p in st.add_patients_bulk(new_patients)} if write else {}
        self.created.update(created)
        to_add: list[tuple[int, Record, str | None]] = []
        events: list[dict[str, Any]] = []
        written: list[dm.Patient] = []
        for ip, source_json in chunk:
            prefix = "" if ip.where == "(document)" else f"{ip.where}."
            target = created.get(ip.patient.label) or existing.get(ip.patient.label)
            if target is None:  # not created: an earlier problem stopped the writing
                continue
            assert target.id is not None
            is_new = ip.patient.label in created
            if ip.patient.label in renamed:
                problems.append((f"{prefix}patient", f"patient {ip.patient.label} was renamed by another command while "
                                 "this import ran; nothing was written, run the import again"))
                continue
            if (self.compare_details and not is_new
                    and patient_doc(replace(ip.patient, id=target.id)) != patient_doc(target)):
                problems.append((f"{prefix}patient", f"patient {target.label} is already stored with other details; "
                                 "correct them with `tracker patient edit`, or fix the file"))
                continue
            have = stored.get(target.id)  # nothing stored (a new patient): every record is added
            fresh = self._compare(target, ip, have, prefix, problems) if have else list(ip.records)
            to_add += [(target.id, r, voided) for _, r, voided in fresh]
            if is_new:
                summary.patients_created += 1
                summary.labels.append(target.label)
            elif not fresh:
                summary.patients_unchanged += 1
            if fresh or is_new:
                written.append(target)
                # the audit keeps what was imported: a new patient's document as the file gave it,
                # or the canonical document of the records added to a stored patient
                after = (import_event_after(len(fresh), source_json) if is_new else
                         {"records_added": len(fresh), "document": history_doc(target, fresh)})
                events.append({"user": self.user, "action": "import", "entity": "patient", "entity_id": target.id,
                               "patient_id": target.id, "reason": f"import of {self.filename}", "after": after})
        if problems:
            return
        st.audit_many(events)
        added: dict[int, list[tuple[str, Record, str | None]]] = defaultdict(list)
        for pid, r, voided in st.add_records_bulk(to_add):
            added[pid].append((kind_of(r), r, voided))
        summary.records_added += len(to_add)
        # the states of the patients written, from their whole histories as they now are (what was
        # stored, read after the lock, and what was added, with its new ids)
        histories = [merged_history(p, stored.get(p.id or -1, ()), added[p.id or -1]) for p in written]
        surveillance.store_states(st, histories, as_of=self.today, protocols=self.protocols)
        self._add_reviews([(ip, t) for ip, *_ in chunk if ip.patient.label not in renamed
                           and (t := created.get(ip.patient.label) or existing.get(ip.patient.label)) is not None])

    def _add_reviews(self, chunk: Sequence[tuple[ImportedPatient, dm.Patient]]) -> None:
        """The documents' flag reviews and seen flags that are not stored yet, so that a history
        moved from another database keeps what was done about its flags (after the states: the
        database then empties the states of these patients, as on every review)."""
        chunk = [(ip, p) for ip, p in chunk if ip.reviews or ip.seen]
        if not chunk:
            return
        st = self.st
        have = {(r.patient_id, r.flag_key, r.action, utc_text(r.at), r.user)
                for r in st.reviews([p.id for _, p in chunk if p.id is not None])}
        seen_rows = []
        for ip, p in chunk:
            assert p.id is not None
            fresh = [r for r in ip.reviews
                     if (p.id, r["flag_key"], r["action"], utc_text(r["at"]), r["user"]) not in have]
            for r in fresh:
                st.add_review({"patient_id": p.id, **r})
            seen_rows += [{"patient_id": p.id, **x} for x in ip.seen]
            if fresh:
                st.audit(user=self.user, action="import", entity="flag", entity_id=None, patient_id=p.id,
                         reason=f"import of {self.filename}", after={"flag_reviews_added": len(fresh)})
        st.add_flag_rows(seen_rows)

    def _compare(self, target: dm.Patient, ip: ImportedPatient, have: Sequence[tuple[str, Record, str | None]],
                 prefix: str, problems: list[tuple[str, str]]) -> list[tuple[str, Record, str | None]]:
        """The records of `ip` to add to the stored records `have` of `target`: a record stored
        identically is skipped, and so is one that matches a record voided here (a voided record
        never comes back); one that differs from a stored one of the same date is a problem."""
        prints = {_fingerprint(r, v) for _, r, v in have}
        voided_here = {_fingerprint(r, None) for _, r, v in have if v is not None}
        active = {dm.natural_key(r): r for _, r, v in have if v is None}
        fresh: list[tuple[str, Record, str | None]] = []
        for kind, r, voided in ip.records:
            if _fingerprint(r, voided) in prints:
                self.summary.records_unchanged += 1
                continue
            if voided is None and _fingerprint(r, None) in voided_here:
                self.summary.records_voided_here += 1
                continue
            clash = active.get(dm.natural_key(r)) if voided is None else None
            if clash is not None:
                problems.append((f"{prefix}{LIST_KEYS[kind]} ({r.date})",
                                 f"{target.label} already has a different {kind} #{clash.id} for {r.date}; "
                                 f"correct it with `tracker amend {target.label} {kind} {clash.id}`, or fix the file"))
                continue
            fresh.append((kind, r, voided))
        return fresh


def _import_lab_csv(settings: Settings, path: Path, *, today: date) -> ImportSummary:
    text = read_text(path)
    with transaction(settings) as s:
        writer = _Writer(Store(s), settings.user, path.name, today=today, protocols=all_protocols(),
                         compare_details=False)
        writer.load(lab_csv_labels(text))
        rows = parse_lab_csv(text, today=today, patients=writer.existing)
        by_patient: dict[str, list[tuple[str, Record, str | None]]] = {}
        for p, r in rows:
            by_patient.setdefault(p.label, []).append(("lab", r, None))
        problems: list[tuple[str, str]] = []
        writer.add([(ImportedPatient(writer.existing[lbl], tuple(recs), "(document)"), "")
                    for lbl, recs in by_patient.items()], problems)
        if problems:
            raise ValidationError(problems)
        return writer.summary


def export(settings: Settings, ref: str | None, *, fmt: str) -> str:
    """Canonical JSON (importable) or a long CSV of one patient or all."""
    with transaction(settings, read_only=True) as s:
        st = Store(s)
        patients = [st.patient(ref)] if ref else st.patients()
        ids = [p.id for p in patients if p.id is not None] if ref else None
        recs = st.all_records(ids)
        reviews: dict[int, list[dict[str, Any]]] = defaultdict(list)
        seen: dict[int, list[dict[str, Any]]] = defaultdict(list)
        if fmt != "csv":
            for r in st.reviews(ids):
                reviews[r.patient_id].append(review_doc(r))
            for f in st.flag_rows(ids):
                seen[f.patient_id].append(seen_doc(f))
    if fmt == "csv":
        rows = [row for p in patients for row in history_csv_rows(p, recs.get(p.id or -1, []))]
        return to_csv(rows, HISTORY_CSV_COLUMNS)
    docs = [history_doc(p, recs.get(p.id or -1, [])) for p in patients]
    for doc, p in zip(docs, patients, strict=True):  # what was done about the flags moves with the history
        if reviews.get(p.id or -1):
            doc["flag_reviews"] = reviews[p.id or -1]
        if seen.get(p.id or -1):
            doc["flags_seen"] = seen[p.id or -1]
    if ref:
        return dumps(docs[0])
    return dumps({"schema_version": 1, "patients": docs})
