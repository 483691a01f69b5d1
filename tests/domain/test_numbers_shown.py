"""Numbers a clinician reads: a value on the near side of a threshold is never printed as the threshold."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tracker.domain.measures import near, pct_text


@pytest.mark.parametrize(("value", "text"), [
    (Decimal("19.95"), "+19.95 %"), (Decimal(20), "+20.0 %"), (Decimal("20.04"), "+20.04 %"),
    (Decimal("19.94"), "+19.9 %"), (Decimal("-29.96"), "-29.96 %"), (Decimal(0), "0.0 %"),
])
def test_a_percentage_under_twenty_never_reads_twenty(value: Decimal, text: str) -> None:
    assert pct_text(value, Decimal(20) if value >= 0 else Decimal(30)) == text


def test_a_rate_just_under_five_mm_per_year_keeps_its_decimals() -> None:
    assert near(4.996, [5], 2) == "4.996" and near(4.994, [5], 2) == "4.99"


@given(st.decimals(min_value=-1000, max_value=1000, places=6), st.decimals(min_value=-100, max_value=100, places=3))
def test_the_printed_value_is_on_the_same_side_of_the_threshold(value: Decimal, threshold: Decimal) -> None:
    shown = Decimal(near(value, [threshold]))
    assert (shown > threshold) == (value > threshold) and (shown == threshold) == (value == threshold)
