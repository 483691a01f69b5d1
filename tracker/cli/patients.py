"""Commands for patients: patient add|list|show|edit|leave."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from tracker.cli.app import app
from tracker.cli.common import (
    AsOfOption,
    Format,
    FormatOption,
    as_of,
    choice,
    emit,
    need,
    note,
    settings,
)
from tracker.cli.entry import (
    DateOpt,
    NotesOpt,
    PatientArg,
    SourceOpt,
    VerifiedOpt,
    date_parser,
    entry_source,
    provenance,
    service,
)
from tracker.domain import model as dm

patient_app = typer.Typer(no_args_is_help=True, help="Add, list, show, edit patients; record leaving surveillance.")
app.add_typer(patient_app, name="patient")


PATIENT_COLUMNS = ["id", "label", "birth_year", "sex", "setting", "syndrome", "protocol", "protocol_start",
                   "left_on", "leave_reason"]


def _patient_row(p: dm.Patient) -> dict[str, Any]:
    return {"id": p.id, "label": p.label, "birth_year": p.birth_year, "sex": p.sex.value, "setting": p.setting.value,
            "syndrome": p.syndrome.value, "protocol": p.protocol_id, "protocol_start": p.protocol_start.isoformat(),
            "left_on": p.left_on.isoformat() if p.left_on else None,
            "leave_reason": p.leave_reason.value if p.leave_reason else None,
            "diagnosis_date": p.diagnosis_date.isoformat(), "primary_resected": p.primary_resected,
            "t_stage": p.t_stage}


# ------------------------------------------------------------------ patient


@patient_app.command("add")
def patient_add(
    ctx: typer.Context,
    label: Annotated[str, typer.Argument(help="A short label you pick (no real name needed), e.g. P-014.")],
    birth_year: Annotated[int | None, typer.Option("--birth-year", help="Year of birth.")] = None,
    sex: Annotated[dm.Sex | None, typer.Option("--sex")] = None,
    diagnosis: Annotated[str | None, typer.Option("--diagnosis-date", help="Date of diagnosis.")] = None,
    setting: Annotated[dm.Setting | None, typer.Option("--setting", help="Tumour setting.")] = None,
    protocol: Annotated[str | None, typer.Option("--protocol", help="Protocol id (tracker protocol list).")] = None,
    start: Annotated[str | None, typer.Option("--start", help="Protocol start = baseline imaging date.")] = None,
    syndrome: Annotated[dm.Syndrome, typer.Option("--syndrome", help="Hereditary syndrome.")] = dm.Syndrome.NONE,
    resected: Annotated[bool, typer.Option("--primary-resected/--primary-in-place")] = False,
    t_stage: Annotated[str | None, typer.Option("--t-stage", help="T1..T4 if known.")] = None,
    source: SourceOpt = None,
    verified: VerifiedOpt = False,
    notes: NotesOpt = "",
    today: AsOfOption = None,
) -> None:
    """Add a patient. Asks for what is missing when run in a terminal.

    Example: tracker patient add P-014 --birth-year 1961 --sex female --diagnosis-date 2025-03-01
    --setting small_nf --protocol pnet-small-nf --start 2025-03-10
    """
    src = entry_source(ctx, source)
    setting_v = need(setting.value if setting else None, "--setting", "Setting (small_nf, functioning, metastatic)",
                     choice(dm.Setting))
    default_protocol = "pnet-metastatic-ww" if setting_v is dm.Setting.METASTATIC else "pnet-small-nf"
    p = dm.Patient(
        label=label,
        birth_year=need(birth_year, "--birth-year", "Birth year", int),
        sex=need(sex.value if sex else None, "--sex", "Sex (female, male, other, unknown)", choice(dm.Sex)),
        diagnosis_date=need(diagnosis, "--diagnosis-date", "Date of diagnosis (YYYY-MM-DD)",
                            date_parser("the diagnosis date")),
        setting=setting_v,
        protocol_id=protocol or default_protocol,
        protocol_start=need(start, "--start", "Protocol start, the baseline imaging date (YYYY-MM-DD)",
                            date_parser("the protocol start")),
        syndrome=syndrome, primary_resected=resected, t_stage=t_stage.upper() if t_stage else None,
        provenance=provenance(src, verified, notes),
    )
    stored = service().add_patient(settings(ctx), p, today=as_of(today))
    typer.echo(stored.label)
    note(f"Added patient {stored.label} (#{stored.id}) on {stored.protocol_id} from {stored.protocol_start}.")


@patient_app.command("list")
def patient_list(ctx: typer.Context, fmt: FormatOption = Format.table) -> None:
    """List patients.

    Example: tracker patient list --format csv
    """
    rows = [_patient_row(p) for p in service().list_patients(settings(ctx))]
    emit(rows, PATIENT_COLUMNS, fmt, empty="no patients yet; add one with `tracker patient add` or run `tracker demo`")


@patient_app.command("show")
def patient_show(ctx: typer.Context, patient: PatientArg, fmt: FormatOption = Format.table) -> None:
    """Show one patient's details.

    Example: tracker patient show SYN-GROWING
    """
    p = service().get_patient(settings(ctx), patient)
    row = _patient_row(p)
    if fmt is Format.table:
        for k, v in row.items():
            typer.echo(f"{k:16} {'' if v is None else v}")
        return
    emit([row], list(row), fmt)


@patient_app.command("edit")
def patient_edit(
    ctx: typer.Context,
    patient: PatientArg,
    sets: Annotated[list[str], typer.Option("--set", help="FIELD=VALUE; repeat. Fields as in `patient show`.")],
    reason: Annotated[str, typer.Option("--reason", help="Why (kept in the audit trail).")],
    today: AsOfOption = None,
) -> None:
    """Amend patient details; the audit trail keeps the values before and after.
    A protocol change applies from its new start date.

    Example: tracker patient edit SYN-GROWING --set protocol.id=pnet-metastatic-ww --set protocol.start=2026-02-01
    --reason "liver metastases found"
    """
    after, changed = service().edit_patient_fields(settings(ctx), patient, sets, reason=reason, today=as_of(today))
    note(f"Amended patient {after.label}: {', '.join(changed) or 'nothing'}.")


@patient_app.command("leave")
def patient_leave(
    ctx: typer.Context,
    patient: PatientArg,
    reason: Annotated[dm.LeaveReason, typer.Option("--reason", help="Why the patient left surveillance.")],
    on: DateOpt = None,
    notes: NotesOpt = "",
    today: AsOfOption = None,
) -> None:
    """Record that a patient left surveillance (treatment, patient choice, death, lost to follow-up).
    From that date nothing falls due and no current flags are shown.

    Example: tracker patient leave SYN-STABLE --date 2026-03-01 --reason treatment
    """
    when = need(on, "--date", "Date of leaving (YYYY-MM-DD)", date_parser("the date"))
    p = service().leave_surveillance(settings(ctx), patient, when, reason, note=notes, today=as_of(today))
    note(f"Patient {p.label} left surveillance on {when} ({reason.value}).")
