"""The engine: protocol switches, as-of cut, leaving, ordering, data-quality flags and invariants."""

from __future__ import annotations

from datetime import date, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from tests.factories import builtin_protocol, history, lab, lesion, pathology, patient, scan, visit, with_rules
from tracker.domain.model import Flag, PatientHistory, Symptom
from tracker.domain.rules import RULE_IDS, RULES, evaluate_flags

SMALL = builtin_protocol("pnet-small-nf")
RULES_MD_IDS = {
    "size.threshold", "growth.absolute", "growth.relative", "growth.rate", "growth.tgr", "recist.progression",
    "duct.dilated", "bile.obstruction", "symptom.new", "symptom.functional", "spread.node", "spread.distant",
    "grade.high", "grade.rise", "marker.rise", "marker.doubling", "risk.gao", "patient.preference",
    "schedule.overdue", "data.modality_change", "data.assay_change", "data.confounder", "data.insufficient",
    "data.within_noise", "data.implausible",
}


def of(fs: list[Flag], rule_id: str) -> list[Flag]:
    return [f for f in fs if f.rule_id == rule_id]


def test_rule_ids_are_the_catalogue() -> None:
    """RULE_IDS lists every id of rules.md §2; the engine runs all but schedule.overdue."""
    assert RULE_IDS == RULES_MD_IDS
    assert {r.id for r in RULES} == RULES_MD_IDS - {"schedule.overdue"}


def test_records_after_as_of_are_ignored() -> None:
    """A scan dated after as_of does not count."""
    h = history(None, scan("2025-01-10", lesion("P1", 12)), scan("2025-07-10", lesion("P1", 30)))
    assert not of(evaluate_flags(h, SMALL, as_of=date(2025, 7, 9)), "size.threshold")


def test_no_flags_once_the_patient_left() -> None:
    """From the leaving date the current flag list is empty."""
    h = history(patient(left_on="2025-07-10"), scan("2025-01-10", lesion("P1", 30)))
    assert evaluate_flags(h, SMALL, as_of=date(2025, 7, 10)) == []
    assert evaluate_flags(h, SMALL, as_of=date(2025, 7, 9))


def test_disabled_rule_does_not_run() -> None:
    """A rule the protocol switches off never fires."""
    h = history(None, scan("2025-01-10", lesion("P1", 30)))
    assert not of(evaluate_flags(h, with_rules(SMALL, size_threshold=False), as_of=date(2026, 1, 1)),
                  "size.threshold")


def test_flags_sorted_by_severity_then_recent_first() -> None:
    """Flags are ordered action, watch, info, then the most recent first."""
    h = history(None, scan("2025-01-10", lesion("P1", 30), mpd=4), visit("2025-07-10", "abdominal_pain"),
                lab("2025-01-10", 60), lab("2025-04-10", 200, assay="X"))
    fs = evaluate_flags(h, SMALL, as_of=date(2026, 1, 1))
    keys = [(f.severity.rank, -f.date.toordinal(), f.rule_id, f.evidence) for f in fs]
    assert keys == sorted(keys) and fs[0].rule_id == "symptom.new" and fs[-1].severity.value == "info"


def test_within_noise_once_per_lesion() -> None:
    """data.within_noise fires once per lesion whose latest change is under 2 mm (Ex 2)."""
    h = history(None, scan("2025-01-10", lesion("P1", "9.0")), scan("2025-07-10", lesion("P1", "9.5")),
                scan("2026-01-10", lesion("P1", "9.0")))
    fs = evaluate_flags(h, SMALL, as_of=date(2026, 1, 10))
    assert [f.evidence for f in of(fs, "data.within_noise")] == [("scan:2/P1", "scan:3/P1")]
    assert {f.rule_id for f in fs} == {"data.within_noise"}


def test_missing_lesion_at_latest_scan_is_not_evaluable() -> None:
    """A lesion missing from the latest MRI gives data.insufficient, never a silent drop."""
    h = history(None, scan("2025-01-10", lesion("P1", 12), lesion("P2", 8)), scan("2025-07-10", lesion("P1", 12)))
    fs = of(evaluate_flags(h, SMALL, as_of=date(2025, 7, 10)), "data.insufficient")
    assert any(f.evidence == ("scan:1/P2", "scan:2") for f in fs)


def test_implausible_cm_mm_jump() -> None:
    """A ×5 jump between consecutive sizes (1.4 → 14 mm) fires data.implausible."""
    h = history(None, scan("2025-01-10", lesion("P1", "1.4")), scan("2025-07-10", lesion("P1", 14)))
    assert of(evaluate_flags(h, SMALL, as_of=date(2025, 7, 10)), "data.implausible")


