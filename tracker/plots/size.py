"""Lesion size over time: the picture behind the growth flags.

Draws, for each lesion sized on CT, MRI or EUS (nodes by short axis, others by longest
diameter), its sizes in mm with one marker shape per modality, and:
- the protocol's size threshold (`size.threshold` → `size_max_mm`), only when that rule is on,
  labelled on the line;
- per pancreatic lesion, its growth threshold: nadir + `abs_growth_mm` (`growth.absolute`, when
  on), labelled on the line as the threshold it is. The nadir here is the smallest size so far,
  the latest included: the line is the one the NEXT scan is compared against. It starts at the
  nadir's date;
- per pancreatic lesion, a shaded band of ± the noise floor (`data.within_noise` →
  `noise_floor_mm`, 2 mm) around the LATEST size only: a next size inside it is not different
  from today's within measurement error;
- the least-squares growth line (`ols_fit`) of each lesion with ≥ 2 scan dates, its mm/year and
  volume doubling time in the lesion's legend entry ("indicative" when the protocol's minimum
  scans or span is not met);
- a ring around each size at which an action or watch flag fired (the flag's evidence cites
  the measurement, e.g. "scan:3/P1", and the flag is dated at that scan);
- hatched spans where no scan was done for longer than the protocol's imaging interval (past
  the end of its window: interval + grace days), up to the next scan or the as-of date.

The legend has one entry per lesion and one per kind of line (in grey), however many lesions.
On the metastatic protocol (`recist.progression` on) `size_figure` adds a panel below, on the
same time axis: the RECIST sum of target diameters, its nadir and the progression line
(sum ≥ nadir × (1 + `rel_pct` %) and ≥ nadir + `abs_mm`), with each scan's response written
above it along the top of the panel ("PD (new L3)" when a new lesion made it PD).

Pure drawing from domain data: no database, no pyplot.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from tracker.domain.dates import add_days, add_months, months_between
from tracker.domain.measures import LesionMeasures, SizePoint, fmt, lesion_measures, ols_fit, rate_evaluable
from tracker.domain.model import Flag, PatientHistory, Severity, Site
from tracker.domain.protocol import SurveillanceProtocol
from tracker.domain.recist import RECIST_RULE, RecistPoint, recist_series
from tracker.domain.schedule import imaging_interval, imaging_spec
from tracker.plots import style

NOISE_RULE = "data.within_noise"
GAP_COLOUR = "#999999"


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


@dataclass(frozen=True)
class ScanGap:
    """A stretch without imaging longer than the protocol allows: from a scan to the next one
    (or to the as-of date, `open`), when that came after the window's end."""

    start: date
    end: date
    interval_months: int
    open: bool

    @property
    def months(self) -> float:
        return months_between(self.start, self.end)


def scan_gaps(history: PatientHistory, protocol: SurveillanceProtocol, *, as_of: date) -> list[ScanGap]:
    """Every gap between imaging that completes the protocol's imaging item (and from the last
    one to `as_of`) longer than its interval plus the grace days; the interval is the phase's
    regular one."""
    spec = imaging_spec(protocol)
    start = history.patient.protocol_start
    dates = sorted({s.date for s in history.scans if s.modality in spec.completed_by and s.date <= as_of})
    out: list[ScanGap] = []
    for k, d in enumerate(dates):
        months = imaging_interval(spec, start, d, flag_open=False)
        late = add_days(add_months(d, months), protocol.grace_days)
        nxt = dates[k + 1] if k + 1 < len(dates) else None
        if nxt is not None and nxt > late:
            out.append(ScanGap(d, nxt, months, open=False))
        elif nxt is None and as_of > late:
            out.append(ScanGap(d, as_of, months, open=True))
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
    first = min(p.date for m in measures for p in m.points)
    half_band = max(timedelta(days=12), (as_of - first) * 0.015)
    modalities: set[str] = set()
    entries: list[tuple[Any, str]] = []
    keys: set[str] = set()
    for i, m in enumerate(measures):
        colour = style.series_colour(i)
        line = _draw_lesion(ax, m, colour, modalities)
        rate = _draw_fit(ax, m, colour, min_scans, min_span)
        if rate:
            keys.add("fit")
        if m.site is Site.PANCREAS:
            _draw_noise_band(ax, m, colour, floor, half_band)
            keys.add("band")
            if _draw_growth_line(ax, m, protocol, colour, as_of):
                keys.add("growth")
        entries.append((line, _label(m) + (f": {rate}" if rate else "")))
        _draw_fired(ax, m.points, fired)
    gaps = scan_gaps(known, protocol, as_of=as_of)
    _draw_gaps(ax, gaps)
    threshold = _draw_threshold(ax, protocol)
    style.mark_as_of(ax, as_of, at="bottom")
    style.iso_date_axis(ax)
    ax.set_ylabel("size (mm)")
    _headroom(ax)
    ax.set_title(f"{history.patient.title}: lesion size")
    entries += _key_entries(protocol, keys, floor, threshold, gaps, modalities, fired)
    style.legend_outside(ax, where=legend, ncol=2, entries=entries)
    return ax


