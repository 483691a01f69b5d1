"""Clinical triggers: symptoms, weight, ducts, preference and grade (rules.md §2, §4)."""

from __future__ import annotations

from datetime import date

import pytest

from tests.factories import builtin_protocol, history, lab, pathology, scan, visit
from tracker.domain.model import Flag
from tracker.domain.rules import evaluate_flags

SMALL = builtin_protocol("pnet-small-nf")


def flags(*records: object, as_of: str = "2030-01-01") -> list[Flag]:
    return evaluate_flags(history(None, *records), SMALL, as_of=date.fromisoformat(as_of))


def of(fs: list[Flag], rule_id: str) -> list[Flag]:
    return [f for f in fs if f.rule_id == rule_id]


def test_new_pain_fires_symptom_new() -> None:
    """Abdominal pain at the latest visit, absent at baseline, fires symptom.new."""
    (f,) = of(flags(visit("2025-01-10"), visit("2025-07-10", "abdominal_pain")), "symptom.new")
    assert f.evidence == ("visit:2",) and "abdominal pain" in f.message


def test_baseline_symptom_is_not_new() -> None:
    """A symptom recorded at a visit within 30 days after the start is baseline, not new."""
    assert not of(flags(visit("2025-02-09", "back_pain"), visit("2025-07-10", "back_pain")), "symptom.new")


def test_back_pain_is_separate_from_abdominal_pain() -> None:
    """Abdominal and back pain are separate symptoms: back pain is new despite baseline abdominal pain."""
    assert of(flags(visit("2025-01-10", "abdominal_pain"), visit("2025-07-10", "back_pain")), "symptom.new")


@pytest.mark.parametrize(("day", "baseline"), [("2025-02-09", True), ("2025-02-10", False)])
def test_baseline_window_is_30_days_after_start(day: str, baseline: bool) -> None:
    """Visits up to 30 days after the protocol start (2025-01-10) are baseline; day 31 is not."""
    fs = flags(visit(day, "abdominal_pain"), visit("2025-07-10", "abdominal_pain"))
    assert (not of(fs, "symptom.new")) is baseline


def test_only_the_latest_visit_counts() -> None:
    """A symptom at an earlier visit that the latest visit no longer reports is history, not a current flag."""
    assert not of(flags(visit("2025-07-10", "abdominal_pain"), visit("2026-01-10")), "symptom.new")


def test_jaundice_fires_bile_obstruction_not_symptom_new() -> None:
    """Jaundice fires bile.obstruction, never symptom.new."""
    fs = flags(visit("2025-07-10", "jaundice"))
    assert of(fs, "bile.obstruction") and not of(fs, "symptom.new")


@pytest.mark.parametrize(("weight", "fires"), [("76.1", False), (76, True), ("75.9", True)])
def test_weight_loss_five_percent_in_six_months(weight: str, fires: bool) -> None:
    """A weight ≥ 5 % below the highest weight of the previous 6 calendar months fires symptom.new (80 → 76 kg)."""
    fs = flags(visit("2025-01-10", weight=78), visit("2025-03-10", weight=80), visit("2025-09-10", weight=weight))
    assert bool(of(fs, "symptom.new")) is fires


@pytest.mark.parametrize(("heavy", "fires"), [("2025-03-10", True), ("2025-03-09", False)])
def test_weight_window_starts_six_calendar_months_before(heavy: str, fires: bool) -> None:
    """The weight window runs from the visit minus 6 calendar months (inclusive)."""
    fs = flags(visit(heavy, weight=80), visit("2025-09-10", weight=70))
    assert bool(of(fs, "symptom.new")) is fires


