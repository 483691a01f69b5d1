"""Commands for files and the demo: import, export, demo."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from tracker.cli.app import app
from tracker.cli.common import AsOfOption, Format, as_of, note, progress_bar, settings


def _svc() -> Any:
    """The service module, imported on first use so that `--help` stays fast."""
    from tracker.services import files

    return files


@app.command("import")
def import_(
    ctx: typer.Context,
    file: Annotated[Path, typer.Argument(help="A patient JSON document, a list or cohort of them, or a lab CSV.")],
    today: AsOfOption = None,
) -> None:
    """Import histories from JSON (schemas/patient.schema.json) or lab results from CSV.

    The whole file is checked first; on any problem nothing is written and every problem is
    listed with its location. Importing the same file twice changes nothing.

    Example: tracker import examples/cohort.json
    """
    with progress_bar("Importing") as progress:
        summary = _svc().import_file(settings(ctx), file, today=as_of(today), progress=progress)
    note(f"Imported {file.name}: {summary.patients_created} new patient(s), {summary.records_added} record(s) "
         f"added, {summary.records_unchanged} already present.")




@app.command("export")
def export(
    ctx: typer.Context,
    patient: Annotated[str | None, typer.Argument(help="Patient label; use --all for everyone.")] = None,
    all_: Annotated[bool, typer.Option("--all", help="Export every patient.")] = False,
    fmt: Annotated[Format, typer.Option("--format", "-f", help="json (importable) or csv (one row per value).")
                   ] = Format.json,
    out: Annotated[Path | None, typer.Option("--out", "-o", help="Write to this file instead of stdout.")] = None,
) -> None:
    """Export histories: canonical JSON (sorted keys, ISO dates; importable again) or CSV.

    Example: tracker export SYN-GROWING --out syn-growing.json ; tracker export --all --format csv > all.csv
    """
    from tracker.errors import ValidationError

    if (patient is None) == (not all_):
        raise ValidationError("name one patient or pass --all", "PATIENT")
    if fmt is Format.table:
        raise ValidationError("export writes json or csv; pass --format json or --format csv", "--format")
    text = _svc().export(settings(ctx), patient, fmt=fmt.value)
    if out is None:
        sys.stdout.write(text)
    else:
        _write_private(out, text)
        note(f"Wrote {out}.")


def _write_private(path: Path, text: str) -> None:
    """Write an export readable by its owner only (it holds patient data). A regular file is
    written beside its target and renamed over it, so a full disk never leaves half a file."""
    from tracker.errors import ValidationError
    from tracker.private import write_private

    try:
        write_private(path, text.encode("utf-8"))
    except OSError as exc:
        raise ValidationError(f"cannot write {path}: {exc.strerror or exc}; nothing was written", "--out") from None