def _key_entries(protocol: SurveillanceProtocol, keys: set[str], floor: Decimal, threshold: Decimal | None,
                 gaps: Sequence[ScanGap], modalities: set[str], fired: dict[str, Severity]) -> list[tuple[Any, str]]:
    """The grey legend entries that explain each kind of line, once whatever the lesion count."""
    grey = style.GREY
    out: list[tuple[Any, str]] = []
    if "fit" in keys:
        out.append((Line2D([], [], color=grey, linestyle="--", linewidth=1.1), "least-squares fit (mm/year)"))
    if "growth" in keys:
        step = _param(protocol, "growth.absolute", "abs_growth_mm", Decimal(5))
        out.append((Line2D([], [], color=grey, linestyle=":", linewidth=1.6),
                    f"growth threshold: nadir + {fmt(step)} mm"))
    if "band" in keys:
        out.append((Patch(color=grey, alpha=0.3, linewidth=0), f"latest size ± {floor} mm (measurement error)"))
    if threshold is not None:
        out.append((Line2D([], [], color=style.BLACK, linestyle="-.", linewidth=1.2),
                    f"size threshold {fmt(threshold)} mm"))
    if gaps:
        out.append((Patch(facecolor=GAP_COLOUR, alpha=0.18, hatch="///", edgecolor=GAP_COLOUR, linewidth=0),
                    "no scan for longer than the protocol interval"))
    for mod, marker in style.MODALITY_MARKER.items():
        if mod.value in modalities:
            out.append((Line2D([], [], marker=marker, color=grey, linestyle="none"), mod.value))
    for sev in (Severity.ACTION, Severity.WATCH):
        if sev in fired.values():
            out.append((Line2D([], [], marker="o", markersize=10, markerfacecolor="none", linestyle="none",
                               markeredgecolor=style.SEVERITY_COLOUR[sev], markeredgewidth=2.0),
                        f"{sev.value} flag fired on this scan"))
    return out


def _headroom(ax: Axes) -> None:
    """From 0 mm to 12 % above the highest thing drawn, so a threshold line never sits on the frame."""
    ax.relim()
    ax.autoscale_view()
    drawn = (y for ln in ax.get_lines() if ln.get_visible()
             for y in ln.get_ydata())  # type: ignore[union-attr]  # matplotlib types the data as any array
    top = max(ax.get_ylim()[1], *(float(y) for y in drawn))  # type: ignore[arg-type]
    ax.set_ylim(0, top * 1.12)


def _xy(points: Sequence[SizePoint]) -> tuple[list[float], list[float]]:
    return [style.to_num(p.date) for p in points], [float(p.mm) for p in points]


def _draw_lesion(ax: Axes, m: LesionMeasures, colour: str, modalities: set[str]) -> Any:
    xs, ys = _xy(m.points)
    (line,) = ax.plot(xs, ys, color=colour, linewidth=1.8, label=_label(m), zorder=3)
    for mod in dict.fromkeys(p.modality for p in m.points):
        pts = [p for p in m.points if p.modality is mod]
        px, py = _xy(pts)
        ax.scatter(px, py, marker=style.MODALITY_MARKER[mod], s=36, color=colour, edgecolors="white",
                   linewidths=0.6, zorder=4, label="_pts")
        modalities.add(mod.value)
    return line


