"""A patient's surveillance on one time axis: what happened, what fired, what is next.

Rows, top to bottom: clinic visits (filled when a symptom was recorded, with its names),
scans (one shape per modality, as on the size plot), labs (filled when above the lab's upper
limit), pathology (with Ki-67), flags (coloured by severity) and the scheduled items still open
(a bar over the window from due-soon to the end of the grace period, a mark at the due date,
coloured by status). The as-of date is a dotted line.

Pure drawing from domain data: no database, no pyplot.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, timedelta

from matplotlib.axes import Axes
from matplotlib.figure import Figure

from tracker.domain.measures import fmt
from tracker.domain.model import DueItem, DueStatus, Flag, PatientHistory, Record, Severity
from tracker.plots import style

ROWS = ("visits", "scans", "labs", "pathology", "flags", "scheduled")
_Y = {name: len(ROWS) - 1 - i for i, name in enumerate(ROWS)}
_SHORT = {"abdominal_pain": "abdo pain", "weight_loss": "weight loss", "gi_bleeding": "GI bleed"}


def plot_timeline(ax: Axes, history: PatientHistory, flags: Sequence[Flag] = (), schedule: Sequence[DueItem] = (),
                  *, as_of: date, legend: str = "right") -> Axes:
    """Draw the timeline rows (see the module docstring) on `ax` and return it."""
    known = history.up_to(as_of)
    _visits(ax, known)
    _scans(ax, known)
    _labs(ax, known)
    _pathology(ax, known)
    _flags(ax, [f for f in flags if f.date <= as_of])
    open_items = [i for i in schedule if i.status is not DueStatus.CLOSED]
    _schedule(ax, open_items)
    ax.set_yticks([_Y[r] for r in ROWS], [r.capitalize() for r in ROWS])
    ax.set_ylim(-0.7, len(ROWS) - 0.3)
    records: tuple[Record, ...] = (*known.visits, *known.scans, *known.labs, *known.pathology)
    dates = [r.date for r in records]
    dates += [i.window_end for i in open_items] + [as_of]
    span = max(dates) - min(dates)
    pad = max(timedelta(days=20), span * 0.03)
    ax.set_xlim(style.to_num(min(dates) - pad), style.to_num(max(dates) + pad))
    _keep_labels_inside(ax)
    style.mark_as_of(ax, as_of)
    style.iso_date_axis(ax)
    ax.grid(False, axis="y")
    ax.set_xlabel("date")
    ax.set_title(f"{history.patient.title}: surveillance timeline")
    style.legend_outside(ax, where=legend)
    return ax


def _keep_labels_inside(ax: Axes, margin: float = 0.1) -> None:
    """A label centred on a point near either end of the time axis would cross the frame:
    it starts at the point instead (left end) or ends there (right end)."""
    x0, x1 = ax.get_xlim()
    for t in ax.texts:
        x = t.xy[0] if hasattr(t, "xy") else t.get_position()[0]
        if t.get_horizontalalignment() != "center":
            continue
        if x < x0 + margin * (x1 - x0):
            t.set_horizontalalignment("left")
        elif x > x1 - margin * (x1 - x0):
            t.set_horizontalalignment("right")


def _visits(ax: Axes, h: PatientHistory) -> None:
    y = _Y["visits"]
    plain = [style.to_num(v.date) for v in h.visits if not v.symptoms]
    ill = [v for v in h.visits if v.symptoms]
    if plain:
        ax.scatter(plain, [y] * len(plain), marker="o", s=40, facecolors="white", edgecolors=style.BLUE, zorder=3,
                   label="visit")
    if ill:
        ax.scatter([style.to_num(v.date) for v in ill], [y] * len(ill), marker="o", s=50, color=style.VERMILLION,
                   zorder=3, label="visit with symptoms")
        for k, v in enumerate(ill):
            names = ", ".join(_SHORT.get(s.value, s.value.replace("_", " ")) for s in v.symptoms)
            ax.annotate(names, (style.to_num(v.date), y), xytext=(0, 7 + 9 * (k % 2)), textcoords="offset points",
                        ha="center", fontsize=style.FONT_SIZE - 2, color=style.VERMILLION)


def _scans(ax: Axes, h: PatientHistory) -> None:
    y = _Y["scans"]
    for mod in dict.fromkeys(s.modality for s in h.scans):
        xs = [style.to_num(s.date) for s in h.scans if s.modality is mod]
        ax.scatter(xs, [y] * len(xs), marker=style.MODALITY_MARKER[mod], s=50, color=style.GREEN, zorder=3,
                   label=f"scan: {mod.value}")


def _labs(ax: Axes, h: PatientHistory) -> None:
    y = _Y["labs"]
    high = [r for r in h.labs if r.upper_limit is not None and r.value > r.upper_limit]
    normal = [r for r in h.labs if r not in high]
    if normal:
        ax.scatter([style.to_num(r.date) for r in normal], [y] * len(normal), marker="D", s=28,
                   facecolors="white", edgecolors=style.PURPLE, zorder=3, label="lab result")
    if high:
        ax.scatter([style.to_num(r.date) for r in high], [y] * len(high), marker="D", s=32, color=style.PURPLE,
                   zorder=3, label="lab above upper limit")


def _pathology(ax: Axes, h: PatientHistory) -> None:
    y = _Y["pathology"]
    xs = [style.to_num(p.date) for p in h.pathology]
    if not xs:
        return
    ax.scatter(xs, [y] * len(xs), marker="*", s=110, color=style.ORANGE, edgecolors=style.BLACK, linewidths=0.5,
               zorder=3, label="pathology")
    for k, p in enumerate(h.pathology):
        text = " ".join(t for t in (f"Ki-67 {fmt(p.ki67_pct)} %" if p.ki67_pct is not None else "",
                                    p.grade.value if p.grade else "") if t)
        if text:
            ax.annotate(text, (style.to_num(p.date), y), xytext=(0, 8 + 9 * (k % 2)), textcoords="offset points",
                        ha="center", fontsize=style.FONT_SIZE - 2)


def _flags(ax: Axes, flags: Sequence[Flag]) -> None:
    """One marker per severity and day (action above watch above info: none hides another);
    several flags of one severity on one day say how many beside the marker ("×3")."""
    for sev in Severity:
        y = _Y["flags"] + 0.2 * (1 - sev.rank)
        per_day: dict[date, int] = {}
        for f in flags:
            if f.severity is sev:
                per_day[f.date] = per_day.get(f.date, 0) + 1
        if not per_day:
            continue
        xs = [style.to_num(d) for d in sorted(per_day)]
        ax.scatter(xs, [y] * len(xs), marker="v", s=70, color=style.SEVERITY_COLOUR[sev], edgecolors=style.BLACK,
                   linewidths=0.5, zorder=3 + (2 - sev.rank), label=f"{sev.value} flag")
        for d, n in sorted(per_day.items()):
            if n > 1:
                ax.annotate(f"×{n}", (style.to_num(d), y), xytext=(6, 0), textcoords="offset points", ha="left",
                            va="center", fontsize=style.FONT_SIZE - 2, color=style.BLACK)


def _schedule(ax: Axes, items: Sequence[DueItem]) -> None:
    y = _Y["scheduled"]
    seen: set[DueStatus] = set()
    for it in sorted(items, key=lambda i: (i.due_date, i.kind.value)):
        colour = style.STATUS_COLOUR[it.status]
        x0, x1 = style.to_num(it.window_start), style.to_num(it.window_end)
        ax.plot([x0, x1], [y, y], color=colour, linewidth=7, alpha=0.45, solid_capstyle="butt", zorder=2,
                label="_window")
        label = f"due item: {it.status.value.replace('_', ' ')}" if it.status not in seen else "_due"
        seen.add(it.status)
        ax.scatter([style.to_num(it.due_date)], [y], marker="|", s=200, color=style.BLACK, zorder=3, label="_mark")
        ax.plot([], [], color=colour, linewidth=7, alpha=0.6, label=label)
    kinds = sorted({(i.due_date, i.kind.value) for i in items})
    by_date: dict[date, list[str]] = {}
    for d, kind in kinds:
        by_date.setdefault(d, []).append(kind)
    for k, (d, names) in enumerate(sorted(by_date.items())):
        ax.annotate(f"{d.isoformat()}: {', '.join(names)}", (style.to_num(d), y), xytext=(0, -14 - 9 * (k % 2)),
                    textcoords="offset points", ha="center", fontsize=style.FONT_SIZE - 2)


def timeline_figure(history: PatientHistory, flags: Sequence[Flag] = (), schedule: Sequence[DueItem] = (), *,
                    as_of: date) -> Figure:
    """A stand-alone figure of `plot_timeline`."""
    with style.themed():
        fig = style.new_figure(11, 4.6)
        plot_timeline(fig.add_subplot(), history, flags, schedule, as_of=as_of)
    return fig
