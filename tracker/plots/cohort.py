"""The cohort at a glance: % change in tumour burden from baseline, per patient.

Burden at a scan (CT, MRI or EUS):
- metastatic protocol (`recist.progression` on): the RECIST sum of target diameters
  (`recist_series`); scans where a target was not sized are left out;
- otherwise: the sum of the pancreatic lesions sized at the baseline scan (the first CT, MRI or
  EUS scan on or after the protocol start); a later scan counts only when it sizes all of them.

The spider plot draws each patient's % change against months since that baseline; the
waterfall shows each patient's LATEST change from baseline (where the tumour is now: this is
surveillance, not treatment response, whose waterfall shows the best change), largest increase
first, with the RECIST 1.1 reference lines (+20 % progression, −30 % partial response).
Patients with no follow-up scan are named in a note instead of drawn (counted, beyond
`MAX_NAMED`).

A cohort of more than `MAX_NAMED` patients is drawn for the crowd: the spider lines in one
collection, coloured by measure, with no per-patient legend; the waterfall's bars unlabelled
but for the `EXTREMES` largest increases and decreases, which are named.

Pure: domain data in, drawing out; no database, no pyplot.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from matplotlib.axes import Axes
from matplotlib.collections import LineCollection, PolyCollection
from matplotlib.figure import Figure

from tracker.domain.dates import months_between
from tracker.domain.model import SIZING_MODALITIES, PatientHistory, Site
from tracker.domain.protocol import SurveillanceProtocol
from tracker.domain.recist import recist_baseline, recist_series, size_of
from tracker.plots import style

PD_PCT = 20.0  # RECIST 1.1 progression line (Eisenhauer 2009)
PR_PCT = -30.0  # RECIST 1.1 partial response line
MAX_NAMED = 12  # above this many patients, no per-patient legend or bar labels
EXTREMES = 3  # bars named at each end of a crowded waterfall
MEASURE_COLOUR = {"RECIST target sum": style.VERMILLION, "pancreatic lesions": style.BLUE}


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
    def latest_pct(self) -> float | None:
        """The change at the latest scan; None without a follow-up scan."""
        return self.points[-1][2] if len(self.points) > 1 else None


def burden_series(history: PatientHistory, protocol: SurveillanceProtocol, *, as_of: date) -> BurdenSeries | None:
    """The burden series of one patient as of a date; None without a sized baseline."""
    known = history.up_to(as_of)
    label = known.patient.label
    if protocol.enabled("recist.progression"):
        rs = [p for p in recist_series(known, protocol) if p.sum_mm is not None]
        if not rs or rs[0].baseline_mm is None:
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
    if len(series) <= MAX_NAMED:
        for i, s in enumerate(series):
            ax.plot([m for _, m, _ in s.points], [p for _, _, p in s.points], color=style.series_colour(i),
                    marker="os^Dv<>"[i % 7], linewidth=1.6, markersize=5, label=f"{s.label} ({s.measure})")
    else:
        _crowd(ax, series)
    _reference_lines(ax, horizontal=True)
    ax.set_xlabel("months since baseline scan")
    ax.set_ylabel("change from baseline (%)")
    ax.set_title("% change in tumour size from baseline")
    ax.grid(True, color="#dddddd", linewidth=0.6)
    ax.set_axisbelow(True)
    style.legend_outside(ax, where="below" if len(series) > MAX_NAMED else "right", ncol=2)
    return ax


def _crowd(ax: Axes, series: Sequence[BurdenSeries]) -> None:
    """Every patient's line in one collection per measure (fast at thousands), thin and the
    more translucent the more lines there are, so that where most patients are shows darkest;
    the smaller group is drawn last, on top."""
    groups = {m: [[(x, p) for _, x, p in s.points] for s in series if s.measure == m] for m in MEASURE_COLOUR}
    for measure, segs in sorted(groups.items(), key=lambda g: -len(g[1])):
        if segs:
            ax.add_collection(LineCollection(segs, colors=MEASURE_COLOUR[measure], linewidths=0.7,
                                             alpha=max(0.04, min(0.5, 25 / len(segs))), label="_crowd"))
            ax.plot([], [], color=MEASURE_COLOUR[measure], linewidth=1.5, label=f"{len(segs)} patients: {measure}")
    ax.autoscale_view()


def plot_waterfall(ax: Axes, series: Sequence[BurdenSeries]) -> Axes:
    """Each patient's latest change from baseline, largest first; bars coloured by RECIST band."""
    rows = sorted(((s.label, s.latest_pct) for s in series if s.latest_pct is not None), key=lambda r: -r[1])
    left_out = [s.label for s in series if s.latest_pct is None]
    if not rows:
        return style.empty_message(ax, "no patient has a scan after baseline")
    xs = list(range(len(rows)))
    heights = [p for _, p in rows]
    colours = [style.VERMILLION if p >= PD_PCT else style.GREEN if p <= PR_PCT else style.BLUE for p in heights]
    crowded = len(rows) > MAX_NAMED
    half = 0.5 if crowded else 0.35
    bars = [[(k - half, 0.0), (k - half, p), (k + half, p), (k + half, 0.0)] for k, p in zip(xs, heights, strict=True)]
    ax.add_collection(PolyCollection(bars, facecolors=colours, linewidths=0, label="_bars"))  # fast at thousands
    ax.axhline(0, color=style.BLACK, linewidth=0.8)
    _reference_lines(ax, horizontal=True)
    ax.set_xlim(-1, len(rows))
    if crowded:
        _name_extremes(ax, rows)
    else:
        for k, p in zip(xs, heights, strict=True):
            ax.annotate(f"{p:+.0f} %", (k, p), xytext=(0, 3 if p >= 0 else -3), textcoords="offset points",
                        ha="center", va="bottom" if p >= 0 else "top", fontsize=style.FONT_SIZE - 1)
        tilt = len(rows) > 2
        ax.set_xticks(xs, [r[0] for r in rows], rotation=30 if tilt else 0, ha="right" if tilt else "center")
    ax.set_ylabel("latest change from baseline (%)")
    ax.set_title("latest % change from baseline")
    lo, hi = min(heights), max(heights)
    ax.set_ylim(min(lo, PR_PCT) - 10, max(hi, PD_PCT) + 10)
    ax.grid(True, axis="y", color="#dddddd", linewidth=0.6)
    ax.set_axisbelow(True)
    if left_out:
        text = (f"no follow-up scan yet: {', '.join(left_out)}" if len(left_out) <= MAX_NAMED
                else f"{len(left_out)} patients have no follow-up scan yet")
        ax.text(0.0, -0.25 if crowded else -0.2, text, transform=ax.transAxes, fontsize=style.FONT_SIZE - 2,
                color=style.GREY, va="top")
    return ax


