"""Growth, RECIST and marker measures (clinical-evidence §5 formulas, §9 worked examples)."""

from __future__ import annotations

import math
from datetime import date
from decimal import Decimal

import pytest

from tests.factories import builtin_protocol, history, lab, lesion, metastatic_patient, scan
from tracker.domain.measures import (
    lesion_measures,
    marker_measures,
    ols_fit,
    recist_series,
    tgr_pct_per_month,
    volume_doubling_months,
)
from tracker.domain.model import Modality

EX1 = (scan("2025-01-10", lesion("P1", 12)), scan("2025-07-10", lesion("P1", 14)),
       scan("2026-01-08", lesion("P1", 17)))


def test_ex1_ols_slope_is_five_mm_per_year() -> None:
    """Ex 1: 12 → 14 → 17 mm at 0/6/12 months has a least-squares slope of about 5 mm/year."""
    (m,) = lesion_measures(history(None, *EX1))
    assert m.rate_mm_per_year == pytest.approx(5.0, abs=0.05)


def test_ols_fit_returns_slope_per_year_and_intercept_at_first_date() -> None:
    """The fitted line starts at the first date: 10 mm growing 5 mm over 1461 days (4 years)."""
    slope, intercept = ols_fit([(date(2020, 1, 1), 10.0), (date(2024, 1, 1), 30.0)])
    assert (slope, intercept) == (pytest.approx(5.0), pytest.approx(10.0))


def test_ex1_nadir_and_changes_at_12_months() -> None:
    """Ex 1 at 12 months: nadir 12 mm, +5 mm and +41.7 % over it, +3 mm over the previous scan."""
    (m,) = lesion_measures(history(None, *EX1))
    assert m.nadir is not None and m.nadir.mm == 12 and m.nadir.ref == "scan:1/P1"
    assert (m.change_nadir_mm, m.change_prev_mm) == (5, 3)
    assert round(m.change_nadir_pct or 0, 1) == Decimal("41.7")
    assert not m.within_noise and not m.modalities_differ


def test_nadir_excludes_the_current_scan() -> None:
    """The current size is never its own nadir: a shrinking lesion's nadir is the earlier size."""
    (m,) = lesion_measures(history(None, scan("2025-01-10", lesion("P1", 15)), scan("2025-07-10", lesion("P1", 11))))
    assert m.nadir is not None and m.nadir.mm == 15 and m.change_nadir_mm == -4


def test_nadir_counts_scans_before_the_protocol_start() -> None:
    """All earlier scans count for the nadir, including those before the protocol start."""
    h = history(None, scan("2024-06-01", lesion("P1", 10)), scan("2025-01-10", lesion("P1", 12)),
                scan("2025-07-10", lesion("P1", 15)))
    (m,) = lesion_measures(h)
    assert m.nadir is not None and m.nadir.date == date(2024, 6, 1)


def test_tgr_ex1_and_ex4() -> None:
    """Ferté TGR: 12 → 14 mm over 6 months is 8.01 %/month; a 30 → 33 mm sum over 3 months is 10.0."""
    assert tgr_pct_per_month(12, 14, 6) == pytest.approx(8.01, abs=0.005)
    assert tgr_pct_per_month(30, 33, 3) == pytest.approx(10.0, abs=1e-9)
    assert tgr_pct_per_month(30, 30.2, 3) == pytest.approx(0.67, abs=0.005)


def test_volume_doubling_ex1() -> None:
    """Ex 1: the volume doubling time of 12 → 17 mm over 12 months is 7.96 months."""
    assert volume_doubling_months(12, 17, 12) == pytest.approx(7.96, abs=0.005)


@pytest.mark.parametrize(("d0", "d1"), [(12, 12), (12, 11)])
def test_volume_doubling_is_none_without_growth(d0: float, d1: float) -> None:
    """A lesion that did not grow has no volume doubling time."""
    assert volume_doubling_months(d0, d1, 6) is None


@pytest.mark.parametrize(("latest", "within"), [("10.9", True), ("11.0", False), ("11.1", False),
                                                ("7.1", True), ("7.0", False)])
def test_noise_floor_is_two_mm_exclusive(latest: str, within: bool) -> None:
    """A change under 2.0 mm (either way) is within noise; exactly 2.0 mm is not."""
    (m,) = lesion_measures(history(None, scan("2025-01-10", lesion("P1", 9)), scan("2025-07-10", lesion("P1", latest))))
    assert m.within_noise is within


