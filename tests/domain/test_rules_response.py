"""Metastatic protocol: RECIST progression, TGR and Gao risk (rules.md §2, §4; clinical-evidence §9 Ex 3–4)."""

from __future__ import annotations

from datetime import date

import pytest

from tests.factories import builtin_protocol, history, lesion, metastatic_patient, scan
from tracker.domain.dates import months_between
from tracker.domain.measures import tgr_pct_per_month
from tracker.domain.model import Flag
from tracker.domain.rules import evaluate_flags

MET = builtin_protocol("pnet-metastatic-ww")


def flags(*records: object, as_of: str = "2030-01-01", **patient: object) -> list[Flag]:
    return evaluate_flags(history(metastatic_patient(**patient), *records), MET, as_of=date.fromisoformat(as_of))


def of(fs: list[Flag], rule_id: str) -> list[Flag]:
    return [f for f in fs if f.rule_id == rule_id]


def liver(when: str, *sizes: object, modality: str = "CT") -> object:
    return scan(when, *(lesion(f"L{i + 1}", s, site="liver") for i, s in enumerate(sizes)), modality=modality)


@pytest.mark.parametrize(("l1", "fires"), [("27.9", False), (28, True), ("28.1", True)])
def test_ex3_recist_progression_at_exactly_20_percent(l1: str, fires: bool) -> None:
    """Ex 3: baseline 45, nadir 40, now 48 mm is +20.0 % and +8 mm: recist.progression (exact); 47.9 is not."""
    fs = flags(liver("2025-01-10", 25, 20), liver("2025-04-10", 20, 20), liver("2025-07-10", l1, 20))
    assert bool(of(fs, "recist.progression")) is fires


def test_ex3_twenty_percent_without_five_mm_is_not_progression() -> None:
    """Ex 3: from a 20 mm nadir, 24 mm is +20 % but only +4 mm: no recist.progression."""
    assert not of(flags(liver("2025-01-10", 20), liver("2025-04-10", 24)), "recist.progression")


def test_recist_progression_cites_nadir_and_latest() -> None:
    """The progression flag cites the nadir scan and the latest scan and is dated at the latest."""
    (f,) = of(flags(liver("2025-01-10", 20), liver("2025-04-10", 25)), "recist.progression")
    assert f.evidence == ("scan:1", "scan:1/L1", "scan:2", "scan:2/L1") and f.date == date(2025, 4, 10)
    assert f.threshold == "≥ 20 % and ≥ 5 mm"


def test_new_lesion_is_progression() -> None:
    """Any new lesion after the RECIST baseline fires recist.progression, even with a stable sum."""
    fs = flags(liver("2025-01-10", 20), scan("2025-04-10", lesion("L1", 20, site="liver"),
                                             lesion("B1", 8, site="bone", new=True), modality="CT"))
    assert [f.evidence for f in of(fs, "recist.progression")] == [("scan:2/B1",)]


@pytest.mark.parametrize(("now", "fires"), [("31.9", False), (32, True)])
def test_ex4_tgr_needs_the_noise_floor(now: str, fires: bool) -> None:
    """Ex 4: a target sum rise under 2 mm never fires growth.tgr; exactly 2 mm at ≥ 0.8 %/month does."""
    assert bool(of(flags(liver("2025-01-10", 30), liver("2025-04-11", now)), "growth.tgr")) is fires


def test_ex4_tgr_ten_percent_per_month() -> None:
    """Ex 4: a sum of 30 → 33 mm in 3 months is a TGR of about 10 %/month: growth.tgr fires."""
    (f,) = of(flags(liver("2025-01-10", 30), liver("2025-04-11", 33)), "growth.tgr")
    expected = tgr_pct_per_month(30, 33, months_between(date(2025, 1, 10), date(2025, 4, 11)))
    assert expected == pytest.approx(10.0, abs=0.1) and f"{expected:.2f} %/month" in f.message


@pytest.mark.parametrize(("now", "fires"), [(30, False), ("30.2", False)])
def test_tgr_below_threshold_or_noise_does_not_fire(now: str, fires: bool) -> None:
    """30 → 30.2 mm (0.67 %/month, and within noise) does not fire growth.tgr."""
    assert bool(of(flags(liver("2025-01-10", 30), liver("2025-04-11", now)), "growth.tgr")) is fires


def test_tgr_slow_growth_above_noise_below_threshold() -> None:
    """A 2 mm rise on a 100 mm sum over a year is about 0.16 %/month, below 0.8: no growth.tgr."""
    assert not of(flags(liver("2025-01-10", 50, 50), liver("2026-01-10", 51, 51)), "growth.tgr")


@pytest.mark.parametrize(("size", "resected", "t_stage", "fires"), [
    ("5.0", True, "T2", False), ("5.1", True, "T2", True), ("5.0", False, None, True), ("5.0", True, "T3", True),
    ("5.0", True, None, False), ("5.0", True, "T4a", True),
])
def test_risk_gao_factors(size: str, resected: bool, t_stage: str | None, fires: bool) -> None:
    """risk.gao fires for a liver metastasis > 5 mm, an unresected primary or T3–T4; unknown T adds nothing."""
    fs = flags(scan("2025-01-10", lesion("L1", size, site="liver")), primary_resected=resected, t_stage=t_stage)
    assert bool(of(fs, "risk.gao")) is fires


def test_risk_gao_dated_at_latest_sizing_scan() -> None:
    """risk.gao is dated at the latest CT/MRI/EUS scan, not at a later PET."""
    fs = flags(liver("2025-01-10", 12), liver("2025-04-10", 12),
               scan("2025-05-01", lesion("L1", 12, site="liver"), modality="SSTR-PET"))
    (f,) = of(fs, "risk.gao")
    assert f.date == date(2025, 4, 10) and f.severity.value == "watch"


def test_tgr_not_evaluable_with_one_scan() -> None:
    """With a single RECIST scan the TGR is reported not evaluable (data.insufficient), never silently."""
    fs = flags(liver("2025-01-10", 30))
    assert any("Tumour growth rate not evaluable" in f.message for f in of(fs, "data.insufficient"))
