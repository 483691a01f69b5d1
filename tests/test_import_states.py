"""The states an import caches for the patients it writes are exactly the states a fresh
evaluation of their stored histories gives, across chunk boundaries and with voided records
(which get ids too), on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from tracker import db, synthetic
from tracker.config import Settings
from tracker.services import files, surveillance
from tracker.services.files import import_file

AS_OF = date(2026, 11, 22)
N = 120


def _states(settings: Settings) -> list[tuple[Any, ...]]:
    with db.transaction(settings, read_only=True) as s:
        rows = s.execute(text(
            "SELECT p.label, s.as_of, s.cache_key, s.computed, s.valid_from FROM patient_state s "
            "JOIN patient p ON p.id = s.patient_id ORDER BY p.label")).all()
    db.dispose_all()
    return [tuple(r) for r in rows]


@pytest.fixture
def cohort(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """N synthetic patients, every seventh with a voided lab, written in chunks of 16, so that
    ids run on from chunk to chunk."""
    monkeypatch.setattr(files, "CHUNK", 16)
    docs = list(synthetic.cohort(N, seed=11, as_of=AS_OF))
    for d in docs[::7]:
        if d.get("labs"):
            d["labs"][0]["voided_reason"] = "entered for the wrong patient (synthetic)"
    path = tmp_path / "cohort.json"
    path.write_text(json.dumps({"schema_version": 1, "synthetic": True, "patients": docs}), encoding="utf-8")
    return path


def test_the_states_an_import_caches_are_the_states_of_a_fresh_evaluation(settings: Settings, cohort: Path) -> None:
    import_file(settings, cohort, today=AS_OF)
    db.dispose_all()
    cached = _states(settings)
    assert len(cached) > N / 2  # most patients are still followed, so have a state
    with db.transaction(settings) as s:
        s.execute(text("DELETE FROM patient_state"))
    db.dispose_all()
    surveillance.views(settings, None, as_of=AS_OF, record=False)  # evaluates everyone, caches again
    db.dispose_all()
    assert _states(settings) == cached
