"""Commands that draw: plot (size, markers, timeline, cohort) and report (one printable page).

matplotlib is loaded only when one of these commands runs (the service imports it lazily)."""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Annotated, Any

import typer

from tracker.cli.app import app
from tracker.cli.common import AsOfOption, as_of, note, settings
from tracker.errors import ValidationError


class Kind(str, Enum):
    size = "size"
    markers = "markers"
    timeline = "timeline"


def _svc() -> Any:
    """The plot service, imported on first use so that other commands never load matplotlib."""
    from tracker.services import plots

    return plots


@app.command("plot")
def plot(
    ctx: typer.Context,
    patient: Annotated[str | None, typer.Argument(help="Patient label; or --cohort for everyone.")] = None,
    out: Annotated[Path | None, typer.Option("--out", "-o", help="File to write: .png, .svg or .pdf.")] = None,
    kind: Annotated[Kind, typer.Option("--kind", help="size, markers or timeline.")] = Kind.size,
    cohort: Annotated[bool, typer.Option("--cohort", help="Spider plot and waterfall of every patient.")] = False,
    log: Annotated[bool, typer.Option("--log", help="Markers on a log scale.")] = False,
    today: AsOfOption = None,
) -> None:
    """Draw a patient's lesion sizes (with the protocol's thresholds, the 2 mm measurement error
    and the fitted mm/year), tumour markers (one panel per analyte and unit, upper limit, PPI
    results ringed) or timeline (visits, scans, labs, pathology, flags, next items); or, with
    --cohort, the % change from baseline of every patient (spider plot and waterfall).

    Example: tracker plot SYN-GROWING --kind size --out growing.png ; tracker plot --cohort --out cohort.pdf
    """
    if out is None:
        raise ValidationError("give the file to write with --out (ending in .png, .svg or .pdf)", "--out")
    if cohort == (patient is not None):
        raise ValidationError("name one patient or pass --cohort", "PATIENT")
    when = as_of(today)
    if cohort:
        path = _svc().plot_cohort(settings(ctx), out, as_of=when)
    else:
        assert patient is not None
        path = _svc().plot_patient(settings(ctx), patient, kind.value, out, as_of=when, log=log)
    note(f"Wrote {path}")


@app.command("report")
def report(
    ctx: typer.Context,
    patient: Annotated[str, typer.Argument(help="Patient label.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="File to write: .pdf or .html.")],
    today: AsOfOption = None,
) -> None:
    """One printable A4 page for the clinic visit: the patient summary, what changed since the
    last visit, open flags with their explanations (action first), the next scheduled items,
    and the size and marker plots. Decision support only.

    Example: tracker report SYN-GROWING --out growing.pdf --as-of 2026-11-22
    """
    path = _svc().write_report(settings(ctx), patient, out, as_of=as_of(today))
    note(f"Wrote {path}")