def test_ex2_is_within_noise_with_flat_slope() -> None:
    """Ex 2: 9.0 → 9.5 → 9.0 mm is stable within measurement error with a slope near 0."""
    h = history(None, scan("2025-01-10", lesion("P1", "9.0")), scan("2025-07-10", lesion("P1", "9.5")),
                scan("2026-01-10", lesion("P1", "9.0")))
    (m,) = lesion_measures(h)
    assert m.within_noise and m.rate_mm_per_year == pytest.approx(0.0, abs=0.01)


def test_pet_and_ultrasound_sizes_are_never_used_for_growth() -> None:
    """PET and US sizes are left out of growth: only CT, MRI and EUS points are kept."""
    h = history(None, scan("2025-01-10", lesion("P1", 12)),
                scan("2025-03-10", lesion("P1", 30), modality="SSTR-PET"),
                scan("2025-04-10", lesion("P1", 30), modality="US"),
                scan("2025-07-10", lesion("P1", 13), modality="CT"))
    (m,) = lesion_measures(h)
    assert [p.ref for p in m.points] == ["scan:1/P1", "scan:4/P1"]
    assert m.modalities_differ and m.latest is not None and m.latest.modality is Modality.CT


def test_nodes_are_measured_by_short_axis() -> None:
    """A lymph node's size is its short axis, not its longest diameter."""
    (m,) = lesion_measures(history(None, scan("2025-01-10", lesion("N1", 20, site="regional_node", short_axis=8))))
    assert m.latest is not None and m.latest.mm == 8


def test_missing_lesion_is_reported_not_dropped() -> None:
    """A lesion missing from a later MRI gives a plain 'missing at scan' note."""
    h = history(None, scan("2025-01-10", lesion("P1", 12), lesion("P2", 8)), scan("2026-01-08", lesion("P1", 12)))
    p2 = next(m for m in lesion_measures(h) if m.lesion == "P2")
    assert "missing at scan of 2026-01-08 (MRI)" in p2.not_evaluable


@pytest.mark.parametrize(("dates", "note"), [
    (("2025-01-10", "2025-07-10"), "growth rate not evaluable: 2 scans, 3 needed"),
    (("2025-01-10", "2025-03-10", "2025-07-09"),
     "growth rate not evaluable: scans from 2025-01-10 to 2025-07-09 span less than 6 months"),
])
def test_growth_rate_sufficiency_notes(dates: tuple[str, ...], note: str) -> None:
    """A rate needs 3 scans whose first and last are 6 calendar months apart; else a plain note."""
    (m,) = lesion_measures(history(None, *(scan(d, lesion("P1", 12)) for d in dates)))
    assert note in m.not_evaluable


def test_growth_rate_evaluable_at_exactly_six_calendar_months() -> None:
    """Scans exactly 6 calendar months apart are enough for a rate."""
    h = history(None, *(scan(d, lesion("P1", 12)) for d in ("2025-01-10", "2025-03-10", "2025-07-10")))
    (m,) = lesion_measures(h)
    assert not any(n.startswith("growth rate") for n in m.not_evaluable)


def test_ex3_recist_pd_at_exactly_twenty_percent() -> None:
    """Ex 3: baseline 45, nadir 40, now 48 mm is PD (+20.0 % and +8 mm), not missed by floats."""
    p = metastatic_patient()
    h = history(p, *(scan(d, lesion("L1", s, site="liver")) for d, s in
                     (("2025-01-10", 45), ("2025-04-10", 40), ("2025-07-10", 48))))
    series = recist_series(h, builtin_protocol("pnet-metastatic-ww"))
    assert [r.response for r in series] == ["baseline", "SD", "PD"]
    assert (series[-1].nadir_mm, series[-1].baseline_mm) == (40, 45)


def test_ex3_recist_partial_response() -> None:
    """Ex 3: baseline 45 mm, now 31 mm (−31.1 %) is PR."""
    h = history(metastatic_patient(), scan("2025-01-10", lesion("L1", 45, site="liver")),
                scan("2025-04-10", lesion("L1", 31, site="liver")))
    assert recist_series(h, builtin_protocol("pnet-metastatic-ww"))[-1].response == "PR"


@pytest.mark.parametrize(("now", "response"), [(24, "SD"), (25, "PD"), (14, "PR"), (15, "SD")])
def test_recist_needs_both_twenty_percent_and_five_mm(now: int, response: str) -> None:
    """Ex 3: from 20 mm, 24 mm (+20 %, +4 mm) is SD, 25 mm is PD; 14 mm (−30 %) is PR, 15 is SD."""
    h = history(metastatic_patient(), scan("2025-01-10", lesion("L1", 20, site="liver")),
                scan("2025-04-10", lesion("L1", now, site="liver")))
    assert recist_series(h, builtin_protocol("pnet-metastatic-ww"))[-1].response == response


