"""Commands that read the surveillance state: flags, flag ack|snooze, measures, schedule, worklist."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import date
from typing import Annotated, Any

import typer

from tracker.cli.app import app
from tracker.cli.common import (
    AsOfOption,
    Format,
    FormatOption,
    ScheduleFormat,
    as_of,
    emit,
    note,
    parse_date,
    progress_bar,
    settings,
)
from tracker.config import Settings
from tracker.domain.model import DueItem
from tracker.domain.schedule import DUE_ITEM_FIELDS, display_what
from tracker.errors import DatabaseError, ValidationError
from tracker.text import quoted

flag_app = typer.Typer(no_args_is_help=True, help="Acknowledge or snooze a flag (with a reason).")
app.add_typer(flag_app, name="flag")

FLAG_COLUMNS = ["patient", "handle", "severity", "rule_id", "date", "message", "evidence", "threshold", "source",
                "rule_version", "unconfirmed", "new", "acknowledged", "acknowledged_by", "acknowledged_at",
                "snoozed_until", "key"]
FLAG_HISTORY_COLUMNS = ["patient", "severity", "rule_id", "date", "message", "evidence", "threshold", "source",
                        "rule_version", "first_seen_at", "first_seen_as_of", "reviews", "key"]


def _svc() -> Any:
    """The service module, imported on first use so that `--help` stays fast."""
    from tracker.services import surveillance

    return surveillance


def _scope(patient: str | None, all_: bool) -> str | None:
    if (patient is None) == (not all_):
        raise ValidationError("name one patient or pass --all", "PATIENT")
    return patient


@app.command("flags")
def flags(
    ctx: typer.Context,
    patient: Annotated[str | None, typer.Argument(help="Patient label; use --all for everyone.")] = None,
    all_: Annotated[bool, typer.Option("--all", help="Every patient under surveillance.")] = False,
    history: Annotated[bool, typer.Option("--history", help="Every flag ever shown (the stored flag log).")] = False,
    snoozed: Annotated[bool, typer.Option("--snoozed", help="Also list snoozed flags.")] = False,
    today: AsOfOption = None,
    fmt: FormatOption = Format.table,
) -> None:
    """Flags as of a date, action first: what to discuss at the NET tumour board, what to watch,
    and what to read with care. Each flag quotes its values, dates, threshold and source.
    Decision support: a flag says 'discuss', never 'treat'.

    Example: tracker flags SYN-GROWING --as-of 2026-02-15 ; tracker flags --all --format json
    """
    st = settings(ctx)
    ref = _scope(patient, all_)
    if history:
        rows = _svc().flag_history(st, ref)
        emit(rows, FLAG_HISTORY_COLUMNS if fmt is not Format.table else
             ["patient", "severity", "rule_id", "date", "first_seen_as_of", "message"],
             fmt, empty="no flag has been shown yet")
        return
    when = as_of(today)
    with progress_bar("Evaluating") as progress:
        views = _svc().views(st, ref, as_of=when, progress=progress, record=False)
    rows = [fv.to_json() for v in views for fv in [*v.flags, *(v.snoozed if snoozed else [])]]
    hidden = 0 if snoozed else sum(len(v.snoozed) for v in views)
    with _then_mark_seen(st, views, when, "the flags"):
        if fmt is Format.table:
            _flag_table(rows)
        else:
            emit(rows, FLAG_COLUMNS, fmt)
    if hidden:
        note(f"{hidden} snoozed flag{'s' if hidden > 1 else ''} not shown; --snoozed lists "
             f"{'them' if hidden > 1 else 'it'}.")


@contextmanager
def _then_mark_seen(st: Settings, views: Sequence[Any], when: date, what: str) -> Iterator[None]:
    """Print in the block, then mark the flags printed as seen: only once stdout has taken the
    output whole. If it cannot (a full disk), the flags stay new for the next look."""
    try:
        yield
        sys.stdout.flush()
    except OSError as exc:
        _drop_stdout()
        raise DatabaseError(f"cannot write {what}: {exc.strerror or exc}; the output is incomplete and its flags "
                            "stay marked new") from None
    _svc().mark_seen(st, views, as_of=when)


def _drop_stdout() -> None:
    """Send what is left in stdout's buffer nowhere: it cannot be written, and Python would
    otherwise report the failure again at exit."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass
    finally:
        os.close(devnull)


