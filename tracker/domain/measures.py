"""Growth and marker measures: the numbers behind the flags, for one patient's history.

Pure: standard library and `tracker.domain` only. The caller passes `history.up_to(as_of)`.

Conventions:
- Sizes come from CT, MRI and EUS only; PET and ultrasound sizes are never used for growth.
  Nodes (`NODE_SITES`) are measured by short axis, other lesions by longest diameter.
- Nadir = the smallest EARLIER size of the same lesion over all earlier scans (records before the
  protocol start count too); the current size is never its own nadir. Ties go to the earliest scan.
- Months = days × 12 / 365.25 (Ferté). Threshold comparisons use exact arithmetic (`Decimal` and
  `Fraction`), never floats; the floats returned here are for display and plots.
- A lesion missing from a later CT/MRI/EUS scan is never dropped silently: `not_evaluable`
  says so.

RECIST target selection and the response categories live in `tracker.domain.recist` and are
re-exported here.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import ROUND_HALF_EVEN, Decimal
from fractions import Fraction

from tracker.domain.dates import DAYS_PER_YEAR, add_months, months_between
from tracker.domain.model import (
    NODE_SITES,
    SIZING_MODALITIES,
    Analyte,
    ImagingStudy,
    LabResult,
    LesionMeasurement,
    Modality,
    PatientHistory,
    Site,
    fmt,
)
from tracker.domain.recist import RecistPoint, recist_series, size_of

__all__ = [
    "LesionMeasures", "MarkerMeasures", "RecistPoint", "SizePoint", "fmt", "lesion_measures", "marker_measures",
    "ols_fit", "recist_series", "tgr_pct_per_month", "volume_doubling_months",
]

#: Defaults of the measure-level sufficiency notes; the rules pass the protocol's own values.
DEFAULT_NOISE_FLOOR_MM = Decimal(2)
DEFAULT_MIN_SCANS = 3
DEFAULT_MIN_SPAN_MONTHS = 6
DEFAULT_MIN_MARKER_VALUES = 3
DEFAULT_MIN_MARKER_SPACING_DAYS = 28

#: Labs read as context for other rules (bile duct, kidney), not as tumour markers.
CONTEXT_ANALYTES = frozenset({Analyte.BILIRUBIN, Analyte.CREATININE, Analyte.EGFR, Analyte.GLUCOSE})

_YEAR = Fraction(str(DAYS_PER_YEAR))

_PairFormula = Callable[[float, float, float], "float | None"]


def near(value: Decimal | float | int, thresholds: Iterable[Decimal | float | int] = (), places: int = 1) -> str:
    """`value` rounded to `places` decimals, with more decimals where rounding would put it on the
    other side of a threshold, or on it: 19.95 with threshold 20 prints "19.95", never "20.0"
    (a value on the near side of a threshold is never printed as the threshold)."""
    exact = Decimal(str(value)) if isinstance(value, float) else Decimal(value)
    limits = [Decimal(str(t)) if isinstance(t, float) else Decimal(t) for t in thresholds]

    def side(x: Decimal, t: Decimal) -> int:
        return (x > t) - (x < t)

    for p in range(places, places + 12):
        shown = exact.quantize(Decimal(1).scaleb(-p), rounding=ROUND_HALF_EVEN)
        if all(side(shown, t) == side(exact, t) for t in limits):
            return format(shown, "f")
    return format(exact, "f")


def pct_text(value: Decimal | float, threshold: Decimal | float | None = None) -> str:
    """A signed percentage change for people: "+19.95 %", "-30.0 %", "0.0 %"; see `near`."""
    limits = () if threshold is None else (threshold, -threshold)
    return f"{'+' if value > 0 else ''}{near(value, limits)} %"


# --------------------------------------------------------------------------- formulas


def ols_exact(points: Sequence[tuple[date, Fraction]]) -> tuple[Fraction, Fraction]:
    """Exact least-squares fit: (slope per year, intercept at the first date).

    Raises ValueError when fewer than two distinct dates are given."""
    return _ols_ratios([d for d, _ in points], [(y.numerator, y.denominator) for _, y in points])


def _ols_ratios(dates: Sequence[date], ys: Sequence[tuple[int, int]]) -> tuple[Fraction, Fraction]:
    """`ols_exact` over values given as (numerator, denominator), in integer arithmetic: the values
    are scaled to a common denominator, so the sums are exact integers and only the result is a
    Fraction (equal to the one of the Fraction sums, which it replaces for speed)."""
    origin = dates[0].toordinal()
    xs = [d.toordinal() - origin for d in dates]
    scale = math.lcm(*(den for _, den in ys))
    yi = [num * (scale // den) for num, den in ys]
    n, sx, sy = len(xs), sum(xs), sum(yi)
    sxx_n = n * sum(x * x for x in xs) - sx * sx  # n × Σ(x − mean)²
    if sxx_n == 0:
        raise ValueError("a fit needs at least two distinct dates")
    sxy_n = n * sum(x * y for x, y in zip(xs, yi, strict=True)) - sx * sy  # n × scale × Σ(x − mx)(y − my)
    slope = Fraction(sxy_n * _YEAR.numerator, scale * sxx_n * _YEAR.denominator)
    intercept = Fraction(sy * sxx_n - sxy_n * sx, n * scale * sxx_n)
    return slope, intercept


def ols_fit(points: Sequence[tuple[date, float]]) -> tuple[float, float]:
    """Least-squares line through (date, value): (slope per year, intercept at the first date)."""
    slope, intercept = ols_exact([(d, Fraction(y)) for d, y in points])
    return float(slope), float(intercept)


def tgr_pct_per_month(d0: float, d1: float, months: float) -> float:
    """Ferté tumour growth rate (%/month) from diameters d0 -> d1 over `months`:
    100 × (exp(3 × ln(d1/d0) / months) − 1)."""
    return 100 * (math.exp(3 * math.log(d1 / d0) / months) - 1)


def volume_doubling_months(d0: float, d1: float, months: float) -> float | None:
    """Volume doubling time months × ln2 / (3 × ln(d1/d0)); None when the lesion did not grow."""
    if d1 <= d0 or months <= 0:
        return None
    return months * math.log(2) / (3 * math.log(d1 / d0))


def doubling_months(points: Sequence[tuple[date, Decimal]]) -> float | None:
    """Marker doubling time ln2 / k, k the log-linear slope per month (PSADT method,
    Pound 1999); None when k ≤ 0 (stable or falling)."""
    slope_per_year, _ = _ols_ratios([d for d, _ in points], [math.log(v).as_integer_ratio() for _, v in points])
    k = float(slope_per_year) / 12
    return math.log(2) / k if k > 0 else None


def pct_change(ref: Decimal, value: Decimal) -> Decimal:
    """100 × (value − ref) / ref, exact to 28 digits."""
    return 100 * (value - ref) / ref


# --------------------------------------------------------------------------- lesions


@dataclass(frozen=True)
class SizePoint:
    """One CT, MRI or EUS size of a lesion; `ref` cites the measurement ("scan:3/P1")."""

    date: date
    mm: Decimal
    modality: Modality
    ref: str


@dataclass(frozen=True)
class LesionMeasures:
    """Growth measures of one lesion. Changes compare the latest size with the previous one and
    with the nadir; `not_evaluable` lists in plain words what could not be computed and why."""

    lesion: str
    site: Site
    points: tuple[SizePoint, ...]
    latest: SizePoint | None
    previous: SizePoint | None
    nadir: SizePoint | None
    change_prev_mm: Decimal | None
    change_prev_pct: Decimal | None
    change_nadir_mm: Decimal | None
    change_nadir_pct: Decimal | None
    rate_mm_per_year: float | None
    tgr_pct_per_month: float | None
    vdt_months: float | None
    not_evaluable: tuple[str, ...]
    within_noise: bool
    modalities_differ: bool
    #: `rate_mm_per_year` exact, for threshold comparisons (None where it is None)
    rate_exact: Fraction | None = field(default=None, compare=False, repr=False)

    @property
    def is_node(self) -> bool:
        return self.site in NODE_SITES

    def compared(self) -> tuple[SizePoint, ...]:
        """The points the latest size is compared with (previous and nadir), without repeats."""
        return tuple(dict.fromkeys(p for p in (self.nadir, self.previous) if p is not None))


def lesion_measures(
    history: PatientHistory,
    *,
    noise_floor_mm: Decimal = DEFAULT_NOISE_FLOOR_MM,
    min_scans: int = DEFAULT_MIN_SCANS,
    min_span_months: int = DEFAULT_MIN_SPAN_MONTHS,
) -> list[LesionMeasures]:
    """Measures of every lesion named in any scan, in order of first appearance."""
    sites: dict[str, Site] = {}  # the site of each lesion's last measurement, in order of first appearance
    for s in history.scans:
        for m in s.lesions:
            sites[m.lesion] = m.site
    sizing = [(s, _by_name(s)) for s in history.scans if s.modality in SIZING_MODALITIES]
    return [_measure(sizing, n, site, noise_floor_mm, min_scans, min_span_months) for n, site in sites.items()]


def _by_name(scan: ImagingStudy) -> dict[str, LesionMeasurement]:
    """A scan's measurements by lesion label; the first one where a label repeats."""
    out: dict[str, LesionMeasurement] = {}
    for m in scan.lesions:
        out.setdefault(m.lesion, m)
    return out