def _draw_fit(ax: Axes, m: LesionMeasures, colour: str, min_scans: int, min_span: int) -> str:
    """Draw the fitted line; returns its text for the lesion's legend entry ("" without a fit)."""
    if m.rate_mm_per_year is None:
        return ""
    slope, intercept = ols_fit([(p.date, float(p.mm)) for p in m.points])
    first, last = m.points[0].date, m.points[-1].date
    years = (last - first).days / 365.25
    vdt = (f"volume doubles in {m.vdt_months:.0f} months" if m.vdt_months is not None
           else "volume not doubling")
    note = " (indicative)" if rate_evaluable(m.points, min_scans, min_span) else ""
    text = f"fit {slope:+.1f} mm/year, {vdt}{note}"
    ax.plot([style.to_num(first), style.to_num(last)], [intercept, intercept + slope * years], color=colour,
            linestyle="--", linewidth=1.1, alpha=0.9, zorder=2, label=f"_fit {m.lesion} {text}")
    return text


def _draw_noise_band(ax: Axes, m: LesionMeasures, colour: str, floor: Decimal, half: timedelta) -> None:
    latest = m.points[-1]
    y = float(latest.mm)
    ax.fill_between([style.to_num(latest.date - half), style.to_num(latest.date + half)], y - float(floor),
                    y + float(floor), color=colour, alpha=0.22, linewidth=0, zorder=1,
                    label=f"_band {m.lesion} latest ± {floor} mm (measurement error)")


def _draw_growth_line(ax: Axes, m: LesionMeasures, protocol: SurveillanceProtocol, colour: str,
                      as_of: date) -> bool:
    if not protocol.enabled("growth.absolute"):
        return False
    step = _param(protocol, "growth.absolute", "abs_growth_mm", Decimal(5))
    nadir = min(m.points, key=lambda p: (p.mm, p.date))
    y = nadir.mm + step
    text = f"{m.lesion} growth threshold {fmt(y)} mm"
    ax.hlines(float(y), style.to_num(nadir.date), style.to_num(as_of), colors=colour, linestyles=":",
              linewidth=1.6, zorder=2, label=f"_growth {text} (nadir {fmt(nadir.mm)} + {fmt(step)})")
    # short, above the line from the nadir on: a size above the line has fired, and is ringed
    ax.annotate(text, (style.to_num(nadir.date), float(y)), xytext=(2, 2), textcoords="offset points", ha="left",
                va="bottom", fontsize=style.FONT_SIZE - 2, color=colour)
    return True


def _draw_threshold(ax: Axes, protocol: SurveillanceProtocol) -> Decimal | None:
    if not protocol.enabled("size.threshold"):
        return None
    limit = _param(protocol, "size.threshold", "size_max_mm", Decimal(20))
    ax.axhline(float(limit), color=style.BLACK, linestyle="-.", linewidth=1.2, zorder=2,
               label=f"_size threshold {fmt(limit)} mm")
    ax.annotate(f"size threshold {fmt(limit)} mm", (0.01, float(limit)), xycoords=("axes fraction", "data"),
                xytext=(0, 2), textcoords="offset points", ha="left", va="bottom", fontsize=style.FONT_SIZE - 2)
    return limit


def _draw_gaps(ax: Axes, gaps: Sequence[ScanGap]) -> None:
    for g in gaps:
        x0, x1 = style.to_num(g.start), style.to_num(g.end)
        ax.axvspan(x0, x1, facecolor=GAP_COLOUR, alpha=0.18, hatch="///", edgecolor=GAP_COLOUR, linewidth=0,
                   zorder=0, label="_gap")
        text = (f"no scan since {g.start.isoformat()}" if g.open else f"{g.months:.0f} months without a scan") \
            + f"\n(protocol: every {g.interval_months} months)"
        ax.annotate(text, ((x0 + x1) / 2, 0.97), xycoords=("data", "axes fraction"), ha="center", va="top",
                    fontsize=style.FONT_SIZE - 2, color="#555555")


def _draw_fired(ax: Axes, points: Sequence[SizePoint], fired: dict[str, Severity]) -> None:
    for p in points:
        sev = fired.get(p.ref)
        if sev is None:
            continue
        ax.scatter([style.to_num(p.date)], [float(p.mm)], s=190, facecolors="none",
                   edgecolors=style.SEVERITY_COLOUR[sev], linewidths=2.0, zorder=5, label="_fired")


# --------------------------------------------------------------------------- RECIST sum


