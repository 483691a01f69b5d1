"""Growth rules of the small-tumour protocol (rules.md §2; clinical-evidence §3.1–3.4, §9)."""

from __future__ import annotations

from datetime import date

import pytest

from tests.factories import builtin_protocol, history, lesion, scan
from tracker.domain.model import Flag
from tracker.domain.rules import evaluate_flags

SMALL = builtin_protocol("pnet-small-nf")


def flags(*records: object, as_of: str = "2030-01-01") -> list[Flag]:
    return evaluate_flags(history(None, *records), SMALL, as_of=date.fromisoformat(as_of))


def ids(fs: list[Flag]) -> set[str]:
    return {f.rule_id for f in fs}


EX1 = (scan("2025-01-10", lesion("P1", 12)), scan("2025-07-10", lesion("P1", 14)),
       scan("2026-01-08", lesion("P1", 17)))


def test_ex1_at_12_months_fires_absolute_rate_and_relative() -> None:
    """Ex 1 at 12 months: growth.absolute (exactly 5 mm), growth.rate and growth.relative fire; size does not."""
    fs = flags(*EX1, as_of="2026-01-08")
    assert {"growth.absolute", "growth.rate", "growth.relative"} <= ids(fs)
    assert "size.threshold" not in ids(fs)
    absolute = next(f for f in fs if f.rule_id == "growth.absolute")
    assert absolute.evidence == ("scan:1/P1", "scan:3/P1") and absolute.date == date(2026, 1, 8)
    assert absolute.threshold == "≥ 5 mm" and "12 mm (MRI, 2025-01-10)" in absolute.message
    assert absolute.rule_version == "1.0/pnet-small-nf@1.0" and absolute.patient == "SYN-001"
    assert "treat" not in absolute.message.lower() and "Discuss" in absolute.message


def test_ex1_at_6_months_fires_no_action_flag() -> None:
    """Ex 1 at 6 months (+2 mm, +16.7 %): no action flag, and the rate is reported not evaluable."""
    fs = flags(*EX1, as_of="2025-07-10")
    assert not [f for f in fs if f.severity.value == "action"]
    assert ids(fs) == {"data.insufficient"}


@pytest.mark.parametrize(("size", "fires"), [("19.9", False), ("20.0", False), ("20.1", True)])
def test_size_threshold_is_strictly_above_20_mm(size: str, fires: bool) -> None:
    """A pancreatic lesion fires size.threshold above 20 mm only (20.0 does not)."""
    assert ("size.threshold" in ids(flags(scan("2025-01-10", lesion("P1", size))))) is fires


@pytest.mark.parametrize(("size", "fires"), [("16.9", False), ("17.0", True), ("17.1", True)])
def test_growth_absolute_at_5_mm_over_nadir(size: str, fires: bool) -> None:
    """A lesion 5.0 mm over its nadir fires growth.absolute (≥, exact); 4.9 mm does not."""
    fs = flags(scan("2025-01-10", lesion("P1", 12)), scan("2025-07-10", lesion("P1", size)))
    assert ("growth.absolute" in ids(fs)) is fires


def test_growth_absolute_uses_the_nadir_not_the_baseline() -> None:
    """Growth is measured from the smallest earlier size: 14 → 10 → 15 is +5 mm over the nadir."""
    fs = flags(scan("2025-01-10", lesion("P1", 14)), scan("2025-07-10", lesion("P1", 10)),
               scan("2026-01-10", lesion("P1", 15)))
    f = next(f for f in fs if f.rule_id == "growth.absolute")
    assert f.evidence == ("scan:2/P1", "scan:3/P1")


@pytest.mark.parametrize(("size", "fires"), [("47.9", False), ("48", True), ("48.1", True)])
def test_growth_relative_exact_at_20_percent(size: str, fires: bool) -> None:
    """40 → 48 mm is exactly +20 % and fires growth.relative (no float trap); 47.9 mm (+19.75 %) does not."""
    fs = flags(scan("2025-01-10", lesion("P1", 40)), scan("2025-07-10", lesion("P1", size)))
    assert ("growth.relative" in ids(fs)) is fires