def _measure(sizing: Sequence[tuple[ImagingStudy, dict[str, LesionMeasurement]]], name: str, site: Site,
             floor: Decimal, min_scans: int, min_span: int) -> LesionMeasures:
    points, notes = _points(sizing, name)
    latest = points[-1] if points else None
    previous = points[-2] if len(points) > 1 else None
    nadir = min(points[:-1], key=lambda p: p.mm) if previous else None
    notes += _rate_notes(points, min_scans, min_span)
    d_prev = latest.mm - previous.mm if latest and previous else None
    rate = _rate(points)
    return LesionMeasures(
        lesion=name, site=site, points=points, latest=latest, previous=previous, nadir=nadir,
        change_prev_mm=d_prev,
        change_prev_pct=pct_change(previous.mm, latest.mm) if latest and previous else None,
        change_nadir_mm=latest.mm - nadir.mm if latest and nadir else None,
        change_nadir_pct=pct_change(nadir.mm, latest.mm) if latest and nadir else None,
        rate_mm_per_year=None if rate is None else float(rate), tgr_pct_per_month=_pair(points, tgr_pct_per_month),
        vdt_months=_pair(points, volume_doubling_months), not_evaluable=tuple(notes),
        within_noise=d_prev is not None and abs(d_prev) < floor,
        modalities_differ=latest is not None and any(p.modality != latest.modality for p in (previous, nadir)
                                                     if p is not None),
        rate_exact=rate,
    )


