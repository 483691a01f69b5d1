"""The one-page clinic report: what a nurse prints before the surveillance visit.

One A4 page, as PDF (a matplotlib Figure laid out by hand, DejaVu Sans, which matplotlib
ships: no network, no system fonts) or as one self-contained HTML file (plots embedded as
base64 PNG, every text escaped, print CSS for one A4 page). Sections, top to bottom:
1. the patient summary: label, birth year, setting, protocol and its start, latest grade;
2. what changed since the last visit: every record dated on or after the latest clinic visit
   (results of that day are usually read after it), each compared with the one before it;
   without a visit, since the protocol start;
3. the open flags, action first, each with its message (the explanation quoting values,
   threshold and source); when they do not fit, the page says how many more and which
   command lists them;
4. the next scheduled items (not closed), earliest first;
5. the size plot and the marker plot(s), stacked on ONE time axis (the same dates under each
   other), filling the rest of the page whatever the text took; a patient without a CT, MRI or
   EUS size (or without marker results) gets a sentence saying so instead of an empty axis;
6. the footer: "Decision support only — discuss at the NET tumour board; not a diagnosis", the
   as-of date and the tool version.

Pure: builds text and figures from domain data; the service opens the database and writes.
"""

from __future__ import annotations

import base64
import html
import io
import textwrap
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any, BinaryIO

import matplotlib
from matplotlib.axes import Axes
from matplotlib.backends.backend_pdf import PdfPages
from matplotlib.dates import AutoDateLocator
from matplotlib.figure import Figure

from tracker.domain.measures import fmt, lesion_measures
from tracker.domain.model import DueItem, DueStatus, Flag, PatientHistory, Provenance, Severity, Source
from tracker.domain.protocol import SurveillanceProtocol
from tracker.domain.recist import RECIST_RULE
from tracker.domain.schedule import display_what
from tracker.domain.units import who_grade
from tracker.plots import style
from tracker.plots.markers import analyte_name, marker_panels, markers_figure, plot_markers
from tracker.plots.size import plot_recist_sum, plot_size, size_figure

FOOTER = "Decision support only — discuss at the NET tumour board; not a diagnosis"
A4_IN = (8.27, 11.69)
MAX_MARKER_PANELS = 2
BODY_PT = 9.0  # body text: readable on paper (issue 19)
TEXT_FLOOR = 0.46  # the text never goes below this (figure fraction): the plots keep the rest
PLOT_LEFT, PLOT_WIDTH = 0.10, 0.56  # every plot on the same x: one time axis; legends to the right


@dataclass(frozen=True)
class ReportData:
    """Everything on the page, already evaluated as of `as_of`."""

    history: PatientHistory
    protocol: SurveillanceProtocol
    flags: tuple[Flag, ...]
    schedule: tuple[DueItem, ...]
    as_of: date
    version: str

    @property
    def label(self) -> str:
        return self.history.patient.label

    @property
    def title(self) -> str:
        """The label, with "(synthetic)" for made-up data only."""
        return self.history.patient.title

    @property
    def synthetic_note(self) -> str:
        return " · synthetic data" if self.history.patient.synthetic else ""


# --------------------------------------------------------------------------- content


def summary(d: ReportData) -> str:
    p = d.history.patient
    parts = [p.title, f"born {p.birth_year}", f"setting {p.setting.value.replace('_', ' ')}",
             f"protocol {d.protocol.id} since {p.protocol_start.isoformat()}", _grade(d.history, d.as_of)]
    if p.has_left(d.as_of):
        reason = p.leave_reason.value.replace("_", " ") if p.leave_reason else "no reason recorded"
        parts.append(f"left surveillance {p.left_on} ({reason})")
    return " · ".join(parts)


def _grade(h: PatientHistory, as_of: date) -> str:
    path = [x for x in h.pathology if x.date <= as_of]
    if not path:
        return "grade unknown (no pathology)"
    last = path[-1]
    grade = last.grade or who_grade(last.ki67_pct, last.mitoses_per_2mm2)
    ki = f", Ki-67 {fmt(last.ki67_pct)} %" if last.ki67_pct is not None else ""
    return f"grade {grade.value if grade else 'unknown'}{ki} ({last.date.isoformat()})"


