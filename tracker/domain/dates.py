"""Date arithmetic with the two month conventions of the rule book.

- Scheduling counts calendar months with month-end clipping, as python-dateutil's
  `relativedelta(months=n)` does (computed here directly, which is much faster):
  2025-08-31 plus 6 months is 2026-02-28.
- Growth arithmetic counts months as days × 12 / 365.25 (Ferté's TGR code).
"""

from __future__ import annotations

from calendar import monthrange
from datetime import date, timedelta

from tracker.errors import ValidationError
from tracker.text import quoted

DAYS_PER_YEAR = 365.25


def add_months(d: date, months: int) -> date:
    """`d` plus whole calendar months, clipped to the month's last day."""
    year, month0 = divmod(d.year * 12 + d.month - 1 + months, 12)
    if not 1 <= year <= 9999:
        # Beyond the calendar: clip, so that a far date never crashes a worklist. Entry checks
        # keep real data within FUTURE_LIMIT_DAYS of today.
        return date.max if year > 9999 else date.min
    day = d.day
    if day > 28:
        day = min(day, monthrange(year, month0 + 1)[1])
    return d.replace(year=year, month=month0 + 1, day=day)


def calendar_months_between(start: date, d: date) -> int:
    """Whole calendar months from `start` to `d` (negative when `d` is earlier).

    A month counts once its day is reached: from 2025-01-31, 2025-02-28 is 1 month, as
    `add_months(start, 1)` gives 2025-02-28."""
    months = _whole_months(start, d)
    # relativedelta(2025-02-28, 2025-01-31) is 0 months 28 days; add_months clips, so align.
    if d >= start and add_months(start, months + 1) <= d:
        months += 1
    return months


def _whole_months(start: date, d: date) -> int:
    """The months of `relativedelta(d, start)` (years × 12 + months): the calendar month
    difference, moved toward zero until `add_months(start, months)` does not pass `d`."""
    months = (d.year - start.year) * 12 + d.month - start.month
    if d < start:
        while d > add_months(start, months):
            months += 1
    else:
        while d < add_months(start, months):
            months -= 1
    return months


def months_between(d0: date, d1: date) -> float:
    """Months from d0 to d1 for growth arithmetic: days × 12 / 365.25."""
    return (d1 - d0).days * 12 / DAYS_PER_YEAR


def years_between(d0: date, d1: date) -> float:
    """Years from d0 to d1: days / 365.25."""
    return (d1 - d0).days / DAYS_PER_YEAR


def add_days(d: date, days: int) -> date:
    """`d` plus `days`, clipped to the calendar's ends instead of overflowing."""
    try:
        return d + timedelta(days=days)
    except OverflowError:
        return date.max if days > 0 else date.min


def parse_iso_date(text: str) -> date:
    """A date written exactly YYYY-MM-DD (ValueError otherwise): `date.fromisoformat` alone would
    also take the compact 20260131 or week dates, which a person never meant."""
    t = text.strip()
    if len(t) != 10 or t[4] != "-" or t[7] != "-" or not (t[:4] + t[5:7] + t[8:]).isdigit():
        raise ValueError(f"{quoted(text)} is not YYYY-MM-DD")
    return date.fromisoformat(t)


def parse_date(text: str, what: str) -> date:
    """A date a person typed, as YYYY-MM-DD: the one parser of every command and form, refusing
    with one sentence; `what` names the thing in the error ("the date", "--as-of")."""
    try:
        return parse_iso_date(text)
    except ValueError:
        t = text.strip()
        written = len(t) == 10 and t[4] == "-" and t[7] == "-" and (t[:4] + t[5:7] + t[8:]).isdigit()
        # 31/12/2025 is a real date in another order: say it is the form, not the date, that is wrong
        problem = "is not a date that exists" if written else "is not written year-month-day"
        raise ValidationError(f"{quoted(text)} {problem}; use YYYY-MM-DD, for example 2025-12-31",
                              what) from None
