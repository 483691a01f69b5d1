"""Tumour markers over time: one panel per analyte and unit, never two units on one axis.

Within a panel each series (assay, lab, specimen) is its own line, because results are
compared only within one series. Each series shows its lab's upper limit of
normal as a step line (it may change between results). A result taken on a proton-pump
inhibitor (the latest visit on or before it, within the protocol's `ppi_window_days` of
`data.confounder`, default 90, records one) is ringed: chromogranin A may read falsely high.
Context labs (bilirubin, creatinine, eGFR, glucose) are left out: they are not tumour markers.

Pure drawing from domain data: no database, no pyplot.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from decimal import Decimal

from matplotlib.axes import Axes
from matplotlib.figure import Figure

from tracker.domain.measures import CONTEXT_ANALYTES, fmt
from tracker.domain.model import LabResult, PatientHistory, Visit
from tracker.plots import style

DEFAULT_PPI_WINDOW_DAYS = 90

PanelKey = tuple[str, str]  # (analyte name, unit)


def analyte_name(r: LabResult) -> str:
    """The analyte as people read it: "chromogranin A", or the free-text name of an 'other'."""
    if r.analyte_other:
        return r.analyte_other
    names = {"chromogranin_a": "chromogranin A", "5_hiaa": "5-HIAA", "vip": "VIP", "nse": "NSE",
             "c_peptide": "C-peptide", "egfr": "eGFR"}
    return names.get(r.analyte.value, r.analyte.value.replace("_", " "))


def marker_panels(history: PatientHistory, *, as_of: date) -> dict[PanelKey, list[LabResult]]:
    """Tumour-marker results up to `as_of`, grouped by (analyte, unit), in order of first result."""
    out: dict[PanelKey, list[LabResult]] = {}
    for r in history.labs:
        if r.date <= as_of and r.analyte not in CONTEXT_ANALYTES:
            out.setdefault((analyte_name(r), r.unit), []).append(r)
    return out


def on_ppi(result: LabResult, visits: Sequence[Visit], window_days: int = DEFAULT_PPI_WINDOW_DAYS) -> bool:
    """Whether the latest visit on or before the result, within `window_days`, records a PPI."""
    visit = next((v for v in reversed(visits) if v.date <= result.date), None)
    return visit is not None and (result.date - visit.date).days <= window_days and visit.on_ppi


def _series_label(r: LabResult) -> str:
    parts = [p for p in (r.assay, r.lab, r.specimen.value) if p]
    return " / ".join(parts) or "results"


def plot_markers(ax: Axes, key: PanelKey, results: Sequence[LabResult], visits: Sequence[Visit] = (), *,
                 as_of: date, log: bool = False, ppi_window_days: int = DEFAULT_PPI_WINDOW_DAYS,
                 legend: str = "right") -> Axes:
    """Draw one analyte+unit panel: a line per series, its upper limit, PPI results ringed."""
    name, unit = key
    series: dict[tuple[str, ...], list[LabResult]] = {}
    for r in results:
        series.setdefault(r.series_key, []).append(r)
    ppi_seen = False
    bounds: set[str] = set()
    for i, rs in enumerate(series.values()):
        colour = style.series_colour(i)
        xs, ys = [style.to_num(r.date) for r in rs], [float(r.value) for r in rs]
        ax.plot(xs, ys, color=colour, marker="o", markersize=5, linewidth=1.6, zorder=3,
                label=f"{name} ({_series_label(rs[0])})")
        _upper_limit(ax, rs, colour, unit, as_of)
        for sign, marker in (("<", "v"), (">", "^")):  # "< 5" is below 5: drawn at 5 as an open triangle
            at = [(x, y) for r, x, y in zip(rs, xs, ys, strict=True) if r.comparator.startswith(sign)]
            if at:
                bounds.add(sign)
                ax.scatter([x for x, _ in at], [y for _, y in at], s=70, marker=marker, facecolors="white",
                           edgecolors=colour, linewidths=1.6, zorder=5, label="_bound")
        ppi = [(x, y) for r, x, y in zip(rs, xs, ys, strict=True) if on_ppi(r, visits, ppi_window_days)]
        if ppi:
            ppi_seen = True
            ax.scatter([x for x, _ in ppi], [y for _, y in ppi], s=150, facecolors="none", edgecolors=style.BLACK,
                       linewidths=1.5, zorder=4, label="_ppi")
    if ppi_seen:
        ax.scatter([], [], s=110, facecolors="none", edgecolors=style.BLACK, linewidths=1.5,
                   label="taken on a PPI (may read high)")
    for sign, marker, words in (("<", "v", "below"), (">", "^", "above")):
        if sign in bounds:
            ax.scatter([], [], s=70, marker=marker, facecolors="white", edgecolors=style.BLACK, linewidths=1.6,
                       label=f"{words} the value shown (reported as {sign} x)")
    if log and all(r.value > 0 for r in results):
        _log_axis(ax)
    else:  # from 0 to 12 % above the highest value or limit, so the limit line never sits on the frame
        ax.set_ylim(0, 1.12 * max(float(y) for ln in ax.get_lines() for y in ln.get_ydata()))  # type: ignore[arg-type,union-attr]
    style.mark_as_of(ax, as_of)
    style.iso_date_axis(ax)
    ax.set_ylabel(f"{name} ({unit})")
    ax.set_title(f"{name} ({unit})", fontsize="medium")
    style.legend_outside(ax, where=legend, ncol=2)
    return ax


def _log_axis(ax: Axes) -> None:
    """A log scale read as plain numbers: ticks at 1, 2 and 5 of each decade (100, 200, 500),
    at every whole step when the data span less than a decade (100, 200, 300), written in full
    ("200", not "2×10²"), with some room above and below the data."""
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    ax.set_yscale("log")
    lo, hi = ax.get_ylim()
    ax.set_ylim(lo / 1.25, hi * 1.25)
    subs = (1.0, 2.0, 5.0) if hi / lo > 10 else tuple(float(k) for k in range(1, 10))  # ≥ 3 ticks in a decade
    ax.yaxis.set_major_locator(LogLocator(base=10, subs=subs))
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: fmt(Decimal(f"{v:.6g}"))))
    ax.yaxis.set_minor_formatter(NullFormatter())


def _upper_limit(ax: Axes, rs: Sequence[LabResult], colour: str, unit: str, as_of: date) -> None:
    with_uln = [r for r in rs if r.upper_limit is not None]
    if not with_uln:
        return
    xs = [style.to_num(r.date) for r in with_uln] + [style.to_num(max(as_of, with_uln[-1].date))]
    ys = [float(r.upper_limit) for r in with_uln if r.upper_limit is not None]
    ys.append(ys[-1])
    limits = sorted({fmt(r.upper_limit) for r in with_uln if r.upper_limit is not None})
    ax.step(xs, ys, where="post", color=colour, linestyle="--", linewidth=1.1, alpha=0.8, zorder=2,
            label=f"upper limit {' / '.join(limits)} {unit}")


def markers_figure(history: PatientHistory, *, as_of: date, log: bool = False,
                   ppi_window_days: int = DEFAULT_PPI_WINDOW_DAYS) -> Figure:
    """One panel per analyte and unit, stacked, sharing the time axis; a note when there is none."""
    panels = marker_panels(history, as_of=as_of)
    with style.themed():
        fig = style.new_figure(10, 1.0 + 3.0 * max(1, len(panels)))
        draw_marker_panels(fig, history, panels, as_of=as_of, log=log, ppi_window_days=ppi_window_days)
    return fig


def draw_marker_panels(fig: Figure | object, history: PatientHistory, panels: dict[PanelKey, list[LabResult]], *,
                       as_of: date, log: bool = False, ppi_window_days: int = DEFAULT_PPI_WINDOW_DAYS,
                       legend: str = "below", title: bool = True) -> list[Axes]:
    """Draw every panel into `fig` (a Figure or SubFigure), one row each; returns the axes."""
    if not panels:
        ax = fig.add_subplot()  # type: ignore[union-attr]
        style.empty_message(ax, "no tumour-marker results yet")
        if title:
            ax.set_title(f"{history.patient.title}: tumour markers")
        return [ax]
    axes = fig.subplots(len(panels), 1, sharex=True, squeeze=False)[:, 0]  # type: ignore[union-attr]
    for ax, (key, results) in zip(axes, panels.items(), strict=True):
        plot_markers(ax, key, results, history.visits, as_of=as_of, log=log, ppi_window_days=ppi_window_days,
                     legend=legend)
    if title:
        fig.suptitle(f"{history.patient.title}: tumour markers"  # type: ignore[union-attr]
                     + (" (log scale)" if log and any(a.get_yscale() == "log" for a in axes) else ""))
    return list(axes)

