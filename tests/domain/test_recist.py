"""RECIST 1.1 in the metastatic protocol: the rule book of `tracker.domain.recist`.

Each test reads as one line of RECIST 1.1 (Eisenhauer 2009) as the protocol settles it.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from tests.factories import builtin_protocol, history, lesion, metastatic_patient, scan
from tracker.domain.model import Flag
from tracker.domain.recist import RecistPoint, recist_series
from tracker.domain.rules import evaluate_flags

MET = builtin_protocol("pnet-metastatic-ww")


def series(*records: object) -> list[RecistPoint]:
    return recist_series(history(metastatic_patient(), *records), MET)


def flags(*records: object) -> list[Flag]:
    return evaluate_flags(history(metastatic_patient(), *records), MET, as_of=date(2030, 1, 1))


def rule(fs: list[Flag], rule_id: str) -> list[Flag]:
    return [f for f in fs if f.rule_id == rule_id]


def ct(when: str, *lesions: object, modality: str = "CT") -> object:
    return scan(when, *lesions, modality=modality)  # type: ignore[arg-type]


def liver(name: str, mm: object) -> object:
    return lesion(name, mm, site="liver")


def node(name: str, short_axis: object) -> object:
    return lesion(name, None, site="regional_node", short_axis=short_axis)


# --------------------------------------------------------------------------- a target not measured


def test_missing_target_with_measured_targets_at_progression_is_pd_and_fires() -> None:
    """A target not measured, while the measured ones already meet PD, is PD: L1 30 -> 70 mm with L2
    missing fires recist.progression (not only data.insufficient)."""
    records = (ct("2025-01-10", liver("L1", 30), liver("L2", 20)), ct("2025-04-10", liver("L1", 70)))
    last = series(*records)[-1]
    assert (last.response, last.sum_mm, last.measured_mm, last.missing) == ("PD", None, Decimal(70), ("L2",))
    (f,) = rule(flags(*records), "recist.progression")
    assert f.severity.value == "action" and "L2 not measured" in f.message and "+40.0 %" in f.message


@pytest.mark.parametrize(("l1", "response"), [("29.9", "NE"), ("30", "PD"), ("30.1", "PD")])
def test_missing_target_at_exactly_1_2_times_nadir_and_nadir_plus_5_mm(l1: str, response: str) -> None:
    """Nadir 25 mm (L1 15 + L2 10): 1.2 × 25 = 25 + 5 = 30 mm. The measured L1 alone at exactly 30 mm
    is PD; at 29.9 mm the time point is not evaluable."""
    records = (ct("2025-01-10", liver("L1", 15), liver("L2", 10)), ct("2025-04-10", liver("L1", l1)))
    assert series(*records)[-1].response == response
    assert bool(rule(flags(*records), "recist.progression")) is (response == "PD")


def test_missing_target_at_1_2_times_nadir_but_under_nadir_plus_5_mm_is_not_evaluable() -> None:
    """Nadir 20 mm: the measured 24 mm is 1.2 × nadir but only +4 mm: NE, no flag."""
    records = (ct("2025-01-10", liver("L1", 10), liver("L2", 10)), ct("2025-04-10", liver("L1", 24)))
    assert series(*records)[-1].response == "NE"
    assert not rule(flags(*records), "recist.progression")


def test_a_not_evaluable_time_point_never_becomes_the_nadir() -> None:
    """50 mm, then L1 10 mm with L2 missing (NE), then 50 mm again: SD against the nadir 50, not PD
    against the measured 10 mm."""
    pts = series(ct("2025-01-10", liver("L1", 30), liver("L2", 20)), ct("2025-04-10", liver("L1", 10)),
                 ct("2025-07-10", liver("L1", 30), liver("L2", 20)))
    assert [p.response for p in pts] == ["baseline", "NE", "SD"] and pts[-1].nadir_mm == 50


# --------------------------------------------------------------------------- only CT and MRI


def test_an_eus_first_scan_is_not_the_baseline_nor_the_nadir() -> None:
    """EUS 25 mm, then CT 29, then CT 30: the baseline is the CT of 29 mm; 30 mm is SD, no PD."""
    records = (ct("2025-01-10", liver("L1", 25), modality="EUS"), ct("2025-04-10", liver("L1", 29)),
               ct("2025-07-10", liver("L1", 30)))
    pts = series(*records)
    assert [(p.date.isoformat(), p.response) for p in pts] == [("2025-04-10", "baseline"), ("2025-07-10", "SD")]
    assert pts[0].baseline_ref == "scan:2" and not rule(flags(*records), "recist.progression")


@pytest.mark.parametrize("modality", ["EUS", "US", "SSTR-PET"])
def test_eus_ultrasound_and_pet_sizes_never_enter_a_target_sum(modality: str) -> None:
    """Only CT and MRI scans are RECIST time points."""
    pts = series(ct("2025-01-10", liver("L1", 30)), ct("2025-02-10", liver("L1", 60), modality=modality),
                 ct("2025-04-10", liver("L1", 31)))
    assert [p.modality.value for p in pts] == ["CT", "CT"]


def test_mri_is_a_recist_time_point() -> None:
    assert [p.response for p in series(ct("2025-01-10", liver("L1", 30)),
                                       ct("2025-04-10", liver("L1", 36), modality="MRI"))] == ["baseline", "PD"]


# --------------------------------------------------------------------------- nodes, CR, PR, SD


def test_target_nodes_are_ranked_and_summed_by_short_axis() -> None:
    """A node of 40 mm long axis but 15 mm short axis ranks below a 20 mm liver lesion; its short
    axis enters the sum."""
    n1 = lesion("N1", 40, site="regional_node", short_axis=15)
    (base,) = series(ct("2025-01-10", n1, liver("L1", 20)))
    assert base.targets == ("L1", "N1") and base.sum_mm == 35


@pytest.mark.parametrize(("short_axis", "response"), [("9.9", "CR"), ("10.0", "PR"), ("10.1", "PR")])
def test_cr_needs_every_target_node_under_10_mm_short_axis(short_axis: str, response: str) -> None:
    """A target node going 16 -> 9.9 mm is CR (normal node); at exactly 10.0 mm it is not normal:
    PR (10 ≤ 0.7 × 16)."""
    pts = series(ct("2025-01-10", node("N1", 16)), ct("2025-04-10", node("N1", short_axis)))
    assert pts[-1].response == response


def test_a_node_from_16_to_8_mm_with_a_disappeared_liver_target_is_cr() -> None:
    """CR: every non-nodal target 0 mm (recorded as 0: disappeared) and every target node < 10 mm,
    though the sum is 8 mm, not 0."""
    pts = series(ct("2025-01-10", node("N1", 16), liver("L1", 20)), ct("2025-04-10", node("N1", 8), liver("L1", 0)))
    assert (pts[-1].response, pts[-1].sum_mm) == ("CR", 8)


def test_a_non_nodal_target_above_0_mm_is_not_cr() -> None:
    pts = series(ct("2025-01-10", node("N1", 16), liver("L1", 20)), ct("2025-04-10", node("N1", 8), liver("L1", 1)))
    assert pts[-1].response == "PR"


@pytest.mark.parametrize(("now", "response"), [(70, "PR"), ("70.1", "SD")])
def test_pr_is_a_sum_at_most_70_percent_of_baseline(now: object, response: str) -> None:
    assert series(ct("2025-01-10", liver("L1", 50), liver("L2", 50)),
                  ct("2025-04-10", liver("L1", now), liver("L2", 0)))[-1].response == response


def test_a_pr_that_regrows_without_reaching_pd_reads_sd() -> None:
    """RECIST 1.1 table 1 literally: 100 -> 60 (PR) -> 71 mm (+18 % from the nadir) is SD."""
    pts = series(ct("2025-01-10", liver("L1", 100)), ct("2025-04-10", liver("L1", 60)),
                 ct("2025-07-10", liver("L1", 71)))
    assert [p.response for p in pts] == ["baseline", "PR", "SD"]


# --------------------------------------------------------------------------- bone and new lesions


def test_bone_lesions_are_never_targets() -> None:
    """A 30 mm bone lesion at baseline is not a target; the 20 mm liver lesion is."""
    (base,) = series(ct("2025-01-10", lesion("B1", 30, site="bone"), liver("L1", 20)))
    assert base.targets == ("L1",) and base.sum_mm == 20


def test_a_new_bone_lesion_is_progression() -> None:
    records = (ct("2025-01-10", liver("L1", 20)),
               ct("2025-04-10", liver("L1", 20), lesion("B2", 8, site="bone", new=True)))
    assert series(*records)[-1].response == "PD"
    assert [f.evidence for f in rule(flags(*records), "recist.progression")] == [("scan:2/B2",)]


def test_no_measurable_disease_still_gives_a_point_per_scan_and_a_new_lesion_is_pd() -> None:
    """Baseline with only a 12 mm node (not measurable) and a bone lesion: no target, no sum; a
    new liver lesion later reads PD and fires recist.progression."""
    records = (ct("2025-01-10", node("N1", 12), lesion("B1", 30, site="bone")),
               ct("2025-04-10", node("N1", 12)),
               ct("2025-07-10", node("N1", 12), lesion("L9", 11, site="liver", new=True)))
    pts = series(*records)
    assert [(p.response, p.sum_mm, p.targets) for p in pts] == [
        ("baseline", None, ()), ("no target", None, ()), ("PD", None, ())]
    assert [f.evidence for f in rule(flags(*records), "recist.progression")] == [("scan:3/L9",)]


def test_percent_changes_from_baseline_and_nadir_are_exact() -> None:
    pts = series(ct("2025-01-10", liver("L1", 40)), ct("2025-04-10", liver("L1", 30)),
                 ct("2025-07-10", liver("L1", 36)))
    assert pts[-1].pct_from_baseline == -10 and pts[-1].pct_from_nadir == 20 and pts[-1].response == "PD"