def changes(d: ReportData) -> tuple[str, list[str]]:
    """The heading's anchor text and one line per record since the last visit."""
    h = d.history.up_to(d.as_of)
    since = h.visits[-1].date if h.visits else h.patient.protocol_start
    anchor = f"since the last visit ({since.isoformat()})" if h.visits else f"since the protocol start ({since})"
    lines: list[str] = []
    scans = {s.ref: s.provenance for s in h.scans}
    for m in lesion_measures(h):
        new = [p for p in m.points if p.date >= since]
        for p in new:
            i = m.points.index(p)
            prev = m.points[i - 1] if i else None
            was = f", was {fmt(prev.mm)} mm ({prev.modality.value} {prev.date}): {_signed(p.mm - prev.mm)} mm" \
                if prev else " (first size)"
            lines.append(f"Lesion {m.lesion}: {fmt(p.mm)} mm ({p.modality.value} {p.date}){was}"
                         f"{by_whom(scans[p.ref.split('/')[0]])}")
    for r in (r for r in h.labs if r.date >= since):
        before = next((x for x in reversed(h.labs) if x.series_key == r.series_key and x.date < r.date), None)
        high = " — above upper limit" if r.above_limit(r.upper_limit) else ""
        was = f", was {before.value_text} ({before.date})" if before else ""
        lines.append(f"{analyte_name(r)}: {r.value_text} {r.unit} ({r.date}){was}{high}{by_whom(r.provenance)}")
    for v in (v for v in h.visits if v.date >= since):
        sym = ", ".join(s.value.replace("_", " ") for s in v.symptoms) or "no symptoms"
        extra = [f"weight {fmt(v.weight_kg)} kg" if v.weight_kg is not None else "",
                 "on a PPI" if v.on_ppi else "", "wants to leave surveillance" if v.wants_to_leave else ""]
        lines.append(f"Visit {v.date}: {'; '.join([sym, *[e for e in extra if e]])}{by_whom(v.provenance)}")
    for x in (x for x in h.pathology if x.date >= since):
        lines.append(f"Pathology {x.date}: {_grade(h.up_to(x.date), x.date)}")
    new_flags = sum(1 for f in d.flags if f.date >= since)
    if new_flags:
        lines.append(f"{new_flags} open flag(s) dated since then (below)")
    return anchor, lines or ["nothing recorded since then"]


def by_whom(p: Provenance) -> str:
    """What a reader must know about who entered a value: " [entered by the patient, not
    verified]"; nothing for a clinician's or an import's entry."""
    if p.source is not Source.PATIENT:
        return ""
    return " [entered by the patient]" if p.verified else " [entered by the patient, not verified]"


def _signed(x: Any) -> str:
    return ("+" if x > 0 else "") + fmt(x)


def flag_lines(d: ReportData) -> list[tuple[Severity, str]]:
    """(severity, 'ACTION rule (date): message') per open flag, action first, newest first."""
    ordered = sorted(d.flags, key=Flag.sort_key)
    return [(f.severity, f"{f.severity.value.upper()} {f.rule_id} ({f.date}): {f.message}") for f in ordered]


def next_items(d: ReportData) -> list[str]:
    items = sorted((i for i in d.schedule if i.status is not DueStatus.CLOSED),
                   key=lambda i: (i.due_date, i.kind.value))
    return [f"{i.due_date} {display_what(i)} — {i.status.value.replace('_', ' ')} (window {i.window_start} to "
            f"{i.window_end}); {i.reason}" for i in items] or ["nothing scheduled"]


# --------------------------------------------------------------------------- PDF page


class _Cursor:
    """Writes wrapped lines down the page in figure coordinates until a floor."""

    def __init__(self, fig: Figure, top: float, floor: float, size: float = BODY_PT) -> None:
        self.fig, self.y, self.floor, self.size = fig, top, floor, size
        self.step = size * 1.38 / 72 / A4_IN[1]
        self.width = int(138 * 7.2 / size)

    def room(self) -> int:
        return max(0, int((self.y - self.floor) / self.step))

    def heading(self, text: str) -> None:
        self.y -= self.step * 0.4
        self.fig.text(0.05, self.y, text, fontsize=self.size + 1.8, weight="bold", va="top")
        self.y -= self.step * 1.45

    def wrap(self, text: str, indent: int = 2) -> list[str]:
        return textwrap.wrap(text, self.width, subsequent_indent=" " * indent) or [""]

    def lines(self, lines: Sequence[str], colour: str = style.BLACK) -> None:
        for line in lines:
            self.fig.text(0.055, self.y, line, fontsize=self.size, va="top", color=colour)
            self.y -= self.step


def _place_text(fig: Figure, d: ReportData, notes: Sequence[str] = ()) -> float:
    """Write the text sections; returns where the text ended (figure fraction)."""
    cur = _Cursor(fig, 0.975, TEXT_FLOOR)
    fig.text(0.05, cur.y, f"Surveillance summary — {d.title} — as of {d.as_of}", fontsize=12,
             weight="bold", va="top")
    cur.y -= cur.step * 2.2
    cur.lines(cur.wrap(summary(d)))
    anchor, changed = changes(d)
    change_lines = [w for c in changed for w in cur.wrap("• " + c)]
    nexts = [w for t in next_items(d) for w in cur.wrap("• " + t)]
    flags = [(sev, cur.wrap("• " + t)) for sev, t in flag_lines(d)]
    # Budget: the three headings take about 1.9 lines each; flags get what the others leave.
    budget = cur.room() - 5 - len(notes)
    change_lines = _fit(change_lines, min(len(change_lines), 9), "more changes: run `tracker history`")
    nexts = _fit(nexts, min(len(nexts), 6), f"more items: run `tracker schedule {d.label}`")
    flag_room = budget - len(change_lines) - len(nexts)
    cur.heading(f"What changed {anchor}")
    cur.lines(change_lines)
    cur.heading(f"Open flags ({len(flags)}), action first")
    _flag_block(cur, flags, flag_room, d.label)
    cur.heading("Next scheduled items")
    cur.lines(nexts)
    if notes:
        cur.y -= cur.step * 0.4
        cur.lines(notes, style.GREY)
    return cur.y