@pytest.mark.parametrize(("symptom", "tests"), [
    ("hypoglycaemia", ["glucose", "insulin", "C-peptide", "proinsulin"]), ("peptic_ulcer", ["gastrin"]),
    ("diarrhoea", ["gastrin"]), ("watery_diarrhoea", ["VIP"]), ("migratory_rash", ["glucagon"]),
    ("new_diabetes", ["glucagon"]), ("cushingoid", ["cortisol", "ACTH"]), ("flushing", ["5-HIAA"]),
])
def test_functional_symptom_names_the_hormone_tests(symptom: str, tests: list[str]) -> None:
    """A new hormone-syndrome symptom fires symptom.functional naming the tests to order: hypoglycaemia →
    glucose, insulin, C-peptide, proinsulin; peptic ulcer or diarrhoea → gastrin; watery diarrhoea → VIP;
    migratory rash or new diabetes → glucagon; Cushingoid → cortisol and ACTH."""
    (f,) = of(flags(visit("2025-07-10", symptom)), "symptom.functional")
    order = f.message.split("Order: ")[1]
    assert all(t in order for t in tests), order


@pytest.mark.parametrize(("cbd", "days", "fires"), [("7.9", 0, False), (8, 30, True), (8, 31, False),
                                                    ("8.1", -30, True)])
def test_bilirubin_with_dilated_bile_duct(cbd: str, days: int, fires: bool) -> None:
    """Bilirubin above its upper limit with a bile duct ≥ 8 mm within 30 days either side fires bile.obstruction."""
    when = date(2025, 7, 10)
    fs = flags(lab(when, 40, analyte="bilirubin", unit="umol/L", uln=21),
               scan(date.fromordinal(when.toordinal() + days), cbd=cbd))
    assert bool(of(fs, "bile.obstruction")) is fires


def test_bilirubin_at_upper_limit_is_not_above() -> None:
    """A bilirubin equal to its upper limit is not above it."""
    fs = flags(lab("2025-07-10", 21, analyte="bilirubin", unit="umol/L", uln=21), scan("2025-07-10", cbd=12))
    assert not of(fs, "bile.obstruction")


@pytest.mark.parametrize(("mpd", "fires"), [("2.9", False), ("3.0", True), ("3.1", True)])
def test_duct_dilated_at_3_mm(mpd: str, fires: bool) -> None:
    """A main pancreatic duct of 3.0 mm on the latest scan fires duct.dilated (≥)."""
    assert bool(of(flags(scan("2025-07-10", mpd=mpd)), "duct.dilated")) is fires


def test_patient_preference_from_latest_visit() -> None:
    """The patient's wish to leave surveillance at the latest visit fires patient.preference."""
    assert of(flags(visit("2025-07-10", leave=True)), "patient.preference")
    assert not of(flags(visit("2025-07-10", leave=True), visit("2025-09-10")), "patient.preference")


@pytest.mark.parametrize(("ki67", "fires"), [("19.9", False), ("20.0", False), ("20.1", True)])
def test_grade_high_above_20_percent(ki67: str, fires: bool) -> None:
    """Ki-67 above 20 % (G3) fires grade.high; exactly 20 % does not."""
    assert bool(of(flags(pathology("2025-07-10", ki67)), "grade.high")) is fires


@pytest.mark.parametrize(("before", "now", "crossed"), [
    ("2.9", "3.0", "3 %"), ("2", "2.9", None), ("3", "4.9", None), ("4.9", "5.0", "5 %"), ("2", "6", "3 % and 5 %"),
    ("6", "2", None), ("3", "3", None),
])
def test_grade_rise_crossing_3_or_5_upward_only(before: str, now: str, crossed: str | None) -> None:
    """grade.rise fires when Ki-67 reaches 3 % or 5 % from below; never downward."""
    fs = of(flags(pathology("2025-01-10", before), pathology("2025-07-10", now)), "grade.rise")
    assert (fs[0].threshold if fs else None) == (f"≥ {crossed}" if crossed else None)


def test_grade_rise_and_high_fire_together() -> None:
    """A jump from 2 % to 25 % fires both grade.rise and grade.high."""
    fs = flags(pathology("2025-01-10", 2), pathology("2025-07-10", 25))
    assert of(fs, "grade.rise") and of(fs, "grade.high")