@pytest.mark.parametrize(("size", "fires"), [("9.9", False), ("10.0", True), ("10.1", True)])
def test_growth_relative_needs_the_noise_floor(size: str, fires: bool) -> None:
    """8 → 9.9 mm (+24 % but 1.9 mm) does not fire growth.relative; 8 → 10 mm (+25 %, 2.0 mm) does."""
    fs = flags(scan("2025-01-10", lesion("P1", 8)), scan("2025-07-10", lesion("P1", size)))
    assert ("growth.relative" in ids(fs)) is fires


def test_growth_relative_below_noise_floor_does_not_fire() -> None:
    """5 → 6.5 mm is +30 % but only 1.5 mm, under the 2 mm noise floor: no growth.relative."""
    fs = flags(scan("2025-01-10", lesion("P1", 5)), scan("2025-07-10", lesion("P1", "6.5")))
    assert "growth.relative" not in ids(fs) and "data.within_noise" in ids(fs)


@pytest.mark.parametrize(("mid", "last", "fires"), [("29.6", "49.2", False), (30, 50, True), ("30.4", "50.8", True)])
def test_growth_rate_boundary_at_5_mm_per_year(mid: str, last: str, fires: bool) -> None:
    """A least-squares slope of exactly 5.0 mm/year fires growth.rate; 4.9 does not (exact arithmetic)."""
    fs = flags(scan("2020-01-01", lesion("P1", 10)), scan("2024-01-01", lesion("P1", mid)),
               scan("2028-01-01", lesion("P1", last)))
    assert ("growth.rate" in ids(fs)) is fires


def test_growth_rate_needs_six_calendar_months() -> None:
    """Three scans spanning less than 6 calendar months give data.insufficient, not growth.rate."""
    fs = flags(scan("2025-01-10", lesion("P1", 10)), scan("2025-03-10", lesion("P1", 12)),
               scan("2025-07-09", lesion("P1", 14)))
    assert "growth.rate" not in ids(fs)
    assert any("span less than 6 months" in f.message for f in fs if f.rule_id == "data.insufficient")


def test_growth_rules_skip_nodes_and_distant_lesions() -> None:
    """Nodes and liver lesions are not subject to the pancreatic growth rules."""
    fs = flags(scan("2025-01-10", lesion("N1", 30, site="regional_node", short_axis=5), lesion("L1", 12, site="liver")),
               scan("2025-07-10", lesion("N1", 30, site="regional_node", short_axis=9), lesion("L1", 30, site="liver")))
    assert not ids(fs) & {"growth.absolute", "growth.relative", "size.threshold"}


def test_pet_size_is_not_used_for_growth() -> None:
    """A large PET size does not fire growth or size rules."""
    fs = flags(scan("2025-01-10", lesion("P1", 12)), scan("2025-07-10", lesion("P1", 25), modality="SSTR-PET"))
    assert not ids(fs) & {"growth.absolute", "growth.relative", "size.threshold"}


def test_cross_modality_growth_adds_modality_change() -> None:
    """Growth compared across EUS and MRI fires and is marked by data.modality_change."""
    fs = flags(scan("2025-01-10", lesion("P1", 12), modality="EUS"), scan("2025-07-10", lesion("P1", 17)))
    assert {"growth.absolute", "data.modality_change"} <= ids(fs)
    change = next(f for f in fs if f.rule_id == "data.modality_change")
    assert change.evidence == ("scan:1/P1", "scan:2/P1") and change.severity.value == "info"


def test_growth_rules_off_on_metastatic_protocol() -> None:
    """The metastatic protocol does not run the small-tumour growth rules."""
    h = history(None, *EX1)
    fs = evaluate_flags(h, builtin_protocol("pnet-metastatic-ww"), as_of=date(2026, 1, 8))
    assert not ids(fs) & {"growth.absolute", "growth.relative", "growth.rate", "size.threshold"}