def _points(sizing: Sequence[tuple[ImagingStudy, dict[str, LesionMeasurement]]],
            name: str) -> tuple[tuple[SizePoint, ...], list[str]]:
    """The CT/MRI/EUS sizes of a lesion, and a note for every such scan after its first
    appearance that does not size it."""
    points: list[SizePoint] = []
    notes: list[str] = []
    for s, lesions in sizing:
        m = lesions.get(name)
        mm = size_of(m) if m else None
        if mm is not None:
            points.append(SizePoint(s.date, mm, s.modality, s.lesion_ref(name)))
        elif m is not None or points:
            what = "no size recorded" if m else "missing"
            notes.append(f"{what} at scan of {s.date.isoformat()} ({s.modality.value})")
    if not points:
        notes.append("no CT, MRI or EUS size: growth not evaluable")
    return tuple(points), notes


def rate_evaluable(points: Sequence[SizePoint], min_scans: int, min_span_months: int) -> str | None:
    """None when a growth rate may be fitted, else the plain reason it cannot."""
    if len(points) < min_scans:
        n = len(points)
        return f"growth rate not evaluable: {n} scan{'s' if n != 1 else ''}, {min_scans} needed"
    if add_months(points[0].date, min_span_months) > points[-1].date:
        return (f"growth rate not evaluable: scans from {points[0].date.isoformat()} to "
                f"{points[-1].date.isoformat()} span less than {min_span_months} months")
    return None


def _rate_notes(points: Sequence[SizePoint], min_scans: int, min_span: int) -> list[str]:
    reason = rate_evaluable(points, min_scans, min_span)
    return [reason] if reason else []


