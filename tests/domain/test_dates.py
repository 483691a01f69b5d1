"""Calendar-month arithmetic (rules.md: month-end clipping) against python-dateutil's
`relativedelta`, the oracle the domain's own faster code must agree with."""

from __future__ import annotations

from datetime import date

import pytest
from dateutil.relativedelta import relativedelta
from hypothesis import given
from hypothesis import strategies as st

from tracker.domain.dates import add_months, calendar_months_between, parse_date
from tracker.errors import ValidationError

_dates = st.dates(min_value=date(1900, 1, 1), max_value=date(2200, 12, 31))


def test_month_end_is_clipped() -> None:
    assert add_months(date(2025, 8, 31), 6) == date(2026, 2, 28)
    assert add_months(date(2024, 1, 31), 1) == date(2024, 2, 29)
    assert calendar_months_between(date(2025, 1, 31), date(2025, 2, 28)) == 1
    assert calendar_months_between(date(2025, 1, 31), date(2025, 2, 27)) == 0


@given(d=_dates, months=st.integers(min_value=-1200, max_value=1200))
def test_add_months_is_relativedelta(d: date, months: int) -> None:
    assert add_months(d, months) == d + relativedelta(months=months)


@given(start=_dates, d=_dates)
def test_calendar_months_between_counts_a_month_once_add_months_reaches_it(start: date, d: date) -> None:
    n = calendar_months_between(start, d)
    if d >= start:  # the whole months reached: start + n months ≤ d < start + (n + 1) months
        assert start + relativedelta(months=n) <= d < start + relativedelta(months=n + 1)
    else:  # earlier: relativedelta's months, counted toward zero
        rd = relativedelta(d, start)
        assert n == rd.years * 12 + rd.months


@pytest.mark.parametrize(("typed", "says"), [
    ("2025-02-30", "'2025-02-30' is not a date that exists; use YYYY-MM-DD, for example 2025-12-31"),
    ("2026-13-01", "'2026-13-01' is not a date that exists; use YYYY-MM-DD, for example 2025-12-31"),
    ("31/12/2025", "'31/12/2025' is not written year-month-day; use YYYY-MM-DD, for example 2025-12-31"),
    ("12/03/2025", "'12/03/2025' is not written year-month-day; use YYYY-MM-DD, for example 2025-12-31"),
    ("20251231", "'20251231' is not written year-month-day; use YYYY-MM-DD, for example 2025-12-31"),
])
def test_a_refused_date_says_whether_the_form_or_the_date_is_wrong(typed: str, says: str) -> None:
    """A real date in another order (31/12/2025) is not called a date that does not exist."""
    with pytest.raises(ValidationError) as e:
        parse_date(typed, "the date")
    assert says in str(e.value)
