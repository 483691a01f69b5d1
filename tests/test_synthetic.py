"""The synthetic cohort generator: seeded, valid against the schema, importable."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

from tracker import synthetic
from tracker.config import Settings
from tracker.jsonio.documents import parse_documents
from tracker.jsonio.schemacheck import schema_problems
from tracker.services.files import import_file

AS_OF = date(2026, 11, 22)


def test_same_seed_same_cohort_and_patients_do_not_depend_on_n() -> None:
    a = list(synthetic.cohort(5, seed=3))
    assert a == list(synthetic.cohort(5, seed=3))
    assert a[:3] == list(synthetic.cohort(3, seed=3))
    assert a != list(synthetic.cohort(5, seed=4))


def test_documents_validate_and_stay_before_the_as_of_date() -> None:
    docs = list(synthetic.cohort(5, seed=1, years=10, as_of=AS_OF))
    doc = {"schema_version": 1, "synthetic": True, "patients": docs}
    assert schema_problems(doc, "patient.schema.json") == []
    parsed = parse_documents(doc, today=AS_OF)
    assert len(parsed) == 5
    assert all(r.date <= AS_OF for ip in parsed for _, r, _ in ip.records)


def test_written_file_imports(tmp_path: Path, settings: Settings) -> None:
    path = tmp_path / "cohort.json"
    n = synthetic.write_cohort(path, 5, seed=2, as_of=AS_OF)
    assert json.loads(path.read_text(encoding="utf-8"))["synthetic"] is True
    summary = import_file(settings, path, today=AS_OF)
    assert summary.patients_created == 5
    lesions = sum(len(s["lesions"]) for d in synthetic.cohort(5, seed=2, as_of=AS_OF) for s in d["scans"])
    assert summary.records_added == n - lesions
