"""A lab result with a comparator (rules.md section 5, Markers): "< x" is below x and "> x" above
it. `< x` can end a rise and never start one; it does not enter a doubling-time fit."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.factories import builtin_protocol, history, lab, scan, with_rules
from tracker.domain.measures import marker_measures
from tracker.domain.model import Flag
from tracker.domain.rules import evaluate_flags
from tracker.domain.units import parse_lab_value
from tracker.errors import ValidationError

SMALL = builtin_protocol("pnet-small-nf")
DOUBLING = with_rules(SMALL, marker_doubling=True)


def flags(*records: object, protocol: object = SMALL) -> list[Flag]:
    return evaluate_flags(history(None, *records), protocol, as_of=date(2030, 1, 1))  # type: ignore[arg-type]


def rises(*records: object) -> bool:
    return any(f.rule_id == "marker.rise" for f in flags(*records))


def test_a_below_result_never_starts_a_rise() -> None:
    """CgA < 50 then 200 ng/mL: the size of the rise is unknown, so marker.rise does not fire."""
    assert not rises(lab("2025-01-10", 50, comparator="<"), lab("2025-04-10", 200))
    assert rises(lab("2025-01-10", 50), lab("2025-04-10", 200))  # the same numbers, exact, do fire


def test_a_below_result_ends_a_rise() -> None:
    """60, then 200 (a rise), then < 300: the latest is below 300, no rise is shown."""
    assert rises(lab("2025-01-10", 60), lab("2025-04-10", 200))
    assert not rises(lab("2025-01-10", 60), lab("2025-04-10", 200), lab("2025-07-10", 300, comparator="<"))
    assert not rises(lab("2025-01-10", 60), lab("2025-04-10", 200, comparator="<="))


def test_an_above_result_rises_at_least_as_much_as_its_number() -> None:
    """60 then > 150 ng/mL: +150 % at the least, above the 100 ng/mL floor: marker.rise fires and
    its message keeps the comparator; > 100 (at the floor, not above it) does not fire."""
    (f,) = [f for f in flags(lab("2025-01-10", 60), lab("2025-04-10", 150, comparator=">"))
            if f.rule_id == "marker.rise"]
    assert "to > 150 ng/mL" in f.message
    assert not rises(lab("2025-01-10", 60), lab("2025-04-10", 100, comparator=">="))


def test_an_above_result_never_starts_a_rise() -> None:
    """> 60 then 200: how much it rose is unknown."""
    assert not rises(lab("2025-01-10", 60, comparator=">"), lab("2025-04-10", 200))


SERIES = (("2025-01-10", 60), ("2025-04-11", 70), ("2025-07-11", 110), ("2025-10-10", 170))


def test_a_below_result_does_not_enter_the_doubling_fit() -> None:
    """Ex 5's four results double in 5.8 months; a fifth result '< 5' in between is left out of
    the fit (same doubling time), and the flag cites only the four it was fitted to."""
    exact = [lab(d, v) for d, v in SERIES]
    with_below = [*exact[:2], lab("2025-05-20", 5, comparator="<"), *exact[2:]]
    (a,) = marker_measures(history(None, *exact))
    (b,) = marker_measures(history(None, *with_below))
    assert a.doubling_months == b.doubling_months
    assert "lab:3" not in b.fitted and len(b.fitted) == 4
    (f,) = [f for f in flags(*with_below, protocol=DOUBLING) if f.rule_id == "marker.doubling"]
    assert "lab:3" not in f.evidence and "fit of 4 results" in f.message


def test_a_latest_below_result_ends_a_doubling() -> None:
    """The same series ending with '< 50': no doubling time, and it says why."""
    records = [*(lab(d, v) for d, v in SERIES), lab("2026-01-10", 50, comparator="<")]
    (m,) = marker_measures(history(None, *records))
    assert m.doubling_months is None and "latest result is < 50 ng/mL" in m.not_evaluable[0]
    assert not [f for f in flags(*records, protocol=DOUBLING) if f.rule_id == "marker.doubling"]


@pytest.mark.parametrize(("comparator", "value", "above"), [
    ("", "20", False), ("", "20.1", True), (">", "20", True), (">=", "20", False), (">=", "20.1", True),
    ("<", "30", False), ("<=", "10", False),
])
def test_above_the_upper_limit_only_when_certainly_so(comparator: str, value: str, above: bool) -> None:
    """Bilirubin with its upper limit 20 µmol/L and a dilated bile duct: bile.obstruction fires
    only when the result is certainly above 20 ('> 20' is; '>= 20' and '< 30' are not)."""
    bili = lab("2025-04-10", value, analyte="bilirubin", unit="umol/L", uln=20, comparator=comparator)
    fs = flags(scan("2025-04-12", cbd=12), bili)
    assert any(f.rule_id == "bile.obstruction" for f in fs) is above


@pytest.mark.parametrize(("text", "parsed"), [
    ("64", ("", "64")), ("<5", ("<", "5")), ("< 5", ("<", "5")), ("<=0.5", ("<=", "0.5")),
    (">1000", (">", "1000")), ("≥ 7", (">=", "7")), ("≤7", ("<=", "7")),
])
def test_a_typed_value_keeps_its_comparator(text: str, parsed: tuple[str, str]) -> None:
    comparator, number = parse_lab_value(text)
    assert (comparator, number) == (parsed[0], Decimal(parsed[1]))


@pytest.mark.parametrize("text", ["<", "< five", "<<5", "5<"])
def test_a_comparator_without_a_number_is_refused(text: str) -> None:
    with pytest.raises(ValidationError):
        parse_lab_value(text)


@given(st.decimals(min_value=1, max_value=10_000, places=1), st.decimals(min_value=1, max_value=10_000, places=1))
def test_a_below_result_never_fires_a_rise_whatever_the_numbers(prev: Decimal, cur: Decimal) -> None:
    """Property: a pair with a '<' result on either side never fires marker.rise."""
    assert not rises(lab("2025-01-10", prev, comparator="<"), lab("2025-04-10", cur))
    assert not rises(lab("2025-01-10", prev), lab("2025-04-10", cur, comparator="<"))
