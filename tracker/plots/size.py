"""Lesion size over time: the picture behind the growth flags.

Draws, for each lesion sized on CT, MRI or EUS (nodes by short axis, others by longest
diameter), its sizes in mm with one marker shape per modality, and:
- the protocol's size threshold (`size.threshold` → `size_max_mm`), only when that rule is on;
- per pancreatic lesion, the nadir + `abs_growth_mm` line (`growth.absolute`, when on). The nadir
  here is the smallest size so far, the latest included: the line is the one the NEXT scan is
  compared against. It starts at the nadir's date;
- per pancreatic lesion, a shaded band of ± the noise floor (`data.within_noise` →
  `noise_floor_mm`, 2 mm) around the LATEST size, from the lesion's first to its latest scan: an
  earlier size inside the band is not different from today's within measurement error;
- the least-squares growth line (`ols_fit`) of each lesion with ≥ 2 scan dates, its mm/year and
  volume doubling time in the legend ("indicative" when the protocol's minimum scans or span is
  not met);
- a ring around each size at which an action or watch flag fired (the flag's evidence cites
  the measurement, e.g. "scan:3/P1", and the flag is dated at that scan).

Pure drawing from domain data: no database, no pyplot.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from decimal import Decimal

from matplotlib.axes import Axes
from matplotlib.figure import Figure

from tracker.domain.measures import LesionMeasures, SizePoint, lesion_measures, ols_fit, rate_evaluable
from tracker.domain.model import Flag, PatientHistory, Severity, Site
from tracker.domain.protocol import SurveillanceProtocol
from tracker.plots import style

NOISE_RULE = "data.within_noise"


def _param(protocol: SurveillanceProtocol, rule: str, name: str, default: Decimal) -> Decimal:
    params = protocol.rule(rule).params
    return Decimal(str(params[name])) if name in params else default


def noise_floor(protocol: SurveillanceProtocol) -> Decimal:
    return _param(protocol, NOISE_RULE, "noise_floor_mm", Decimal(2))


def fired_refs(flags: Sequence[Flag], points: Sequence[SizePoint]) -> dict[str, Severity]:
    """The sizes at which an action or watch flag about the tumour fired: those cited in its
    evidence and dated at the flag's date (an earlier cited size, such as the nadir, is only the
    comparison), with the most urgent severity. A data check (`data.implausible`, watch: "check
    this entry") is about the entry, not the tumour: it is not marked."""
    dated = {p.ref: p.date for p in points}
    out: dict[str, Severity] = {}
    for f in flags:
        if f.severity is Severity.INFO or f.rule_id.startswith("data."):
            continue
        for ref in f.evidence:
            if dated.get(ref) == f.date and (ref not in out or f.severity.rank < out[ref].rank):
                out[ref] = f.severity
    return out


def _label(m: LesionMeasures) -> str:
    where = "node, short axis" if m.is_node else m.site.value
    return f"{m.lesion} ({where})"


def plot_size(ax: Axes, history: PatientHistory, protocol: SurveillanceProtocol, flags: Sequence[Flag] = (), *,
              as_of: date, legend: str = "right") -> Axes:
    """Draw every lesion's size over time on `ax` (see the module docstring) and return it."""
    known = history.up_to(as_of)
    floor = noise_floor(protocol)
    measures = [m for m in lesion_measures(known, noise_floor_mm=floor) if m.points]
    if not measures:
        return style.empty_message(ax, "no CT, MRI or EUS size recorded yet")
    fired = fired_refs([f for f in flags if f.date <= as_of], [p for m in measures for p in m.points])
    rate_cfg = protocol.rule("growth.rate").params
    min_scans, min_span = int(rate_cfg.get("min_scans", 3)), int(rate_cfg.get("min_span_months", 6))
    modalities: set[str] = set()
    for i, m in enumerate(measures):
        colour = style.series_colour(i)
        _draw_lesion(ax, m, colour, modalities)
        _draw_fit(ax, m, colour, min_scans, min_span)
        if m.site is Site.PANCREAS:
            _draw_noise_band(ax, m, colour, floor, as_of)
            _draw_growth_line(ax, m, protocol, colour, as_of)
        _draw_fired(ax, m.points, fired)
    _draw_threshold(ax, protocol)
    _modality_legend(ax, modalities)
    _fired_legend(ax, fired)
    style.mark_as_of(ax, as_of, at="bottom")
    style.iso_date_axis(ax)
    ax.set_ylabel("size (mm)")
    _headroom(ax)
    ax.set_title(f"{history.patient.title}: lesion size")
    style.legend_outside(ax, where=legend, ncol=2)
    return ax


def _headroom(ax: Axes) -> None:
    """From 0 mm to 12 % above the highest thing drawn, so a threshold line never sits on the frame."""
    ax.relim()
    ax.autoscale_view()
    top = max(ax.get_ylim()[1], *(float(y) for ln in ax.get_lines() for y in ln.get_ydata() if ln.get_visible()))
    ax.set_ylim(0, top * 1.12)


def _xy(points: Sequence[SizePoint]) -> tuple[list[float], list[float]]:
    return [style.to_num(p.date) for p in points], [float(p.mm) for p in points]


def _draw_lesion(ax: Axes, m: LesionMeasures, colour: str, modalities: set[str]) -> None:
    xs, ys = _xy(m.points)
    ax.plot(xs, ys, color=colour, linewidth=1.8, label=_label(m), zorder=3)
    for mod in dict.fromkeys(p.modality for p in m.points):
        pts = [p for p in m.points if p.modality is mod]
        px, py = _xy(pts)
        ax.scatter(px, py, marker=style.MODALITY_MARKER[mod], s=36, color=colour, edgecolors="white",
                   linewidths=0.6, zorder=4, label="_pts")
        modalities.add(mod.value)


def _draw_fit(ax: Axes, m: LesionMeasures, colour: str, min_scans: int, min_span: int) -> None:
    if m.rate_mm_per_year is None:
        return
    slope, intercept = ols_fit([(p.date, float(p.mm)) for p in m.points])
    first, last = m.points[0].date, m.points[-1].date
    years = (last - first).days / 365.25
    vdt = (f"volume doubles in {m.vdt_months:.0f} months" if m.vdt_months is not None
           else "volume not doubling")
    note = " (indicative)" if rate_evaluable(m.points, min_scans, min_span) else ""
    ax.plot([style.to_num(first), style.to_num(last)], [intercept, intercept + slope * years], color=colour,
            linestyle="--", linewidth=1.1, alpha=0.9, zorder=2,
            label=f"{m.lesion} fit {slope:+.1f} mm/year, {vdt}{note}")


def _draw_noise_band(ax: Axes, m: LesionMeasures, colour: str, floor: Decimal, as_of: date) -> None:
    latest = m.points[-1]
    x0 = style.to_num(m.points[0].date)
    y = float(latest.mm)
    ax.fill_between([x0, style.to_num(latest.date)], y - float(floor), y + float(floor), color=colour, alpha=0.12,
                    linewidth=0, zorder=1, label=f"{m.lesion} latest ± {floor} mm (measurement error)")


def _draw_growth_line(ax: Axes, m: LesionMeasures, protocol: SurveillanceProtocol, colour: str,
                      as_of: date) -> None:
    if not protocol.enabled("growth.absolute"):
        return
    step = _param(protocol, "growth.absolute", "abs_growth_mm", Decimal(5))
    nadir = min(m.points, key=lambda p: (p.mm, p.date))
    y = float(nadir.mm + step)
    ax.hlines(y, style.to_num(nadir.date), style.to_num(as_of), colors=colour, linestyles=":", linewidth=1.6,
              zorder=2, label=f"{m.lesion} nadir {style.num(nadir.mm)} + {style.num(step)} mm = {style.num(y)} mm")


def _draw_threshold(ax: Axes, protocol: SurveillanceProtocol) -> None:
    if not protocol.enabled("size.threshold"):
        return
    limit = _param(protocol, "size.threshold", "size_max_mm", Decimal(20))
    ax.axhline(float(limit), color=style.BLACK, linestyle="-.", linewidth=1.2, zorder=2,
               label=f"size threshold {style.num(limit)} mm")


def _draw_fired(ax: Axes, points: Sequence[SizePoint], fired: dict[str, Severity]) -> None:
    for p in points:
        sev = fired.get(p.ref)
        if sev is None:
            continue
        ax.scatter([style.to_num(p.date)], [float(p.mm)], s=190, facecolors="none",
                   edgecolors=style.SEVERITY_COLOUR[sev], linewidths=2.0, zorder=5, label="_fired")


def _modality_legend(ax: Axes, modalities: set[str]) -> None:
    for mod, marker in style.MODALITY_MARKER.items():
        if mod.value in modalities:
            ax.scatter([], [], marker=marker, color=style.GREY, label=mod.value)


def _fired_legend(ax: Axes, fired: dict[str, Severity]) -> None:
    for sev in (Severity.ACTION, Severity.WATCH):
        if sev in fired.values():
            ax.scatter([], [], s=120, facecolors="none", edgecolors=style.SEVERITY_COLOUR[sev], linewidths=2.0,
                       label=f"{sev.value} flag fired on this scan")


def size_figure(history: PatientHistory, protocol: SurveillanceProtocol, flags: Sequence[Flag] = (), *,
                as_of: date) -> Figure:
    """A stand-alone figure of `plot_size`."""
    with style.themed():
        fig = style.new_figure(10, 5.2)
        plot_size(fig.add_subplot(), history, protocol, flags, as_of=as_of)
    return fig
