"""Store round trips, the audit trail and the database's own guards, on SQLite and PostgreSQL."""

from __future__ import annotations

from dataclasses import replace
from datetime import date
from decimal import Decimal

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError, IntegrityError

from tests.factories import lab, lesion, pathology, patient, scan, visit
from tracker import db
from tracker.config import Settings
from tracker.domain import model as dm
from tracker.errors import ConflictError
from tracker.services import records as svc
from tracker.store import Store

TODAY = date(2026, 6, 30)


def full_patient(label: str = "SYN-STORE") -> dm.Patient:
    return patient(
        id=None, label=label, birth_year=1958, sex=dm.Sex.MALE, syndrome=dm.Syndrome.MEN1, primary_resected=True,
        t_stage="T2", left_on="2026-05-01", leave_reason=dm.LeaveReason.PATIENT_CHOICE,
        provenance=dm.Provenance(source=dm.Source.IMPORT, verified=True, notes="Synthetic — µ ≥ ß 日本"),
    )


def every_kind_of_record() -> list[dm.Visit | dm.LabResult | dm.ImagingStudy | dm.Pathology]:
    prov = dm.Provenance(source=dm.Source.PATIENT, verified=True, notes="typed by the patient: «ok»")
    return [
        replace(visit("2025-01-10", dm.Symptom.ABDOMINAL_PAIN, dm.Symptom.OTHER, weight="71.50", ppi=True,
                      leave=True), symptom_other="itchy", performance_status=1, provenance=prov),
        visit("2025-02-10"),
        lab("2025-01-10", "85.25", uln="102.0"),
        replace(lab("2025-01-11", "0.000123", analyte=dm.Analyte.OTHER, unit="mg/L", uln=None),
                analyte_other="serotonin", specimen=dm.Specimen.URINE_24H, provenance=prov),
        # lesions in label order, as the store returns them
        scan("2025-01-10", lesion("L1", "31", site=dm.Site.LIVER, other=("20.5", "18"), avid=False),
             lesion("N1", site=dm.Site.REGIONAL_NODE, short_axis="11", new=True, avid=True), lesion("P1", "12.0"),
             mpd="2.5", cbd="6"),
        scan("2025-03-10", modality=dm.Modality.SSTR_PET),
        replace(pathology("2025-01-20", ki67="2.50", mitoses="1"), grade=dm.Grade.G1),
        pathology("2025-04-20"),
    ]


def test_every_record_type_round_trips(settings: Settings) -> None:
    p = full_patient()
    with db.transaction(settings) as s:
        stored = Store(s).add_patient(p)
        assert stored.id is not None
        written = [Store(s).add_record(stored.id, r) for r in every_kind_of_record()]
    db.dispose_all()
    with db.transaction(settings) as s:
        st = Store(s)
        assert st.patient(p.label) == stored
        assert st.patient(f"#{stored.id}") == stored
        for r in written:
            assert r.id is not None
            pid, back, voided = st.record(dm.kind_of(r), r.id)
            assert (pid, back, voided) == (stored.id, r, None)
            # exact decimals: the digits typed come back, trailing zeros included
            if isinstance(r, dm.LabResult) and r.value == Decimal("85.25"):
                assert str(back.value) == "85.25" and str(back.upper_limit) == "102.0"
        history = st.history(stored)
        assert len(history.visits) == 2 and len(history.labs) == 2 and len(history.scans) == 2
        assert len(history.pathology) == 2
        # the bulk loaders build records with dm.assemble: the same records, attribute for attribute
        loaded = {(dm.kind_of(r), r.id): r for r in (*history.visits, *history.labs, *history.scans,
                                                     *history.pathology)}
        for r in written:
            back = loaded[(dm.kind_of(r), r.id)]
            assert (back, repr(back), vars(back).keys()) == (r, repr(r), vars(r).keys())
            for x, y in zip(getattr(back, "lesions", ()), getattr(r, "lesions", ()), strict=True):
                assert vars(x).keys() == vars(y).keys()
        assert st.record_counts() == {"patient": 1, "visit": 2, "lab": 2, "scan": 2, "pathology": 2}


