"""The state cache's premise: a rule reads nothing of the as-of date beyond the history cut.

Flags as of a date are a function of the records dated up to it alone: evaluated on the cut
history at any later date, every rule of every protocol (all switched on, thresholds low) gives
the same flags. One cached evaluation therefore serves every later date.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date, timedelta
from functools import cache

from hypothesis import given, settings
from hypothesis import strategies as st

from tests.domain.test_golden_cohort import cohort_histories, load_protocols
from tracker.domain.model import PatientHistory
from tracker.domain.rules import evaluate_flags


@cache
def staying() -> tuple[PatientHistory, ...]:
    """A synthetic cohort, none of whom has left (leaving is the one dated event the date decides)."""
    return tuple(replace(h, patient=replace(h.patient, left_on=None, leave_reason=None))
                 for h in cohort_histories(40, seed=7))


@settings(max_examples=120, deadline=None)
@given(st.integers(0, 39), st.integers(0, 12 * 366), st.integers(1, 5 * 366))
def test_flags_depend_on_the_history_cut_alone(index: int, cut_days: int, later_days: int) -> None:
    h = staying()[index]
    protocol = load_protocols(strict=True)[h.patient.protocol_id]
    cut = h.patient.protocol_start - timedelta(days=366) + timedelta(days=cut_days)
    later = cut + timedelta(days=later_days)
    assert evaluate_flags(h, protocol, as_of=cut) == evaluate_flags(h.up_to(cut), protocol, as_of=later)


def test_the_latest_record_date_is_a_cut_too() -> None:
    """Past the latest record, the flags of every patient are the same on any later date."""
    for h in staying()[:10]:
        protocol = load_protocols(strict=True)[h.patient.protocol_id]
        last = max(r.date for rs in (h.visits, h.labs, h.scans, h.pathology) for r in rs)
        assert evaluate_flags(h, protocol, as_of=last) == evaluate_flags(h, protocol, as_of=date(2099, 1, 1))