def pd_line(nadir: Decimal, protocol: SurveillanceProtocol) -> Decimal:
    """The smallest sum that is progression against `nadir`: ≥ nadir × (1 + rel_pct %) and
    ≥ nadir + abs_mm (`recist.is_progression`), exact."""
    cfg = protocol.rule(RECIST_RULE)
    return max(nadir * (100 + cfg.dec("rel_pct")) / 100, nadir + cfg.dec("abs_mm"))


#: The target-sum panel's top, as a multiple of the highest sum or line: the responses are
#: written in the space above that (`_responses`).
HEADROOM = 1.3


def response_text(p: RecistPoint) -> str:
    """A scan's response as the panel writes it: a progression with a new lesion says so, since
    its sum may be below the PD line ("PD (new L3)")."""
    return f"PD (new {', '.join(p.new_lesions)})" if p.response == "PD" and p.new_lesions else p.response


def _responses(ax: Axes, points: Sequence[RecistPoint], xs: Sequence[float]) -> None:
    """Each scan's response in a row along the top of the panel, straight above its point: the
    headroom above every sum and line keeps the words off the sum, nadir and PD lines. The first
    starts at its point rather than centred on it, so it never runs over the axis."""
    for k, (p, x) in enumerate(zip(points, xs, strict=True)):
        ax.annotate(response_text(p), (x, 0.98), xycoords=("data", "axes fraction"), xytext=(-3 if k == 0 else 0, 0),
                    textcoords="offset points", ha="left" if k == 0 else "center", va="top",
                    fontsize=style.FONT_SIZE - 2, color=style.VERMILLION if p.response == "PD" else style.BLACK)


def plot_recist_sum(ax: Axes, history: PatientHistory, protocol: SurveillanceProtocol, *, as_of: date,
                    legend: str = "right") -> Axes:
    """The RECIST 1.1 sum of target diameters per scan (not-evaluable scans left out), each with
    its response written above it at the top of the panel; the nadir so far (the latest sum
    included) and the progression line the next scan is compared against."""
    known = history.up_to(as_of)
    points = [p for p in recist_series(known, protocol) if p.sum_mm is not None]
    if not points:
        return style.empty_message(ax, "no RECIST target sum yet (no measurable target at baseline)")
    xs = [style.to_num(p.date) for p in points]
    ys = [float(p.sum_mm) for p in points if p.sum_mm is not None]
    targets = ", ".join(points[0].targets)
    ax.plot(xs, ys, color=style.BLACK, marker="o", markersize=5, linewidth=1.8, zorder=3,
            label=f"sum of target diameters ({targets})")
    _responses(ax, points, xs)
    best = min(points, key=lambda p: (p.sum_mm, p.date))
    assert best.sum_mm is not None
    nadir, limit = best.sum_mm, pd_line(best.sum_mm, protocol)
    x0, x1 = style.to_num(best.date), style.to_num(as_of)
    ax.hlines(float(nadir), x0, x1, colors=style.BLUE, linestyles=":", linewidth=1.6, zorder=2,
              label=f"nadir {fmt(nadir)} mm")
    ax.hlines(float(limit), x0, x1, colors=style.VERMILLION, linestyles="--", linewidth=1.4, zorder=2,
              label=f"progression (PD) if sum ≥ {fmt(limit)} mm")
    style.mark_as_of(ax, as_of, text=False)
    style.iso_date_axis(ax)
    ax.set_ylabel("target sum (mm)")
    ax.set_ylim(0, max(max(ys), float(limit)) * HEADROOM)
    ax.set_title("RECIST 1.1 sum of target diameters", fontsize="medium")
    style.legend_outside(ax, where=legend)
    return ax


def size_figure(history: PatientHistory, protocol: SurveillanceProtocol, flags: Sequence[Flag] = (), *,
                as_of: date) -> Figure:
    """A stand-alone figure of `plot_size`; on the metastatic protocol with the RECIST sum panel
    below it, on the same time axis."""
    with style.themed():
        if not protocol.enabled(RECIST_RULE):
            fig = style.new_figure(10, 5.2)
            plot_size(fig.add_subplot(), history, protocol, flags, as_of=as_of)
            return fig
        fig = style.new_figure(10, 7.6)
        top, bottom = fig.subplots(2, 1, sharex=True, height_ratios=[1.7, 1])
        plot_size(top, history, protocol, flags, as_of=as_of)
        plot_recist_sum(bottom, history, protocol, as_of=as_of)
    return fig