def size_slope(points: Sequence[SizePoint]) -> Fraction:
    """Exact least-squares slope in mm/year over every point."""
    return _ols_ratios([p.date for p in points], [p.mm.as_integer_ratio() for p in points])[0]


def _rate(points: Sequence[SizePoint]) -> Fraction | None:
    if len({p.date for p in points}) < 2:
        return None
    return size_slope(points)


def _pair(points: Sequence[SizePoint], formula: _PairFormula) -> float | None:
    """A two-point formula over the latest two points with a positive interval."""
    if len(points) < 2 or points[-1].date <= points[-2].date or points[-2].mm <= 0 or points[-1].mm <= 0:
        return None
    p0, p1 = points[-2], points[-1]
    return formula(float(p0.mm), float(p1.mm), months_between(p0.date, p1.date))


# --------------------------------------------------------------------------- markers


@dataclass(frozen=True)
class MarkerMeasures:
    """One marker series (one analyte, unit, assay, lab and specimen), oldest first."""

    analyte: str
    unit: str
    assay: str
    lab: str
    specimen: str
    points: tuple[tuple[date, Decimal, str], ...]
    change_pct: Decimal | None
    doubling_months: float | None
    not_evaluable: tuple[str, ...]
    #: the results (refs) the doubling time is fitted to: those without a comparator
    fitted: tuple[str, ...] = ()


def marker_measures(
    history: PatientHistory,
    *,
    min_values: int = DEFAULT_MIN_MARKER_VALUES,
    min_spacing_days: int = DEFAULT_MIN_MARKER_SPACING_DAYS,
) -> list[MarkerMeasures]:
    """Measures of every lab series (`LabResult.series_key`), in order of first result."""
    series: dict[tuple[str, str, str, str, str], list[LabResult]] = {}
    for r in history.labs:
        series.setdefault(r.series_key, []).append(r)
    return [_marker(rs, min_values, min_spacing_days) for rs in series.values()]


def spaced_count(dates: Sequence[date], min_spacing_days: int) -> int:
    """How many values remain when each must be at least `min_spacing_days` after the last kept."""
    kept: list[date] = []
    for d in dates:
        if not kept or (d - kept[-1]).days >= min_spacing_days:
            kept.append(d)
    return len(kept)


def _marker(rs: Sequence[LabResult], min_values: int, min_spacing: int) -> MarkerMeasures:
    first, last = rs[0], rs[-1]
    change = (pct_change(rs[-2].value, last.value)
              if len(rs) > 1 and rs[-2].value > 0 and not rs[-2].comparator and not last.comparator else None)
    # a result with a comparator ("< 5") is no point of a log-linear fit, and a latest `< x`
    # ends any rise
    exact = [r for r in rs if not r.comparator]
    notes: tuple[str, ...]
    if last.below:
        dt, notes = None, (f"doubling time not evaluable: the latest result is {last.value_text} {last.unit}",)
    else:
        dt, notes = _marker_doubling(exact, min_values, min_spacing)
        if notes and len(exact) < len(rs) and notes[0].startswith("doubling time not evaluable"):
            notes = (f"{notes[0]} (results given as < or > a number are left out)", *notes[1:])
    return MarkerMeasures(
        analyte=first.series_key[0], unit=first.series_key[1], assay=first.assay, lab=first.lab,
        specimen=first.specimen.value, points=tuple((r.date, r.value, r.ref) for r in rs),
        change_pct=change, doubling_months=dt, not_evaluable=notes, fitted=tuple(r.ref for r in exact),
    )


def _marker_doubling(rs: Sequence[LabResult], min_values: int,
                     min_spacing: int) -> tuple[float | None, tuple[str, ...]]:
    n = spaced_count([r.date for r in rs], min_spacing)
    if n < min_values:
        return None, (f"doubling time not evaluable: {n} value{'s' if n != 1 else ''} at least "
                      f"{min_spacing} days apart, {min_values} needed",)
    if any(r.value <= 0 for r in rs):
        return None, ("doubling time not evaluable: a value is zero or below",)
    dt = doubling_months([(r.date, r.value) for r in rs])
    return dt, (() if dt is not None else ("no doubling: the series is stable or falling",))