def test_bulk_inserts_round_trip(settings: Settings) -> None:
    patients = [full_patient(f"SYN-BULK-{i}") for i in range(3)]
    with db.transaction(settings) as s:
        st = Store(s)
        stored = st.add_patients_bulk(patients)
        assert [p.label for p in stored] == [p.label for p in patients]
        items = [(p.id, r, "entered twice" if i == 1 else None) for p in stored
                 for i, r in enumerate(every_kind_of_record())]
        added = st.add_records_bulk(items)
        # the same items, in the same order, each record with the id it was stored under
        assert [(pid, replace(r, id=None), v) for pid, r, v in added] == items
        assert len({(dm.kind_of(r), r.id) for _, r, _ in added}) == len(items)
    with db.transaction(settings) as s:
        st = Store(s)
        assert st.patients() == sorted(stored, key=lambda p: p.label)
        everything = st.all_records()
        for p in stored:
            got = [(k, replace(r, id=None), v) for k, r, v in everything[p.id]]
            want = [(dm.kind_of(r), r, "entered twice" if i == 1 else None)
                    for i, r in enumerate(every_kind_of_record())]
            assert sorted(got, key=repr) == sorted(want, key=repr)
            assert everything[p.id] == sorted([(dm.kind_of(r), r, v) for pid, r, v in added if pid == p.id],
                                              key=lambda t: (t[1].date, t[0], t[1].id))


def test_bulk_ids_follow_the_largest_stored_one_even_after_a_gap(settings: Settings) -> None:
    """On SQLite the import gives ids itself (the largest stored + 1, as SQLite would); the ids it
    returns are the ones stored, on both databases, whatever ids are already taken."""
    with db.transaction(settings) as s:
        st = Store(s)
        (p,) = st.add_patients_bulk([full_patient("SYN-GAP")])
        first = st.add_records_bulk([(p.id, r, None) for r in every_kind_of_record()])
        s.execute(text("UPDATE visit SET id = 1000 WHERE id = :i"),
                               {"i": next(r.id for _, r, _ in first if isinstance(r, dm.Visit))})
        items = [(p.id, replace(r, date=date(2026, 1, 5)), None) for r in every_kind_of_record()]
        second = st.add_records_bulk(items)
        stored = {(k, r.id): r for k, r, _ in st.all_records([p.id])[p.id]}
    for _, r, _ in second:
        assert stored[(dm.kind_of(r), r.id)] == r
    visit_id = next(r.id for _, r, _ in second if isinstance(r, dm.Visit))
    assert visit_id is not None and visit_id != 1000
    if settings.is_sqlite:  # given here: after the largest stored id (PostgreSQL's sequence goes its own way)
        assert visit_id == 1001


def test_amend_and_void_keep_the_audit_trail(settings: Settings) -> None:
    p = svc.add_patient(settings, replace(full_patient(), left_on=None, leave_reason=None), today=TODAY)
    v = svc.log_record(settings, p.label, visit("2025-01-10", weight="71.5"), today=TODAY)
    assert v.id is not None
    svc.amend_record(settings, p.label, "visit", v.id, replace(v, weight_kg=Decimal("72.5")), reason="typo",
                     today=TODAY)
    svc.void_record(settings, p.label, "visit", v.id, reason="wrong patient")
    trail = svc.audit_trail(settings, p.label)
    assert [(a["action"], a["entity"], a["user"]) for a in trail] == [
        ("create", "patient", "test-user"), ("create", "visit", "test-user"), ("amend", "visit", "test-user"),
        ("void", "visit", "test-user"),
    ]
    amend, void = trail[2], trail[3]
    assert '"weight_kg": 71.5' in amend["before"] and '"weight_kg": 72.5' in amend["after"]
    assert amend["reason"] == "typo" and void["reason"] == "wrong patient"
    assert '"voided_reason": "wrong patient"' in void["after"]
    _, recs = svc.history(settings, p.label, include_voided=True)
    assert [(r.kind, r.voided_reason, r.record.weight_kg) for r in recs] == [
        ("visit", "wrong patient", Decimal("72.5"))]
    assert svc.history(settings, p.label)[1] == []