def _fit(lines: list[str], room: int, more: str) -> list[str]:
    if len(lines) <= room:
        return lines
    return [*lines[: max(0, room - 1)], f"  … {more}"]


def _flag_block(cur: _Cursor, flags: list[tuple[Severity, list[str]]], room: int, label: str) -> None:
    if not flags:
        cur.lines(["no open flags"])
        return
    used = 0
    for k, (sev, lines) in enumerate(flags):
        if used + len(lines) > room - 1 and k < len(flags):
            cur.lines([f"  … {len(flags) - k} more flag(s): run `tracker flags {label}` to read them all"])
            return
        cur.lines(lines, style.SEVERITY_COLOUR[sev] if sev is Severity.ACTION else style.BLACK)
        used += len(lines)


_REPORT_RC = {**style.RC, "font.size": 8, "axes.titlesize": 9, "axes.labelsize": 8, "xtick.labelsize": 8,
              "ytick.labelsize": 8, "legend.fontsize": 7.5}


def report_figure(d: ReportData) -> Figure:
    """The whole page as one A4 Figure."""
    with matplotlib.rc_context(_REPORT_RC):  # type: ignore[arg-type]  # matplotlib types the keys as literals
        fig = Figure(figsize=A4_IN, dpi=100)
        sized = any(m.points for m in lesion_measures(d.history.up_to(d.as_of)))
        panels = marker_panels(d.history, as_of=d.as_of)
        shown = dict(list(panels.items())[:MAX_MARKER_PANELS])
        notes = [*([] if sized else ["No CT, MRI or EUS size recorded yet: no size plot."]),
                 *([] if panels else ["No tumour-marker results yet: no marker plot."]),
                 *([f"{len(panels) - len(shown)} more marker(s) not shown: tracker plot {d.label} --kind markers"]
                   if len(panels) > len(shown) else [])]
        end = _place_text(fig, d, notes)
        _plots(fig, d, sized, shown, top=end - 0.035)
        fig.text(0.05, 0.01, f"{FOOTER}.\nAs of {d.as_of.isoformat()} · tracker {d.version}{d.synthetic_note}",
                 fontsize=BODY_PT, color=style.GREY, va="bottom", linespacing=1.3)
    return fig


def _plots(fig: Figure, d: ReportData, sized: bool, shown: dict[Any, Any], *, top: float) -> None:
    """The size plot and the marker panels stacked from `top` down to the footer, sharing one
    time axis (the dates of everything drawn, to the as-of date); only the lowest shows dates."""
    recist = sized and d.protocol.enabled(RECIST_RULE)
    weights = ([1.7] if sized else []) + ([0.9] if recist else []) + [1.0] * len(shown)
    if not weights:
        return
    bottom, gap = 0.08, 0.035  # above the two footer lines and the lowest plot's dates
    unit = (top - bottom - gap * (len(weights) - 1)) / sum(weights)
    axes: list[Axes] = []
    y = top
    for w in weights:
        h = unit * w
        axes.append(fig.add_axes((PLOT_LEFT, y - h, PLOT_WIDTH, h), sharex=axes[0] if axes else None))
        y -= h + gap
    k = 0
    if sized:
        plot_size(axes[0], d.history, d.protocol, d.flags, as_of=d.as_of)
        axes[0].set_title(f"Lesion size (mm) — {d.title}", fontsize=9)
        k = 1
    if recist:
        plot_recist_sum(axes[1], d.history, d.protocol, as_of=d.as_of)
        k = 2
    window = int(d.protocol.rule("data.confounder").params.get("ppi_window_days", 90))
    for ax, (key, results) in zip(axes[k:], shown.items(), strict=True):
        plot_markers(ax, key, results, d.history.visits, as_of=d.as_of, ppi_window_days=window)
    _one_time_axis(axes, d)
    for ax in axes:
        _legend_right(ax)


