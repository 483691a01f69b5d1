"""Commands for files: import and export."""

from __future__ import annotations

import sys
from enum import Enum
from pathlib import Path
from typing import Annotated, Any

import typer

from tracker.cli.app import app
from tracker.cli.common import AsOfOption, as_of, note, progress_bar, settings


class ExportFormat(str, Enum):
    """What `export` writes (no table: an export is a file)."""

    json = "json"
    csv = "csv"
    fhir = "fhir"


def _svc() -> Any:
    """The service module, imported on first use so that `--help` stays fast."""
    from tracker.services import files

    return files


@app.command("import")
def import_(
    ctx: typer.Context,
    file: Annotated[Path, typer.Argument(help="A patient JSON document, a list or cohort of them, a lab CSV, or a "
                                              "FHIR R4 file (Bundle, resource or NDJSON) with --patient.")],
    patient: Annotated[str | None, typer.Option(
        "--patient", help="FHIR: the patient label the file belongs to (a portal download names none of ours).")
    ] = None,
    create: Annotated[bool, typer.Option(
        "--create", help="FHIR: make the patient from the file (birth year, sex, pNET diagnosis date).")] = False,
    today: AsOfOption = None,
) -> None:
    """Import histories from JSON (schemas/patient.schema.json), lab results from CSV, or a
    patient's FHIR R4 download (docs/fhir.md).

    The whole file is checked first; on any problem nothing is written and every problem is
    listed with its location. Importing the same file twice changes nothing. A portal download
    goes to the patient named by --patient (--create makes that patient from the download).

    Example: tracker import examples/syn-growing.json ; tracker patient add ME --birth-year 1961 --sex female --diagnosis-date 2025-02-20 --setting small_nf --start 2025-03-10 ; tracker import examples/portal-download.fhir.json --patient ME
    """  # noqa: E501
    if patient is not None:
        _import_fhir(ctx, file, patient, create, as_of(today))
        return
    if create:
        from tracker.errors import ValidationError

        raise ValidationError("--create goes with --patient LABEL (a FHIR file)", "--create")
    with progress_bar("Importing") as progress:
        summary = _svc().import_file(settings(ctx), file, today=as_of(today), progress=progress)
    note(f"Imported {file.name}: {summary.patients_created} new patient(s), {summary.records_added} record(s) "
         f"added, {summary.records_unchanged} already present"
         + (f", {summary.records_voided_here} voided here, not imported again" if summary.records_voided_here else "")
         + ".")


def _import_fhir(ctx: typer.Context, file: Path, label: str, create: bool, today: Any) -> None:
    from tracker.services import fhir

    s = fhir.import_fhir(settings(ctx), file, label=label, create=create, today=today)
    made = f"new patient {label}; " if s.patient_created else ""
    note(f"Imported {file.name} into {label}: {made}{s.records_added} record(s) added, {s.records_unchanged} "
         f"already present; {s.skipped} resource(s) not about pNET surveillance were skipped.")
    for text in s.notes:
        note(f"  note: {text}")
    if s.reports:
        note(f"{len(s.reports)} imaging report(s) to read (text only; their sizes are not imported):")
    for r in s.reports:
        when = r.date.isoformat() if r.date else "YYYY-MM-DD"
        modality = r.modality.value if r.modality else "MRI"
        note(f"  {when}  {r.title}\n    enter its sizes: tracker log scan {label} --date {when} "
             f"--modality {modality} --lesion P1:pancreas:SIZE")


@app.command("export")
def export(
    ctx: typer.Context,
    patient: Annotated[str | None, typer.Argument(help="Patient label; use --all for everyone.")] = None,
    all_: Annotated[bool, typer.Option("--all", help="Export every patient.")] = False,
    fmt: Annotated[ExportFormat, typer.Option(
        "--format", "-f", help="json (importable), csv (one row per value) or fhir (an mCODE-shaped FHIR R4 Bundle "
                               "of one patient, importable with --patient).")] = ExportFormat.json,
    out: Annotated[Path | None, typer.Option("--out", "-o", help="Write to this file instead of stdout.")] = None,
    today: AsOfOption = None,
) -> None:
    """Export histories: canonical JSON (sorted keys, ISO dates; importable again) or CSV.

    Example: tracker export SYN-GROWING --out syn-growing.json ; tracker export --all --format csv > all.csv

    For a clinic system: tracker export SYN-GROWING --format fhir --out syn-growing.fhir.json
    """
    from tracker.errors import ValidationError

    if (patient is None) == (not all_):
        raise ValidationError("name one patient or pass --all", "PATIENT")
    if fmt is ExportFormat.fhir:
        if patient is None:
            raise ValidationError("a FHIR export is of one patient; name the patient instead of --all", "PATIENT")
        from tracker.services import fhir

        text = fhir.export_fhir(settings(ctx), patient, today=as_of(today))
    else:
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
