"""The cohort at a glance: % change in tumour burden from baseline, per patient.

Burden at a scan (CT, MRI or EUS):
- metastatic protocol (`recist.progression` on): the RECIST sum of target diameters
  (`recist_series`); scans where a target was not sized are left out;
- otherwise: the sum of the pancreatic lesions sized at the baseline scan (the first CT, MRI or
  EUS scan on or after the protocol start); a later scan counts only when it sizes all of them.

The spider plot draws each patient's % change against months since that baseline; the
waterfall shows each patient's best (lowest) change after baseline, with the RECIST 1.1
reference lines (+20 % progression, −30 % partial response). Patients with no follow-up scan
are named in a note instead of drawn.

Pure: domain data in, drawing out; no database, no pyplot.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from matplotlib.axes import Axes
from matplotlib.figure import Figure

from tracker.domain.dates import months_between
from tracker.domain.model import SIZING_MODALITIES, PatientHistory, Site
from tracker.domain.protocol import SurveillanceProtocol
from tracker.domain.recist import recist_baseline, recist_series, size_of
from tracker.plots import style

PD_PCT = 20.0  # RECIST 1.1 progression line (Eisenhauer 2009)
PR_PCT = -30.0  # RECIST 1.1 partial response line


@dataclass(frozen=True)
class BurdenSeries:
    """One patient's % change from baseline: (date, months since baseline, %) per scan."""

    label: str
    measure: str  # "RECIST target sum" or "pancreatic lesions"
    baseline_date: date
    baseline_mm: Decimal
    points: tuple[tuple[date, float, float], ...]
    synthetic: bool = False  # the patient's record is made-up data

    @property
    def best_pct(self) -> float | None:
        """The lowest change after baseline; None without a follow-up scan."""
        later = [p for _, _, p in self.points[1:]]
        return min(later) if later else None


def burden_series(history: PatientHistory, protocol: SurveillanceProtocol, *, as_of: date) -> BurdenSeries | None:
    """The burden series of one patient as of a date; None without a sized baseline."""
    known = history.up_to(as_of)
    label = known.patient.label
    if protocol.enabled("recist.progression"):
        rs = [p for p in recist_series(known, protocol) if p.sum_mm is not None]
        if not rs:
            return None
        sums = [(p.date, p.sum_mm) for p in rs if p.sum_mm is not None]
        return _series(label, "RECIST target sum", rs[0].baseline_mm, sums, known.patient.synthetic)
    base = recist_baseline(known, SIZING_MODALITIES)
    if base is None:
        return None
    lesions = {m.lesion for m in base.lesions if m.site is Site.PANCREAS and size_of(m) is not None}
    if not lesions:
        return None
    sums = []
    for s in known.scans:
        if s.modality not in SIZING_MODALITIES or s.date < base.date:
            continue
        sizes = {m.lesion: size_of(m) for m in s.lesions if m.lesion in lesions}
        if set(sizes) == lesions and all(v is not None for v in sizes.values()):
            sums.append((s.date, sum((v for v in sizes.values() if v is not None), Decimal(0))))
    return _series(label, "pancreatic lesions", sums[0][1], sums, known.patient.synthetic)


def _series(label: str, measure: str, baseline: Decimal, sums: Sequence[tuple[date, Decimal]],
            synthetic: bool) -> BurdenSeries | None:
    if baseline <= 0:
        return None
    d0 = sums[0][0]
    pts = tuple((d, months_between(d0, d), float(100 * (v - baseline) / baseline)) for d, v in sums)
    return BurdenSeries(label, measure, d0, baseline, pts, synthetic)


