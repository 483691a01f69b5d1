"""Commands for a patient's records: history, amend, void, verify, audit."""

from __future__ import annotations

from typing import Annotated

import typer

from tracker.cli.app import app
from tracker.cli.common import (
    AsOfOption,
    Format,
    FormatOption,
    as_of,
    emit,
    interactive,
    note,
    settings,
)
from tracker.cli.entry import (
    ConfirmOpt,
    FutureOpt,
    PatientArg,
    confirmed,
    service,
)
from tracker.domain import model as dm
from tracker.errors import ValidationError
from tracker.jsonio.documents import LIST_KEYS
from tracker.text import quoted

# ------------------------------------------------------------------ history, amend, void, audit

KindArg = Annotated[str, typer.Argument(help="visit, lab, scan or pathology.")]
IdArg = Annotated[int, typer.Argument(help="Record id (see tracker history).")]


def _kind(kind: str) -> str:
    if kind not in LIST_KEYS:
        raise ValidationError(f"unknown record kind {quoted(kind)}; use visit, lab, scan or pathology", "KIND")
    return kind


@app.command("history")
def history(
    ctx: typer.Context,
    patient: PatientArg,
    voided: Annotated[bool, typer.Option("--voided", help="Include voided records.")] = False,
    fmt: FormatOption = Format.table,
) -> None:
    """A patient's records in date order, with their ids (for amend and void).

    Example: tracker history SYN-GROWING --format json
    """
    p, recs = service().history(settings(ctx), patient, include_voided=voided)
    cols = ["kind", "id", "date", "summary", "source", "verified"] + (["voided_reason"] if voided else [])
    emit(service().stored_rows(p, recs), cols, fmt, empty=f"no records for {p.label} yet")


YesOpt = Annotated[bool, typer.Option("--yes", "-y", help="Do not ask before writing (for scripts).")]


def _go_ahead(question: str, yes: bool) -> None:
    """In a terminal, ask before a correction is written (unless --yes); scripts go ahead."""
    if yes or not interactive():
        return
    if not typer.confirm(question, default=False, err=True):
        note("Nothing was written.")
        raise typer.Exit(1)


def _record_line(kind: str, r: dm.Record, owner: dm.Patient) -> str:
    return f"{kind} #{r.id} of {owner.label}, {r.date.isoformat()}: {service().summarize(r)}"


@app.command("amend")
def amend(
    ctx: typer.Context,
    patient: PatientArg,
    kind: KindArg,
    record_id: IdArg,
    sets: Annotated[list[str], typer.Option(
        "--set", help="FIELD=VALUE; repeat. lesions.P1.longest_mm=15 for a lesion.")],
    reason: Annotated[str, typer.Option("--reason", help="Why (kept in the audit trail).")],
    yes: YesOpt = False,
    allow_future: FutureOpt = False,
    confirm: ConfirmOpt = False,
    today: AsOfOption = None,
) -> None:
    """Correct a record of a patient. The old values stay in the audit trail; nothing is
    overwritten silently. In a terminal it shows the record and asks first.

    Example: tracker amend SYN-GROWING scan 3 --set lesions.P1.longest_mm=15 --reason "radiology addendum"
    """
    st = settings(ctx)
    when = as_of(today)
    owner, old, changes = service().preview_amend(st, patient, _kind(kind), record_id, sets)
    _go_ahead(f"{_record_line(kind, old, owner)}\nChange {changes or 'nothing'}?", yes)
    confirmed(lambda sure: service().amend_fields(st, patient, kind, record_id, sets, reason=reason, today=when,
                                                allow_future=allow_future, confirm=sure), confirm)
    note(f"Amended {kind} #{record_id} of {owner.label} ({old.date.isoformat()}).")


@app.command("void")
def void(
    ctx: typer.Context,
    patient: PatientArg,
    kind: KindArg,
    record_id: IdArg,
    reason: Annotated[str, typer.Option("--reason", help="Why (kept in the audit trail).")],
    yes: YesOpt = False,
) -> None:
    """Void a record of a patient entered in error. It is never deleted: history --voided and the
    audit show it. In a terminal it shows the record and asks first.

    Example: tracker void SYN-GROWING lab 2 --reason "entered for the wrong patient"
    """
    st = settings(ctx)
    owner, old = service().get_record(st, patient, _kind(kind), record_id)
    _go_ahead(f"{_record_line(kind, old.record, owner)}\nVoid it?", yes)
    service().void_record(st, patient, kind, record_id, reason=reason)
    note(f"Voided {kind} #{record_id} of {owner.label} ({old.record.date.isoformat()}).")


@app.command("verify")
def verify(
    ctx: typer.Context,
    patient: PatientArg,
    kind: KindArg,
    record_id: IdArg,
    reason: Annotated[str, typer.Option("--reason", help="What it was checked against (audit trail).")] =
    "checked against the source document",
    yes: YesOpt = False,
    today: AsOfOption = None,
) -> None:
    """Mark a record of a patient verified: checked against its source document (the report, the
    lab print-out). An entry that looked implausible stops being flagged. Audited as an amendment.

    Example: tracker verify SYN-STABLE lab 11 --reason "lab print-out of 2024-03-18" --yes
    """
    st = settings(ctx)
    owner, old = service().get_record(st, patient, _kind(kind), record_id)
    _go_ahead(f"{_record_line(kind, old.record, owner)}\nMark it verified?", yes)
    service().verify_record(st, patient, kind, record_id, reason=reason, today=as_of(today))
    note(f"Verified {kind} #{record_id} of {owner.label} ({old.record.date.isoformat()}).")


@app.command("audit")
def audit(
    ctx: typer.Context,
    patient: Annotated[str | None, typer.Argument(help="Patient label; all when left out.")] = None,
    fmt: FormatOption = Format.table,
) -> None:
    """The audit trail: who changed what, when (UTC), with the values before and after.

    Example: tracker audit SYN-GROWING --format json
    """
    rows = service().audit_trail(settings(ctx), patient)
    cols = ["id", "at", "user", "action", "entity", "entity_id", "reason", "changes"]
    emit(rows, cols + (["before", "after"] if fmt is not Format.table else []), fmt, empty="no changes recorded")
