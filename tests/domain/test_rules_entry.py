"""`data.implausible` and unconfirmed values as rules.md §5 says: a stored value that looks like an
entry error, while its record is not verified, is a watch flag ("check this entry") that never
brings imaging forward; every flag resting on it says so and lists it in `unconfirmed`."""

from __future__ import annotations

from dataclasses import replace
from datetime import date
from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from tests.factories import builtin_protocol, history, lab, lesion, scan
from tracker.domain.model import Flag, Provenance, Severity
from tracker.domain.rules import evaluate_flags
from tracker.domain.schedule import compute_schedule
from tracker.domain.units import SIZE_JUMP_FACTOR, is_size_jump

SMALL = builtin_protocol("pnet-small-nf")
AS_OF = date(2025, 12, 1)
CHECKED = Provenance(verified=True)


def of(fs: list[Flag], rule_id: str) -> list[Flag]:
    return [f for f in fs if f.rule_id == rule_id]


def _jump(*, verified: bool = False):  # type: ignore[no-untyped-def]
    """12 mm, then 1.4 mm typed for 1.4 cm (the second scan verified or not)."""
    later = scan("2025-09-10", lesion("P1", "1.4"))
    return history(None, scan("2025-03-10", lesion("P1", 12)),
                   replace(later, provenance=CHECKED) if verified else later)


def test_a_jump_of_an_unverified_size_is_a_watch_flag_naming_both_scans() -> None:
    (f,) = of(evaluate_flags(_jump(), SMALL, as_of=AS_OF), "data.implausible")
    assert f.severity is Severity.WATCH and f.evidence == ("scan:1/P1", "scan:2/P1")
    assert f.unconfirmed == ("scan:1/P1", "scan:2/P1")
    assert f.message.startswith("Lesion P1 went from 12 mm (MRI, 2025-03-10) to 1.4 mm (MRI, 2025-09-10)")
    assert "Check this entry against its report, then verify or amend it." in f.message
    assert "imaging forward" not in f.message


def test_verified_sizes_are_not_flagged() -> None:
    """Verifying the records clears the flag (both records of the jump checked)."""
    h = _jump(verified=True)
    h = replace(h, scans=(replace(h.scans[0], provenance=CHECKED), h.scans[1]))
    assert not of(evaluate_flags(h, SMALL, as_of=AS_OF), "data.implausible")


def test_a_lab_value_outside_its_plausible_range_is_flagged_until_verified() -> None:
    h = history(None, lab("2025-03-10", 80), lab("2025-09-10", 5_000_000))
    (f,) = of(evaluate_flags(h, SMALL, as_of=AS_OF), "data.implausible")
    assert f.evidence == ("lab:2",) and f.unconfirmed == ("lab:2",) and f.threshold == "0–200000 ng/mL"
    assert "chromogranin A 5000000 ng/mL of 2025-09-10 is outside what this test gives" in f.message
    rises = of(evaluate_flags(h, SMALL, as_of=AS_OF), "marker.rise")
    assert rises and all(x.unconfirmed == ("lab:2",) and "Depends on an unconfirmed value: lab 2, chromogranin A "
                                                          "5000000 ng/mL" in x.message for x in rises)
    checked = replace(h, labs=(h.labs[0], replace(h.labs[1], provenance=CHECKED)))
    flags = evaluate_flags(checked, SMALL, as_of=AS_OF)
    assert not of(flags, "data.implausible") and all(not x.unconfirmed for x in flags)


def test_a_value_inside_the_range_is_never_flagged() -> None:
    h = history(None, lab("2025-03-10", 80), lab("2025-09-10", 200_000))
    assert not of(evaluate_flags(h, SMALL, as_of=AS_OF), "data.implausible")


def test_a_flag_resting_on_an_unconfirmed_size_says_so_and_other_flags_do_not() -> None:
    """120 mm typed for 12: the size flag still fires (never suppress a possible action) but says
    it depends on the unconfirmed value."""
    h = history(None, scan("2025-03-10", lesion("P1", 12)), scan("2025-09-10", lesion("P1", 120)),
                lab("2025-09-10", 80))
    flags = evaluate_flags(h, SMALL, as_of=AS_OF)
    (size,) = of(flags, "size.threshold")
    assert size.severity is Severity.ACTION and "scan:2/P1" in size.unconfirmed
    assert "Depends on an unconfirmed value: scan 2, P1 120 mm" in size.message
    assert size.message.index("Depends on") < size.message.index("Source:")
    assert all(not f.unconfirmed for f in flags if not {*f.evidence} & {"scan:1/P1", "scan:2/P1", "scan:2"})


def test_data_implausible_never_brings_imaging_forward() -> None:
    """A watch flag brings the next imaging forward; the entry check does not."""
    h = _jump()
    flags = evaluate_flags(h, SMALL, as_of=AS_OF)
    implausible = of(flags, "data.implausible")
    assert implausible
    with_check = {i.kind: i for i in compute_schedule(h, SMALL, implausible, as_of=AS_OF)}
    without = {i.kind: i for i in compute_schedule(h, SMALL, [], as_of=AS_OF)}
    assert with_check == without


@given(st.decimals(min_value=Decimal("0.1"), max_value=200, places=1),
       st.decimals(min_value=Decimal("0.1"), max_value=200, places=1))
def test_a_size_jump_is_symmetric_and_starts_at_five_times(a: Decimal, b: Decimal) -> None:
    assert is_size_jump(a, b) is is_size_jump(b, a)
    assert is_size_jump(a, b) is (max(a, b) >= SIZE_JUMP_FACTOR * min(a, b))
    assert is_size_jump(a, a * SIZE_JUMP_FACTOR) and not is_size_jump(a, a * SIZE_JUMP_FACTOR - Decimal("0.01"))