def test_implausible_date_before_birth() -> None:
    """A record dated before the birth year fires data.implausible."""
    h = history(patient(birth_year=1965), visit("1964-05-01"))
    (f,) = of(evaluate_flags(h, SMALL, as_of=date(2025, 7, 10)), "data.implausible")
    assert f.evidence == ("visit:1",)


def test_implausible_late_lesion_not_marked_new() -> None:
    """A lesion first recorded long after baseline without the 'new' mark fires data.implausible."""
    h = history(None, scan("2025-01-10", lesion("P1", 12)), scan("2025-07-10", lesion("P1", 12), lesion("P2", 6)))
    assert of(evaluate_flags(h, SMALL, as_of=date(2025, 7, 10)), "data.implausible")


# --------------------------------------------------------------------------- properties

days = st.integers(min_value=0, max_value=1500)
sizes = st.decimals(min_value=5, max_value=30, places=1)
symptom = st.sampled_from([None, Symptom.ABDOMINAL_PAIN, Symptom.JAUNDICE, Symptom.FLUSHING])
START = date(2025, 1, 10)


def _day(n: int) -> date:
    return START + timedelta(days=n)


@st.composite
def histories(draw: st.DrawFn) -> PatientHistory:
    records: list[object] = []
    for n, size in draw(st.lists(st.tuples(days, sizes), max_size=5)):
        records.append(scan(_day(n), lesion("P1", size), lesion("N1", site="regional_node", short_axis=size / 2),
                            modality=draw(st.sampled_from(["MRI", "CT", "EUS", "SSTR-PET"])), mpd=draw(
                                st.sampled_from([None, 2, 3]))))
    for n, s in draw(st.lists(st.tuples(days, symptom), max_size=4)):
        records.append(visit(_day(n), *([s] if s else []), weight=draw(st.sampled_from([None, 70, 80])),
                             ppi=draw(st.booleans())))
    for n, v in draw(st.lists(st.tuples(days, st.integers(20, 400)), max_size=4)):
        records.append(lab(_day(n), v))
    for n, k in draw(st.lists(st.tuples(days, st.integers(1, 30)), max_size=2)):
        records.append(pathology(_day(n), k))
    return history(None, *records)


def _add(h: PatientHistory, record: object) -> PatientHistory:
    return history(h.patient, *h.visits, *h.labs, *h.scans, *h.pathology, record)


@settings(max_examples=150, deadline=None)
@given(histories(), days, st.integers(1, 400), sizes)
def test_flags_depend_only_on_evidence_up_to_as_of(h: PatientHistory, as_of_day: int, later: int,
                                                   size: object) -> None:
    """Adding a record dated after as_of never changes the flags."""
    as_of = _day(as_of_day)
    after = scan(as_of + timedelta(days=later), lesion("P1", size), lesion("L9", 40, site="liver", new=True))
    assert evaluate_flags(_add(h, after), SMALL, as_of=as_of) == evaluate_flags(h, SMALL, as_of=as_of)


@settings(max_examples=150, deadline=None)
@given(histories(), st.integers(0, 1600), st.sampled_from(["visit", "lab"]))
def test_unrelated_record_never_removes_an_action_flag(h: PatientHistory, n: int, kind: str) -> None:
    """A symptom-free visit before the latest visit, or a lab of another analyte, never removes an action flag."""
    as_of = _day(1600)
    if kind == "visit":
        last = h.visits[-1].date if h.visits else _day(1601)
        extra: object = visit(min(_day(n), last - timedelta(days=1)))
    else:
        extra = lab(_day(n), 5, analyte="pancreatic_polypeptide", unit="pmol/L")
    before = {f.key for f in evaluate_flags(h, SMALL, as_of=as_of) if f.severity.value == "action"}
    after = {f.key for f in evaluate_flags(_add(h, extra), SMALL, as_of=as_of) if f.severity.value == "action"}
    assert before <= after


@settings(max_examples=100, deadline=None)
@given(histories(), st.integers(-30, 1700))
def test_a_history_up_to_a_date_keeps_exactly_the_records_dated_on_or_before_it(h: PatientHistory, n: int) -> None:
    as_of = _day(n)
    known = h.up_to(as_of)
    for kind in ("visits", "labs", "scans", "pathology"):
        assert getattr(known, kind) == tuple(r for r in getattr(h, kind) if r.date <= as_of)
    assert known.patient == h.patient