def _flag_table(rows: list[dict[str, Any]]) -> None:
    """One block per flag, wrapped to the terminal: number, severity, patient, rule and date; what
    was done about it; the message; the evidence."""
    import textwrap

    from tracker.cli.common import width

    if not rows:
        note("no flags")
        return
    indent = " " * 8
    out = []
    for r in rows:
        handle = f"#{r['handle']}"
        out.append(f"{handle:>4}  {r['severity'].upper():6}  {r['patient']}  {r['rule_id']}  {r['date']}")
        for text in [review_text(r), r["message"], f"evidence: {', '.join(r['evidence'])}"]:
            if text:
                out += textwrap.wrap(text, width() - 1, initial_indent=indent, subsequent_indent=indent,
                                     break_on_hyphens=False, break_long_words=False)
    sys.stdout.write("\n".join(out) + "\n")


def review_text(r: dict[str, Any]) -> str:
    """'NEW; acknowledged by anna 2026-02-03 10:00 UTC; snoozed until 2026-04-01' (the parts that apply)."""
    return "; ".join(" ".join(part) for part in _review_parts(r))


def _review_parts(r: dict[str, Any]) -> list[list[str]]:
    """What was done about a row's flag, each part in short pieces that a narrow column can stack."""
    parts = [["NEW"]] if r["new"] else []
    if r["acknowledged"]:
        at = r["acknowledged_at"] or ""
        parts.append(["acknowledged", f"by {r['acknowledged_by']}", at[:10], f"{at[11:16]} UTC"])
    if r["snoozed_until"]:
        parts.append(["snoozed until", r["snoozed_until"]])
    return parts


def _review(ctx: typer.Context, patient: str, key: str, action: str, reason: str, today: str | None,
            until: str | None = None) -> None:
    fv = _svc().review_flag(settings(ctx), patient, key, action=action, reason=reason, as_of=as_of(today),
                         until=parse_date(until, "--until") if until else None)
    note(f"{action.capitalize()}d {fv.flag.rule_id} of {patient} ({fv.flag.date}).")


@flag_app.command("ack")
def flag_ack(
    ctx: typer.Context,
    patient: Annotated[str, typer.Argument(help="Patient label.")],
    flag: Annotated[list[str], typer.Argument(help="The flag's number (# in tracker flags or worklist), rule id or "
                                                   "key. An overdue item is booked, not acknowledged: flag snooze "
                                                   "PATIENT overdue KIND --until BOOKED-DATE.")],
    reason: Annotated[str, typer.Option("--reason", help="Why; kept in the audit trail.")],
    today: AsOfOption = None,
) -> None:
    """Acknowledge a flag: it stays listed (marked acknowledged) and still tightens the schedule.

    Example: tracker flag ack SYN-GROWING 1 --reason "booked for tumour board 2026-02-03"
    """
    _review(ctx, patient, " ".join(flag), "acknowledge", reason, today)


@flag_app.command("snooze")
def flag_snooze(
    ctx: typer.Context,
    patient: Annotated[str, typer.Argument(help="Patient label.")],
    flag: Annotated[list[str], typer.Argument(help="The watch flag's number (#), rule id, key, or 'overdue KIND' "
                                                   "(overdue imaging) for an overdue item once it is booked.")],
    until: Annotated[str, typer.Option("--until", help="Hide it until this date (at most 183 days): for an overdue "
                                                       "item, the date it is booked for.")],
    reason: Annotated[str, typer.Option("--reason", help="Why; kept in the audit trail.")],
    today: AsOfOption = None,
) -> None:
    """Snooze a watch flag until a date. It comes back when the snooze ends, or at once when newer
    evidence changes it. Action flags cannot be snoozed.

    Example: tracker flag snooze SYN-GROWING overdue imaging --as-of 2026-05-15 --until 2026-06-15 --reason "MRI booked"
    """
    _review(ctx, patient, " ".join(flag), "snooze", reason, today, until)


@app.command("measures")
def measures(
    ctx: typer.Context,
    patient: Annotated[str, typer.Argument(help="Patient label.")],
    today: AsOfOption = None,
    fmt: FormatOption = Format.table,
) -> None:
    """Growth per lesion (change since previous scan and nadir, mm/year, TGR, doubling time), RECIST
    sums for the metastatic protocol, and marker change and doubling time. 'Not evaluable' says why.

    Example: tracker measures SYN-GROWING --format json
    """
    from tracker.services.measures import measure_rows

    rows = measure_rows(settings(ctx), patient, as_of=as_of(today))
    cols = ["patient", "what", "series", "latest", "previous", "nadir", "change_prev", "change_nadir", "rate",
            "tgr_pct_per_month", "doubling_months", "response", "notes"]
    emit(rows, cols, fmt, empty="no measurements yet")