@pytest.mark.parametrize("table", ["audit_event", "flag_review"])
@pytest.mark.parametrize("statement", ["UPDATE {table} SET reason = 'rewritten'", "DELETE FROM {table}"])
def test_append_only_tables_refuse_update_and_delete(settings: Settings, table: str, statement: str) -> None:
    p = svc.add_patient(settings, replace(full_patient(), left_on=None, leave_reason=None), today=TODAY)
    engine = db.open_engine(settings)
    with engine.begin() as conn:
        conn.execute(text(
            "INSERT INTO flag_review (patient_id, flag_key, action, severity_at_review, reason, \"user\", at, "
            "chain_hash) VALUES (:p, 'k', 'acknowledge', 'watch', 'seen', 'test-user', CURRENT_TIMESTAMP, 'x')"),
            {"p": p.id})
    with pytest.raises(DBAPIError, match="append-only"), engine.begin() as conn:
        conn.execute(text(statement.format(table=table)))
    with engine.connect() as conn:
        assert conn.execute(text(f"SELECT count(*) FROM {table} WHERE reason = 'rewritten'")).scalar() == 0
        assert conn.execute(text(f"SELECT count(*) FROM {table}")).scalar() == 1


def test_foreign_keys_and_unique_labels_are_enforced(settings: Settings) -> None:
    engine = db.open_engine(settings)
    with pytest.raises(IntegrityError), engine.begin() as conn:
        conn.execute(text("INSERT INTO visit (source, verified, notes, patient_id, date, symptoms, symptom_other, "
                          "on_ppi, wants_to_leave) VALUES ('clinician', false, '', 999, '2025-01-01', '', '', "
                          "false, false)"))
    svc.add_patient(settings, replace(full_patient(), left_on=None, leave_reason=None), today=TODAY)
    with pytest.raises(ConflictError, match="nothing was written"), db.transaction(settings) as s:
        Store(s).add_patients_bulk([full_patient()])
    with db.transaction(settings) as s:
        assert Store(s).record_counts()["patient"] == 1


def test_the_schema_is_at_head_after_opening(settings: Settings) -> None:
    engine = db.open_engine(settings)
    assert db.current_revision(engine) == db.head_revision()
    db.dispose_all()
    # opening again is a no-op: no second migration, no backup
    assert db.upgrade(db.open_engine(settings)) is None


def test_each_kinds_column_list_covers_its_table_and_its_record() -> None:
    """One column list per kind (tracker/store/mapping.py) names every column of the kind's table,
    and its reader fills every field of the domain record."""
    from dataclasses import fields

    from tracker import models
    from tracker.store.mapping import KINDS, LESION_WRITTEN, PATIENT_SELECTED

    for k in KINDS.values():
        assert set(k.selected) == set(k.table.c.keys()), k.name
        assert set(k.written) == set(k.table.c.keys()) - {"id", "patient_id", "voided_reason"}, k.name
        own = set(k.selected) - {"patient_id", "voided_reason", "source", "verified", "notes"}
        assert own | {"provenance"} | ({"lesions"} if k.name == "scan" else set()) == {f.name for f in fields(k.cls)}
    assert set(PATIENT_SELECTED) == set(models.PATIENT.c.keys())
    assert set(LESION_WRITTEN) == set(models.LESION_MEASUREMENT.c.keys()) - {"id", "study_id"}


def test_changing_a_record_that_is_not_stored_is_not_found(settings: Settings) -> None:
    """replace_record and void_record name a missing record (they updated nothing silently)."""
    from tracker.errors import NotFoundError

    with db.transaction(settings) as s:
        st = Store(s)
        with pytest.raises(NotFoundError, match="no visit record #999"):
            st.void_record("visit", 999, "entered in error")
        with pytest.raises(NotFoundError, match="no scan record #999"):
            st.replace_record("scan", 999, scan("2025-01-10", lesion("P1", "12")))
        assert st.record_counts()["scan"] == 0
