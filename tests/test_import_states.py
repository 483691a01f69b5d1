"""The states an import caches for its new patients, evaluated ahead by the checker process with
the record ids they will be given (surveillance.NewPatientStates), are exactly the states the
importing process would evaluate; when an assumed id is wrong, or a patient is already stored,
the importing process evaluates the patient itself. SQLite only: elsewhere the database gives
the ids, and nothing is predicted."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from tracker import db, synthetic
from tracker.config import Settings
from tracker.errors import ProtocolError
from tracker.services import checker, files, surveillance
from tracker.services.files import import_file
from tracker.store import Store

AS_OF = date(2026, 11, 22)
N = 120


def _states(settings: Settings) -> list[tuple[Any, ...]]:
    with db.session_scope(settings, read_only=True) as s:
        rows = s.connection().execute(text(
            "SELECT p.label, s.as_of, s.cache_key, s.computed, s.valid_from FROM patient_state s "
            "JOIN patient p ON p.id = s.patient_id ORDER BY p.label")).all()
    db.dispose_all()
    return [tuple(r) for r in rows]


@pytest.fixture
def cohort(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """N synthetic patients, every seventh with a voided lab (voided records get ids too), written
    in chunks of 16 after a first chunk of 7, so that ids run on from chunk to chunk."""
    monkeypatch.setattr(files, "FIRST_CHUNK", 7)
    monkeypatch.setattr(files, "CHUNK", 16)
    docs = list(synthetic.cohort(N, seed=11, as_of=AS_OF))
    for d in docs[::7]:
        if d.get("labs"):
            d["labs"][0]["voided_reason"] = "entered for the wrong patient (synthetic)"
    path = tmp_path / "cohort.json"
    path.write_text(json.dumps({"schema_version": 1, "synthetic": True, "patients": docs}), encoding="utf-8")
    return path


@pytest.fixture
def evaluated(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The labels of the patients the importing process evaluates itself."""
    labels: list[str] = []
    store_states = surveillance.store_states

    def spy(st: Store, histories: Any, **kw: Any) -> None:
        labels.extend(h.patient.label for h in histories)
        store_states(st, histories, **kw)

    monkeypatch.setattr(surveillance, "store_states", spy)
    return labels


def _import(url: str, path: Path, *, second_process: bool, monkeypatch: pytest.MonkeyPatch) -> Settings:
    monkeypatch.setattr(checker, "PARALLEL_FROM", 0 if second_process else 10**12)
    settings = Settings(db_url=url, user="test-user")
    import_file(settings, path, today=AS_OF)
    db.dispose_all()
    return settings


def test_states_evaluated_ahead_are_the_states_evaluated_by_the_importer(
        tmp_path: Path, cohort: Path, evaluated: list[str], monkeypatch: pytest.MonkeyPatch) -> None:
    alone = _import(f"sqlite:///{tmp_path / 'alone.db'}", cohort, second_process=False, monkeypatch=monkeypatch)
    assert len(evaluated) == N  # in one process: every patient evaluated by the importer
    evaluated.clear()
    ahead = _import(f"sqlite:///{tmp_path / 'ahead.db'}", cohort, second_process=True, monkeypatch=monkeypatch)
    assert evaluated == []  # every state came from the checker
    assert _states(ahead) == _states(alone)
    assert len(_states(ahead)) > N / 2  # most patients are still followed, so have a state


def test_a_wrong_assumed_id_is_found_and_the_patient_evaluated_by_the_importer(
        tmp_path: Path, cohort: Path, evaluated: list[str], monkeypatch: pytest.MonkeyPatch) -> None:
    alone = _import(f"sqlite:///{tmp_path / 'alone.db'}", cohort, second_process=False, monkeypatch=monkeypatch)
    evaluated.clear()
    next_ids = Store.next_record_ids

    def off_by_one(self: Store) -> dict[str, int]:
        return {kind: i + 1 if kind == "lab" else i for kind, i in next_ids(self).items()}

    monkeypatch.setattr(Store, "next_record_ids", off_by_one)
    wrong = _import(f"sqlite:///{tmp_path / 'wrong.db'}", cohort, second_process=True, monkeypatch=monkeypatch)
    docs = json.loads(cohort.read_text(encoding="utf-8"))["patients"]
    with_labs = sorted(d["patient"]["label"] for d in docs if d.get("labs"))
    assert sorted(evaluated) == with_labs  # the others' lab ids did not matter: they have none
    assert _states(wrong) == _states(alone)


def test_from_the_first_stored_patient_on_the_importer_evaluates(
        tmp_path: Path, cohort: Path, evaluated: list[str], monkeypatch: pytest.MonkeyPatch) -> None:
    doc = json.loads(cohort.read_text(encoding="utf-8"))
    first = tmp_path / "first.json"
    k = N // 2
    first.write_text(json.dumps({**doc, "patients": doc["patients"][k:k + 1]}), encoding="utf-8")
    url, reference_url = f"sqlite:///{tmp_path / 'both.db'}", f"sqlite:///{tmp_path / 'alone.db'}"
    for u in (url, reference_url):
        _import(u, first, second_process=False, monkeypatch=monkeypatch)
    reference = _import(reference_url, cohort, second_process=False, monkeypatch=monkeypatch)
    evaluated.clear()
    both = _import(url, cohort, second_process=True, monkeypatch=monkeypatch)
    labels = [d["patient"]["label"] for d in doc["patients"]]
    # patients before the stored one were predicted; the stored one was not written (nothing new);
    # the ones after it were evaluated by the importer
    assert evaluated == labels[k + 1:]
    assert _states(both) == _states(reference)


def test_nothing_is_predicted_when_the_database_gives_the_ids(settings: Settings, cohort: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """On PostgreSQL the sequences give the ids; on both, the import's states are right."""
    made: list[object] = []
    init = surveillance.NewPatientStates.__init__

    def spy(self: Any, *a: Any, **kw: Any) -> None:
        made.append(self)
        init(self, *a, **kw)

    monkeypatch.setattr(surveillance.NewPatientStates, "__init__", spy)
    monkeypatch.setattr(checker, "PARALLEL_FROM", 0)
    import_file(settings, cohort, today=AS_OF)
    assert len(made) == (1 if settings.is_sqlite else 0)
    with db.session_scope(settings, read_only=True) as s:
        n_states = s.connection().execute(text("SELECT COUNT(*) FROM patient_state")).scalar()
    assert n_states and n_states > N / 2  # tests/test_state_cache.py compares them with fresh evaluations


def test_a_failure_while_evaluating_ahead_is_reported_as_itself(tmp_path: Path, cohort: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """The checker stops predicting; the importer meets the same failure and the user reads it,
    not "the second process stopped"."""
    def broken(*a: Any, **kw: Any) -> None:
        raise ProtocolError("rule parameter 'max_mm' is missing from the protocol")

    monkeypatch.setattr(surveillance, "_core", broken)
    with pytest.raises(ProtocolError, match="max_mm"):
        _import(f"sqlite:///{tmp_path / 'broken.db'}", cohort, second_process=True, monkeypatch=monkeypatch)