def test_recist_targets_largest_first_two_per_organ_five_in_all() -> None:
    """Targets: measurable lesions largest first, at most 2 per organ and 5 in all; small ones and
    bone lesions are not."""
    liver = [lesion(f"L{i}", 30 + i, site="liver") for i in range(4)]
    others = [lesion("B1", 12, site="bone"), lesion("P1", 9), lesion("N1", 30, site="regional_node", short_axis=16),
              lesion("N2", 30, site="regional_node", short_axis=14), lesion("U1", 11, site="lung"),
              lesion("O1", 10, site="other")]
    h = history(metastatic_patient(), scan("2025-01-10", *liver, *others))
    (base,) = recist_series(h, builtin_protocol("pnet-metastatic-ww"))
    assert base.targets == ("L3", "L2", "N1", "U1", "O1")
    assert base.sum_mm == 33 + 32 + 16 + 11 + 10


def test_recist_targets_chosen_at_first_scan_on_or_after_start() -> None:
    """Targets are chosen at the first CT/MRI/EUS scan on or after the protocol start."""
    h = history(metastatic_patient(), scan("2024-12-01", lesion("L1", 40, site="liver")),
                scan("2025-01-10", lesion("L1", 30, site="liver"), modality="SSTR-PET"),
                scan("2025-01-20", lesion("L1", 20, site="liver"), modality="CT"))
    series = recist_series(h, builtin_protocol("pnet-metastatic-ww"))
    assert [(r.date, r.sum_mm) for r in series] == [(date(2025, 1, 20), 20)]


def test_recist_missing_target_is_not_evaluable() -> None:
    """A scan that does not size every target is NE with no sum."""
    h = history(metastatic_patient(),
                scan("2025-01-10", lesion("L1", 20, site="liver"), lesion("L2", 15, site="liver")),
                scan("2025-04-10", lesion("L1", 20, site="liver")))
    last = recist_series(h, builtin_protocol("pnet-metastatic-ww"))[-1]
    assert (last.response, last.sum_mm) == ("NE", None)


def test_recist_new_lesion_on_pet_is_progression() -> None:
    """A new lesion marked on a PET between two CT scans makes the next point PD."""
    h = history(metastatic_patient(), scan("2025-01-10", lesion("L1", 20, site="liver"), modality="CT"),
                scan("2025-03-01", lesion("B1", new=True, site="bone", avid=True), modality="SSTR-PET"),
                scan("2025-04-10", lesion("L1", 20, site="liver"), modality="CT"))
    last = recist_series(h, builtin_protocol("pnet-metastatic-ww"))[-1]
    assert (last.response, last.new_lesions) == ("PD", ("B1",))
    assert "scan:2/B1" in last.refs


def test_ex5_cga_doubling_time() -> None:
    """Ex 5: CgA 60, 70, 110, 170 ng/mL at 0/3/6/9 months doubles in about 5.8 months."""
    h = history(None, *(lab(d, v) for d, v in (("2025-01-10", 60), ("2025-04-11", 70), ("2025-07-11", 110),
                                              ("2025-10-10", 170))))
    (m,) = marker_measures(h)
    assert m.doubling_months == pytest.approx(5.8, abs=0.05)
    assert m.change_pct is not None and round(m.change_pct, 1) == Decimal("54.5")


def test_marker_series_split_by_assay() -> None:
    """Results of another assay form their own series and are never compared across."""
    h = history(None, lab("2025-01-10", 60), lab("2025-04-10", 90, assay="CisBio"), lab("2025-07-10", 70))
    a, b = marker_measures(h)
    assert [v for _, v, _ in a.points] == [60, 70] and [v for _, v, _ in b.points] == [90]
    assert "doubling time not evaluable: 1 value at least 28 days apart, 3 needed" in b.not_evaluable


def test_marker_doubling_needs_values_four_weeks_apart() -> None:
    """Three values do not make a doubling time when two of them are under 28 days apart."""
    h = history(None, lab("2025-01-10", 60), lab("2025-02-06", 70), lab("2025-04-10", 80))
    (m,) = marker_measures(h)
    assert m.doubling_months is None and m.not_evaluable[0].startswith("doubling time not evaluable: 2 values")


def test_falling_marker_has_no_doubling_time() -> None:
    """A falling marker has no doubling time and says so."""
    h = history(None, *(lab(d, v) for d, v in (("2025-01-10", 90), ("2025-04-10", 80), ("2025-07-10", 70))))
    (m,) = marker_measures(h)
    assert m.doubling_months is None and m.not_evaluable == ("no doubling: the series is stable or falling",)
    assert math.isclose(float(m.change_pct or 0), -12.5)
