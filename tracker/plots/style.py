"""Shared look of every tracker plot: a colour-blind-safe palette, readable sizes, ISO dates.

Colours are the Okabe–Ito palette (Okabe & Ito 2008, "Color Universal Design"), which stays
distinguishable with the common colour-vision deficiencies; meaning never rests on colour alone
(marker shapes and line styles differ too). Fonts are DejaVu Sans, which matplotlib ships, so a
figure renders the same on any machine without network or system fonts.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime, time
from typing import Any

import matplotlib.dates as mdates
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from tracker.domain.model import DueStatus, Modality, Severity

# Okabe–Ito, in the order lesions and series take them (black is kept for reference lines).
ORANGE = "#E69F00"
SKY_BLUE = "#56B4E9"
GREEN = "#009E73"
YELLOW = "#F0E442"
BLUE = "#0072B2"
VERMILLION = "#D55E00"
PURPLE = "#CC79A7"
BLACK = "#000000"
GREY = "#777777"

#: Colours for lesions and series, in order (yellow last: it is faint on white).
SERIES = (BLUE, VERMILLION, GREEN, PURPLE, SKY_BLUE, ORANGE, YELLOW)

SEVERITY_COLOUR = {Severity.ACTION: VERMILLION, Severity.WATCH: ORANGE, Severity.INFO: SKY_BLUE}
STATUS_COLOUR = {
    DueStatus.OVERDUE: VERMILLION, DueStatus.DUE: ORANGE, DueStatus.DUE_SOON: SKY_BLUE,
    DueStatus.NOT_DUE: "#BBBBBB", DueStatus.CLOSED: GREY,
}
#: One marker shape per imaging modality (also used on the timeline).
MODALITY_MARKER = {
    Modality.MRI: "o", Modality.CT: "s", Modality.EUS: "^", Modality.US: "v",
    Modality.SSTR_PET: "P", Modality.FDG_PET: "X",
}

FONT_SIZE = 10
RC: dict[str, Any] = {
    "font.family": "DejaVu Sans",
    "font.size": FONT_SIZE,
    "axes.titlesize": FONT_SIZE + 2,
    "axes.labelsize": FONT_SIZE,
    "xtick.labelsize": FONT_SIZE - 1,
    "ytick.labelsize": FONT_SIZE - 1,
    "legend.fontsize": FONT_SIZE - 1,
    "svg.fonttype": "path",  # glyphs as outlines: the SVG needs no font installed to look right
    "pdf.fonttype": 3,  # Type 3 subsets fast; Type 42 subsetting (fontTools) costs ~1 s a page
}


def series_colour(i: int) -> str:
    return SERIES[i % len(SERIES)]


def new_figure(width_in: float, height_in: float) -> Figure:
    """A Figure (never pyplot) with constrained layout, so labels and outside legends fit."""
    return Figure(figsize=(width_in, height_in), layout="constrained", dpi=100)


def to_num(d: date) -> float:
    """A date as matplotlib's float day number."""
    return float(mdates.date2num(datetime.combine(d, time())))


def iso_date_axis(ax: Axes, *, daily: bool = False) -> None:
    """x axis of dates written as ISO year-month (or year-month-day), at most about 8 ticks."""
    loc = mdates.AutoDateLocator(minticks=3, maxticks=8)
    ax.xaxis.set_major_locator(loc)
    ax.xaxis.set_major_formatter(mdates.DateFormatter("%Y-%m-%d" if daily else "%Y-%m"))
    for label in ax.get_xticklabels():
        label.set_rotation(0)
    ax.grid(True, axis="both", color="#dddddd", linewidth=0.6)
    ax.set_axisbelow(True)


def mark_as_of(ax: Axes, as_of: date, *, text: bool = True, at: str = "top") -> None:
    """A dotted vertical line at the as-of date, labelled along it at the top or bottom."""
    x = to_num(as_of)
    ax.axvline(x, color=GREY, linestyle=":", linewidth=1.2, zorder=1, label="_as_of")
    if text:
        top = at == "top"
        ax.annotate(f"as of {as_of.isoformat()}", xy=(x, 0.98 if top else 0.02), xycoords=("data", "axes fraction"),
                    xytext=(-3, 0), textcoords="offset points", ha="right", va="top" if top else "bottom",
                    rotation=90, fontsize=FONT_SIZE - 2, color=GREY)


def legend_outside(ax: Axes, *, where: str = "right", ncol: int = 1,
                   entries: Sequence[tuple[Any, str]] | None = None) -> None:
    """The legend outside the data area, so it never hides a point: right of or below the axes.
    `entries` (handle, text) replace the axes' own labelled artists, to group them."""
    handles, labels = ax.get_legend_handles_labels()
    pairs = list(entries) if entries is not None else list(zip(handles, labels, strict=True))
    keep = [(h, lab) for h, lab in pairs if not lab.startswith("_")]
    if not keep:
        return
    hs, ls = zip(*keep, strict=True)
    if where == "below":
        ax.legend(hs, ls, loc="upper center", bbox_to_anchor=(0.5, -0.18), ncol=ncol, frameon=False,
                  fontsize=FONT_SIZE - 2)
    else:
        ax.legend(hs, ls, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)


def empty_message(ax: Axes, text: str) -> Axes:
    """An axes that says plainly why there is nothing to draw."""
    ax.text(0.5, 0.5, text, ha="center", va="center", transform=ax.transAxes, color=GREY)
    ax.set_xticks([])
    ax.set_yticks([])
    return ax


def themed() -> Any:
    """A context in which figures are built and saved with the tracker's sizes and fonts."""
    import matplotlib

    return matplotlib.rc_context(RC)  # type: ignore[arg-type]  # matplotlib types the keys as literals


#: the width of a figure for a phone's screen (375 CSS px, less the page's margins)
PHONE_WIDTH_IN = 4.4


def for_phone(fig: Figure) -> Figure:
    """The same figure laid out for a phone: narrow, every legend below its axes in one column
    (a legend right of the axes would be cut off or shrink the data to nothing) and long titles
    wrapped; the height grows by what the legends and titles take."""
    import textwrap

    extra = 0.0
    for ax in fig.axes:
        lines = textwrap.wrap(ax.get_title(), 38)
        if len(lines) > 1:
            ax.set_title("\n".join(lines))
            extra += 0.2 * (len(lines) - 1)
        old = ax.get_legend()
        if old is None:
            continue
        pairs = [(h, textwrap.fill(t.get_text(), 48))
                 for h, t in zip(old.legend_handles, old.get_texts(), strict=True) if h is not None]
        handles, texts = [h for h, _ in pairs], [t for _, t in pairs]
        old.remove()
        ax.legend(handles, texts, loc="upper center", bbox_to_anchor=(0.5, -0.12), ncol=1, frameon=False,
                  fontsize=FONT_SIZE - 2)
        extra += 0.18 * sum(t.count("\n") + 1 for t in texts) + 0.3
    height = fig.get_size_inches()[1]
    fig.set_size_inches(PHONE_WIDTH_IN, height * 0.75 + extra)
    return fig
