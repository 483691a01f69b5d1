"""Spread and marker rules (rules.md §2, §4; clinical-evidence §9 Ex 5)."""

from __future__ import annotations

from datetime import date

import pytest

from tests.factories import builtin_protocol, history, lab, lesion, patient, scan, visit, with_rules
from tracker.domain.measures import marker_measures
from tracker.domain.model import Flag
from tracker.domain.protocol import SurveillanceProtocol
from tracker.domain.rules import evaluate_flags

SMALL = builtin_protocol("pnet-small-nf")


def flags(*records: object, as_of: str = "2030-01-01", protocol: SurveillanceProtocol = SMALL) -> list[Flag]:
    return evaluate_flags(history(None, *records), protocol, as_of=date.fromisoformat(as_of))


def of(fs: list[Flag], rule_id: str) -> list[Flag]:
    return [f for f in fs if f.rule_id == rule_id]


@pytest.mark.parametrize(("short", "fires"), [("9.9", False), ("10.0", True), ("10.1", True)])
def test_node_short_axis_10_mm(short: str, fires: bool) -> None:
    """A regional node with a short axis ≥ 10 mm fires spread.node, at baseline too."""
    fs = flags(scan("2025-01-10", lesion("N1", 25, site="regional_node", short_axis=short)))
    assert bool(of(fs, "spread.node")) is fires


def test_pet_avid_node_fires() -> None:
    """A small node reported SSTR-PET avid fires spread.node."""
    fs = flags(scan("2025-01-10", lesion("N1", site="regional_node", short_axis=6)),
               scan("2025-02-01", lesion("N1", site="regional_node", avid=True), modality="SSTR-PET"))
    (f,) = of(fs, "spread.node")
    assert f.evidence == ("scan:2/N1",)


def test_new_liver_lesion_fires_spread_distant() -> None:
    """A new lesion in the liver fires spread.distant, cited by the scan that marked it."""
    fs = flags(scan("2025-01-10", lesion("P1", 12)), scan("2025-07-10", lesion("P1", 12), lesion("L1", 6, site="liver",
                                                                                              new=True)))
    (f,) = of(fs, "spread.distant")
    assert f.evidence == ("scan:2/L1",) and f.severity.value == "action"


def test_known_liver_lesion_not_marked_new_is_not_spread() -> None:
    """A liver lesion present from baseline and never marked new does not fire spread.distant."""
    assert not of(flags(scan("2025-01-10", lesion("L1", 12, site="liver"))), "spread.distant")


def test_new_regional_node_is_not_distant() -> None:
    """A new regional node is judged by spread.node, not spread.distant."""
    fs = flags(scan("2025-07-10", lesion("N1", site="regional_node", short_axis=5, new=True)))
    assert not of(fs, "spread.distant")


def test_ex5_cga_brahms_rule() -> None:
    """Ex 5: CgA 70 → 110 ng/mL (+57 %, > 100) fires marker.rise; 60 → 70 (+16.7 %) does not."""
    assert of(flags(lab("2025-04-10", 70), lab("2025-07-10", 110)), "marker.rise")
    assert not of(flags(lab("2025-01-10", 60), lab("2025-04-10", 70)), "marker.rise")


@pytest.mark.parametrize(("prev", "cur", "fires"), [
    (80, 120, False), (80, "120.1", True), (60, 100, False), (60, "100.1", True), (80, "119.9", False),
])
def test_marker_rise_strictly_above_50_percent_and_100(prev: int, cur: str, fires: bool) -> None:
    """marker.rise needs a rise > 50 % AND a value > 100 ng/mL (both strict)."""
    assert bool(of(flags(lab("2025-01-10", prev), lab("2025-04-10", cur)), "marker.rise")) is fires


def test_marker_rise_alternative_25_percent() -> None:
    """The Dam 2020 25 % rule is selectable in the protocol: 90 → 115 fires at 25 %, not at 50 %."""
    records = (lab("2025-01-10", 90), lab("2025-04-10", 115))
    assert not of(flags(*records), "marker.rise")
    assert of(flags(*records, protocol=builtin_protocol(**{"marker.rise": {"rel_rise_pct": 25}})), "marker.rise")


