"""Plots and the one-page report: load a patient (or everyone) through `surveillance.views`,
build the figure from domain data and save it where the user asked.

The file's extension picks the format: .png, .svg or .pdf for plots; .pdf or .html for the
report. matplotlib is imported inside the functions, never at module level, so that commands
which do not plot stay fast (`tracker.plots` and `tracker.report` import it when loaded).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tracker.config import Settings
from tracker.db import transaction
from tracker.domain.model import PatientHistory
from tracker.domain.protocol import SurveillanceProtocol
from tracker.errors import NotFoundError, ValidationError
from tracker.private import write_private
from tracker.services.protocols import all_protocols
from tracker.services.surveillance import PatientView, mark_seen, protocol_for, views
from tracker.store import Store
from tracker.text import quoted

if TYPE_CHECKING:
    from matplotlib.figure import Figure

PLOT_FORMATS = (".png", ".svg", ".pdf")
REPORT_FORMATS = (".pdf", ".html")
KINDS = ("size", "markers", "timeline")


def check_target(path: Path, allowed: Sequence[str]) -> Path:
    """The path, if its extension is allowed and its folder exists; else a ValidationError."""
    ext = path.suffix.lower()
    if ext not in allowed:
        raise ValidationError(f"cannot write '{path.name}': use a file name ending in {', '.join(allowed)}", "--out")
    if not path.parent.is_dir():
        raise ValidationError(f"folder '{path.parent}' does not exist; create it first or choose another --out",
                              "--out")
    if path.is_dir():
        raise ValidationError(f"'{path}' is a folder; give a file name such as {path / ('plot' + allowed[0])}",
                              "--out")
    return path


def save_figure(fig: Figure, path: Path) -> Path:
    """Save a figure in the format of its extension; an unwritable path is a ValidationError."""
    from tracker.plots import style

    check_target(path, PLOT_FORMATS)
    try:
        with style.themed():
            write_private(path, lambda f: fig.savefig(f, format=path.suffix.lower().lstrip("."), dpi=110,
                                                      metadata=_metadata(path.suffix.lower())))
    except OSError as exc:
        raise ValidationError(f"cannot write '{path}': {exc.strerror or exc}", "--out") from None
    return path


def _metadata(ext: str) -> dict[str, Any]:
    """Reproducible files: no creation date in PDF or SVG output, a plain creator in PNG."""
    if ext == ".pdf":
        return {"CreationDate": None, "Creator": "tracker"}
    if ext == ".svg":
        return {"Date": None, "Creator": "tracker"}
    return {"Software": "tracker"}


def _view(settings: Settings, label: str, as_of: date) -> PatientView:
    """One patient's view, its flags not marked seen (a report marks them once written, a plot never)."""
    found = views(settings, label, as_of=as_of, record=False)
    if not found:
        raise NotFoundError(f"no patient {quoted(label)}; run `tracker patient list` to see the labels")
    return found[0]


def patient_figure(view: PatientView, kind: str, *, as_of: date, log: bool = False) -> Figure:
    """The figure of one kind (size, markers or timeline) for one evaluated patient."""
    flags = [fv.flag for fv in view.flags]
    if kind == "size":
        from tracker.plots.size import size_figure

        return size_figure(view.history, view.protocol, flags, as_of=as_of)
    if kind == "markers":
        from tracker.plots.markers import markers_figure

        window = int(view.protocol.rule("data.confounder").params.get("ppi_window_days", 90))
        return markers_figure(view.history, as_of=as_of, log=log, ppi_window_days=window)
    if kind == "timeline":
        from tracker.plots.timeline import timeline_figure

        return timeline_figure(view.history, flags, view.schedule, as_of=as_of)
    raise ValidationError(f"unknown plot kind {quoted(kind)}; use {', '.join(KINDS)}", "--kind")


def plot_patient(settings: Settings, label: str, kind: str, path: Path, *, as_of: date, log: bool = False,
                 phone: bool = False) -> Path:
    """Draw one patient's size, markers or timeline plot into `path` (.png, .svg or .pdf); `phone`:
    laid out for a phone's width (`style.for_phone`)."""
    check_target(path, PLOT_FORMATS)
    if kind not in KINDS:
        raise ValidationError(f"unknown plot kind {quoted(kind)}; use {', '.join(KINDS)}", "--kind")
    view = _view(settings, label, as_of)
    fig = patient_figure(view, kind, as_of=as_of, log=log)
    if phone:
        from tracker.plots.style import for_phone

        fig = for_phone(fig)
    return _save_closed(fig, path)


def _save_closed(fig: Figure, path: Path) -> Path:
    try:
        return save_figure(fig, path)
    finally:
        fig.clear()


def cohort_figure_for(cohort: Sequence[tuple[PatientHistory, SurveillanceProtocol]], *, as_of: date) -> Figure:
    from tracker.plots.cohort import burden_series, cohort_figure

    series = [s for h, protocol in cohort if (s := burden_series(h, protocol, as_of=as_of)) is not None]
    return cohort_figure(series, as_of=as_of)


def plot_cohort(settings: Settings, path: Path, *, as_of: date) -> Path:
    """Spider plot and waterfall of every patient under surveillance into `path`."""
    check_target(path, PLOT_FORMATS)
    return _save_closed(cohort_figure_for(cohort_histories(settings, as_of=as_of), as_of=as_of), path)


def cohort_histories(settings: Settings, *, as_of: date) -> list[tuple[PatientHistory, SurveillanceProtocol]]:
    """Every patient still under surveillance on `as_of`, with their protocol: the histories
    only, loaded in bulk (the cohort plot needs no flags or schedules, so none are evaluated)."""
    protocols = all_protocols()
    with transaction(settings, read_only=True) as s:
        st = Store(s)
        patients = [p for p in st.patients() if not p.has_left(as_of)]
        return [(h, protocol_for(protocols, h.patient)) for h in st.histories(patients)]


def write_report(settings: Settings, label: str, path: Path, *, as_of: date) -> Path:
    """The one-page clinic report of one patient, as PDF or self-contained HTML."""
    from tracker import __version__, report

    check_target(path, REPORT_FORMATS)
    v = _view(settings, label, as_of)
    data = report.ReportData(history=v.history, protocol=v.protocol, flags=tuple(fv.flag for fv in v.flags),
                             schedule=tuple(v.schedule), as_of=as_of, version=__version__)
    try:
        if path.suffix.lower() == ".pdf":
            write_private(path, lambda f: report.write_pdf(data, f))
        else:
            write_private(path, report.render_html(data).encode("utf-8"))
    except OSError as exc:
        raise ValidationError(f"cannot write '{path}': {exc.strerror or exc}; its flags stay marked new",
                              "--out") from None
    mark_seen(settings, [v], as_of=as_of)  # the report shows them: seen, now that it is written whole
    return path


def write_patient_outputs(settings: Settings, label: str, out_dir: Path, *, as_of: date) -> list[Path]:
    """Size, markers and timeline PNGs and the PDF report of one patient, in `out_dir` (created)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    v = _view(settings, label, as_of)
    written = [_save_closed(patient_figure(v, kind, as_of=as_of), out_dir / f"{label}-{kind}.png") for kind in KINDS]
    written.append(write_report(settings, label, out_dir / f"{label}-report.pdf", as_of=as_of))
    return written


def write_cohort_plot(settings: Settings, path: Path, *, as_of: date) -> Path:
    """The cohort spider + waterfall plot (the folder is created)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    return plot_cohort(settings, path, as_of=as_of)
