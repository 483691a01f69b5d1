"""What the record commands share: their options (patient, source, date, notes ...), the source
of an entry, and asking before a value that looks like an entry error is stored."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any, TypeVar

import typer

from tracker.cli.common import (
    ask,
    choice,
    interactive,
    note,
    parse_date,
    settings,
)
from tracker.domain import model as dm
from tracker.errors import NeedsConfirmation, ValidationError
from tracker.text import quoted

PatientArg = Annotated[str, typer.Argument(help="Patient label (or internal id).")]
SourceOpt = Annotated[dm.Source | None, typer.Option(
    "--source", case_sensitive=False,
    help="Who reports the value: patient, clinician or import. Default: the TRACKER_SOURCE setting; else asked "
         "in a terminal; else clinician.")]
VerifiedOpt = Annotated[bool, typer.Option("--verified/--unverified", help="Checked against the source document.")]
NotesOpt = Annotated[str, typer.Option("--notes", help="Free-text notes.")]
FutureOpt = Annotated[bool, typer.Option("--allow-future", help="Accept a date after today (planned entries).")]
ConfirmOpt = Annotated[bool, typer.Option(
    "--confirm", help="The value is right although it looks like an entry error (stored verified).")]
DateOpt = Annotated[str | None, typer.Option("--date", help="Date (YYYY-MM-DD).")]


def service() -> Any:
    """The service module, imported on first use so that `--help` stays fast."""
    from tracker.services import records

    return records


def provenance(source: dm.Source, verified: bool, notes: str) -> dm.Provenance:
    return dm.Provenance(source=source, verified=verified, notes=notes)


def entry_source(ctx: typer.Context, given: dm.Source | None) -> dm.Source:
    """Who enters this command's values, decided once per command: --source, then the
    TRACKER_SOURCE setting, then (in a terminal) the person's answer, else clinician (scripts)."""
    if given is not None:
        return given
    setting = settings(ctx).source
    if setting:
        return choice(dm.Source)(setting) if setting in {s.value for s in dm.Source} else _bad_setting(setting)
    if interactive():
        return ask("Who is entering this: the patient or a clinician? (patient, clinician)",
                   lambda t: choice(dm.Source)(t.strip().removeprefix("a ").removeprefix("the ")))
    return dm.Source.CLINICIAN


def _bad_setting(value: str) -> dm.Source:
    raise ValidationError(f"{quoted(value)} is not patient, clinician or import; fix TRACKER_SOURCE", "TRACKER_SOURCE")


def date_parser(option: str) -> Any:
    return lambda text: parse_date(text, option)


T = TypeVar("T")


def confirmed(write: Callable[[bool], T], confirm: bool) -> T:
    """`write(confirm)`; when a value looks like an entry error, a terminal asks each question
    (default no) and writes it confirmed on yes; a script gets the questions and --confirm."""
    try:
        return write(confirm)
    except NeedsConfirmation as exc:
        if not interactive():
            raise
        for _, question in exc.questions:
            if not typer.confirm(question, default=False, err=True):
                note("Nothing was written; enter the value again as it should be.")
                raise typer.Exit(1) from None
        return write(True)