def test_marker_rise_floor_is_upper_limit_in_other_units() -> None:
    """In U/L the floor is the lab's upper limit: 60 → 100 U/L fires only when the limit is below 100."""
    assert of(flags(lab("2025-01-10", 60, unit="U/L", uln=90), lab("2025-04-10", 100, unit="U/L", uln=90)),
              "marker.rise")
    assert not of(flags(lab("2025-01-10", 60, unit="U/L", uln=100), lab("2025-04-10", 100, unit="U/L", uln=100)),
                  "marker.rise")


def test_assay_change_blocks_rise() -> None:
    """A change of assay between the latest two results gives data.assay_change and no marker.rise."""
    fs = flags(lab("2025-01-10", 60), lab("2025-04-10", 200, assay="CisBio"))
    assert of(fs, "data.assay_change") and not of(fs, "marker.rise")


def test_ppi_adds_confounder_and_rise_still_fires() -> None:
    """A PPI at the latest visit within 90 days before the result adds data.confounder; the rise still fires."""
    fs = flags(visit("2025-04-01", ppi=True), lab("2025-01-10", 60), lab("2025-04-10", 200))
    assert of(fs, "marker.rise")
    (f,) = of(fs, "data.confounder")
    assert f.evidence == ("lab:2", "visit:1")


@pytest.mark.parametrize(("visit_day", "ppi", "confounded"), [
    ("2025-01-10", True, True), ("2025-01-09", True, False), ("2025-04-11", True, False), ("2025-03-01", False, False),
])
def test_ppi_window_is_latest_visit_within_90_days(visit_day: str, ppi: bool, confounded: bool) -> None:
    """The PPI confounder reads the latest visit on or before the result within 90 days."""
    fs = flags(visit(visit_day, ppi=ppi), lab("2025-04-10", 200))
    assert bool(of(fs, "data.confounder")) is confounded


@pytest.mark.parametrize(("egfr", "confounded"), [(29, True), (30, False)])
def test_low_egfr_is_a_confounder(egfr: int, confounded: bool) -> None:
    """An eGFR below 30 within 90 days before a CgA result adds data.confounder (renal impairment)."""
    fs = flags(lab("2025-04-01", egfr, analyte="egfr", unit="mL/min/{1.73_m2}", uln=None), lab("2025-04-10", 200))
    assert bool(of(fs, "data.confounder")) is confounded


def test_high_creatinine_is_a_confounder() -> None:
    """A creatinine above its upper limit shortly before a CgA result adds data.confounder."""
    fs = flags(lab("2025-04-01", 150, analyte="creatinine", unit="umol/L", uln=110), lab("2025-04-10", 200))
    assert of(fs, "data.confounder")


def test_marker_doubling_off_by_default_and_on_when_enabled() -> None:
    """Ex 5: a 5.8-month doubling time fires marker.doubling only when the protocol enables it (< 6 months)."""
    records = tuple(lab(d, v) for d, v in (("2025-01-10", 60), ("2025-04-11", 70), ("2025-07-11", 110),
                                          ("2025-10-10", 170)))
    assert not of(flags(*records), "marker.doubling")
    assert of(flags(*records, protocol=with_rules(SMALL, marker_doubling=True)), "marker.doubling")


@pytest.mark.parametrize("units", [("ng/mL", "ug/L"), ("ug/L", "ng/mL"), ("ug/L", "ug/L")])
def test_ng_per_ml_and_ug_per_l_are_one_unit_for_every_rule(units: tuple[str, str]) -> None:
    """1 µg/L = 1 ng/mL: a chromogranin A series switching between them is compared directly, with the
    100 ng/mL floor: 90 -> 140 fires marker.rise and no data.assay_change."""
    fs = flags(lab("2025-01-10", 90, unit=units[0]), lab("2025-04-10", 140, unit=units[1]))
    (f,) = of(fs, "marker.rise")
    assert not of(fs, "data.assay_change") and "to above 100" in f.message


def test_a_switch_to_ug_per_l_is_one_marker_series() -> None:
    h = history(patient(), lab("2025-01-10", 90, unit="ng/mL"), lab("2025-04-10", 140, unit="ug/L"))
    (series,) = marker_measures(h)
    assert series.unit == "ng/mL" and len(series.points) == 2


def test_a_rise_just_over_the_threshold_is_never_printed_as_the_threshold() -> None:
    """100 -> 150.04 ng/mL is +50.04 %, over the strict > 50 %: printed +50.04 %, not +50.0 %."""
    (f,) = of(flags(lab("2025-01-10", 100), lab("2025-04-10", "150.04")), "marker.rise")
    assert "+50.04 %" in f.message