def _time_span(d: ReportData) -> tuple[float, float]:
    """The dates every plot of the page covers: the earliest scan or lab to the as-of date."""
    h = d.history.up_to(d.as_of)
    dates = [s.date for s in h.scans] + [r.date for r in h.labs]
    first = min(dates or [d.as_of])
    pad = max((d.as_of - first) * 0.03, timedelta(days=15))
    return style.to_num(first - pad), style.to_num(d.as_of + pad)


def _one_time_axis(axes: Sequence[Axes], d: ReportData) -> None:
    """Every panel over the same dates (`_time_span`); only the lowest writes them."""
    axes[0].set_xlim(*_time_span(d))
    for ax in axes:
        ax.xaxis.set_major_locator(AutoDateLocator(minticks=3, maxticks=8))
    for ax in axes[:-1]:
        ax.tick_params(labelbottom=False)


def _legend_right(ax: Axes) -> None:
    """The axes' legend to its right, in the page's right margin column."""
    leg = ax.get_legend()
    if leg is None:
        return
    texts = leg.get_texts()
    pairs = [(h, t.get_text()) for h, t in zip(leg.legend_handles, texts, strict=True) if h is not None]
    ax.legend([h for h, _ in pairs], [textwrap.fill(t, 34) for _, t in pairs], loc="upper left",
              bbox_to_anchor=(1.02, 1.0), frameon=False, fontsize=7.5)


def write_pdf(d: ReportData, path: Path | BinaryIO) -> Path | BinaryIO:
    """The page as a one-page PDF (no creation date, so the same data gives the same file), to a
    path or an open binary file (`tracker.private.write_private` gives one)."""
    fig = report_figure(d)
    meta = {"Creator": "tracker", "CreationDate": None, "Title": f"{d.label} surveillance summary"}
    with matplotlib.rc_context(_REPORT_RC), PdfPages(path, metadata=meta) as pdf:  # type: ignore[arg-type]
        pdf.savefig(fig)
    return path


# --------------------------------------------------------------------------- HTML page

_CSS = """
@page { size: A4; margin: 10mm; }
body { font-family: "DejaVu Sans", Verdana, sans-serif; font-size: 9pt; margin: 0 auto; max-width: 190mm;
       color: #000; }
h1 { font-size: 13pt; margin: 0 0 2mm; } h2 { font-size: 10pt; margin: 3mm 0 1mm; }
ul { margin: 0; padding-left: 5mm; } li { margin: 0.4mm 0; }
.action { color: #D55E00; } .watch { color: #8a5a00; } .info { color: #333; }
.plots img { width: 100%; height: auto; display: block; }
footer { margin-top: 2mm; font-size: 8pt; color: #555; border-top: 1px solid #aaa; padding-top: 1mm; }
@media print { body { font-size: 9pt; } .plots img { max-height: 62mm; width: auto; max-width: 100%; }
               h2 { break-after: avoid; } }
"""


def _png(fig: Figure) -> str:
    buf = io.BytesIO()
    with style.themed():
        fig.savefig(buf, format="png", dpi=110, metadata={"Software": "tracker"})
    fig.clear()
    return base64.b64encode(buf.getvalue()).decode("ascii")


def render_html(d: ReportData) -> str:
    """The page as one self-contained HTML document (no external file, font or script)."""
    e = html.escape
    anchor, changed = changes(d)
    flags = flag_lines(d)
    figures = [size_figure(d.history, d.protocol, d.flags, as_of=d.as_of), markers_figure(d.history, as_of=d.as_of)]
    for ax in (ax for fig in figures for ax in fig.axes):
        ax.set_xlim(*_time_span(d))  # the two pictures over the same dates
    size_png, marker_png = (_png(fig) for fig in figures)
    flag_html = "".join(f'<li class="{sev.value}">{e(t)}</li>' for sev, t in flags) or "<li>no open flags</li>"
    return (
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        f"<title>{e(d.title)} surveillance summary</title><style>{_CSS}</style></head><body>\n"
        f"<h1>Surveillance summary — {e(d.title)} — as of {d.as_of.isoformat()}</h1>\n"
        f"<p>{e(summary(d))}</p>\n"
        f"<h2>What changed {e(anchor)}</h2><ul>{''.join(f'<li>{e(c)}</li>' for c in changed)}</ul>\n"
        f"<h2>Open flags ({len(flags)}), action first</h2><ul>{flag_html}</ul>\n"
        f"<h2>Next scheduled items</h2><ul>{''.join(f'<li>{e(t)}</li>' for t in next_items(d))}</ul>\n"
        "<div class=\"plots\">"
        f"<img alt=\"lesion size over time\" src=\"data:image/png;base64,{size_png}\">"
        f"<img alt=\"tumour markers over time\" src=\"data:image/png;base64,{marker_png}\"></div>\n"
        f"<footer>{e(FOOTER)}. As of {d.as_of.isoformat()} · tracker {e(d.version)}{e(d.synthetic_note)}</footer>\n"
        "</body></html>\n"
    )
