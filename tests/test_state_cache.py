"""The per-patient state cache never shows a stale flag or due date: after every kind of write,
the worklist and flags equal a from-scratch evaluation (cache emptied), on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from tests.conftest import EXAMPLES
from tracker.config import Settings
from tracker.db import session_scope
from tracker.domain import model as dm
from tracker.services import records, surveillance
from tracker.services.files import import_file

AS_OF = date(2026, 11, 22)


def snapshot(settings: Settings, as_of: date = AS_OF) -> list[Any]:
    vs = surveillance.views(settings, None, as_of=as_of, record=False)
    rows = surveillance.worklist_rows(vs, as_of=as_of, within_days=60, statuses=None)
    return [[(v.label, [f.to_json() for f in v.flags], [f.to_json() for f in v.snoozed],
              [i.to_json() for i in v.schedule]) for v in vs],
            [{k: val for k, val in r.items() if k != "_item"} for r in rows]]


def cached_rows(settings: Settings) -> int:
    with session_scope(settings) as s:
        return int(s.connection().execute(text("SELECT count(*) FROM patient_state")).scalar_one())


def fresh(settings: Settings, as_of: date = AS_OF) -> list[Any]:
    with session_scope(settings) as s:
        s.connection().execute(text("DELETE FROM patient_state"))
    return snapshot(settings, as_of)


def check(settings: Settings) -> list[Any]:
    """The cached answer (after warming) equals the fresh one; returns it."""
    first = snapshot(settings)
    assert cached_rows(settings) > 0
    again = snapshot(settings)
    assert again == first
    assert fresh(settings) == first
    return first


@pytest.fixture
def loaded(settings: Settings) -> Settings:
    for f in sorted(EXAMPLES.glob("syn-*.json")):
        import_file(settings, f, today=AS_OF)
    import_file(settings, EXAMPLES / "labs.csv", today=AS_OF)
    check(settings)  # warm
    return settings


def test_every_write_path_invalidates(loaded: Settings, tmp_path: Path) -> None:
    st = loaded
    before = snapshot(st)
    # log: a scan that shows more growth
    scan = dm.ImagingStudy(date=date(2026, 11, 1), modality=dm.Modality.MRI, provenance=dm.Provenance(),
                           lesions=(dm.LesionMeasurement(lesion="P1", site=dm.Site.PANCREAS,
                                                         longest_mm=Decimal("24")),))
    logged = records.log_record(st, "SYN-STABLE", scan, today=AS_OF)
    after_log = check(st)
    assert after_log != before
    # amend it
    records.amend_record(st, "scan", logged.id or 0, replace(scan, lesions=(replace(scan.lesions[0],
                         longest_mm=Decimal("11")),)), reason="typo", today=AS_OF)
    after_amend = check(st)
    assert after_amend != after_log
    # void it
    records.void_record(st, "scan", logged.id or 0, reason="wrong patient")
    assert check(st) != after_amend
    # a lab
    records.log_record(st, "SYN-STABLE", dm.LabResult(date=date(2026, 11, 2), analyte=dm.Analyte.CHROMOGRANIN_A,
                                                      value=Decimal(900), unit="ng/mL", upper_limit=Decimal(102),
                                                      assay="BRAHMS CgA II KRYPTOR", lab="Synthetic Regional Lab"),
                       today=AS_OF)
    check(st)
    # patient edit and leaving surveillance
    records.edit_patient(st, "SYN-GROWING", {"protocol_id": "pnet-metastatic-ww"}, reason="re-staged", today=AS_OF)
    check(st)
    records.leave_surveillance(st, "SYN-GROWING", date(2026, 11, 20), dm.LeaveReason.TREATMENT, note="surgery",
                               today=AS_OF)
    left = check(st)
    assert all(v[0] != "SYN-GROWING" or not v[3] for v in left[0])
    # flag reviews: acknowledge and snooze
    views = surveillance.views(st, "SYN-METASTATIC", as_of=AS_OF)
    watch = [fv.flag for fv in views[0].flags if fv.flag.severity is dm.Severity.WATCH
             and fv.flag.rule_id != "schedule.overdue"]
    if watch:
        surveillance.review_flag(st, "SYN-METASTATIC", watch[0].key, action="snooze", reason="repeat",
                                 as_of=AS_OF, until=date(2027, 1, 1))
        check(st)
    any_flag = surveillance.views(st, "SYN-STABLE", as_of=AS_OF)[0].flags
    if any_flag:
        surveillance.review_flag(st, "SYN-STABLE", any_flag[0].flag.key, action="acknowledge", reason="seen",
                                 as_of=AS_OF)
        check(st)
    # import of more records for a stored patient
    doc = json.loads((EXAMPLES / "syn-metastatic.json").read_text(encoding="utf-8"))
    doc["visits"] = [*doc.get("visits", []), {"date": "2026-11-10", "symptoms": ["jaundice"]}]
    path = tmp_path / "more.json"
    path.write_text(json.dumps(doc), encoding="utf-8")
    import_file(st, path, today=AS_OF)
    check(st)


def test_another_date_or_protocol_content_is_not_served_from_the_cache(loaded: Settings) -> None:
    other = date(2026, 6, 1)
    assert snapshot(loaded, other) == fresh(loaded, other)
    assert snapshot(loaded) == fresh(loaded)
    with session_scope(loaded) as s:
        s.connection().execute(text("UPDATE patient_state SET cache_key = 'old'"))
    assert snapshot(loaded) == fresh(loaded)


def test_a_cached_view_still_gives_the_history(loaded: Settings) -> None:
    vs = surveillance.views(loaded, None, as_of=AS_OF)
    assert {v.label: len(v.history.scans) for v in vs}["SYN-METASTATIC"] > 0