def plot_spider(ax: Axes, series: Sequence[BurdenSeries]) -> Axes:
    """% change from baseline against months since baseline, one line per patient."""
    if not series:
        return style.empty_message(ax, "no patient has a sized baseline scan")
    for i, s in enumerate(series):
        xs = [m for _, m, _ in s.points]
        ys = [p for _, _, p in s.points]
        ax.plot(xs, ys, color=style.series_colour(i), marker="os^Dv<>"[i % 7], linewidth=1.6, markersize=5,
                label=f"{s.label} ({s.measure})")
    _reference_lines(ax, horizontal=True)
    ax.set_xlabel("months since baseline scan")
    ax.set_ylabel("change from baseline (%)")
    ax.set_title("% change in tumour size from baseline")
    ax.grid(True, color="#dddddd", linewidth=0.6)
    ax.set_axisbelow(True)
    style.legend_outside(ax)
    return ax


def plot_waterfall(ax: Axes, series: Sequence[BurdenSeries]) -> Axes:
    """Each patient's best change after baseline, largest first; bars coloured by RECIST band."""
    rows = sorted(((s.label, s.best_pct) for s in series if s.best_pct is not None), key=lambda r: -r[1])
    left_out = [s.label for s in series if s.best_pct is None]
    if not rows:
        return style.empty_message(ax, "no patient has a scan after baseline")
    xs = list(range(len(rows)))
    colours = [style.VERMILLION if p >= PD_PCT else style.GREEN if p <= PR_PCT else style.BLUE for _, p in rows]
    bars = ax.bar(xs, [p for _, p in rows], color=colours, width=0.7)
    for bar, (_, p) in zip(bars, rows, strict=True):
        ax.annotate(f"{p:+.0f} %", (bar.get_x() + bar.get_width() / 2, p), xytext=(0, 3 if p >= 0 else -3),
                    textcoords="offset points", ha="center", va="bottom" if p >= 0 else "top",
                    fontsize=style.FONT_SIZE - 1)
    ax.axhline(0, color=style.BLACK, linewidth=0.8)
    _reference_lines(ax, horizontal=True)
    ax.set_xticks(xs, [r[0] for r in rows], rotation=30 if len(rows) > 6 else 0,
                  ha="right" if len(rows) > 6 else "center")
    ax.set_ylabel("best change from baseline (%)")
    ax.set_title("best % change (waterfall)")
    lo, hi = min(p for _, p in rows), max(p for _, p in rows)
    ax.set_ylim(min(lo, PR_PCT) - 10, max(hi, PD_PCT) + 10)
    ax.grid(True, axis="y", color="#dddddd", linewidth=0.6)
    ax.set_axisbelow(True)
    if left_out:
        ax.text(0.0, -0.2, "no follow-up scan yet: " + ", ".join(left_out), transform=ax.transAxes,
                fontsize=style.FONT_SIZE - 2, color=style.GREY, va="top")
    return ax


def _reference_lines(ax: Axes, *, horizontal: bool) -> None:
    ax.axhline(PD_PCT, color=style.VERMILLION, linestyle="--", linewidth=1.0, label="+20 % (RECIST progression)")
    ax.axhline(PR_PCT, color=style.GREEN, linestyle="--", linewidth=1.0, label="−30 % (RECIST partial response)")


def cohort_figure(series: Sequence[BurdenSeries], *, as_of: date) -> Figure:
    """Spider plot (left) and waterfall (right) in one figure, titled with the as-of date."""
    with style.themed():
        fig = style.new_figure(13, 5.2)
        left, right = fig.subplots(1, 2, width_ratios=[1.7, 1])
        plot_spider(left, series)
        plot_waterfall(right, series)
        fig.suptitle(f"Cohort{_synthetic(series)}: {len(series)} patients with a sized baseline, as of "
                     f"{as_of.isoformat()}")
    return fig


def _synthetic(series: Sequence[BurdenSeries]) -> str:
    """" (synthetic)" when every patient shown is made-up data, " (k of n synthetic)" for a mix."""
    k = sum(s.synthetic for s in series)
    return "" if k == 0 else " (synthetic)" if k == len(series) else f" ({k} of {len(series)} synthetic)"
