"""Golden oracle: flags and schedules of a seeded synthetic cohort must not change.

`tests/data/golden_cohort.json` holds, for every patient of `tracker.synthetic` (seed 1, 10
years) at three as-of dates, every `Flag.to_json()` of `evaluate_flags` and every
`DueItem.to_json()` (and `schedule.overdue` flag) of `compute_schedule`. It was written before
the domain was optimised; any change of a message, date, evidence or due date fails this test.

Regenerate only when a change of result is intended and reviewed:

    /work/venv/bin/python -m tests.domain.test_golden_cohort
"""

from __future__ import annotations

import itertools
import json
from dataclasses import replace
from datetime import date
from pathlib import Path
from typing import Any

import tracker.protocols
from tracker import synthetic
from tracker.domain.model import PatientHistory, Severity
from tracker.domain.protocol import SurveillanceProtocol, protocol_from_dict
from tracker.domain.rules import evaluate_flags
from tracker.domain.schedule import compute_schedule, overdue_flags
from tracker.jsonio.documents import parse_documents

GOLDEN = Path(__file__).resolve().parents[1] / "data" / "golden_cohort.json"
PATIENTS = 230
SEED = 1
AS_OFS = (date(2020, 1, 15), date(2024, 6, 30), date(2027, 2, 1))
#: The "strict" variant of each built-in protocol: every rule on, with thresholds low enough that
#: the growth rate, marker doubling, TGR and marker-rise paths fire on this cohort too.
STRICT = {"growth.rate": {"growth_rate_mm_per_yr": 1}, "marker.doubling": {"marker_doubling_months": 120},
          "marker.rise": {"analytes": ["chromogranin_a", "glucose", "otherALT"], "rel_rise_pct": 10},
          "growth.tgr": {"tgr_pct_per_month": 0.1}}
STRICT_AS_OF = date(2026, 11, 22)


def load_protocols(*, strict: bool = False) -> dict[str, SurveillanceProtocol]:
    """The built-in protocols by id; with `strict`, every rule on and the `STRICT` params."""
    folder = Path(tracker.protocols.__file__).parent
    docs = [json.loads(p.read_text("utf-8")) for p in sorted(folder.glob("*.json"))]
    for d in docs if strict else []:
        for rule_id, rule in d["rules"].items():
            rule["enabled"] = True
            rule.setdefault("params", {}).update(STRICT.get(rule_id, {}))
    return {d["id"]: protocol_from_dict(d) for d in docs}


def history_of(doc: dict[str, Any], *, today: date = synthetic.DEFAULT_AS_OF) -> PatientHistory:
    """A synthetic patient document as the domain history the store would load: ids count up
    from 1 per record kind in document order, each tuple sorted by date then id."""
    (imported,) = parse_documents(doc, today=today)
    counters: dict[str, itertools.count[int]] = {}
    buckets: dict[str, list[Any]] = {"visit": [], "lab": [], "scan": [], "pathology": []}
    for kind, record, voided in imported.records:
        rid = next(counters.setdefault(kind, itertools.count(1)))
        if voided is None:
            buckets[kind].append(replace(record, id=rid))

    def order(rs: list[Any]) -> tuple[Any, ...]:
        return tuple(sorted(rs, key=lambda r: (r.date, r.id)))

    return PatientHistory(patient=replace(imported.patient, id=1), visits=order(buckets["visit"]),
                          labs=order(buckets["lab"]), scans=order(buckets["scan"]),
                          pathology=order(buckets["pathology"]))


def cohort_histories(n: int, *, seed: int = SEED, years: float = 10) -> list[PatientHistory]:
    return [history_of(doc) for doc in synthetic.cohort(n, seed=seed, years=years)]


def evaluate(history: PatientHistory, protocol: SurveillanceProtocol, as_of: date) -> dict[str, Any]:
    """Flags, due items and overdue flags of one patient on one date, as JSON."""
    flags = evaluate_flags(history, protocol, as_of=as_of)
    open_flags = [f for f in flags if f.severity is not Severity.INFO]
    items = compute_schedule(history, protocol, open_flags, as_of=as_of)
    overdue = overdue_flags(items, protocol, as_of=as_of)
    return {"flags": [f.to_json() for f in flags], "schedule": [i.to_json() for i in items],
            "overdue": [f.to_json() for f in overdue]}


def golden_results(n: int = PATIENTS) -> dict[str, Any]:
    protocols, strict = load_protocols(), load_protocols(strict=True)
    out: dict[str, Any] = {}
    for h in cohort_histories(n):
        pid = h.patient.protocol_id
        out[h.patient.label] = {d.isoformat(): evaluate(h, protocols[pid], d) for d in AS_OFS}
        out[h.patient.label]["strict"] = evaluate(h, strict[pid], STRICT_AS_OF)
    return out


def _write() -> None:
    GOLDEN.parent.mkdir(parents=True, exist_ok=True)
    doc = {"seed": SEED, "patients": PATIENTS, "as_of": [d.isoformat() for d in AS_OFS], "results": golden_results()}
    GOLDEN.write_text(json.dumps(doc, ensure_ascii=False, separators=(",", ":"), sort_keys=True) + "\n", "utf-8")


def test_golden_cohort_flags_and_schedules_are_unchanged() -> None:
    """Every flag and due item of the golden cohort, field by field, equals the stored oracle."""
    expected = json.loads(GOLDEN.read_text("utf-8"))
    assert expected["as_of"] == [d.isoformat() for d in AS_OFS]
    actual = golden_results(expected["patients"])
    assert sorted(actual) == sorted(expected["results"])
    for label, by_date in expected["results"].items():
        for when, want in by_date.items():
            assert actual[label][when] == want, f"{label} as of {when}"


if __name__ == "__main__":
    _write()