def _name_extremes(ax: Axes, rows: Sequence[tuple[str, float]]) -> None:
    """A crowded waterfall: no bar labels; the x axis counts the patients and the bands, and
    the `EXTREMES` largest increases and decreases are named in the corners they point to."""
    heights = [p for _, p in rows]
    up, down = sum(p >= PD_PCT for p in heights), sum(p <= PR_PCT for p in heights)
    ax.set_xticks([])
    ax.set_xlabel(f"{len(rows)} patients, largest increase first\n{up} at ≥ +20 %, {down} at ≤ −30 %",
                  fontsize=style.FONT_SIZE - 1)
    top = "\n".join(f"{lab} {p:+.0f} %" for lab, p in rows[:EXTREMES])
    low = "\n".join(f"{lab} {p:+.0f} %" for lab, p in reversed(rows[-EXTREMES:]))
    box = {"facecolor": "white", "edgecolor": "none", "pad": 1.5}
    ax.text(0.98, 0.98, "largest increases:\n" + top, transform=ax.transAxes, ha="right", va="top",
            fontsize=style.FONT_SIZE - 2, bbox=box, zorder=5)
    ax.text(0.02, 0.02, "largest decreases:\n" + low, transform=ax.transAxes, ha="left", va="bottom",
            fontsize=style.FONT_SIZE - 2, bbox=box, zorder=5)


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