@app.command("schedule")
def schedule(
    ctx: typer.Context,
    patient: Annotated[str, typer.Argument(help="Patient label.")],
    today: AsOfOption = None,
    fmt: Annotated[ScheduleFormat, typer.Option("--format", "-f", help="table, json, csv or ics (calendar).")
                   ] = ScheduleFormat.table,
) -> None:
    """A patient's next items with due date, window, status and the reason for the date
    (including which flag brought imaging forward).

    Example: tracker schedule SYN-GROWING --as-of 2026-02-15 ; tracker schedule SYN-GROWING --format ics > syn.ics
    """
    when = as_of(today)
    v = _svc().views(settings(ctx), patient, as_of=when, record=False)[0]
    if v.patient.has_left(when):
        note(f"{v.label} left surveillance on {v.patient.left_on}: nothing is due.")
    _emit_items(v.schedule, fmt, ctx=ctx, feed=f"schedule:{v.patient.id}")


def _emit_items(items: list[DueItem], fmt: ScheduleFormat, *, ctx: typer.Context | None = None,
                feed: str | None = None) -> None:
    """Items as a table, JSON, CSV or iCalendar. A calendar of a `feed` (a patient's schedule, the
    worklist) is compared with what that feed was given last (services.feeds); one without (a
    protocol preview) depends on the items alone."""
    if fmt is ScheduleFormat.ics:
        if ctx is not None and feed is not None:
            from tracker.services.feeds import export_ics

            sys.stdout.write(export_ics(settings(ctx), feed, items))
        else:
            from tracker.ics import schedule_to_ics

            sys.stdout.write(schedule_to_ics(items))
        return
    rows = [i.to_json() for i in items]
    cols = list(DUE_ITEM_FIELDS)
    if fmt is ScheduleFormat.table:  # one patient (or a preview): no patient column
        rows = [{**r, "what": display_what(i), "window": f"{r['window_start']} to {r['window_end']}"}
                for r, i in zip(rows, items, strict=True)]
        cols = ["status", "kind", "what", "due_date", "window", "reason"]
    emit(rows, cols, fmt, empty="nothing scheduled")


@app.command("worklist")
def worklist(
    ctx: typer.Context,
    today: AsOfOption = None,
    within: Annotated[int, typer.Option("--within", help="Include items due within this many days.")] = 30,
    status: Annotated[list[str] | None, typer.Option(
        "--status", help="Only these: tumour_board, overdue, due, due_soon, not_due; repeat.")] = None,
    fmt: Annotated[ScheduleFormat, typer.Option("--format", "-f", help="table, json, csv or ics.")
                   ] = ScheduleFormat.table,
) -> None:
    """The nurse's worklist across all patients, most urgent first: open action flags for the
    tumour board, then overdue, due and due-soon items.

    Example: tracker worklist --as-of 2026-11-22 --within 60 --format csv > worklist.csv
    """
    known = {"tumour_board", "overdue", "due", "due_soon", "not_due"}
    bad = [s for s in status or [] if s not in known]
    if bad:
        raise ValidationError(f"unknown status {quoted(bad[0])}; use {', '.join(sorted(known))}", "--status")
    if not 0 <= within <= 3660:
        raise ValidationError(f"give between 0 and 3660 days (ten years), not {within}", "--within")
    when = as_of(today)
    st = settings(ctx)
    with progress_bar("Evaluating") as progress:
        views = _svc().views(st, None, as_of=when, progress=progress, record=False)
    rows = _svc().worklist_rows(views, as_of=when, within_days=within, statuses=status)
    with _then_mark_seen(st, views, when, "the worklist"):
        if fmt is ScheduleFormat.ics:
            _emit_items([r["_item"] for r in rows if r["_item"] is not None], fmt, ctx=ctx, feed="worklist")
        else:
            if fmt is ScheduleFormat.table:
                rows = [{**r, "#": r["handle"], "what": display_what(r["_item"]) if r["_item"] else r["what"],
                         "status": "\n".join([r["status"], *(p for ps in _review_parts(r) for p in ps)])} for r in rows]
                cols = ["#", "patient", "status", "what", "due_date", "reason"]
            else:
                cols = [*DUE_ITEM_FIELDS, *_svc().WORKLIST_REVIEW_FIELDS]
            emit(rows, cols, fmt, empty=f"nothing due within {within} days of {when}")
