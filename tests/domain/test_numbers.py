"""A number without trailing zeros (domain.units.without_trailing_zeros): the same value, written
the shortest exact way, as every reader of numbers (import, entry, sizes) stores it and every
writer (reports, plots) shows it."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tracker.domain.measures import fmt
from tracker.domain.units import without_trailing_zeros

_decimals = st.decimals(allow_nan=False, allow_infinity=False, min_value=-10**12, max_value=10**12, places=6)


@pytest.mark.parametrize(("given_", "expected"), [
    ("12.50", "12.5"), ("1E+2", "100"), ("100.000", "100"), ("0.0", "0"), ("-0", "0"), ("1E-9", "1E-9"),
    ("7", "7"), ("0.80", "0.8"),
])
def test_trailing_zeros_go_and_the_value_stays(given_: str, expected: str) -> None:
    got = without_trailing_zeros(Decimal(given_))
    assert str(got).lstrip("-") == expected and got == Decimal(given_)


@given(d=_decimals)
def test_the_value_is_kept_and_no_zero_trails(d: Decimal) -> None:
    got = without_trailing_zeros(d)
    assert got == d
    _, digits, exponent = got.as_tuple()
    assert isinstance(exponent, int)
    if got == got.to_integral_value():
        assert exponent == 0  # an integer is written as one: 100, not 1E+2
    else:
        assert exponent < 0 and digits[-1] != 0


@given(d=_decimals)
def test_fmt_writes_the_same_number_without_an_exponent(d: Decimal) -> None:
    text = fmt(d)
    assert Decimal(text) == d and "E" not in text and not (("." in text) and text.endswith("0"))
